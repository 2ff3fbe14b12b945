"""Rasa's conversation store, failing closed (named in endpoints.yml; installed by vecina.rasa_server).

Rules:
- A read or write error is never hidden. Stock Rasa wraps every tracker store in a
  `FailSafeTrackerStore`, which answers a failed read with "no conversation" and keeps a failed
  write in memory: the turn then runs against an empty history (the privacy notice again, a
  booking form forgotten), is saved nowhere and its message is marked done. Here the error
  reaches the caller instead: the inbound worker gives the message back to the store and tries
  again once the database answers (vecina.channels.worker treats database outages as transient).
- Database errors carry no personal data: the engine is created with `hide_parameters=True`, so
  an error's text never includes bound values (conversation ids are phone numbers, event data is
  what citizens wrote).
- The database is never waited for on Rasa's event loop: Rasa's SQL store is synchronous inside
  its async methods, so one slow or locked database would stall every conversation of the
  process. Reads and writes run in a thread; connecting to PostgreSQL gives up after 10 s.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Coroutine, Iterable, Optional, TypeVar

import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.tracker_store import (InMemoryTrackerStore, SQLTrackerStore, TrackerStore,
                                     create_engine_kwargs)
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

CONNECT_TIMEOUT_SECONDS = 10
T = TypeVar("T")


def _completed(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits (Rasa's SQL store methods do all their work
    synchronously), run to its end in the calling thread."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise RuntimeError("a tracker store call waited on the event loop")


class FailClosedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store with an engine that hides bound parameters in its errors and
    checks pooled connections before use (a restarted PostgreSQL is reconnected to)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        options = create_engine_kwargs(url)
        if url.get_backend_name() == "postgresql":
            options["connect_args"] = {**options.get("connect_args", {}), "connect_timeout": CONNECT_TIMEOUT_SECONDS}
        self.engine.dispose()
        self.engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=True, **options)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        return await asyncio.to_thread(_completed, super()._retrieve(sender_id, fetch_events_from_all_sessions))

    async def keys(self) -> Iterable[str]:
        return await asyncio.to_thread(_completed, super().keys())

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)  # event brokers belong to the event loop
        await asyncio.to_thread(self._store_new_events, tracker)

    def _store_new_events(self, tracker: DialogueStateTracker) -> None:
        """The database half of `SQLTrackerStore.save` (Rasa 3.6.21), unchanged."""
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.commit()


class TrackerStoreNotConfigured(RuntimeError):
    """endpoints.yml names a store that did not load (Rasa would silently keep conversations in memory)."""


def _tracker_store_as_configured(store: Optional[TrackerStore], domain: Domain) -> TrackerStore:
    """What `Agent._create_tracker_store` does, without the in-memory fallback around it. An agent
    without a store (Rasa's HTTP API unloading the model) gets an in-memory one, as in Rasa; any
    store other than ours means endpoints.yml's did not load, and the server must not start."""
    if store is None:
        return InMemoryTrackerStore(domain)
    if not isinstance(store, FailClosedSQLTrackerStore):
        raise TrackerStoreNotConfigured(f"the conversation store is {type(store).__name__}, not "
                                        f"{FailClosedSQLTrackerStore.__name__}: check endpoints.yml")
    store.domain = domain
    return store


def fail_closed() -> None:
    """Make every agent of this process use its tracker store as configured, unwrapped.

    Rasa 3.6 offers no setting for this: `Agent._create_tracker_store` always wraps the store in
    `FailSafeTrackerStore`. tests/unit/test_tracker_store.py pins both Rasa's behaviour and
    this replacement; re-check them on any Rasa upgrade."""
    Agent._create_tracker_store = staticmethod(_tracker_store_as_configured)
