"""The web chat (socket.io) and REST channels, with the rules every Vecina channel follows.

- A typed text starting with "/" reaches Rasa as a command only when it is a button payload the
  bot has just offered in that conversation (vecina.channels.payloads).
- These channels cannot write into another channel's conversation: their sender ids are the
  browser's session id or the caller's own id, and any id in a channel namespace
  (`whatsapp:…`, `telegram:…`, `twilio:…`) is refused.
- REST clients cannot claim another input channel (Rasa's REST channel takes it from the body).
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint
from sanic.request import Request

from vecina.channels.payloads import citizen_text, offered_payloads

logger = logging.getLogger(__name__)

NAMESPACE_SEPARATOR = ":"

Handler = Callable[[UserMessage], Awaitable[Any]]


def guarded(channel: str, on_new_message: Handler, app_of: Callable[[], Any]) -> Handler:
    async def handle(message: UserMessage) -> None:
        if NAMESPACE_SEPARATOR in (message.sender_id or ""):
            logger.warning("%s: refused a sender id in another channel's namespace", channel)
            return
        app = app_of()
        tracker = await app.ctx.agent.tracker_store.retrieve(message.sender_id) if app else None
        events = [event.as_dict() for event in tracker.events] if tracker else []
        message.text = citizen_text(message.text or "", offered_payloads(events))
        await on_new_message(message)

    return handle


class Guarded:
    """Mixed into a Rasa input channel: its messages pass through `guarded`."""

    app: Any = None

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        blueprint = super().blueprint(guarded(self.name(), on_new_message, lambda: self.app))  # type: ignore[misc]
        blueprint.listener("after_server_start")(self._remember_app)
        return blueprint

    async def _remember_app(self, app: Any, _loop: Any) -> None:
        self.app = app


class WebChatInput(Guarded, SocketIOInput):
    """Rasa's socket.io channel (the web widget)."""


class RestChannel(Guarded, RestInput):
    """Rasa's REST channel (for tests and server-side integrations, not for the public)."""

    def _extract_input_channel(self, req: Request) -> Text:
        return self.name()
