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
"""

from __future__ import annotations

from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.tracker_store import (InMemoryTrackerStore, SQLTrackerStore, TrackerStore,
                                     create_engine_kwargs)
from rasa.shared.core.domain import Domain


class FailClosedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store with an engine that hides bound parameters in its errors and
    checks pooled connections before use (a restarted PostgreSQL is reconnected to)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)


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
