"""Faults mid-conversation: every message is answered exactly once, in order, after recovery.

Each test runs a citizen's conversation through the real WhatsApp channel (the fake Cloud API
posts signed notifications) on its own stack, breaks something in the middle — the conversation
database, the action server during a turn, the Rasa server with messages waiting — and compares
what the citizen received, counted at the fake provider, and what the tracker store holds, with
the same conversation on the same stack without the fault.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import urllib.error
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest
from aiohttp import ClientConnectionError, ClientSession, web

from tests.conftest import service_url
from tests.fakes.meta import FakeMeta
from tests.fakes.server import serve_in_thread
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.integration.conftest import JWT_SECRET, WHATSAPP_NUMBER, channel_env
from tests.integration.test_whatsapp_channel import body_text, settled
from vecina.cli import model_path
from vecina.settings import get_settings
from vecina.stack import Stack, start_stack

pytestmark = pytest.mark.integration

Fakes = Tuple[FakeMeta, FakeTelegram, FakeTwilio]
CONVERSATION = ["hola", "¿qué papeles necesito para empadronarme?",
                "¿y dónde está mi centro de servicios sociales?",
                "gracias"]


class ActionServerProxy:
    """Between Rasa and the action server: passes everything on, or drops the connection of the
    next `drops` action calls as a dying server would (the health check still answers), or
    answers the next `failures` calls of `failing_action` as stock rasa-sdk answers an action that
    raised: a 500 carrying the whole request."""

    def __init__(self) -> None:
        self.target = ""
        self.drops = self.dropped = 0
        self.failures = self.failed = 0
        self.failing_action = "action_session_start"
        self.before_next_call: Optional[Callable[[], None]] = None  # e.g. kill the action server
        app = web.Application()
        app.router.add_get("/health", self.forward)
        app.router.add_post("/webhook", self.webhook)
        self.url, self.stop = serve_in_thread(app)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._forward(request)
        except ClientConnectionError:  # the action server is not there: neither is its answer
            request.transport.close()
            return web.Response(status=502)

    async def _forward(self, request: web.Request) -> web.Response:
        async with ClientSession() as session:
            async with session.request(request.method, f"{self.target}{request.path}", data=await request.read(),
                                       headers={"Content-Type": "application/json"}) as answer:
                return web.Response(body=await answer.read(), status=answer.status, content_type="application/json")

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        if self.before_next_call is not None:
            run, self.before_next_call = self.before_next_call, None
            await asyncio.to_thread(run)
        if self.drops:
            self.drops -= 1
            self.dropped += 1
            await request.read()
            request.transport.close()  # the server died while the action ran
            return web.Response(status=503)
        call = await request.json()
        if self.failures and call.get("next_action") == self.failing_action:
            self.failures -= 1
            self.failed += 1
            return web.json_response({"error": "KeyError('slot')", "request_body": call}, status=500)
        return await self.forward(request)


@contextmanager
def fault_stack(workdir: Path, fakes: Fakes, tracker_url: str = "") -> Iterator[Any]:
    """A stack of its own, whose action server is reached through an `ActionServerProxy`."""
    model = model_path(get_settings())
    if not model.exists():
        pytest.fail(f"no trained model for the current data ({model.name}): run 'make train'")
    proxy = ActionServerProxy()
    env = {**channel_env(*fakes, workdir),
           "VECINA_CATALAN_VARIETY": "va", "VECINA_ACTION_ENDPOINT_URL": f"{proxy.url}/webhook"}
    if tracker_url:
        env["VECINA_TRACKER_URL"] = tracker_url
    stack = start_stack(workdir, model, env, jwt_secret=JWT_SECRET)
    proxy.target = stack.actions_url
    try:
        yield stack, proxy
    finally:
        stack.stop()
        proxy.stop()


def citizen() -> str:
    return "346" + str(uuid.uuid4().int)[:8]


def say(meta: FakeMeta, stack: Stack, wa_id: str, *texts: str) -> None:
    webhook = f"{stack.rasa_url}/webhooks/whatsapp/webhook"
    for text in texts:
        status, _ = meta.deliver(webhook, WHATSAPP_NUMBER, meta.message(wa_id, "text", {"body": text}))
        assert status == 200


def answers(meta: FakeMeta, wa_id: str, seconds: float = 4, limit: float = 180) -> List[str]:
    return [body_text(message) for message in settled(meta, wa_id, seconds, limit)]


def user_turns(stack: Stack, wa_id: str) -> List[str]:
    events = stack.tracker(f"whatsapp:+{wa_id}")["events"]
    return [e["text"] for e in events if e["event"] == "user" and not (e.get("metadata") or {}).get("is_external")]


def answered(meta: FakeMeta, stack: Stack, wa_id: str, limit: float = 240) -> List[str]:
    """What the citizen received once every message of CONVERSATION is in the tracker."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if len(user_turns(stack, wa_id)) >= len(CONVERSATION):
                return answers(meta, wa_id, seconds=3)
        except OSError:  # Rasa is restarting
            pass
        time.sleep(1)
    raise AssertionError(f"only {user_turns(stack, wa_id)} handled after {limit:.0f}s")


def attempts(stack: Stack, wa_id: str) -> List[int]:
    """How many times each of the citizen's stored messages was claimed (1 when nothing failed)."""
    from sqlalchemy import select

    from vecina.db import session_scope
    from vecina.db.models import InboundMessage

    with session_scope(f"sqlite:///{stack.workdir / 'vecina.db'}") as session:
        return list(session.execute(select(InboundMessage.attempts).where(
            InboundMessage.conversation_id == f"whatsapp:+{wa_id}").order_by(InboundMessage.id)).scalars())


def control(meta: FakeMeta, stack: Stack) -> List[str]:
    """The conversation on this stack with nothing broken."""
    wa_id = citizen()
    for text in CONVERSATION:
        say(meta, stack, wa_id, text)
        answers(meta, wa_id, seconds=2)
    assert user_turns(stack, wa_id) == CONVERSATION
    return answers(meta, wa_id)


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process holds the conversation database: every read and write fails meanwhile."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@contextmanager
def postgresql_down(admin_url: str, database: str) -> Iterator[None]:
    """The conversation database refuses connections and drops the ones it has."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                           {"name": database})
    try:
        yield
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        engine.dispose()


def fresh_postgresql_database(name: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = service_url("VECINA_TEST_POSTGRES_URL")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(make_url(admin_url).set(database=name))


def outage_during_the_conversation(meta: FakeMeta, stack: Stack, outage: Any) -> None:
    expected = control(meta, stack)
    wa_id = citizen()
    say(meta, stack, wa_id, CONVERSATION[0])
    answers(meta, wa_id, seconds=2)
    rest = stack.new_sender()
    stack.say(rest, CONVERSATION[0])
    with outage:
        say(meta, stack, wa_id, *CONVERSATION[1:])  # stored; none can be answered now
        with pytest.raises(urllib.error.HTTPError) as refused:  # REST stores nothing: the caller is told
            stack.say(rest, CONVERSATION[1])
        time.sleep(8)
    assert refused.value.code == 503
    assert answered(meta, stack, wa_id) == expected
    assert user_turns(stack, wa_id) == CONVERSATION
    assert [e["text"] for e in stack.tracker(rest)["events"] if e["event"] == "user"] == CONVERSATION[:1]
    assert attempts(stack, wa_id)[1] > 1  # the outage was real: the first waiting message was tried again


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_a_database_outage_mid_conversation_loses_and_repeats_nothing(tmp_path: Path, meta: FakeMeta,
                                                                      telegram: FakeTelegram, twilio: FakeTwilio,
                                                                      database: str) -> None:
    if database == "sqlite":
        with fault_stack(tmp_path, (meta, telegram, twilio)) as (stack, _):
            outage_during_the_conversation(meta, stack, sqlite_locked(tmp_path / "tracker.db"))
    else:
        name = f"vecina_faults_{uuid.uuid4().hex[:8]}"
        url = fresh_postgresql_database(name)
        with fault_stack(tmp_path, (meta, telegram, twilio), tracker_url=url) as (stack, _):
            outage_during_the_conversation(meta, stack, postgresql_down(service_url("VECINA_TEST_POSTGRES_URL"),
                                                                        name))


def test_the_action_server_dying_mid_turn_and_rasa_restarting_lose_and_repeat_nothing(
        tmp_path: Path, meta: FakeMeta, telegram: FakeTelegram, twilio: FakeTwilio) -> None:
    with fault_stack(tmp_path, (meta, telegram, twilio)) as (stack, proxy):
        expected = control(meta, stack)

        wa_id = citizen()
        proxy.drops = 2  # the first two action calls of the next turn die with the server
        say(meta, stack, wa_id, CONVERSATION[0])
        answers(meta, wa_id, seconds=3)
        assert proxy.dropped == 2
        say(meta, stack, wa_id, *CONVERSATION[1:])
        assert answered(meta, stack, wa_id) == expected
        assert user_turns(stack, wa_id) == CONVERSATION
        assert attempts(stack, wa_id)[0] == 3  # two turns failed whole, the third was answered

        killed = citizen()
        proxy.before_next_call = lambda: stack.stop_server("actions")  # the process dies during the turn
        say(meta, stack, killed, *CONVERSATION)
        time.sleep(5)
        assert proxy.before_next_call is None and meta.sent_to(killed) == []
        stack.start_server("actions")
        assert answered(meta, stack, killed) == expected
        assert user_turns(stack, killed) == CONVERSATION

        queued = citizen()
        stack.stop_server("actions")  # messages wait in the store while the action server is down
        say(meta, stack, queued, *CONVERSATION)
        time.sleep(2)
        stack.stop_server("rasa")
        stack.start_server("rasa")
        stack.start_server("actions")
        assert answered(meta, stack, queued) == expected
        assert user_turns(stack, queued) == CONVERSATION
