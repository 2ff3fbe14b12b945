"""Shared fixtures: the real kb, a real SQLite database loaded from it, tracker builders."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker

from vecina.kb.build import validate_dir
from vecina.kb.model import KnowledgeBase
from vecina.settings import ROOT, get_settings

KB_DIR = ROOT / "kb"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """A clock that only moves when the test says so (naive UTC, like the stores)."""
    return Clock()


def service_url(name: str) -> str:
    """The URL of a server .ci/services started (PostgreSQL, Redis): skip without it, fail in CI."""
    value = os.environ.get(name)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not set: .ci/services should have started the server")
        pytest.skip(f"{name} not set (run: eval \"$(.ci/services)\")")
    return value


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database(request, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """An empty database at the latest migration: SQLite, and PostgreSQL where .ci/services runs."""
    from sqlalchemy import text

    from vecina import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'vecina.db'}"
    else:
        url = service_url("VECINA_TEST_POSTGRES_URL")
        with db.get_engine(url).begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.upgrade(url)
    return url


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    knowledge, problems, _ = validate_dir(KB_DIR)
    assert not problems, "\n".join(map(str, problems))
    assert knowledge is not None
    return knowledge


@pytest.fixture(scope="session")
def kb_source(kb: KnowledgeBase) -> Any:
    """The kb behind the kb reader's interface (`current()`), without a database."""
    return SimpleNamespace(current=lambda: kb)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from vecina.kb.store import load

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'vecina.db'}"
    load(KB_DIR, url)
    return url


@pytest.fixture
def actions_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the action code at the test database."""
    import actions.common

    monkeypatch.setenv("VECINA_DATABASE_URL", database_url)
    get_settings.cache_clear()
    actions.common.kb_reader.cache_clear()
    yield database_url
    get_settings.cache_clear()
    actions.common.kb_reader.cache_clear()


def make_tracker(text: str = "", intent: Optional[str] = None, entities: Optional[List[Dict[str, Any]]] = None,
                 slots: Optional[Dict[str, Any]] = None, language_detection: Optional[dict] = None,
                 metadata: Optional[dict] = None, extra: Optional[dict] = None) -> Tracker:
    """A tracker whose latest message is `text` classified as `intent`."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99} if intent else {},
        "entities": [{"entity": e[0], "value": e[1]} if isinstance(e, tuple) else e for e in (entities or [])],
        "metadata": metadata or {},
    }
    if language_detection:
        latest["language_detection"] = language_detection
    latest.update(extra or {})
    return Tracker(sender_id="test", slots=dict(slots or {}), latest_message=latest, events=[],
                   paused=False, followup_action=None, active_loop={}, latest_action_name="action_listen")


@pytest.fixture
def tracker_for():
    return make_tracker


def response_names(dispatcher) -> List[str]:  # type: ignore[no-untyped-def]
    return [message.get("response") for message in dispatcher.messages]
