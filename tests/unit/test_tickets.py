"""Tickets on real SQLite and PostgreSQL: one active ticket per conversation, the queue order,
idempotent staff replies, and an audit log nobody can rewrite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import Clock
from vecina.db import get_engine
from vecina.services.tickets import HIGH, NORMAL, URGENT, NewTicket, TicketError, TicketStore


@pytest.fixture
def store(database: str, clock: Clock) -> TicketStore:
    return TicketStore(database, clock)


def ticket(conversation: str, priority: int = NORMAL, team: str = "citizen-office", reason: str = "human_handoff"):
    return NewTicket(conversation, conversation.split(":")[0], "es", team, reason, priority,
                     summary=[{"from": "citizen", "text": "quiero hablar con alguien"}])


def test_a_conversation_has_one_active_ticket_even_when_asked_twice_at_once(store: TicketStore) -> None:
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: store.open(ticket("whatsapp:+34600000001")), range(6)))
    assert [created for _view, created in results].count(True) == 1
    assert len({view.id for view, _created in results}) == 1
    assert len(store.queue()) == 1


def test_a_more_urgent_reason_raises_the_priority(store: TicketStore) -> None:
    first, _ = store.open(ticket("telegram:1"))
    again, created = store.open(ticket("telegram:1", URGENT, reason="urgent_help"))
    assert not created and again.id == first.id and again.priority == URGENT and again.reason == "urgent_help"


def test_the_queue_is_by_priority_then_age_and_filters(store: TicketStore, clock: Clock) -> None:
    store.open(ticket("whatsapp:+1"))
    clock.advance(60)
    store.open(ticket("whatsapp:+2", HIGH))
    clock.advance(60)
    urgent, _ = store.open(ticket("telegram:3", URGENT, team="social-services", reason="urgent_help"))
    clock.advance(60)
    last, _ = store.open(ticket("whatsapp:+4"))
    assert [t.conversation_id for t in store.queue()] == ["telegram:3", "whatsapp:+2", "whatsapp:+1", "whatsapp:+4"]
    assert [t.conversation_id for t in store.queue(team="social-services")] == ["telegram:3"]
    assert [t.conversation_id for t in store.queue(channel="telegram")] == ["telegram:3"]
    assert store.position(urgent.id) == 1 and store.position(last.id) == 3  # 3rd of its team


def test_claim_close_and_cancel_are_audited(store: TicketStore) -> None:
    view, _ = store.open(ticket("whatsapp:+5"))
    store.claim(view.id, "ana")
    closed = store.close(view.id, "ana", "solved")
    assert closed.status == "closed" and store.active("whatsapp:+5") is None
    with pytest.raises(TicketError):
        store.close(view.id, "ana", "solved")
    assert [(a["actor"], a["action"]) for a in store.audit_trail(f"ticket:{view.id}")] == \
        [("ana", "claim"), ("ana", "close")]
    waiting, _ = store.open(ticket("whatsapp:+5"))  # a new ticket once the old one is closed
    store.claim(waiting.id, "luis")
    assert waiting.id != view.id and store.cancel("whatsapp:+5").status == "cancelled"
    assert store.cancel("whatsapp:+5") is None and store.audit_trail(f"ticket:{waiting.id}")[-1]["actor"] == "citizen"


def test_a_staff_reply_sent_twice_with_the_same_key_is_stored_once(store: TicketStore) -> None:
    view, _ = store.open(ticket("whatsapp:+6"))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: store.add_entry(view.id, "staff", "Hola, soy Ana", "ana", "key-1"), range(4)))
    assert [created for _id, created in results].count(True) == 1 and len({i for i, _c in results}) == 1
    assert [e["text"] for e in store.entries(view.id)] == ["Hola, soy Ana"]


def test_the_audit_log_cannot_be_changed_or_deleted(store: TicketStore, database: str) -> None:
    store.audit("ana", "view", "ticket:1")
    for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with get_engine(database).begin() as connection:
                connection.execute(text(statement))
    assert [a["actor"] for a in store.audit_trail()] == ["ana"]
