"""The conversation lock on Redis holds across replicas (vecina.lock_store), with a real Redis.

Pins the defect in Rasa's own RedisLockStore too: two replicas issuing a ticket at the same
moment get the same number.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import List

import pytest
from rasa.core.lock_store import RedisLockStore

from tests.conftest import service_url
from vecina.lock_store import AtomicRedisLockStore

pytestmark = pytest.mark.services


def store(kind: type) -> RedisLockStore:
    from redis import Redis

    url = service_url("VECINA_TEST_REDIS_URL")
    connection = Redis.from_url(url).connection_pool.connection_kwargs
    return kind(host=connection["host"], port=connection["port"], db=connection["db"])


def interleaved(first: RedisLockStore, second: RedisLockStore, conversation: str) -> List[int]:
    """Replica 1 reads the lock; replica 2 issues a ticket; replica 1 writes back."""
    tickets: List[int] = []
    original_get = first.red.get
    seen = {"once": False}

    def get_then_let_the_other_replica_in(key):  # type: ignore[no-untyped-def]
        value = original_get(key)
        if not seen["once"]:
            seen["once"] = True
            tickets.append(second.issue_ticket(conversation))
        return value

    first.red.get = get_then_let_the_other_replica_in  # the stock store reads through red.get
    try:
        tickets.append(first.issue_ticket(conversation))
    finally:
        first.red.get = original_get
    return tickets


def test_rasas_store_gives_two_replicas_the_same_ticket() -> None:
    conversation = f"whatsapp:+34{uuid.uuid4().int % 10**9}"
    tickets = interleaved(store(RedisLockStore), store(RedisLockStore), conversation)
    assert len(set(tickets)) == 1


def test_each_ticket_is_issued_once_across_replicas() -> None:
    conversation = f"whatsapp:+34{uuid.uuid4().int % 10**9}"
    replicas = [store(AtomicRedisLockStore) for _ in range(4)]
    issued: List[int] = []
    guard = threading.Lock()

    def issue(replica: AtomicRedisLockStore) -> None:
        for _ in range(50):
            ticket = replica.issue_ticket(conversation, lock_lifetime=60)
            with guard:
                issued.append(ticket)

    threads = [threading.Thread(target=issue, args=(replica,)) for replica in replicas for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(issued) == 400 and len(set(issued)) == 400
    for ticket in issued:
        replicas[0].cleanup(conversation, ticket)
    assert replicas[0].get_lock(conversation) is None


async def test_two_replicas_never_run_a_conversations_turns_at_once() -> None:
    conversation = f"telegram:{uuid.uuid4().int % 10**9}"
    replicas = [store(AtomicRedisLockStore), store(AtomicRedisLockStore)]
    running, overlaps, done = 0, 0, 0

    async def turn(replica: AtomicRedisLockStore) -> None:
        nonlocal running, overlaps, done
        async with replica.lock(conversation, lock_lifetime=30, wait_time_in_seconds=0.01):
            running += 1
            overlaps += running > 1
            await asyncio.sleep(0.02)
            running -= 1
            done += 1

    await asyncio.wait_for(asyncio.gather(*(turn(replicas[i % 2]) for i in range(20))), timeout=60)
    assert done == 20 and overlaps == 0
    assert replicas[0].get_lock(conversation) is None


def test_endpoints_yml_gives_rasa_the_atomic_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import read_endpoint_config

    from vecina.settings import ROOT, Settings

    monkeypatch.setenv("VECINA_LOCK_STORE_URL", service_url("VECINA_TEST_REDIS_URL"))
    for key, value in Settings().rasa_environment().items():
        monkeypatch.setenv(key, value)
    assert type(LockStore.create(read_endpoint_config(str(ROOT / "endpoints.yml"), "lock_store"))) \
        is AtomicRedisLockStore
