"""Booking an appointment through the real servers over REST, in es, ca and va: service, office,
a day written in the citizen's words, a time, confirmation; the appointment is in the database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Dict, List, Tuple

import pytest
from sqlalchemy import select

from vecina import db
from vecina.db.models import Appointment
from vecina.kb.model import KnowledgeBase
from vecina.services.appointments import Citizen, DatabaseBackend, Slot
from vecina.services.handoff import local_now
from vecina.services.hours import ranges_on
from vecina.stack import Stack

pytestmark = pytest.mark.integration
WEEKDAYS = {"es": ["lunes", "martes", "miércoles", "jueves", "viernes"],
            "ca": ["dilluns", "dimarts", "dimecres", "dijous", "divendres"],
            "va": ["dilluns", "dimarts", "dimecres", "dijous", "divendres"]}
MORNING = {"es": "el {day} que viene por la mañana", "ca": "{day} que ve al matí", "va": "{day} que ve de matí"}
YES = {"es": "sí", "ca": "sí, si us plau", "va": "sí, per favor"}


def database(stack: Stack) -> str:
    return f"sqlite:///{stack.workdir / 'vecina.db'}"


def open_day(kb: KnowledgeBase, office: str) -> date:
    """The next weekday (2 to 7 days ahead) on which `office` gives appointments."""
    today = local_now(kb).date()
    for ahead in range(2, 8):
        day = today + timedelta(days=ahead)
        if day.weekday() < 5 and ranges_on(kb.appointment_offices[office].hours, day, kb.municipality.holidays):
            return day
    raise AssertionError("no open weekday next week")


def buttons(replies: List[Dict]) -> List[Tuple[str, str]]:
    return [(b["title"], b["payload"]) for r in replies for b in r.get("buttons") or []]


def start(stack: Stack, language: str) -> str:
    sender = stack.new_sender()
    if language == "ca":  # the stack speaks Valencian to Catalan speakers unless asked
        stack.turn(sender, "bon dia, em pots parlar en català?")
    ask = {"es": "quiero pedir cita previa", "ca": "vull demanar cita prèvia", "va": "vull demanar cita prèvia"}
    _replies, names, slots = stack.turn(sender, ask[language])
    assert names[-1] == "utter_ask_appointment_service" and slots["language"] == language, (names, slots)
    return sender


@pytest.mark.parametrize("language", ["es", "ca", "va"])
def test_booking_an_appointment_end_to_end(stack: Stack, kb: KnowledgeBase, language: str) -> None:
    sender = start(stack, language)
    replies, names, _ = stack.turn(sender, '/appointment_book{"appointment_service":"census"}')
    assert names == ["utter_ask_appointment_office"]
    assert [p for _t, p in buttons(replies)] == ['/appointment_book{"appointment_office":"oac-ajuntament"}',
                                                 '/appointment_book{"appointment_office":"oac-platja"}']
    _replies, names, _ = stack.turn(sender, '/appointment_book{"appointment_office":"oac-ajuntament"}')
    assert names == ["utter_ask_appointment_when"]

    day = open_day(kb, "oac-ajuntament")
    replies, names, slots = stack.turn(sender, MORNING[language].format(day=WEEKDAYS[language][day.weekday()]))
    assert names == ["utter_ask_appointment_slot"], names
    offered = buttons(replies)
    assert 1 <= len(offered) <= 3 and all(p.startswith('/appointment_book{"appointment_slot":"') for _t, p in offered)
    assert all(s.startswith(day.isoformat()) and s[11:13] < "14" for s in slots["appointment_offered"])

    replies, names, _ = stack.turn(sender, offered[0][1])
    assert names == ["utter_ask_appointment_confirmed"]
    chosen = datetime.fromisoformat(slots["appointment_offered"][0])
    assert f"{chosen:%d/%m}" in replies[0]["text"] and f"{chosen:%H:%M}" in replies[0]["text"]

    _replies, names, slots = stack.turn(sender, YES[language])
    assert names == ["utter_appointment_booked", "utter_appointment_documents"], names
    assert slots["appointment_slot"] is None and slots["requested_slot"] is None
    with db.session_scope(database(stack)) as session:
        booked = session.execute(select(Appointment).where(Appointment.conversation_id == sender)).scalars().all()
        assert [(a.office, a.service, a.starts_at, a.language, a.status) for a in booked] == [
            ("oac-ajuntament", "census", chosen, language, "booked")]


def test_past_and_closed_days_and_unclear_answers_are_explained(stack: Stack, kb: KnowledgeBase) -> None:
    sender = start(stack, "es")
    stack.turn(sender, '/appointment_book{"appointment_service":"register"}')
    stack.turn(sender, '/appointment_book{"appointment_office":"oac-platja"}')
    _replies, names, _ = stack.turn(sender, "ayer")
    assert names == ["utter_appointment_day_past"]
    saturday = local_now(kb).date() + timedelta(days=(5 - local_now(kb).weekday()) % 7 or 7)
    _replies, names, _ = stack.turn(sender, f"el {saturday:%d/%m}")
    assert names == ["utter_appointment_day_closed"]
    _replies, names, _ = stack.turn(sender, "pues no sé")
    assert names == ["utter_appointment_day_not_understood"]
    replies, names, _ = stack.turn(sender, '/appointment_book{"appointment_when":"first"}')
    assert names == ["utter_ask_appointment_slot"] and buttons(replies)


def test_a_slot_taken_meanwhile_offers_others_and_nothing_is_lost(stack: Stack, kb: KnowledgeBase,
                                                                  kb_source) -> None:  # type: ignore[no-untyped-def]
    sender = start(stack, "es")
    stack.turn(sender, '/appointment_book{"appointment_service":"dependency-assessment"}')
    replies, names, _ = stack.turn(sender, "en el centro de El Grau")  # typed, not pressed
    assert names == ["utter_ask_appointment_when"], names
    replies, _names, slots = stack.turn(sender, '/appointment_book{"appointment_when":"first"}')
    first = slots["appointment_offered"][0]
    stack.turn(sender, buttons(replies)[0][1])
    starts = datetime.fromisoformat(first)
    DatabaseBackend(database(stack), kb_source).book(  # someone else, faster
        Slot("css-el-grau", "dependency-assessment", starts, starts + timedelta(minutes=45)),
        Citizen("web:faster", "socketio", "es"), None, "faster", local_now(kb).replace(tzinfo=None))
    replies, names, slots = stack.turn(sender, "sí")
    assert names == ["utter_appointment_slot_taken", "utter_ask_appointment_slot"], names
    assert first not in slots["appointment_offered"]
    stack.turn(sender, buttons(replies)[0][1])
    _replies, names, _ = stack.turn(sender, "sí")
    assert names[0] == "utter_appointment_booked"


def book_for(stack: Stack, kb_source, sender: str, office: str, service: str, ahead: int) -> Slot:  # type: ignore[no-untyped-def]
    agenda = DatabaseBackend(database(stack), kb_source)
    now = local_now(kb_source.current()).replace(tzinfo=None)
    slot = agenda.free_slots(office, service, None, now + timedelta(days=ahead))[0]
    agenda.book(slot, Citizen(sender, "rest", "es"), None, f"{sender}:{ahead}", now)
    return slot


@pytest.mark.parametrize("language, mine, cancel, yes", [
    ("es", "¿qué citas tengo?", "quiero anular mi cita", "sí"),
    ("va", "quines cites tinc?", "vull anul·lar la meua cita", "sí, per favor"),
])
def test_listing_and_cancelling_frees_the_slot_for_the_waiting_list(stack: Stack, kb_source, language: str,  # type: ignore[no-untyped-def]
                                                                    mine: str, cancel: str, yes: str) -> None:
    from vecina.services.appointments import WaitingList

    sender = stack.new_sender()
    stack.turn(sender, "hola" if language == "es" else "bon dia")
    slot = book_for(stack, kb_source, sender, "oac-platja", "census", 3)
    WaitingList(database(stack)).join("oac-platja", "census", Citizen(f"web:waiting-{sender}", "socketio", "es"), None,
                                      slot.starts_at.date() - timedelta(days=5))
    replies, names, _ = stack.turn(sender, mine)
    assert names == ["utter_appointment_list_item"] and f"{slot.starts_at:%H:%M}" in replies[0]["text"]
    _replies, names, slots = stack.turn(sender, cancel)
    assert names == ["utter_ask_cancel_confirmed"] and slots["appointment_to_cancel"]
    _replies, names, slots = stack.turn(sender, yes)
    assert names == ["utter_appointment_cancelled"] and slots["appointment_to_cancel"] is None
    with db.session_scope(database(stack)) as session:
        assert session.execute(select(Appointment.status).where(Appointment.conversation_id == sender)).scalar_one() \
            == "cancelled"
        from vecina.db.models import WaitingEntry
        offered = session.execute(select(WaitingEntry).where(WaitingEntry.conversation_id == f"web:waiting-{sender}")).scalar_one()
        assert (offered.status, offered.offered_slot) == ("offered", slot.starts_at)
    _replies, names, _ = stack.turn(sender, mine)
    assert names == ["utter_appointment_list_none"]


def test_with_several_appointments_the_citizen_chooses_and_can_keep_it(stack: Stack, kb_source) -> None:  # type: ignore[no-untyped-def]
    sender = stack.new_sender()
    stack.turn(sender, "hola")
    book_for(stack, kb_source, sender, "oac-ajuntament", "register", 2)
    later = book_for(stack, kb_source, sender, "oac-ajuntament", "census", 6)
    replies, names, _ = stack.turn(sender, "quiero anular una cita")
    assert names == ["utter_ask_which_appointment"] and len(buttons(replies)) == 2
    _replies, names, _ = stack.turn(sender, buttons(replies)[1][1])
    assert names == ["utter_ask_cancel_confirmed"]
    _replies, names, _ = stack.turn(sender, "no")
    assert names == ["utter_appointment_kept"]
    replies, _names, _ = stack.turn(sender, "quiero anular una cita")
    replies, names, _ = stack.turn(sender, buttons(replies)[1][1])
    _replies, names, _ = stack.turn(sender, buttons(replies)[0][1])  # "Sí, anularla"
    assert names == ["utter_appointment_cancelled"]
    with db.session_scope(database(stack)) as session:
        statuses = dict(session.execute(select(Appointment.starts_at, Appointment.status)
                                        .where(Appointment.conversation_id == sender)).all())
    assert statuses[later.starts_at] == "cancelled" and sorted(statuses.values()) == ["booked", "cancelled"]


@pytest.mark.parametrize("language, hello, change, yes", [
    ("es", "hola", "quiero cambiar mi cita a otro día", "sí"),
    ("va", "bon dia", "vull canviar la meua cita", "sí, per favor"),
])
def test_changing_an_appointment_keeps_the_old_one_until_the_new_one_is_booked(  # type: ignore[no-untyped-def]
        stack: Stack, kb_source, language: str, hello: str, change: str, yes: str) -> None:
    from vecina.db.models import WaitingEntry
    from vecina.services.appointments import WaitingList

    sender = stack.new_sender()
    stack.turn(sender, hello)
    old = book_for(stack, kb_source, sender, "oac-platja", "census", 4)
    WaitingList(database(stack)).join("oac-platja", "census", Citizen(f"web:waiting-{sender}", "socketio", "es"), None,
                                      old.starts_at.date() - timedelta(days=5))
    _replies, names, slots = stack.turn(sender, change)
    assert names == ["utter_appointment_change_start", "utter_ask_appointment_when"], names
    assert slots["appointment_service"] == "census" and slots["appointment_to_change"]
    replies, names, _ = stack.turn(sender, '/appointment_book{"appointment_when":"first"}')
    assert names == ["utter_ask_appointment_slot"]
    title, chosen = next((t, p) for t, p in reversed(buttons(replies)) if f"{old.starts_at:%d/%m %H:%M}" not in t)
    _replies, names, _ = stack.turn(sender, chosen)
    assert names == ["utter_ask_appointment_change_confirmed"]
    with db.session_scope(database(stack)) as session:  # nothing has changed before the citizen says yes
        assert session.execute(select(Appointment.status).where(Appointment.conversation_id == sender)).scalars().all() \
            == ["booked"]
    replies, names, slots = stack.turn(sender, yes)
    assert names == ["utter_appointment_changed"] and title.split()[-1] in replies[0]["text"]
    assert slots["appointment_to_change"] is None
    with db.session_scope(database(stack)) as session:
        rows = dict(session.execute(select(Appointment.starts_at, Appointment.status)
                                    .where(Appointment.conversation_id == sender)).all())
        assert rows[old.starts_at] == "cancelled" and sorted(rows.values()) == ["booked", "cancelled"]
        offered = session.execute(select(WaitingEntry).where(
            WaitingEntry.conversation_id == f"web:waiting-{sender}")).scalar_one()
        assert (offered.status, offered.offered_slot) == ("offered", old.starts_at)
