"""A stored message's turn happens whole or not at all.

Rules:
- The replies of a turn are held until Rasa has saved the turn (`TurnOutput`); a turn that fails
  halfway is tried again from the start and the citizen never gets its first replies twice.
- When the action server goes away during such a turn (connection refused or dropped, a timeout,
  a 502/503/504 answer), the turn fails and the message is tried again. Stock Rasa logs the
  failure, drops the action's events and carries on, so the message would be marked done with
  its booking or ticket lost. `install` makes `RemoteAction.run` raise `ActionServerUnavailable`
  instead, only inside `retryable_turn()`: turns with nobody to retry them (REST, web chat, Rasa's
  HTTP API) keep Rasa's behaviour. An action that fails by itself (500: a bug) keeps it too.
- `ActionServerUnavailable` is a BaseException: Rasa's processor catches every Exception around
  an action, and this one must reach the worker. Only `retryable_turn` callers may see it.
"""

from __future__ import annotations

import asyncio
import contextvars
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Tuple

from rasa.core.channels.channel import OutputChannel

RETRY_STATUSES = (502, 503, 504)
_retryable: contextvars.ContextVar[bool] = contextvars.ContextVar("vecina_retryable_turn", default=False)


class ActionServerUnavailable(BaseException):
    """The action server could not run an action of a turn that will be retried."""


class TurnOutput(OutputChannel):
    """Holds a turn's replies until the turn is saved, then sends them through `output`."""

    def __init__(self, output: OutputChannel) -> None:
        self.output = output
        self.replies: List[Tuple[str, Dict[str, Any]]] = []

    def name(self) -> str:  # responses may have channel-specific variations
        return self.output.name()

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        self.replies.append((recipient_id, message))

    async def send(self) -> None:
        for recipient_id, message in self.replies:
            await self.output.send_response(recipient_id, message)
        self.replies = []


@asynccontextmanager
async def retryable_turn() -> AsyncIterator[None]:
    token = _retryable.set(True)
    try:
        yield
    finally:
        _retryable.reset(token)


def is_unavailable(error: BaseException) -> bool:
    """The action server was not there to answer (as opposed to an action that failed)."""
    import aiohttp
    from rasa.utils.endpoints import ClientResponseError

    for cause in (error, error.__cause__, error.__context__):
        if isinstance(cause, ClientResponseError):
            return cause.status in RETRY_STATUSES
        if isinstance(cause, (aiohttp.ClientConnectionError, asyncio.TimeoutError, ConnectionError)):
            return True
    return False


def install() -> None:
    """Wrap `RemoteAction.run` (see the module's rules); tests/unit/test_turns.py pins it."""
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction.run, "vecina_retryable", False):
        return
    run = RemoteAction.run

    async def run_or_give_up(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        try:
            return await run(self, *args, **kwargs)
        except Exception as error:
            if _retryable.get() and is_unavailable(error):
                raise ActionServerUnavailable(self.name()) from error
            raise

    run_or_give_up.vecina_retryable = True  # type: ignore[attr-defined]
    RemoteAction.run = run_or_give_up
