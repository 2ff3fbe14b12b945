"""The durable inbound store on real SQLite and PostgreSQL: once per provider id, in order per
conversation, never held by a dead worker, never finished by a worker that lost its lease."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import List

import pytest

from tests.conftest import Clock
from vecina.channels.inbound import InboundStore

LEASE = timedelta(seconds=30)


@pytest.fixture
def store(database: str, clock: Clock) -> InboundStore:
    return InboundStore(database, clock)


def _deliver(store: InboundStore, *messages: str) -> None:
    """"A1" is message 1 of conversation A."""
    for name in messages:
        assert store.accept("whatsapp", f"wamid.{name}", f"whatsapp:{name[0]}", {"text": name})


def test_a_delivery_repeated_concurrently_is_stored_once(store: InboundStore) -> None:
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: store.accept("whatsapp", "wamid.X", "whatsapp:+34600", {"text": "hola"}),
                                range(5)))
    assert results.count(True) == 1
    assert not store.accept("whatsapp", "wamid.X", "whatsapp:+34600", {"text": "hola"})  # e.g. after a restart
    assert store.accept("telegram", "wamid.X", "telegram:1", {"text": "hola"})  # ids are per channel
    assert store.counts() == {"pending": 2}


def test_a_conversation_is_handled_in_order_and_others_go_in_parallel(store: InboundStore) -> None:
    _deliver(store, "A1", "A2", "B1")
    first, second = store.claim(LEASE), store.claim(LEASE)
    assert (first.payload["text"], second.payload["text"]) == ("A1", "B1")
    assert store.claim(LEASE) is None  # A2 waits for A1
    assert store.done(first)
    assert store.claim(LEASE).payload["text"] == "A2"


def test_a_dead_workers_message_is_taken_again_and_its_late_answer_ignored(store: InboundStore,
                                                                           clock: Clock) -> None:
    _deliver(store, "A1")
    lost = store.claim(LEASE)
    clock.advance(29)
    assert store.claim(LEASE) is None
    clock.advance(2)
    again = store.claim(LEASE)
    assert again.id == lost.id and again.attempt == lost.attempt + 1
    assert not store.done(lost) and not store.retry(lost, "late", timedelta(0))
    assert store.done(again) and store.counts() == {"done": 1}


def test_a_retried_message_waits_and_keeps_its_conversation_waiting(store: InboundStore, clock: Clock) -> None:
    _deliver(store, "A1", "A2")
    claimed = store.claim(LEASE)
    assert store.retry(claimed, "ConnectionRefusedError", timedelta(seconds=10))
    clock.advance(9)
    assert store.claim(LEASE) is None
    clock.advance(1)
    assert store.claim(LEASE).payload["text"] == "A1"


def test_a_failed_message_is_kept_and_its_conversation_moves_on(store: InboundStore) -> None:
    _deliver(store, "A1", "A2")
    assert store.fail(store.claim(LEASE), "ValueError")
    assert store.claim(LEASE).payload["text"] == "A2"
    assert store.counts() == {"failed": 1, "processing": 1}


def test_concurrent_workers_never_take_the_same_message(store: InboundStore) -> None:
    _deliver(store, *[f"{conversation}{n}" for n in range(1, 4) for conversation in "ABCDEF"])
    handled: List[str] = []

    def work(_: int) -> None:
        idle = 0
        while idle < 50:
            claimed = store.claim(LEASE)
            if claimed is None:
                idle += 1
                continue
            handled.append(claimed.payload["text"])
            assert store.done(claimed)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert sorted(handled) == sorted(f"{c}{n}" for n in range(1, 4) for c in "ABCDEF")
    for conversation in "ABCDEF":
        assert [h for h in handled if h[0] == conversation] == [f"{conversation}{n}" for n in range(1, 4)]


def test_a_handled_message_keeps_no_content_but_still_stops_repeats(store: InboundStore, database: str) -> None:
    from vecina.db import session_scope
    from vecina.db.models import InboundMessage

    _deliver(store, "A1")
    assert store.done(store.claim(LEASE))
    with session_scope(database) as session:
        assert [row.payload for row in session.query(InboundMessage).all()] == [{}]
    assert not store.accept("whatsapp", "wamid.A1", "whatsapp:A", {"text": "A1"})
