"""Outbound messages: retries of transient errors, receipts that only move forward, the 24-hour window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from vecina.channels.contacts import ContactBook
from vecina.channels.outbound import HELD, OutboundStore, RetryPolicy, SendError, deliver
from vecina.db import upgrade


@pytest.fixture
def url(tmp_path) -> str:
    database = f"sqlite:///{tmp_path / 'vecina.db'}"
    upgrade(database)
    return database


async def test_transient_errors_are_retried_and_the_outcome_recorded(url: str, clock) -> None:
    store = OutboundStore(url, clock)
    answers = [SendError("130429", True), SendError("500", True), "wamid.1"]

    async def send(_message):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    record = store.record("whatsapp", "whatsapp:+34600000001", "text", {"type": "text"})
    assert await deliver(store, record, send, RetryPolicy(attempts=4, first_delay=0.01)) == "wamid.1"
    assert store.status(record.id) == {"status": "sent", "error_code": None, "provider_id": "wamid.1", "attempts": 3}


async def test_a_permanent_error_is_not_retried(url: str, clock) -> None:
    store = OutboundStore(url, clock)
    calls = []

    async def send(_message):
        calls.append(1)
        raise SendError("131047", False)

    record = store.record("whatsapp", "whatsapp:+34600000001", "text", {"type": "text"})
    assert await deliver(store, record, send, RetryPolicy(attempts=4, first_delay=0.01)) is None
    assert len(calls) == 1
    assert store.status(record.id)["status"] == "failed" and store.status(record.id)["error_code"] == "131047"


async def test_transient_errors_give_up_after_the_last_attempt(url: str, clock) -> None:
    store = OutboundStore(url, clock)

    async def send(_message):
        raise SendError("ClientConnectorError", True)

    record = store.record("whatsapp", "whatsapp:+34600000001", "text", {"type": "text"})
    assert await deliver(store, record, send, RetryPolicy(attempts=3, first_delay=0.01)) is None
    assert store.status(record.id) == {"status": "failed", "error_code": "ClientConnectorError", "provider_id": None,
                                       "attempts": 3}


async def test_receipts_only_move_forward(url: str, clock) -> None:
    store = OutboundStore(url, clock)
    record = store.record("whatsapp", "whatsapp:+34600000001", "text", {"type": "text"})

    async def send(_message):
        return "wamid.7"

    await deliver(store, record, send)
    at = datetime(2026, 11, 23, 9, 5)
    assert store.receipt("whatsapp", "wamid.7", "read", at)
    assert store.receipt("whatsapp", "wamid.7", "delivered", at - timedelta(seconds=30))  # late, out of order
    assert store.status(record.id)["status"] == "read"
    assert not store.receipt("whatsapp", "wamid.unknown", "read", at)
    assert not store.receipt("telegram", "wamid.7", "read", at)


def test_held_messages_are_released_once(url: str, clock) -> None:
    store = OutboundStore(url, clock)
    first = store.record("whatsapp", "whatsapp:+34600000001", "text", {"n": 1}, status=HELD)
    second = store.record("whatsapp", "whatsapp:+34600000001", "text", {"n": 2}, status=HELD)
    assert [m.id for m in store.held("whatsapp:+34600000001")] == [first.id, second.id]
    assert store.release(first.id) and not store.release(first.id)
    assert [m.id for m in store.held("whatsapp:+34600000001")] == [second.id]


def test_the_window_is_24_hours_from_the_citizen_last_message(url: str, clock) -> None:
    book = ContactBook(url, clock)
    conversation = "whatsapp:+34600000001"
    assert not book.window_open(book.get(conversation))
    book.heard_from(conversation, "whatsapp", "34600000001", "111", clock.now - timedelta(hours=25))
    assert not book.window_open(book.get(conversation))
    book.heard_from(conversation, "whatsapp", "34600000001", "111", clock.now - timedelta(hours=23))
    book.heard_from(conversation, "whatsapp", "34600000001", "111", clock.now - timedelta(hours=30))  # late delivery
    contact = book.get(conversation)
    assert book.window_open(contact) and contact.last_inbound_at == clock.now - timedelta(hours=23)
    book.set_language(conversation, "va")
    assert book.get(conversation).language == "va"


def test_simultaneous_first_messages_of_a_citizen_do_not_collide(url: str, clock) -> None:
    import concurrent.futures

    book = ContactBook(url, clock)
    conversation = "whatsapp:+34600000009"

    def heard(offset: int) -> None:
        book.heard_from(conversation, "whatsapp", "34600000009", "111", clock.now - timedelta(minutes=offset))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(heard, range(16)))
    assert book.get(conversation).last_inbound_at == clock.now


def test_channels_status_names_unset_variables_and_failed_messages_without_content(url: str, clock) -> None:
    from datetime import timedelta as _delta

    from vecina.channels.inbound import InboundStore
    from vecina.channels.report import status_lines
    from vecina.settings import Settings

    inbound = InboundStore(url, clock)
    inbound.accept("whatsapp", "wamid.1", "whatsapp:+34600000001", {"message": {"text": {"body": "mi DNI es 1234"}}})
    inbound.fail(inbound.claim(_delta(seconds=60)), "KeyError")
    settings = Settings(database_url=url, whatsapp_access_token="s3cret-token", whatsapp_app_secret="s3cret",
                        whatsapp_verify_token="v", whatsapp_phone_number_ids="111", telegram_token="t")
    report = "\n".join(status_lines(settings))
    assert "whatsapp: configured" in report
    assert "telegram: off (unset: VECINA_TELEGRAM_SECRET_TOKEN)" in report
    assert "inbound messages: failed 1" in report and "KeyError" in report
    assert "s3cret" not in report and "DNI" not in report and "34600000001" not in report
