"""Sending to a provider: a message that may have reached it is never sent again (WhatsApp Cloud,
the Telegram Bot API and Twilio take no idempotency key: at most once); one that certainly did not
is retried."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable, Dict, List

import pytest
from aiohttp import web

from tests.fakes.server import serve_in_thread
from vecina import db
from vecina.channels.outbound import OutboundStore, RetryPolicy, deliver
from vecina.channels.telegram import BotApi, TelegramConfig
from vecina.channels.twilio import TwilioApi, TwilioConfig
from vecina.channels.whatsapp import GraphApi, WhatsAppConfig

ANSWERS = {"whatsapp": {"messages": [{"id": "wamid.1"}]}, "telegram": {"ok": True, "result": {"message_id": 7}},
           "twilio": {"sid": "SM1"}}


def sender(channel: str, base_url: str) -> Callable[[Dict[str, Any]], Any]:
    if channel == "whatsapp":
        api = GraphApi(WhatsAppConfig(base_url, "v21.0", "token", "secret", "verify", ("111",), ""), timeout=0.5)
        return lambda content: api.send("111", "34600111222", content)
    if channel == "telegram":
        bot = BotApi(TelegramConfig(base_url, "123:token", "secret"), timeout=0.5)
        return lambda content: bot.send(612345678, content)
    twilio = TwilioApi(TwilioConfig(base_url, "AC1", "token", "", "+34960000001", "", "", "", "", "", ""), timeout=0.5)
    return lambda content: twilio.send(content)


CONTENT = {"whatsapp": {"type": "text", "text": {"body": "Hola"}},
           "telegram": {"method": "sendMessage", "payload": {"text": "Hola"}},
           "twilio": {"From": "+34960000001", "To": "+34600111222", "Body": "Hola"}}


@pytest.fixture
def store(tmp_path) -> OutboundStore:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'vecina.db'}"
    db.upgrade(url)
    return OutboundStore(url)


@pytest.mark.parametrize("channel", sorted(ANSWERS))
async def test_a_send_whose_answer_never_comes_is_not_sent_twice(store: OutboundStore, channel: str) -> None:
    received: List[bytes] = []

    async def slow_provider(request: web.Request) -> web.Response:
        received.append(await request.read())
        await asyncio.sleep(2)  # accepted, but the answer comes after our timeout
        return web.json_response(ANSWERS[channel])

    app = web.Application()
    app.router.add_post("/{path:.*}", slow_provider)
    url, stop = serve_in_thread(app)
    try:
        record = store.record(channel, "x:1", "text", CONTENT[channel], None)
        send = sender(channel, url)
        sent = await deliver(store, record, lambda message: send(message.content),
                             RetryPolicy(attempts=4, first_delay=0.01))
    finally:
        stop()
    assert sent is None and len(received) == 1
    assert store.status(record.id)["status"] == "failed"
    assert store.status(record.id)["error_code"].startswith("uncertain:")


@pytest.mark.parametrize("channel", sorted(ANSWERS))
async def test_a_send_that_never_reached_the_provider_is_retried(store: OutboundStore, channel: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    attempts: List[str] = []
    send = sender(channel, closed)

    async def counted(message):  # type: ignore[no-untyped-def]
        attempts.append("try")
        return await send(message.content)

    record = store.record(channel, "x:1", "text", CONTENT[channel], None)
    assert await deliver(store, record, counted, RetryPolicy(attempts=3, first_delay=0.01)) is None
    assert len(attempts) == 3
