"""The action server's error answer, replacing rasa-sdk's (registered by rasa_sdk_plugins).

rasa-sdk answers any exception in an action with the exception's text and the whole request —
the tracker: everything the citizen wrote — and logs both. Rasa then logs that answer again
inside its own error. Here the answer names only the action, and the log line names the action
and the error's type (vecina.logs keeps the traceback to types and places). An outage (a
database that is down) answers 503, which makes Rasa fail a retryable turn so the message is
tried again (vecina.channels.turns); any other error answers 500, as rasa-sdk does.
"""

from __future__ import annotations

import logging
import pluggy
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from vecina.channels.worker import is_transient

logger = logging.getLogger(__name__)
hookimpl = pluggy.HookimplMarker("rasa_sdk")


def action_name(request: Request) -> str:
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - a body that is not JSON names no action
        return "unknown"
    name = body.get("next_action") if isinstance(body, dict) else None
    return str(name)[:80] if name else "unknown"


async def failed_action(request: Request, error: Exception) -> HTTPResponse:
    name = action_name(request)
    status = 503 if is_transient(error) else 500
    logger.error("action %s failed (%s): %d", name, type(error).__name__, status, exc_info=error)
    return response.json({"error": "the action failed", "action_name": name}, status=status)


class ActionServerPlugin:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        app.error_handler.add(Exception, failed_action)

