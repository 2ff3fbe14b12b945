"""The inbound worker: outages (of Rasa, of a database, of the store itself) are waited out, a broken
message is set aside, order is kept, a slow turn keeps its lease, a worker that ends is started again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import List

import pytest

from tests.conftest import Clock
from vecina import db
from vecina.channels.inbound import Claimed, InboundStore
from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError

from vecina.channels.worker import InboundWorker, TransientError, WorkerPolicy, retry_delay, supervise


@pytest.fixture
def store(tmp_path, clock: Clock) -> InboundStore:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'vecina.db'}"
    db.upgrade(url)
    return InboundStore(url, clock)


def _deliver(store: InboundStore, *names: str) -> None:
    for name in names:
        assert store.accept("telegram", name, f"telegram:{name[0]}", {"text": name})


@pytest.mark.parametrize("attempt, seconds", [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (50, 60)])
def test_retries_back_off_up_to_a_minute(attempt: int, seconds: int) -> None:
    assert retry_delay(WorkerPolicy(), attempt) == timedelta(seconds=seconds)


async def test_an_outage_is_waited_out_however_long_it_lasts(store: InboundStore, clock: Clock) -> None:
    _deliver(store, "A1")
    outage = {"left": 12}
    handled: List[str] = []

    async def rasa(claimed: Claimed) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise ConnectionRefusedError()
        handled.append(claimed.payload["text"])

    worker = InboundWorker(store, rasa, WorkerPolicy(max_failures=3))
    while not handled:
        assert await worker.run_once()
        clock.advance(61)
    assert handled == ["A1"] and store.counts() == {"done": 1}
    assert not await worker.run_once()


async def test_a_message_that_keeps_failing_is_set_aside_and_the_conversation_goes_on(store: InboundStore,
                                                                                      clock: Clock) -> None:
    _deliver(store, "A1", "A2")
    handled: List[str] = []
    errors = [ConnectionRefusedError()] * 4 + [ValueError("broken payload")] * 3  # an outage does not count

    async def rasa(claimed: Claimed) -> None:
        if claimed.payload["text"] == "A1":
            raise errors.pop(0)
        handled.append(claimed.payload["text"])

    worker = InboundWorker(store, rasa, WorkerPolicy(max_failures=3))
    for _ in range(7):
        assert await worker.run_once()
        assert handled == []
        clock.advance(61)
    assert await worker.run_once()
    assert handled == ["A2"] and store.counts() == {"failed": 1, "done": 1}


async def test_the_worker_keeps_each_conversation_in_order_until_stopped(store: InboundStore) -> None:
    _deliver(store, "A1", "B1", "A2", "B2", "A3")
    handled: List[str] = []
    stop = asyncio.Event()

    async def rasa(claimed: Claimed) -> None:
        handled.append(claimed.payload["text"])
        if len(handled) == 5:
            stop.set()

    workers = [InboundWorker(store, rasa, WorkerPolicy(idle_wait=0.01)) for _ in range(2)]
    await asyncio.wait_for(asyncio.gather(*(w.run(stop) for w in workers)), timeout=10)
    assert [h for h in handled if h[0] == "A"] == ["A1", "A2", "A3"]
    assert [h for h in handled if h[0] == "B"] == ["B1", "B2"]
    assert store.counts() == {"done": 5}


class FlakyStore(InboundStore):
    """The real store, with outages switched on by the test: every call raises while `down`."""

    def __init__(self, url: str, clock: Clock) -> None:
        super().__init__(url, clock)
        self.down = 0  # calls left that fail

    def _outage(self) -> None:
        if self.down:
            self.down -= 1
            raise OperationalError("SELECT … WHERE conversation_id = ?", {}, Exception("could not connect"))

    def claim(self, lease: timedelta):  # type: ignore[no-untyped-def]
        self._outage()
        return super().claim(lease)

    def done(self, claimed: Claimed) -> bool:
        self._outage()
        return super().done(claimed)

    def retry(self, claimed: Claimed, error: str, delay: timedelta, message_failed: bool = False) -> bool:
        self._outage()
        return super().retry(claimed, error, delay, message_failed)


@pytest.fixture
def flaky(tmp_path, clock: Clock) -> FlakyStore:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'vecina.db'}"
    db.upgrade(url)
    return FlakyStore(url, clock)


FAST = dict(first_retry=timedelta(milliseconds=5), longest_retry=timedelta(milliseconds=20), idle_wait=0.01)


async def test_a_worker_outlives_an_outage_of_the_store_itself(flaky: FlakyStore) -> None:
    _deliver(flaky, "A1")
    flaky.down = 25  # claims fail for a while: the worker waits instead of ending
    handled: List[str] = []
    stop = asyncio.Event()

    async def rasa(claimed: Claimed) -> None:
        handled.append(claimed.payload["text"])
        stop.set()

    await asyncio.wait_for(InboundWorker(flaky, rasa, WorkerPolicy(**FAST)).run(stop), timeout=10)
    assert handled == ["A1"] and flaky.down == 0


@pytest.mark.parametrize("outage", [
    OperationalError("UPDATE events SET …", {}, Exception("server closed the connection unexpectedly")),
    DatabaseError("SELECT …", {}, Exception("file is not a database")),
    InterfaceError("SELECT …", {}, Exception("connection already closed")),
    TransientError("action server down"),
])
async def test_a_database_or_rasa_outage_inside_the_turn_never_fails_the_message(store: InboundStore, clock: Clock,
                                                                                 outage: Exception) -> None:
    _deliver(store, "A1")
    left = {"count": 8}
    handled: List[str] = []

    async def rasa(claimed: Claimed) -> None:
        if left["count"]:
            left["count"] -= 1
            raise outage
        handled.append(claimed.payload["text"])

    worker = InboundWorker(store, rasa, WorkerPolicy(max_failures=2))
    while not handled:
        assert await worker.run_once()
        clock.advance(61)
    assert store.counts() == {"done": 1}


async def test_a_handled_message_is_marked_done_once_the_store_is_back(flaky: FlakyStore) -> None:
    _deliver(flaky, "A1")
    handled: List[str] = []

    async def rasa(claimed: Claimed) -> None:
        handled.append(claimed.payload["text"])
        flaky.down = 3  # the database goes away right after the turn

    assert await InboundWorker(flaky, rasa, WorkerPolicy(**FAST)).run_once()
    assert handled == ["A1"] and flaky.counts() == {"done": 1}


async def test_a_slow_turn_keeps_its_lease_and_is_never_claimed_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'vecina.db'}"
    db.upgrade(url)
    store = InboundStore(url)  # the real clock: the lease really runs
    _deliver(store, "A1")
    turns: List[str] = []

    async def slow_rasa(claimed: Claimed) -> None:
        turns.append(claimed.payload["text"])
        await asyncio.sleep(1.5)  # five leases long

    policy = WorkerPolicy(lease=timedelta(seconds=0.3), idle_wait=0.01)
    first = asyncio.ensure_future(InboundWorker(store, slow_rasa, policy).run_once())
    await asyncio.sleep(0.1)
    second = InboundWorker(store, slow_rasa, policy)
    for _ in range(12):
        assert not await second.run_once()
        await asyncio.sleep(0.1)
    assert await first
    assert turns == ["A1"] and store.counts() == {"done": 1}


async def test_a_worker_that_ends_by_accident_is_started_again(store: InboundStore) -> None:
    _deliver(store, "A1")
    handled: List[str] = []
    stop = asyncio.Event()

    async def rasa(claimed: Claimed) -> None:
        handled.append(claimed.payload["text"])
        stop.set()

    class Crashing(InboundWorker):
        crashes = 2

        async def run(self, stop: asyncio.Event) -> None:
            if Crashing.crashes:
                Crashing.crashes -= 1
                raise RuntimeError("a bug outside any message")
            await super().run(stop)

    tasks = supervise([Crashing(store, rasa, WorkerPolicy(idle_wait=0.01))], stop)
    await asyncio.wait_for(stop.wait(), timeout=10)
    await asyncio.wait(tasks, timeout=5)
    assert handled == ["A1"] and Crashing.crashes == 0
