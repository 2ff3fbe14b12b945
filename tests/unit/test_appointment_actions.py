"""Appointment actions against a real SQLite database loaded from kb: the waiting list from the
chat, a typed answer to a reminder, a new booking that forgets an abandoned one, and what a phone
call may not do on its caller ID alone (hear, cancel or change appointments)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Iterator

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


# --- over a phone call: the caller ID proves nothing -------------------------------------------
CALLER = "+34600123456"


@pytest.fixture
def sms(monkeypatch: pytest.MonkeyPatch, actions_env: str) -> Iterator[None]:
    """Texts can be sent (VECINA_TWILIO_SMS_FROM and the account are set, as on the scheduler)."""
    from vecina.settings import get_settings

    monkeypatch.setenv("VECINA_TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
    monkeypatch.setenv("VECINA_TWILIO_SMS_FROM", "+34960000001")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def booked(actions_env: str, sender: str, count: int = 1):  # type: ignore[no-untyped-def]
    moment = now(knowledge_base())
    agenda = DatabaseBackend(actions_env, KbReader(actions_env), clock=lambda: moment)
    slots = agenda.free_slots("oac-ajuntament", "census", DateRequest(first_available=True), moment, limit=count)
    return [agenda.book(slot, Citizen(sender, sender.partition(":")[0], "es"), None, f"key-{sender}-{slot.starts_at}",
                        moment) for slot in slots]


def call_tracker(text: str, intent_name: str, entities=(), slots=None, sender: str = f"twilio_voice:{CALLER}",
                 input_channel: str = "twilio_voice"):  # type: ignore[no-untyped-def]
    tracker = make_tracker(text, intent_name, list(entities), slots={"language": "es", **(slots or {})})
    tracker.sender_id = sender
    tracker.events = [{"event": "user", "text": text, "input_channel": input_channel}]
    return tracker


def said(dispatcher: CollectingDispatcher) -> str:
    """Everything the caller would hear (the bot's texts, the variables Rasa fills in)."""
    return repr([{k: v for k, v in m.items() if k != "custom"} for m in dispatcher.messages])


def voice_cases(appointment_id: int):  # type: ignore[no-untyped-def]
    from actions.appointments import ActionCancelAppointment, ActionChangeAppointment, ActionListAppointments

    return [
        (ActionListAppointments(), ("mis citas", "appointment_list", [])),
        (ActionCancelAppointment(), ("anular", "appointment_cancel", [("appointment_id", str(appointment_id)),
                                                                       ("cancel_confirmed", "yes")])),
        (ActionCancelAppointment(), ("sí", "affirm", [])),
        (ActionChangeAppointment(), ("cambiar mi cita", "appointment_change",
                                     [("appointment_id", str(appointment_id))])),
    ]


@pytest.mark.parametrize("case", range(4))
async def test_a_call_never_hears_lists_cancels_or_changes_appointments(case: int, sms: None, actions_env: str) -> None:
    """Anyone can call with someone else's number: the appointments go by SMS to that number instead."""
    from actions.appointments import SMS_TO_CALLER

    caller = f"+346{uuid.uuid4().int % 10**8:08d}"
    [appointment] = booked(actions_env, f"twilio_voice:{caller}")
    action, (text, name, entities) = voice_cases(appointment.id)[case]
    tracker = call_tracker(text, name, entities, slots={"appointment_to_cancel": str(appointment.id)},
                           sender=f"twilio_voice:{caller}")
    dispatcher, events = await run(action, tracker)
    assert response_names(dispatcher) == ["utter_appointment_by_phone_sms_sent"]
    when = f"{appointment.starts_at:%d/%m}"
    assert when not in said(dispatcher) and f"{appointment.starts_at:%H:%M}" not in said(dispatcher)
    request = dispatcher.messages[0]["custom"][SMS_TO_CALLER]
    assert request["response"] == "utter_appointment_sms_list"
    assert when in request["text"] and f"{appointment.starts_at:%H:%M}" in request["text"]
    assert "010" in request["otherwise"] and when not in request["otherwise"]
    assert not [e for e in events if e.get("event") == "followup"]  # no booking form to move it
    assert all(e.get("value") is None for e in events if e.get("event") == "slot")
    with db.session_scope(actions_env) as session:
        assert session.get(Appointment, appointment.id).status == "booked"


async def test_a_call_without_sms_hears_where_to_go(actions_env: str) -> None:
    from actions.appointments import ActionListAppointments

    [appointment] = booked(actions_env, f"twilio_voice:+346{uuid.uuid4().int % 10**8:08d}")
    tracker = call_tracker("mis citas", "appointment_list", sender=appointment.conversation_id)
    dispatcher, _ = await run(ActionListAppointments(), tracker)
    assert response_names(dispatcher) == ["utter_appointment_by_phone_no_sms"]
    assert dispatcher.messages[0]["phone"] == "010" and not dispatcher.messages[0].get("custom")
    assert f"{appointment.starts_at:%d/%m}" not in said(dispatcher)


async def test_a_call_is_known_by_its_channel_or_its_conversation(sms: None, actions_env: str) -> None:
    from actions.appointments import ActionListAppointments

    for sender, channel in ((f"twilio_voice:{CALLER}", "rest"), ("test-conversation", "twilio_voice")):
        dispatcher, _ = await run(ActionListAppointments(), call_tracker("mis citas", "appointment_list",
                                                                         sender=sender, input_channel=channel))
        assert response_names(dispatcher) == ["utter_appointment_by_phone_sms_sent"]


async def test_the_sms_of_a_caller_without_appointments_says_so(sms: None, actions_env: str) -> None:
    from actions.appointments import SMS_TO_CALLER, ActionListAppointments

    tracker = call_tracker("mis citas", "appointment_list", slots={"language": "va"},
                           sender=f"twilio_voice:+346{uuid.uuid4().int % 10**8:08d}")
    dispatcher, _ = await run(ActionListAppointments(), tracker)
    request = dispatcher.messages[0]["custom"][SMS_TO_CALLER]
    assert request["response"] == "utter_appointment_sms_none" and request["text"].startswith("Ajuntament de Riuclar")


async def test_a_change_carried_over_into_a_call_is_not_made(sms: None, actions_env: str) -> None:
    from actions.appointments import ActionBookAppointment

    caller = f"twilio_voice:+346{uuid.uuid4().int % 10**8:08d}"
    first, second = booked(actions_env, caller, count=2)
    tracker = call_tracker("sí", "affirm", sender=caller, slots={
        "appointment_service": "census", "appointment_office": "oac-ajuntament", "appointment_confirmed": "yes",
        "appointment_slot": second.starts_at.isoformat(timespec="minutes"), "appointment_to_change": str(first.id)})
    dispatcher, _ = await run(ActionBookAppointment(), tracker)
    assert response_names(dispatcher) == ["utter_appointment_by_phone_sms_sent"]
    with db.session_scope(actions_env) as session:
        assert session.get(Appointment, first.id).status == "booked"


async def test_chat_channels_still_list_and_cancel(actions_env: str) -> None:
    from actions.appointments import ActionCancelAppointment, ActionListAppointments

    sender = f"whatsapp:+346{uuid.uuid4().int % 10**8:08d}"
    [appointment] = booked(actions_env, sender)
    listed, _ = await run(ActionListAppointments(), call_tracker("mis citas", "appointment_list", sender=sender,
                                                                 input_channel="whatsapp"))
    assert response_names(listed) == ["utter_appointment_list_item"]
    cancel = call_tracker("anular", "appointment_cancel", [("appointment_id", str(appointment.id)),
                                                           ("cancel_confirmed", "yes")],
                          sender=sender, input_channel="whatsapp")
    cancelled, _ = await run(ActionCancelAppointment(), cancel)
    assert response_names(cancelled) == ["utter_appointment_cancelled"]
