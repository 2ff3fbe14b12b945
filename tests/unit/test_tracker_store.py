"""The conversation store fails closed and its errors carry no personal data.

Pins Rasa 3.6's own behaviour too (every store wrapped in FailSafeTrackerStore, which answers a
failed read with "no conversation"): if an upgrade changes it, these tests say so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rasa.core.agent import Agent
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config
from sqlalchemy.exc import DatabaseError, ProgrammingError

from vecina.settings import ROOT
from vecina.tracker_store import FailClosedSQLTrackerStore, TrackerStoreNotConfigured, fail_closed

PHONE = "whatsapp:+34600111222"
TEXT = "Mi DNI es 12345678Z y vivo en la calle Mayor 3"


@pytest.fixture
def agents(monkeypatch: pytest.MonkeyPatch) -> None:
    """fail_closed() for this test only."""
    monkeypatch.setattr(Agent, "_create_tracker_store", Agent._create_tracker_store)
    fail_closed()


def sqlite_store(path: Path) -> FailClosedSQLTrackerStore:
    return FailClosedSQLTrackerStore(domain=Domain.empty(), dialect="sqlite", db=str(path))


def break_file(path: Path) -> None:
    """What a full disk or a bad copy does to SQLite: the file is no database any more."""
    path.write_bytes(b"this is not a database" * 512)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def saved_conversation(store: TrackerStore) -> None:
    tracker = DialogueStateTracker.from_events(PHONE, [UserUttered(TEXT, message_id="m1")])
    await store.save(tracker)
    assert (await store.retrieve(PHONE)).latest_message.text == TEXT


async def test_stock_rasa_hides_a_broken_store_behind_an_empty_conversation(tmp_path: Path) -> None:
    """The defect: Rasa's own wrapper turns a read error into 'no conversation yet'."""
    store = sqlite_store(tmp_path / "tracker.db")
    await saved_conversation(store)
    agent = Agent(tracker_store=store)
    assert isinstance(agent.tracker_store, FailSafeTrackerStore)
    break_file(tmp_path / "tracker.db")
    store.engine.dispose()
    assert await agent.tracker_store.retrieve(PHONE) is None


async def test_a_read_error_reaches_the_caller(tmp_path: Path, agents: None) -> None:
    store = sqlite_store(tmp_path / "tracker.db")
    await saved_conversation(store)
    agent = Agent(tracker_store=store)
    assert agent.tracker_store is store
    break_file(tmp_path / "tracker.db")
    store.engine.dispose()
    with pytest.raises(DatabaseError) as error:
        await agent.tracker_store.retrieve(PHONE)
    assert "+34600111222" not in str(error.value) and "12345678Z" not in str(error.value)


async def test_a_write_error_reaches_the_caller_and_names_no_one(tmp_path: Path, agents: None) -> None:
    store = sqlite_store(tmp_path / "tracker.db")
    agent = Agent(tracker_store=store)
    with store.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON events "
                                   "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    tracker = DialogueStateTracker.from_events(PHONE, [UserUttered(TEXT, message_id="m1")])
    with pytest.raises(Exception) as error:
        await agent.tracker_store.save(tracker)
    text = str(error.value)
    assert "disk full" in text
    assert "+34600111222" not in text and "12345678Z" not in text and "Mayor" not in text


def test_a_store_that_did_not_load_stops_the_server(agents: None) -> None:
    """Rasa answers a tracker store class it cannot import with an in-memory store."""
    with pytest.raises(TrackerStoreNotConfigured):
        Agent(tracker_store=InMemoryTrackerStore(Domain.empty()))
    assert isinstance(Agent().tracker_store, InMemoryTrackerStore)  # no model loaded: as in Rasa


def test_endpoints_yml_names_the_fail_closed_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vecina.settings import Settings

    monkeypatch.setenv("VECINA_TRACKER_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    for key, value in Settings().rasa_environment().items():
        monkeypatch.setenv(key, value)
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    store = TrackerStore.create(config)
    assert type(store) is FailClosedSQLTrackerStore
    assert store.engine.hide_parameters and os.path.exists(tmp_path / "tracker.db")


@pytest.mark.services
async def test_postgresql_errors_name_no_one_either(agents: None) -> None:
    from sqlalchemy.engine import make_url

    from tests.conftest import service_url

    url = make_url(service_url("VECINA_TEST_POSTGRES_URL"))
    store = FailClosedSQLTrackerStore(domain=Domain.empty(), dialect="postgresql", host=url.host, port=url.port,
                                      db=url.database, username=url.username, password=url.password)
    await saved_conversation(store)
    with store.engine.begin() as connection:  # a query that fails on the server, with the id bound
        connection.exec_driver_sql("ALTER TABLE events RENAME TO events_elsewhere")
    try:
        with pytest.raises(ProgrammingError) as error:
            await Agent(tracker_store=store).tracker_store.retrieve(PHONE)
    finally:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE events_elsewhere")
    assert "events" in str(error.value) and "+34600111222" not in str(error.value)


async def test_a_locked_database_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    """Rasa's SQL store waits for the database inside the event loop; ours waits in a thread."""
    import asyncio
    import sqlite3

    store = sqlite_store(tmp_path / "tracker.db")
    await saved_conversation(store)
    ticks = 0

    async def other_conversations() -> None:
        nonlocal ticks
        for _ in range(30):
            await asyncio.sleep(0.1)
            ticks += 1

    holder = sqlite3.connect(tmp_path / "tracker.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the database for a while
    try:
        results = await asyncio.gather(store.retrieve(PHONE), other_conversations(), return_exceptions=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(results[0], Exception) and ticks == 30
    assert (await store.retrieve(PHONE)).latest_message.text == TEXT


async def test_saving_stores_each_event_once_as_rasa_does(tmp_path: Path) -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import ActionExecuted, BotUttered

    ours, rasas = sqlite_store(tmp_path / "ours.db"), SQLTrackerStore(Domain.empty(), db=str(tmp_path / "rasa.db"))
    rows = []
    for store in (ours, rasas):
        tracker = DialogueStateTracker.from_events(PHONE, [UserUttered(TEXT, {"name": "greet"}, message_id="m1"),
                                                           ActionExecuted("utter_greet"), BotUttered("Hola")])
        await store.save(tracker)
        await store.save(tracker)  # nothing new: nothing added
        tracker.update(UserUttered("gracias", message_id="m2"))
        await store.save(tracker)
        with store.session_scope() as session:
            rows.append([(r.type_name, r.intent_name, r.action_name, {**json.loads(r.data), "timestamp": None})
                         for r in session.query(store.SQLEvent).order_by(store.SQLEvent.id)])
    assert rows[0] == rows[1] and len(rows[0]) == 4
    assert list(await ours.keys()) == [PHONE]
