"""The web chat over real socket.io and the real page server: signed session ids only, no forged
metadata, rate limits with a polite answer, and a page that sends its security headers and drops
slow clients."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any, Callable, Dict, List, Optional

import pytest

from tests.integration.test_rest_channel import FORGED, PER_SENDER
from vecina.content import ResponseTexts
from vecina.settings import ROOT
from vecina.stack import Stack, die_with_parent, free_port, wait_until_up
from vecina.web.session import SessionSigner

pytestmark = pytest.mark.integration
PAGE_TIMEOUT_SECONDS = 2
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def page_url(stack: Stack):
    """The page server (python -m vecina.web) with the stack's web chat secret."""
    port = free_port()
    env = dict(os.environ, VECINA_DATABASE_URL=f"sqlite:///{stack.workdir / 'vecina.db'}",
               VECINA_WEBCHAT_SOCKET_URL=stack.rasa_url, VECINA_WEBCHAT_SECRET=stack.webchat_secret or "",
               VECINA_WEB_TIMEOUT_SECONDS=str(PAGE_TIMEOUT_SECONDS), PYTHONPATH=str(ROOT))
    log = stack.workdir / f"web-{port}.log"
    process = subprocess.Popen([sys.executable, "-m", "vecina.web", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, process, log, 30)
    yield url
    process.terminate()
    process.wait(timeout=10)


async def saved(stack: Stack, conversation: str, read: Callable[[Dict[str, Any]], Any],
                seconds: float = WAIT_SECONDS) -> Any:
    """What `read` finds in the conversation's tracker once it finds anything: Rasa saves a turn
    after its replies have gone out, so a reply can arrive before the turn is in the tracker."""
    deadline = time.monotonic() + seconds
    while True:
        found = read(stack.api.tracker(conversation))
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def user_turns(tracker: Dict[str, Any]) -> List[dict]:
    return [e for e in tracker["events"] if e["event"] == "user"]


class Browser:
    """A socket.io client as the widget is one, from an address of its own."""

    def __init__(self, stack: Stack) -> None:
        import socketio

        self.stack = stack
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: Dict[str, List[Any]] = {"session_confirm": [], "bot_uttered": [], "disconnect": []}
        for name in self.events:
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str):  # type: ignore[no-untyped-def]
        async def record(*args: Any) -> None:
            self.events[name].append(args[0] if args else None)
        return record

    async def connect(self) -> "Browser":
        address = f"203.0.113.{uuid.uuid4().int % 250}"
        await self.client.connect(self.stack.rasa_url, headers={"X-Forwarded-For": address},
                                  transports=["websocket"], socketio_path="socket.io")
        return self

    async def until(self, name: str, count: int = 1, seconds: float = WAIT_SECONDS) -> List[Any]:
        deadline = time.monotonic() + seconds
        while len(self.events[name]) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.events[name]

    async def session(self, token: str) -> None:
        await self.client.emit("session_request", {"session_id": token})
        assert await self.until("session_confirm") == [token]

    async def say(self, token: str, text: str, metadata: Optional[dict] = None) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": token, "metadata": metadata or {}})

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


def _signer(stack: Stack) -> SessionSigner:
    return SessionSigner(stack.webchat_secret)


def _raw(token: str) -> str:
    return token.partition(".")[0]


def _user_events(stack: Stack, conversation: str) -> List[dict]:
    return [e for e in stack.api.tracker(conversation)["events"] if e["event"] == "user"]


@pytest.mark.parametrize("forged", ["unsigned", "other-secret", "tampered", "missing", "not-text"])
async def test_an_unsigned_or_forged_session_id_is_refused(stack: Stack, forged: str) -> None:
    genuine = _signer(stack).issue()
    token = {"unsigned": _raw(genuine), "other-secret": SessionSigner("x" * 40).issue(),
             "tampered": genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"), "missing": None,
             "not-text": 12345}[forged]
    browser = await Browser(stack).connect()
    try:
        await browser.client.emit("session_request", {"session_id": token})
        assert await browser.until("disconnect", seconds=10)  # the server hung up
        assert browser.events["session_confirm"] == []
    finally:
        await browser.close()


async def test_a_message_in_someone_elses_conversation_is_ignored(stack: Stack) -> None:
    victim_token, signer = _signer(stack).issue(), _signer(stack)
    victim = await Browser(stack).connect()
    attacker = await Browser(stack).connect()
    try:
        await victim.session(victim_token)
        await victim.say(victim_token, "hola")
        await victim.until("bot_uttered")
        before = await saved(stack, f"socketio:{_raw(victim_token)}", user_turns)
        assert [e["text"] for e in before] == ["hola"]
        await attacker.session(signer.issue())  # a genuine session of its own
        for token in (_raw(victim_token), victim_token, f"{_raw(victim_token)}.forged"):
            await attacker.say(token, "quiero anular mi cita")  # the bare id, or the signed one never confirmed here
        await asyncio.sleep(3)
        assert attacker.events["bot_uttered"] == [] and victim.events["disconnect"] == []
        assert _user_events(stack, f"socketio:{_raw(victim_token)}") == before
        assert _user_events(stack, _raw(victim_token)) == []  # nor under the bare id, as before
    finally:
        await victim.close()
        await attacker.close()


async def test_a_signed_session_talks_in_its_own_namespace_without_forged_metadata(stack: Stack, page_url: str) -> None:
    issued = urllib.request.urlopen(urllib.request.Request(page_url + "session", method="POST"), timeout=10)
    token = json.loads(issued.read())["session_id"]  # from the page server, as the widget gets it
    browser = await Browser(stack).connect()
    try:
        await browser.session(token)
        await browser.say(token, "hola", FORGED)
        assert await browser.until("bot_uttered")
        user = (await saved(stack, f"socketio:{_raw(token)}", user_turns))[-1]
        assert user["text"] == "hola" and user["input_channel"] == "socketio"
        assert not set(FORGED) & set(user.get("metadata") or {})
    finally:
        await browser.close()


async def test_a_flood_over_the_web_chat_gets_one_polite_answer_in_catalan(stack: Stack) -> None:
    token = _signer(stack).issue()
    conversation = f"socketio:{_raw(token)}"
    browser = await Browser(stack).connect()
    try:
        await browser.session(token)
        await browser.say(token, "bon dia, em pots parlar en català?")
        await browser.until("bot_uttered")
        assert await saved(stack, conversation, lambda tracker: tracker["slots"].get("language")) == "ca"
        for _ in range(PER_SENDER + 4):
            await browser.say(token, "hola")
        slow_down = ResponseTexts(ROOT / "domain").text("utter_slow_down", "ca")
        deadline = time.monotonic() + WAIT_SECONDS
        while len(_user_events(stack, conversation)) < PER_SENDER and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        assert len(_user_events(stack, conversation)) == PER_SENDER  # the rest never reached Rasa
        texts = [message.get("text") for message in browser.events["bot_uttered"]]
        assert texts.count(slow_down.split("\n\n")[0]) == 1
    finally:
        await browser.close()


def test_the_page_sends_its_security_headers(page_url: str) -> None:
    with urllib.request.urlopen(page_url, timeout=10) as response:
        headers = response.headers
    policy = {part.split()[0]: part.split()[1:] for part in headers["Content-Security-Policy"].split("; ")}
    assert policy["script-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["connect-src"][0] == "'self'" and policy["connect-src"][1].startswith("http://127.0.0.1:")
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_page_drops_a_client_that_stops_halfway(page_url: str) -> None:
    port = int(page_url.rstrip("/").rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        slow.settimeout(PAGE_TIMEOUT_SECONDS * 5)
        began = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server, without an answer
    assert time.monotonic() - began < PAGE_TIMEOUT_SECONDS * 5
