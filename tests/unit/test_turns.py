"""A stored message's turn happens whole or not at all (vecina.channels.turns).

Pins the wrapper around Rasa's RemoteAction.run: stock Rasa turns an action server that is gone
into a logged error and an empty list of events; inside a retryable turn it now fails the turn.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, List, Tuple

import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from tests.fakes.server import serve_in_thread
from vecina.channels import turns
from vecina.channels.turns import ActionServerUnavailable, TurnOutput, retryable_turn


@pytest.fixture(autouse=True)
def wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RemoteAction, "run", RemoteAction.run)
    turns.install()


def action_server(status: int) -> Tuple[str, Any]:
    async def webhook(_: web.Request) -> web.Response:
        return web.json_response({"error": "x", "action_name": "action_book"}, status=status)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    return serve_in_thread(app)


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/webhook"


async def run_action(url: str) -> List[Any]:
    domain = Domain.empty()
    action = RemoteAction("action_book", EndpointConfig(url))
    return await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}),
                            DialogueStateTracker("whatsapp:+34600111222", []), domain)


@pytest.mark.parametrize("status", [502, 503, 504, None])
async def test_an_action_server_that_is_gone_fails_a_retryable_turn(status: Any) -> None:
    url, stop = action_server(status) if status else (closed_port().rsplit("/webhook", 1)[0], lambda: None)
    try:
        with pytest.raises(RasaException):  # Rasa's own error, which its processor swallows
            await run_action(f"{url}/webhook")
        with pytest.raises(ActionServerUnavailable):
            async with retryable_turn():
                await run_action(f"{url}/webhook")
    finally:
        stop()


async def test_an_action_that_fails_by_itself_keeps_rasas_behaviour() -> None:
    url, stop = action_server(500)
    try:
        async with retryable_turn():
            with pytest.raises(RasaException):
                await run_action(f"{url}/webhook")
    finally:
        stop()


async def test_replies_wait_until_the_turn_is_saved() -> None:
    sent: List[Dict[str, Any]] = []

    class Provider(CollectingOutputChannel):
        @classmethod
        def name(cls) -> str:
            return "whatsapp"

        async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
            sent.append(message)

    output = TurnOutput(Provider())
    await output.send_response("whatsapp:+34600111222", {"text": "Hola"})
    await output.send_response("whatsapp:+34600111222", {"text": "¿En qué puedo ayudarle?"})
    assert sent == [] and output.name() == "whatsapp"
    await output.send()
    assert [m["text"] for m in sent] == ["Hola", "¿En qué puedo ayudarle?"]


def test_rasa_holds_a_conversation_lock_longer_than_it_waits_for_an_action() -> None:
    """With Rasa's defaults (lock 60 s, action timeout 300 s) a slow turn loses its lock."""
    import os
    import subprocess
    import sys

    from vecina.settings import ROOT, Settings

    code = ("from rasa.core.lock_store import LOCK_LIFETIME; from rasa.core.constants import "
            "DEFAULT_REQUEST_TIMEOUT; print(LOCK_LIFETIME, DEFAULT_REQUEST_TIMEOUT)")
    env = {**os.environ, **Settings().rasa_environment()}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    lock, action_timeout = map(int, result.stdout.split())
    assert lock > action_timeout
