"""Hands stored inbound messages to Rasa: claim, handle, mark done — retrying what can wait.

Rules:
- An outage is never the message's fault. A failure of the path to Rasa, the action server or a
  database (connection refused, timeout, 5xx, a database that is down, locked or unreadable) is
  transient: the message goes back to the store and is tried again with exponential backoff, for
  as long as it takes. Only any other error counts against the message; after `max_failures` of
  those it is marked failed (kept, with the error's type, for staff) so that one bad message
  cannot stop its conversation.
- A worker outlives any outage of the store itself: when claiming or finishing fails it waits
  and tries again, and `supervise` starts a worker again should one ever end by accident.
- While a turn runs the worker renews its lease, so a slow turn is never claimed by a second
  worker; a worker that died stops renewing and its message is taken over after one lease.
- A handled message is marked done however long the store takes to come back: finishing is
  retried until the lease runs out (after that the next claim finds the turn in the tracker).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from typing import Awaitable, Callable, List, Optional, Tuple, Type

from sqlalchemy import exc

from vecina.channels.inbound import Claimed, InboundStore

logger = logging.getLogger(__name__)

Handler = Callable[[Claimed], Awaitable[None]]


class TransientError(Exception):
    """Raised by a handler when the failure is in the path to Rasa, not in the message."""


TRANSIENT: Tuple[Type[BaseException], ...] = (
    TransientError, ConnectionError, asyncio.TimeoutError, TimeoutError,
    exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError,
    sqlite3.OperationalError, sqlite3.InterfaceError)


def is_transient(error: BaseException) -> bool:
    """An outage rather than a fault of the message, judged on the error and what caused it. A
    database that cannot be read at all (SQLAlchemy's plain DatabaseError: "file is not a
    database", a disk error) is an outage too; its subclasses (integrity, data, programming
    errors) are not."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, TRANSIENT) or type(error) in (exc.DatabaseError, sqlite3.DatabaseError):
            return True
        if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
            return True
        error, seen = error.__cause__, seen + 1
    return False


@dataclass
class WorkerPolicy:
    lease: timedelta = timedelta(seconds=120)
    first_retry: timedelta = timedelta(seconds=1)
    longest_retry: timedelta = timedelta(seconds=60)
    max_failures: int = 5
    idle_wait: float = 0.2  # seconds between polls of an empty store

    @property
    def renew_every(self) -> float:
        """Seconds between lease renewals: three chances before the lease would run out."""
        return self.lease.total_seconds() / 3


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
        """Handle one message if one can be claimed; False when there was none. Raises only when
        the store cannot be reached to claim."""
        claimed = await asyncio.to_thread(self.store.claim, self.policy.lease)
        if claimed is None:
            return False
        try:
            await self._handle_renewing(claimed)
        except Exception as error:  # noqa: BLE001 - any bug in handling one message must not stop the worker
            await self._finish(claimed, lambda: self._give_back(claimed, error))
        else:
            if not await self._finish(claimed, lambda: self.store.done(claimed)):
                logger.warning("inbound %s message %s: lease ran out before it was handled", claimed.channel,
                               claimed.id)
        return True

    async def _handle_renewing(self, claimed: Claimed) -> None:
        renewal = asyncio.ensure_future(self._renew(claimed))
        try:
            await self.handler(claimed)
        finally:
            renewal.cancel()

    async def _renew(self, claimed: Claimed) -> None:
        while True:
            await asyncio.sleep(self.policy.renew_every)
            try:
                if not await asyncio.to_thread(self.store.renew, claimed, self.policy.lease):
                    return  # fenced: the message is not ours any more
            except Exception as error:  # noqa: BLE001 - the next renewal may get through
                logger.warning("inbound %s message %s: could not renew the lease (%s)", claimed.channel, claimed.id,
                               type(error).__name__)

    def _give_back(self, claimed: Claimed, error: Exception) -> bool:
        name = type(error).__name__
        if is_transient(error):
            logger.warning("inbound %s message %s: %s, retrying", claimed.channel, claimed.id, name)
            return self.store.retry(claimed, name, retry_delay(self.policy, claimed.attempt))
        if claimed.failures + 1 >= self.policy.max_failures:
            logger.error("inbound %s message %s failed %d times (%s): kept as failed", claimed.channel, claimed.id,
                         claimed.failures + 1, name)
            return self.store.fail(claimed, name)
        logger.warning("inbound %s message %s: %s, retrying", claimed.channel, claimed.id, name)
        return self.store.retry(claimed, name, retry_delay(self.policy, claimed.attempt), True)

    async def _finish(self, claimed: Claimed, write: Callable[[], bool]) -> bool:
        """Record the outcome, retrying while the store is down and the lease lasts; False when it
        could not be recorded (the message is claimed again after its lease)."""
        attempt = 0
        deadline = asyncio.get_running_loop().time() + self.policy.lease.total_seconds()
        while True:
            try:
                return await asyncio.to_thread(write)
            except Exception as error:  # noqa: BLE001 - a store outage; the lease decides when to stop
                attempt += 1
                wait = retry_delay(self.policy, attempt).total_seconds()
                if asyncio.get_running_loop().time() + wait > deadline:
                    logger.error("inbound %s message %s: could not record the outcome (%s); it will be claimed "
                                 "again", claimed.channel, claimed.id, type(error).__name__)
                    return False
                logger.warning("inbound %s message %s: store unavailable (%s), retrying", claimed.channel,
                               claimed.id, type(error).__name__)
                await asyncio.sleep(wait)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, waiting out any outage of the store."""
        outages = 0
        while not stop.is_set():
            try:
                handled = await self.run_once()
                outages = 0
            except Exception as error:  # noqa: BLE001 - the store is down: wait, never stop
                outages += 1
                logger.warning("inbound worker: store unavailable (%s), waiting", type(error).__name__)
                await _pause(stop, retry_delay(self.policy, outages).total_seconds())
                continue
            if not handled:
                await _pause(stop, self.policy.idle_wait)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def supervise(workers: List[InboundWorker], stop: asyncio.Event) -> List["asyncio.Future[None]"]:
    """Run each worker as a task that is started again if it ever ends before `stop`."""
    tasks: List["asyncio.Future[None]"] = []

    def start(index: int) -> None:
        task = asyncio.ensure_future(workers[index].run(stop))
        task.add_done_callback(lambda done: restart(index, done))
        if index < len(tasks):
            tasks[index] = task
        else:
            tasks.append(task)

    def restart(index: int, done: "asyncio.Future[None]") -> None:
        if stop.is_set() or done.cancelled():
            return
        error = done.exception()
        logger.error("inbound worker %d ended (%s): starting it again", index,
                     type(error).__name__ if error else "no error")
        start(index)

    for index in range(len(workers)):
        start(index)
    return tasks
