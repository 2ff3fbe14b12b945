"""Appointment actions against a real SQLite database loaded from kb: the waiting list from the
chat, a typed answer to a reminder, and a new booking that forgets an abandoned one."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.appointments import ActionJoinWaitingList, ValidateAppointmentBookForm, now, offered_day, wait_payload
from actions.common import knowledge_base
from actions.conversation import ActionAnswerYesNo
from tests.conftest import make_tracker, response_names
from vecina import db
from vecina.db.models import Appointment, WaitingEntry
from vecina.kb.store import KbReader
from vecina.services.appointments import CONFIRMED, Citizen, DatabaseBackend, WaitingList
from vecina.services.dates import MORNING, DateRequest
from vecina.services.reminders import ReminderLog

pytestmark = pytest.mark.usefixtures("actions_env")


async def run(action, tracker):  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    return dispatcher, await action.run(dispatcher, tracker, {})


def slots_of(events) -> dict:  # type: ignore[no-untyped-def]
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.mark.parametrize("wanted, when", [
    (None, None),
    (DateRequest(day=date(2026, 12, 3)), "2026-12-03"),
    (DateRequest(day=date(2026, 12, 3), part_of_day=MORNING), "2026-12-03/morning"),
])
def test_the_waiting_list_button_carries_the_day_asked(wanted, when) -> None:  # type: ignore[no-untyped-def]
    payload = wait_payload("census", "oac-platja", wanted)
    assert payload.startswith('/appointment_wait{"appointment_service":"census","appointment_office":"oac-platja"')
    assert (f'"appointment_when":"{when}"' in payload) == bool(when)
    assert offered_day(when) == wanted


async def test_joining_the_waiting_list_twice_keeps_one_place(actions_env: str) -> None:
    sender = f"whatsapp:+346{uuid.uuid4().int % 10**8:08d}"
    entities = [("appointment_service", "census"), ("appointment_office", "oac-platja"),
                ("appointment_when", "2026-12-03/morning")]
    for _ in range(2):
        tracker = make_tracker("/appointment_wait", "appointment_wait", entities, slots={"language": "va"})
        tracker.sender_id = sender
        dispatcher, events = await run(ActionJoinWaitingList(), tracker)
        assert response_names(dispatcher) == ["utter_waiting_list_joined_day"]
        assert dispatcher.messages[0]["day"] == "03/12" and slots_of(events)["appointment_service"] is None
    with db.session_scope(actions_env) as session:
        rows = session.execute(select(WaitingEntry).where(WaitingEntry.conversation_id == sender)).scalars().all()
        assert [(r.office, r.service, r.earliest, r.latest, r.part_of_day) for r in rows] == [
            ("oac-platja", "census", date(2026, 12, 3), date(2026, 12, 3), MORNING)]


async def test_a_typed_yes_after_a_reminder_confirms_the_appointment(actions_env: str) -> None:
    sender = f"whatsapp:+346{uuid.uuid4().int % 10**8:08d}"
    kb_source = KbReader(actions_env)
    moment = now(knowledge_base())
    agenda = DatabaseBackend(actions_env, kb_source, clock=lambda: moment)
    slot = agenda.free_slots("oac-ajuntament", "census", DateRequest(first_available=True), moment)[0]
    appointment = agenda.book(slot, Citizen(sender, "whatsapp", "es"), None, f"key-{sender}", moment)
    log = ReminderLog(actions_env, clock=lambda: moment)
    log.sent(log.claim(appointment.id, sender, "whatsapp"), timedelta(minutes=1420))

    tracker = make_tracker("sí", "affirm", slots={"language": "es", "reminded_appointment": str(appointment.id)})
    tracker.sender_id = sender
    tracker.events = [{"event": "bot", "text": "Recordatorio: …", "metadata": {
        "utter_action": "utter_appointment_reminder_documents"}}, {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "sí"}]
    dispatcher, events = await run(ActionAnswerYesNo(), tracker)
    assert response_names(dispatcher) == ["utter_appointment_reminder_confirmed"]
    assert slots_of(events) == {"reminded_appointment": None}
    with db.session_scope(actions_env) as session:
        assert session.get(Appointment, appointment.id).status == CONFIRMED


async def test_a_new_booking_forgets_an_abandoned_one() -> None:
    stale = {"appointment_service": "census", "appointment_office": "oac-platja", "appointment_slot": "x",
             "language": "es", "requested_slot": None}
    fresh = make_tracker("/appointment_book", "appointment_book", slots=stale)
    dispatcher, events = await run(ValidateAppointmentBookForm(), fresh)
    assert slots_of(events)["appointment_service"] is None and slots_of(events)["appointment_slot"] is None
    chosen = make_tracker('/appointment_book{"appointment_service":"register"}', "appointment_book",
                          [("appointment_service", "register")], slots=stale)
    _, events = await run(ValidateAppointmentBookForm(), chosen)
    assert slots_of(events)["appointment_service"] == "register"
    reminder = make_tracker("", "EXTERNAL_appointment_reminder", slots={**stale, "requested_slot": "appointment_when"})
    _, events = await run(ValidateAppointmentBookForm(), reminder)
    assert events == []  # the form lets the town hall's message pass: the reminder's rule runs


@pytest.fixture
def town_hall_system(actions_env: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The town hall's own appointment system (the fake of docs/appointments-api.md) behind the actions."""
    from tests.fakes.appointments import FakeAppointmentSystem, slot
    from vecina.settings import get_settings

    tomorrow = now(knowledge_base()).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    fake = FakeAppointmentSystem("town-hall-token", [slot("oac-ajuntament", "census", tomorrow)]).start()
    monkeypatch.setenv("VECINA_APPOINTMENTS_URL", fake.url)
    monkeypatch.setenv("VECINA_APPOINTMENTS_TOKEN", "town-hall-token")
    monkeypatch.setenv("VECINA_APPOINTMENTS_TIMEOUT", "0.5")
    get_settings.cache_clear()
    yield fake
    fake.stop()
    get_settings.cache_clear()


@pytest.mark.parametrize("faults, said, booked", [
    ([], ["utter_appointment_booked", "utter_appointment_documents"], 1),
    ([503, 502, 503], ["utter_appointment_unavailable"], 0),  # down: never "booked"
    ([1.5, 1.5, 1.5], ["utter_appointment_unconfirmed"], None),  # no answer: neither "booked" nor "not booked"
])
async def test_the_citizen_hears_what_the_town_hall_system_really_did(town_hall_system, actions_env, faults, said,
                                                                      booked) -> None:  # type: ignore[no-untyped-def]
    from actions.appointments import ActionBookAppointment

    starts = town_hall_system.slots[0]["starts_at"]
    town_hall_system.faults = list(faults)
    tracker = make_tracker("sí", "affirm", slots={
        "language": "es", "appointment_service": "census", "appointment_office": "oac-ajuntament",
        "appointment_slot": starts, "appointment_confirmed": "yes"}, extra={"message_id": uuid.uuid4().hex})
    tracker.sender_id = f"telegram:{uuid.uuid4().int % 10**9}"
    entry = WaitingList(actions_env).join(
        "oac-ajuntament", "census", Citizen(tracker.sender_id, "telegram", "es"), None, date.today())
    dispatcher, events = await run(ActionBookAppointment(), tracker)
    assert response_names(dispatcher) == said
    assert slots_of(events)["appointment_slot"] is None  # the form is over either way
    if booked is not None:
        assert len(town_hall_system.appointments) == booked
    with db.session_scope(actions_env) as session:  # booked: off the waiting list
        assert session.get(WaitingEntry, entry).status == ("booked" if booked else "waiting")


async def test_a_list_the_town_hall_system_cannot_give_is_not_an_empty_list(town_hall_system) -> None:  # type: ignore[no-untyped-def]
    from actions.appointments import ActionListAppointments

    town_hall_system.faults = [503, 503, 503]
    dispatcher, _ = await run(ActionListAppointments(), make_tracker("mis citas", "appointment_list",
                                                                      slots={"language": "ca"}))
    assert response_names(dispatcher) == ["utter_appointment_unavailable"]
