"""The production path: PostgreSQL and Redis chosen by environment variables, same code.

.ci/run starts both on loopback and sets VECINA_TEST_POSTGRES_URL / VECINA_TEST_REDIS_URL.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.conftest import KB_DIR, service_url
from vecina import db
from vecina.kb.store import KbReader, load
from vecina.settings import ROOT, Settings

pytestmark = pytest.mark.services


@pytest.fixture
def postgres_url() -> str:
    url = service_url("VECINA_TEST_POSTGRES_URL")
    with db.get_engine(url).begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    return url


def test_kb_loads_into_postgresql_and_reads_back(postgres_url: str, kb) -> None:
    result = load(KB_DIR, postgres_url)
    assert result.changed and not load(KB_DIR, postgres_url).changed
    stored = KbReader(postgres_url).current()
    assert stored.procedures.keys() == kb.procedures.keys()
    assert stored.streets["carrer-major"].segments == kb.streets["carrer-major"].segments


def _endpoints(monkeypatch: pytest.MonkeyPatch, settings: Settings):  # type: ignore[no-untyped-def]
    from rasa.core.utils import AvailableEndpoints

    for key, value in settings.rasa_environment().items():
        monkeypatch.setenv(key, value)
    return AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml"))


def test_rasa_tracker_store_on_postgresql_from_our_settings(postgres_url: str, monkeypatch) -> None:
    from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    settings = Settings(tracker_url=postgres_url)
    endpoints = _endpoints(monkeypatch, settings)
    store = TrackerStore.create(endpoints.tracker_store, Domain.empty())
    assert isinstance(store, SQLTrackerStore)
    assert store.engine.dialect.name == "postgresql"
    tracker = DialogueStateTracker.from_events("citizen-1", [UserUttered("hola")])
    asyncio.run(store.save(tracker))
    loaded = asyncio.run(store.retrieve("citizen-1"))
    assert loaded is not None and loaded.latest_message.text == "hola"


def test_rasa_lock_store_on_redis_from_our_settings(monkeypatch) -> None:
    from rasa.core.lock_store import LockStore, RedisLockStore

    url = service_url("VECINA_TEST_REDIS_URL")
    endpoints = _endpoints(monkeypatch, Settings(lock_store_url=url))
    store = LockStore.create(endpoints.lock_store)
    assert isinstance(store, RedisLockStore)
    lock = store.create_lock("citizen-1")
    store.save_lock(lock)
    assert store.get_lock("citizen-1") is not None
    store.delete_lock("citizen-1")
    assert store.get_lock("citizen-1") is None
