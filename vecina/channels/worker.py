"""Hands stored inbound messages to Rasa: claim, handle, mark done — retrying what can wait.

A failure of the path to Rasa or the action server (connection refused, timeout, 5xx) is
transient: the message goes back to the store and is tried again with exponential backoff, for as
long as it takes, because a citizen's message must survive a restart or an outage. Any other
error is a failure of the message itself; after `max_failures` of those it is marked failed
(kept, with the error's type, for staff) so that one bad message cannot stop its conversation.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Awaitable, Callable, Optional, Tuple, Type

from vecina.channels.inbound import Claimed, InboundStore

logger = logging.getLogger(__name__)

Handler = Callable[[Claimed], Awaitable[None]]


class TransientError(Exception):
    """Raised by a handler when the failure is in the path to Rasa, not in the message."""


TRANSIENT: Tuple[Type[BaseException], ...] = (TransientError, ConnectionError, asyncio.TimeoutError, TimeoutError)


@dataclass
class WorkerPolicy:
    lease: timedelta = timedelta(seconds=120)
    first_retry: timedelta = timedelta(seconds=1)
    longest_retry: timedelta = timedelta(seconds=60)
    max_failures: int = 5
    idle_wait: float = 0.2  # seconds between polls of an empty store


def retry_delay(policy: WorkerPolicy, attempt: int) -> timedelta:
    """1 s, 2 s, 4 s … up to `longest_retry`."""
    seconds = policy.first_retry.total_seconds() * 2 ** max(0, attempt - 1)
    return timedelta(seconds=min(seconds, policy.longest_retry.total_seconds()))


class InboundWorker:
    def __init__(self, store: InboundStore, handler: Handler, policy: Optional[WorkerPolicy] = None) -> None:
        self.store = store
        self.handler = handler
        self.policy = policy or WorkerPolicy()

    async def run_once(self) -> bool:
        """Handle one message if one can be claimed; False when there was none."""
        claimed = await asyncio.to_thread(self.store.claim, self.policy.lease)
        if claimed is None:
            return False
        try:
            await self.handler(claimed)
        except TRANSIENT as error:
            logger.warning("inbound %s message %s: %s, retrying", claimed.channel, claimed.id, type(error).__name__)
            await asyncio.to_thread(self.store.retry, claimed, type(error).__name__,
                                    retry_delay(self.policy, claimed.attempt))
        except Exception as error:  # noqa: BLE001 - any bug in handling one message must not stop the worker
            name = type(error).__name__
            if claimed.failures + 1 >= self.policy.max_failures:
                logger.error("inbound %s message %s failed %d times (%s): kept as failed",
                             claimed.channel, claimed.id, claimed.failures + 1, name)
                await asyncio.to_thread(self.store.fail, claimed, name)
            else:
                logger.warning("inbound %s message %s: %s, retrying", claimed.channel, claimed.id, name)
                await asyncio.to_thread(self.store.retry, claimed, name, retry_delay(self.policy, claimed.attempt),
                                        True)
        else:
            if not await asyncio.to_thread(self.store.done, claimed):
                logger.warning("inbound %s message %s: lease ran out before it was handled", claimed.channel,
                               claimed.id)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set."""
        while not stop.is_set():
            if not await self.run_once():
                try:
                    await asyncio.wait_for(stop.wait(), self.policy.idle_wait)
                except asyncio.TimeoutError:
                    pass
