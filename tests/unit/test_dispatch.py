"""Sending reminders and waiting-list offers through Rasa's trigger_intent (a fake Rasa API here; the
real one in tests/integration/test_reminders.py): once each, at the configured rate, every failure
counted by its cause, and a run interrupted by an unreachable assistant finished by the next one."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any, Callable, Dict, List, Optional

import pytest
from sqlalchemy import select, update

from tests.fakes.rasa import FakeRasaApi
from vecina import db
from vecina.channels.outbound import FAILED, OutboundStore
from vecina.db.models import Appointment, Reminder, WaitingEntry
from vecina.rasa_api import RasaApi
from vecina.scheduler import Scheduler
from vecina.services.appointments import (CANCELLED, CONFIRMED, OFFERED, Citizen, DatabaseBackend, NotFound,
                                          SlotTaken, WaitingList)
from vecina.services.dates import DateRequest
from vecina.services.dispatch import (INVALID_PHONE, NO_CONTACT, REMINDER_RESPONSES, Dispatcher, RateLimit, Route,
                                      route)
from vecina.services.reminders import (ACCEPTED, CANCELLED_ANSWER, CONFIRMED_ANSWER, NO_REMINDER, TOO_LATE,
                                       ReminderLog, answer_reminder)
from vecina.settings import Settings

SECRET = "unit-tests-only-jwt-secret-of-enough-length"
SUNDAY_EVENING = datetime(2026, 11, 22, 18, 30)
MONDAY = date(2026, 11, 23)
WINDOW = timedelta(minutes=1420)


class Clock:
    def __init__(self, now: datetime = SUNDAY_EVENING) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Channel:
    """What Rasa's output channel does when a reminder is triggered: record the message it sends
    (sent, or refused by the provider with an error code)."""

    def __init__(self, database: str) -> None:
        self.outbound = OutboundStore(database)
        self.refuse: Dict[str, str] = {}  # conversation -> provider error code

    def __call__(self, trigger: Dict[str, Any]) -> None:
        conversation = trigger["sender"]
        record = self.outbound.record(trigger["output_channel"], conversation, "interactive", {},
                                      REMINDER_RESPONSES[1] if trigger["intent"].endswith("reminder")
                                      else "utter_waiting_list_offer")
        if conversation in self.refuse:
            self.outbound.failed(record.id, self.refuse[conversation], 1)
        else:
            self.outbound.sent(record.id, f"wamid.{record.id}", 1)


@pytest.fixture
def rasa(database: str) -> FakeRasaApi:
    fake = FakeRasaApi(SECRET)
    fake.on_trigger = Channel(database)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatcher(database: str, rasa: FakeRasaApi, clock: Clock) -> Dispatcher:
    return Dispatcher(database, RasaApi(rasa.url, SECRET, timeout=5), ReminderLog(database, clock),
                      WaitingList(database, clock), WINDOW, sms_enabled=True, per_second=200, workers=4)


@pytest.fixture
def backend(database: str, kb_source: Any, clock: Clock) -> DatabaseBackend:
    return DatabaseBackend(database, kb_source, clock=clock)


def book(backend: DatabaseBackend, citizen: Citizen, day: date = MONDAY, service: str = "census") -> int:
    slot = next(s for s in backend.free_slots("oac-ajuntament", service, DateRequest(day=day), SUNDAY_EVENING, 40)
                if s.starts_at.date() == day)
    return backend.book(slot, citizen, None, f"{citizen.conversation_id}:{slot.starts_at}", SUNDAY_EVENING).id


@pytest.mark.parametrize("conversation, phone, sms, expected", [
    ("whatsapp:+34600000001", None, False, Route("whatsapp:+34600000001", "whatsapp")),
    ("whatsapp:111000111:+34600000001", None, False, Route("whatsapp:111000111:+34600000001", "whatsapp")),
    ("whatsapp:+12", None, True, INVALID_PHONE),
    ("telegram:123456", None, False, Route("telegram:123456", "telegram")),
    ("telegram:-100200300", None, False, Route("telegram:-100200300", "telegram")),
    ("twilio:+34600000002", None, False, Route("twilio:+34600000002", "twilio")),
    ("twilio:whatsapp:+34600000002", None, False, Route("twilio:whatsapp:+34600000002", "twilio")),
    ("twilio_voice:+34600000003", "+34600000003", True, Route("twilio:+34600000003", "twilio")),
    ("twilio_voice:+34600000003", "+34600000003", False, NO_CONTACT),
    ("rest:a1b2", None, True, NO_CONTACT),
    ("socketio:a1b2", "600 00 00 04", True, INVALID_PHONE),
])
def test_each_citizen_is_reached_where_they_can_be(conversation: str, phone: Optional[str], sms: bool,
                                                   expected: object) -> None:
    assert route(conversation, phone, sms) == expected


def test_each_appointment_of_the_day_gets_one_reminder_and_a_second_run_sends_nothing(
        database: str, dispatcher: Dispatcher, backend: DatabaseBackend, rasa: FakeRasaApi) -> None:
    reachable = [book(backend, Citizen(f"whatsapp:+3460000001{n}", "whatsapp", lang))
                 for n, lang in enumerate(("es", "ca", "va"))]
    web = book(backend, Citizen("socketio:abc", "socketio", "es"))
    bad = book(backend, Citizen("rest:x", "rest", "es", "12345"))
    gone = book(backend, Citizen("telegram:42", "telegram", "es"))
    backend.cancel(gone, "telegram:42", SUNDAY_EVENING)
    book(backend, Citizen("telegram:43", "telegram", "es"), day=MONDAY + timedelta(days=1))

    first = dispatcher.send_reminders(MONDAY)
    assert (first.due, first.sent, first.already, dict(first.failed), first.retry_later) == (
        5, 3, 0, {NO_CONTACT: 1, INVALID_PHONE: 1}, 0)
    assert sorted((t["sender"], t["intent"], t["output_channel"], t["entities"]["language"]) for t in rasa.triggers) == [
        (f"whatsapp:+3460000001{n}", "EXTERNAL_appointment_reminder", "whatsapp", lang)
        for n, lang in enumerate(("es", "ca", "va"))]
    assert sorted(int(t["entities"]["appointment_id"]) for t in rasa.triggers) == reachable

    second = dispatcher.send_reminders(MONDAY)
    assert (second.sent, second.already, dict(second.failed)) == (0, 5, {})
    assert len(rasa.triggers) == 3
    with db.session_scope(database) as session:
        rows = {r.appointment_id: r for r in session.execute(select(Reminder)).scalars()}
        assert {rows[n].status for n in reachable} == {"sent"}
        assert all(rows[n].outbound_id and rows[n].expires_at == SUNDAY_EVENING + WINDOW for n in reachable)
        assert (rows[web].failure, rows[bad].failure) == (NO_CONTACT, INVALID_PHONE)


def test_a_provider_refusal_is_recorded_with_its_code(database: str, dispatcher: Dispatcher,
                                                      backend: DatabaseBackend, rasa: FakeRasaApi) -> None:
    appointment = book(backend, Citizen("whatsapp:+34600000021", "whatsapp", "es"))
    rasa.on_trigger.refuse["whatsapp:+34600000021"] = "131026"
    result = dispatcher.send_reminders(MONDAY)
    assert dict(result.failed) == {"whatsapp:131026": 1} and result.sent == 0
    with db.session_scope(database) as session:
        row = session.execute(select(Reminder).where(Reminder.appointment_id == appointment)).scalar_one()
        assert (row.status, row.failure) == (FAILED, "whatsapp:131026")


def test_when_the_assistant_is_down_the_next_run_sends_what_was_left(
        dispatcher: Dispatcher, backend: DatabaseBackend, rasa: FakeRasaApi) -> None:
    for n in range(3):
        book(backend, Citizen(f"whatsapp:+3460000003{n}", "whatsapp", "es"))
    rasa.failures = [503, 503]
    first = dispatcher.send_reminders(MONDAY)
    assert (first.sent, first.retry_later) == (1, 2)
    second = dispatcher.send_reminders(MONDAY)
    assert (second.sent, second.already, second.retry_later) == (2, 1, 0)
    assert len(rasa.triggers) == 3


def test_messages_leave_no_faster_than_the_rate_limit() -> None:
    limit, started = RateLimit(per_second=40), time.monotonic()
    for _ in range(21):
        limit.wait()
    assert time.monotonic() - started >= 0.5


def test_a_freed_slot_is_offered_once_to_the_first_who_fits(
        database: str, dispatcher: Dispatcher, backend: DatabaseBackend, rasa: FakeRasaApi, clock: Clock) -> None:
    waiting = WaitingList(database, clock)
    first = waiting.join("oac-ajuntament", "census", Citizen("telegram:7", "telegram", "va"), None, MONDAY)
    waiting.join("oac-ajuntament", "census", Citizen("telegram:8", "telegram", "es"), None, MONDAY)
    freed = book(backend, Citizen("whatsapp:+34600000041", "whatsapp", "es"))
    cancelled = backend.cancel(freed, "whatsapp:+34600000041", SUNDAY_EVENING)
    assert waiting.offer(cancelled.slot).id == first

    sent = dispatcher.send_offers(SUNDAY_EVENING)
    assert (sent.due, sent.sent) == (1, 1)
    assert rasa.triggers == [{"sender": "telegram:7", "intent": "EXTERNAL_waiting_list_offer",
                              "entities": {"waiting_id": str(first), "language": "va"},
                              "output_channel": "telegram"}]
    assert dispatcher.send_offers(SUNDAY_EVENING).due == 0
    assert waiting.offered(first, "telegram:7").offered_slot == cancelled.starts_at
    assert waiting.offered(first, "telegram:8") is None  # only to the citizen it was offered to


def test_confirm_and_cancel_change_the_appointment_until_the_deadline(
        database: str, dispatcher: Dispatcher, backend: DatabaseBackend, clock: Clock) -> None:
    ana, pau, eva = (Citizen(f"whatsapp:+3460000005{n}", "whatsapp", "es") for n in range(3))
    ids = [book(backend, citizen) for citizen in (ana, pau, eva)]
    dispatcher.send_reminders(MONDAY)
    waiting = WaitingList(database, clock)
    entry = waiting.join("oac-ajuntament", "census", Citizen("telegram:9", "telegram", "es"), None, MONDAY)
    log = ReminderLog(database, clock)

    def answer(appointment_id: int, who: Citizen, what: str) -> str:
        return answer_reminder(log, backend, waiting, appointment_id, who.conversation_id, what, clock())[0]

    assert answer(ids[0], pau, CONFIRMED_ANSWER) == NO_REMINDER  # not theirs
    assert answer(ids[0], ana, CONFIRMED_ANSWER) == ACCEPTED
    assert answer(ids[1], pau, CANCELLED_ANSWER) == ACCEPTED
    clock.now += WINDOW + timedelta(minutes=1)
    assert answer(ids[2], eva, CANCELLED_ANSWER) == TOO_LATE
    with db.session_scope(database) as session:
        statuses = [session.get(Appointment, n).status for n in ids]
        assert statuses == [CONFIRMED, CANCELLED, "booked"]
        assert session.get(WaitingEntry, entry).status == OFFERED
        reminders = {r.appointment_id: (r.status, r.answer) for r in session.execute(select(Reminder)).scalars()}
        assert reminders == {ids[0]: ("answered", CONFIRMED_ANSWER), ids[1]: ("answered", CANCELLED_ANSWER),
                             ids[2]: ("expired", None)}


def test_a_cancellation_the_system_refuses_records_no_answer(
        database: str, dispatcher: Dispatcher, backend: DatabaseBackend, clock: Clock) -> None:
    ana = Citizen("whatsapp:+34600000061", "whatsapp", "es")
    appointment = book(backend, ana)
    dispatcher.send_reminders(MONDAY)
    backend.cancel(appointment, ana.conversation_id, SUNDAY_EVENING)  # cancelled meanwhile, another way
    log = ReminderLog(database, clock)
    assert answer_reminder(log, backend, WaitingList(database, clock), appointment, ana.conversation_id,
                           CANCELLED_ANSWER, clock()) == (NO_REMINDER, None)
    with db.session_scope(database) as session:
        assert session.execute(select(Reminder)).scalar_one().answer is None


def test_the_scheduler_reminds_once_a_day_from_the_configured_hour(
        database: str, rasa: FakeRasaApi, backend: DatabaseBackend, kb_source: Any, clock: Clock) -> None:
    book(backend, Citizen("whatsapp:+34600000071", "whatsapp", "es"))
    settings = Settings(database_url=database, console_rasa_url=rasa.url, rasa_jwt_secret=SECRET,
                        reminders_at="19:00")
    scheduler = Scheduler(settings, kb_source, clock)
    assert scheduler.tick() == [] and rasa.triggers == []  # 18:30: not yet
    clock.now = SUNDAY_EVENING.replace(hour=19, minute=1)
    assert any("sent: 1" in line for line in scheduler.tick())
    assert scheduler.tick() == [] and len(rasa.triggers) == 1
    clock.now += WINDOW + timedelta(minutes=1)
    assert scheduler.tick() == ["1 reminders expired unanswered"]


def test_an_offer_nobody_takes_in_time_goes_to_the_next_person_who_keeps_no_one_waiting(
        database: str, rasa: FakeRasaApi, backend: DatabaseBackend, kb_source: Any, clock: Clock) -> None:
    settings = Settings(database_url=database, console_rasa_url=rasa.url, rasa_jwt_secret=SECRET,
                        reminders_at="23:59")
    scheduler = Scheduler(settings, kb_source, clock)
    window = timedelta(minutes=kb_source.current().booking.offer_answer_minutes)
    waiting = WaitingList(database, clock)
    ana, pau, eva = (waiting.join("oac-ajuntament", "census", Citizen(f"telegram:2{n}", "telegram", "es"), None,
                                  MONDAY) for n in range(3))
    freed = backend.cancel(book(backend, Citizen("whatsapp:+34600000081", "whatsapp", "es")),
                           "whatsapp:+34600000081", SUNDAY_EVENING).slot
    waiting.offer(freed)

    def status(entry_id: int) -> str:
        with db.session_scope(database) as session:
            return session.get(WaitingEntry, entry_id).status

    def told() -> List[str]:
        return [t["sender"] for t in rasa.triggers]

    assert scheduler.tick() == ["waiting-list offers: 1 sent of 1"] and told() == ["telegram:20"]
    clock.now += window - timedelta(minutes=1)
    assert scheduler.tick() == []  # Ana still has time
    clock.now += timedelta(minutes=2)
    assert scheduler.tick() == ["1 waiting-list offers passed on to the next person", "waiting-list offers: 1 sent of 1"]
    assert told() == ["telegram:20", "telegram:21"] and (status(ana), status(pau)) == ("waiting", OFFERED)

    rasa.on_trigger.refuse["telegram:22"] = "131026"  # Eva's number cannot be reached
    clock.now += window + timedelta(minutes=1)
    assert scheduler.tick()[0] == "1 waiting-list offers passed on to the next person"
    assert told()[-1] == "telegram:22"  # never Ana again: she was offered that time already
    assert scheduler.tick() == []  # Eva leaves the list; nobody is left who was not offered it
    assert [status(entry) for entry in (ana, pau, eva)] == ["waiting", "waiting", "withdrawn"]

    taken = backend.book(backend.free_slots("oac-ajuntament", "census", DateRequest(day=MONDAY), clock(), 1)[0],
                         Citizen("telegram:21", "telegram", "es"), None, "pau-books", clock())
    waiting.booked("telegram:21", taken.office, taken.service)
    again = backend.cancel(book(backend, Citizen("whatsapp:+34600000082", "whatsapp", "es"),
                                day=MONDAY + timedelta(days=1)), "whatsapp:+34600000082", SUNDAY_EVENING).slot
    assert waiting.offer(again).id == ana  # Ana kept her place; Pau booked and left the list
    assert status(pau) == "booked"

    with db.session_scope(database) as session:  # a time someone else booked meanwhile is not passed on
        session.execute(update(WaitingEntry).where(WaitingEntry.id == ana).values(notified_at=clock.now - window))
    for desk in range(kb_source.current().appointment_offices["oac-ajuntament"].desks["census"]):
        try:  # every desk at that time
            backend.book(again, Citizen(f"telegram:9{desk}", "telegram", "es"), None, f"someone-else-{desk}", clock())
        except SlotTaken:
            pass
    waiting.join("oac-ajuntament", "census", Citizen("telegram:30", "telegram", "es"), None, MONDAY)
    assert scheduler.tick() == [] and status(ana) == "waiting"


def test_an_offer_whose_time_came_before_it_was_sent_gives_the_citizen_their_place_back(
        database: str, rasa: FakeRasaApi, backend: DatabaseBackend, kb_source: Any, clock: Clock) -> None:
    scheduler = Scheduler(Settings(database_url=database, console_rasa_url=rasa.url, rasa_jwt_secret=SECRET,
                                   reminders_at="23:59"), kb_source, clock)
    waiting = WaitingList(database, clock)
    entry = waiting.join("oac-ajuntament", "census", Citizen("telegram:40", "telegram", "es"), None, MONDAY)
    freed = backend.cancel(book(backend, Citizen("whatsapp:+34600000091", "whatsapp", "es")),
                           "whatsapp:+34600000091", SUNDAY_EVENING).slot
    waiting.offer(freed)  # then the scheduler was down until after that time
    clock.now = freed.ends_at
    assert scheduler.tick() == [] and rasa.triggers == []
    with db.session_scope(database) as session:
        assert session.get(WaitingEntry, entry).status == "waiting"


def test_a_scheduler_on_an_unreadable_database_says_so_and_stops(tmp_path, monkeypatch,  # type: ignore[no-untyped-def]
                                                                 caplog) -> None:
    from vecina import scheduler
    from vecina.settings import get_settings

    broken = tmp_path / "vecina.db"
    broken.write_bytes(b"not a database" * 200)
    monkeypatch.setenv("VECINA_DATABASE_URL", f"sqlite:///{broken}")
    monkeypatch.setenv("VECINA_RASA_ENABLE_API", "true")
    monkeypatch.setenv("VECINA_RASA_JWT_SECRET", "s" * 40)
    get_settings.cache_clear()
    try:
        assert scheduler.main([]) == 1
    finally:
        get_settings.cache_clear()
    assert "cannot read its database (DatabaseError)" in caplog.text
