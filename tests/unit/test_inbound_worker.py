"""The inbound worker: outages are waited out, a broken message is set aside, order is kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import List

import pytest

from tests.conftest import Clock
from vecina import db
from vecina.channels.inbound import Claimed, InboundStore
from vecina.channels.worker import InboundWorker, WorkerPolicy, retry_delay


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
