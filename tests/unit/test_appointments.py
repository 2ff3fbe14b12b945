"""Appointments in our database: slots from kb/appointments.yml, atomic and idempotent booking
(also 50 citizens at once on PostgreSQL), cancelling, changing, the waiting list."""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import List

import pytest

from vecina.kb.model import KnowledgeBase
from vecina.services.appointments import (CANCELLED, CONFIRMED, Citizen, DatabaseBackend, NotFound, Slot, SlotTaken,
                                          WaitingList, day_refusal)
from vecina.services.dates import AFTERNOON, DateRequest

SUNDAY_EVENING = datetime(2026, 11, 22, 20, 0)  # the next day, Monday 23 November 2026, is a working day
ANA = Citizen("whatsapp:+34600000001", "whatsapp", "es", "+34600000001")
PAU = Citizen("telegram:1234", "telegram", "va")


@pytest.fixture
def backend(database: str, kb_source) -> DatabaseBackend:  # type: ignore[no-untyped-def]
    return DatabaseBackend(database, kb_source, clock=lambda: SUNDAY_EVENING)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute)


def test_the_first_free_slots_follow_the_office_calendar(backend: DatabaseBackend) -> None:
    slots = backend.free_slots("oac-ajuntament", "census", None, SUNDAY_EVENING)
    assert [s.starts_at for s in slots] == [at(23, 9), at(23, 9, 15), at(23, 9, 30)]
    assert all((s.ends_at - s.starts_at).seconds == 15 * 60 for s in slots)
    afternoon = backend.free_slots("oac-ajuntament", "census", DateRequest(part_of_day=AFTERNOON), SUNDAY_EVENING)
    assert afternoon[0].starts_at == at(24, 16, 30)  # Tuesday afternoon: the first afternoon with appointments
    notice = backend.free_slots("oac-ajuntament", "census", DateRequest(day=date(2026, 11, 23)), at(23, 9, 5))
    assert notice[0].starts_at == at(23, 11, 15)  # two hours' notice


@pytest.mark.parametrize("day, refusal", [
    (date(2026, 11, 21), "past"),
    (date(2026, 11, 28), "closed"),   # Saturday
    (date(2026, 12, 8), "closed"),    # a public holiday (municipality.yml)
    (date(2027, 3, 1), "too_far"),
    (date(2026, 11, 23), None),
])
def test_days_that_cannot_be_booked_say_why(kb: KnowledgeBase, day: date, refusal: str) -> None:
    assert day_refusal(kb, "oac-ajuntament", DateRequest(day=day), date(2026, 11, 22)) == refusal


def test_each_desk_takes_one_citizen_per_slot(backend: DatabaseBackend) -> None:
    slot = backend.free_slots("css-eixample", "social-worker", None, SUNDAY_EVENING)[0]  # two desks
    first = backend.book(slot, ANA, "alquiler", "k1", SUNDAY_EVENING)
    second = backend.book(slot, PAU, None, "k2", SUNDAY_EVENING)
    assert first.id != second.id and first.slot == second.slot == slot
    with pytest.raises(SlotTaken) as taken:
        backend.book(slot, Citizen("web:3", "socketio", "ca"), None, "k3", SUNDAY_EVENING)
    assert taken.value.alternatives and slot not in taken.value.alternatives
    assert slot not in backend.free_slots("css-eixample", "social-worker", None, SUNDAY_EVENING)


def test_a_retried_booking_request_gives_the_same_appointment(backend: DatabaseBackend) -> None:
    slot = backend.free_slots("oac-platja", "census", None, SUNDAY_EVENING)[0]
    once = backend.book(slot, ANA, None, "retry-me", SUNDAY_EVENING)
    assert backend.book(slot, ANA, None, "retry-me", SUNDAY_EVENING) == once
    assert backend.upcoming(ANA.conversation_id, SUNDAY_EVENING) == [once]


def test_slots_outside_the_calendar_or_too_soon_are_refused(backend: DatabaseBackend) -> None:
    for starts in (at(23, 9, 7), at(28, 10), at(22, 21)):
        with pytest.raises(SlotTaken):
            backend.book(Slot("oac-ajuntament", "census", starts, starts), ANA, None, f"k{starts}", SUNDAY_EVENING)


def test_fifty_citizens_at_once_get_one_appointment_and_alternatives(backend: DatabaseBackend) -> None:
    slot = backend.free_slots("css-el-grau", "dependency-assessment", None, SUNDAY_EVENING)[0]  # one desk
    outcomes: List[object] = []
    start = threading.Barrier(50)

    def attempt(n: int) -> None:
        start.wait()
        try:
            outcomes.append(backend.book(slot, Citizen(f"web:{n}", "socketio", "es"), None, f"c{n}", SUNDAY_EVENING))
        except SlotTaken as taken:
            outcomes.append(taken)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    booked = [o for o in outcomes if not isinstance(o, SlotTaken)]
    refused = [o for o in outcomes if isinstance(o, SlotTaken)]
    assert len(booked) == 1 and len(refused) == 49
    assert all(r.alternatives and slot not in r.alternatives for r in refused)


def test_only_the_citizen_can_cancel_and_the_slot_is_free_again(backend: DatabaseBackend) -> None:
    slot = backend.free_slots("css-el-grau", "dependency-assessment", None, SUNDAY_EVENING)[0]
    booked = backend.book(slot, ANA, None, "mine", SUNDAY_EVENING)
    with pytest.raises(NotFound):
        backend.cancel(booked.id, PAU.conversation_id, SUNDAY_EVENING)
    assert backend.confirm(booked.id, ANA.conversation_id, SUNDAY_EVENING).status == CONFIRMED
    assert backend.cancel(booked.id, ANA.conversation_id, SUNDAY_EVENING).status == CANCELLED
    assert backend.free_slots("css-el-grau", "dependency-assessment", None, SUNDAY_EVENING)[0] == slot
    assert backend.upcoming(ANA.conversation_id, SUNDAY_EVENING) == []
    with pytest.raises(NotFound):
        backend.cancel(booked.id, ANA.conversation_id, SUNDAY_EVENING)


def test_changing_books_the_new_slot_before_freeing_the_old(backend: DatabaseBackend) -> None:
    first, later = backend.free_slots("oac-platja", "register", None, SUNDAY_EVENING, limit=2)
    booked = backend.book(first, ANA, "una instancia", "a", SUNDAY_EVENING)
    moved = backend.change(booked.id, ANA.conversation_id, later, "b", SUNDAY_EVENING)
    assert moved.slot == later and moved.reason == "una instancia"
    assert [a.id for a in backend.upcoming(ANA.conversation_id, SUNDAY_EVENING)] == [moved.id]
    backend.book(first, PAU, None, "c", SUNDAY_EVENING)  # one desk: free again
    with pytest.raises(SlotTaken):
        backend.change(moved.id, ANA.conversation_id, first, "d", SUNDAY_EVENING)
    assert [a.id for a in backend.upcoming(ANA.conversation_id, SUNDAY_EVENING)] == [moved.id]  # kept


def test_a_freed_slot_goes_to_the_first_waiting_citizen_it_suits(database: str) -> None:
    waiting = WaitingList(database, clock=lambda: SUNDAY_EVENING)
    today = date(2026, 11, 22)
    afternoon_only = waiting.join("oac-ajuntament", "census", PAU, DateRequest(part_of_day=AFTERNOON), today)
    later_week = waiting.join("oac-ajuntament", "census", Citizen("web:9", "socketio", "ca"),
                              DateRequest(start=date(2026, 11, 30)), today)
    any_day = waiting.join("oac-ajuntament", "census", ANA, None, today)
    morning_slot = Slot("oac-ajuntament", "census", at(24, 10), at(24, 10, 15))
    offered = waiting.offer(morning_slot)
    assert offered is not None and offered.conversation_id == ANA.conversation_id and offered.id == any_day
    assert waiting.offer(Slot("oac-ajuntament", "census", at(24, 17), at(24, 17, 15))).id == afternoon_only
    assert waiting.offer(morning_slot) is None  # nobody else fits a Tuesday 24 morning
    assert waiting.offer(Slot("oac-ajuntament", "census", at(1, 10, month=12), at(1, 10, 15, month=12))).id == later_week


def test_appointment_calendar_errors_name_file_and_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from tests.conftest import KB_DIR
    from tests.unit.test_kb_validation import _replace
    from vecina.kb.build import validate_dir

    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR, copy)
    path = copy / "appointments.yml"
    expected = [
        (_replace(path, "procedure: census-registration", "procedure: census-registro"),
         "unknown procedure 'census-registro'"),
        (_replace(path, "    centre: oac-platja", "    centre: oac-plaja"), "unknown centre 'oac-plaja'"),
        (_replace(path, "{service: register, desks: 1}", "{service: registry, desks: 1}"),
         "unknown service 'registry'"),
        (_replace(path, 'tue: "09:00-14:00, 16:30-18:30"', 'tue: "09:00-14:00, 16:30-25:30"'), "tue:"),
        (_replace(path, "minutes: 45", "minutes: 0"), "'minutes' must be a whole number between 5 and 240"),
    ]
    _kb, problems, _ = validate_dir(copy)
    found = [(p.file, p.line, p.message) for p in problems]
    for line, message in expected:
        assert any(f == "appointments.yml" and l == line and message in m for f, l, m in found), (line, message, found)
