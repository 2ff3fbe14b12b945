"""Sending to WhatsApp: a message that may have reached Meta is never sent again (Meta takes no
idempotency key: at most once); one that certainly did not is retried."""

from __future__ import annotations

import asyncio
import socket
from typing import List

import pytest
from aiohttp import web

from tests.fakes.server import serve_in_thread
from vecina import db
from vecina.channels.outbound import OutboundStore, RetryPolicy, deliver
from vecina.channels.whatsapp import GraphApi, WhatsAppConfig


@pytest.fixture
def store(tmp_path) -> OutboundStore:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'vecina.db'}"
    db.upgrade(url)
    return OutboundStore(url)


def graph(base_url: str) -> GraphApi:
    return GraphApi(WhatsAppConfig(base_url, "v21.0", "token", "secret", "verify", ("111",), ""), timeout=0.5)


async def test_a_send_whose_answer_never_comes_is_not_sent_twice(store: OutboundStore) -> None:
    received: List[dict] = []

    async def slow_meta(request: web.Request) -> web.Response:
        received.append(await request.json())
        await asyncio.sleep(2)  # accepted, but the answer comes after our timeout
        return web.json_response({"messages": [{"id": "wamid.1"}]})

    app = web.Application()
    app.router.add_post("/v21.0/111/messages", slow_meta)
    url, stop = serve_in_thread(app)
    try:
        record = store.record("whatsapp", "whatsapp:+34600111222", "text", {"type": "text", "text": {"body": "Hola"}},
                              None)
        sent = await deliver(store, record, lambda m: graph(url).send("111", "34600111222", m.content),
                             RetryPolicy(attempts=4, first_delay=0.01))
    finally:
        stop()
    assert sent is None and len(received) == 1
    assert store.status(record.id)["status"] == "failed"


async def test_a_send_that_never_reached_meta_is_retried(store: OutboundStore) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    attempts: List[str] = []

    async def send(message):  # type: ignore[no-untyped-def]
        attempts.append("try")
        return await graph(closed).send("111", "34600111222", message.content)

    record = store.record("whatsapp", "whatsapp:+34600111222", "text", {"type": "text", "text": {"body": "Hola"}}, None)
    assert await deliver(store, record, send, RetryPolicy(attempts=3, first_delay=0.01)) is None
    assert len(attempts) == 3
