"""The HTTP adapter against a fake appointment system that keeps docs/appointments-api.md:
timeouts and 5xx are retried, a retried booking books once, and when the system stays down the
caller gets BackendUnavailable with nothing written."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Iterator

import pytest

from tests.fakes.appointments import FakeAppointmentSystem, slot
from vecina.services.appointments import BackendUnavailable, Citizen, NotFound, SlotTaken
from vecina.services.appointments_http import HttpBackend
from vecina.services.dates import AFTERNOON, DateRequest

NOW = datetime(2026, 11, 22, 20, 0)
ANA = Citizen("whatsapp:+34600000001", "whatsapp", "es", "+34600000001")
PAU = Citizen("telegram:1234", "telegram", "va")
SLOTS = [slot("oac-ajuntament", "census", datetime(2026, 11, 23, hour, minute))
         for hour in (9, 10, 16) for minute in (0, 15)]


@pytest.fixture
def system() -> Iterator[FakeAppointmentSystem]:
    fake = FakeAppointmentSystem("secret-token", list(SLOTS)).start()
    yield fake
    fake.stop()


@pytest.fixture
def backend(system: FakeAppointmentSystem) -> HttpBackend:
    return HttpBackend(system.url, "secret-token", timeout=0.5, attempts=3, backoff=0.05)


def test_book_list_confirm_and_cancel(backend: HttpBackend, system: FakeAppointmentSystem) -> None:
    free = backend.free_slots("oac-ajuntament", "census", DateRequest(day=date(2026, 11, 23)), NOW)
    assert [s.starts_at.hour for s in free] == [9, 9, 10]
    assert backend.free_slots("oac-ajuntament", "census", DateRequest(part_of_day=AFTERNOON), NOW, 5)
    booked = backend.book(free[0], ANA, "alta en el padrón", "key-1", NOW)
    assert booked.slot == free[0] and booked.status == "booked" and booked.conversation_id == ANA.conversation_id
    assert backend.upcoming(ANA.conversation_id, NOW) == [booked]
    with pytest.raises(NotFound):
        backend.cancel(booked.id, PAU.conversation_id, NOW)  # not Pau's
    assert backend.confirm(booked.id, ANA.conversation_id, NOW).status == "confirmed"
    assert backend.cancel(booked.id, ANA.conversation_id, NOW).status == "cancelled"
    with pytest.raises(NotFound):
        backend.cancel(booked.id, ANA.conversation_id, NOW)


def test_a_taken_slot_comes_back_with_alternatives(backend: HttpBackend) -> None:
    first = backend.free_slots("oac-ajuntament", "census", None, NOW)[0]
    backend.book(first, ANA, None, "a", NOW)
    with pytest.raises(SlotTaken) as taken:
        backend.book(first, PAU, None, "b", NOW)
    assert taken.value.alternatives and first not in taken.value.alternatives


@pytest.mark.parametrize("faults", [[503], [503, 502], [1.5], [429, 1.5]])
def test_transient_failures_are_retried_and_book_once(backend: HttpBackend, system: FakeAppointmentSystem,
                                                      faults: list) -> None:
    wanted = backend.free_slots("oac-ajuntament", "census", None, NOW)[0]
    system.faults = list(faults)
    booked = backend.book(wanted, ANA, None, "retry", NOW)
    assert len(system.appointments) == 1 and booked.id == 1


def test_error_answers_mean_nothing_was_booked(backend: HttpBackend, system: FakeAppointmentSystem) -> None:
    wanted = backend.free_slots("oac-ajuntament", "census", None, NOW)[0]
    system.faults = [503, 500, 504]
    with pytest.raises(BackendUnavailable) as down:
        backend.book(wanted, ANA, None, "down", NOW)
    assert system.appointments == {} and not down.value.uncertain
    system.faults = [503, 503, 503]
    with pytest.raises(BackendUnavailable):
        backend.upcoming(ANA.conversation_id, NOW)


def test_lost_answers_are_uncertain_and_the_same_key_finds_the_one_booking(backend: HttpBackend,
                                                                           system: FakeAppointmentSystem) -> None:
    wanted = backend.free_slots("oac-ajuntament", "census", None, NOW)[0]
    system.faults = [1.5, 1.5, 503]  # the system is slow: it books after the adapter has given up
    with pytest.raises(BackendUnavailable) as lost:
        backend.book(wanted, ANA, None, "slow", NOW)
    assert lost.value.uncertain
    time.sleep(1.6)
    again = backend.book(wanted, ANA, None, "slow", NOW)  # e.g. when the citizen asks again
    assert len(system.appointments) == 1 and again.id == 1


def test_a_wrong_token_is_not_retried(system: FakeAppointmentSystem) -> None:
    with pytest.raises(BackendUnavailable, match="401"):
        HttpBackend(system.url, "wrong", timeout=0.5, backoff=0.05).upcoming(ANA.conversation_id, NOW)
    assert system.requests == 1


def test_an_unreachable_system_is_unavailable() -> None:
    with pytest.raises(BackendUnavailable):
        HttpBackend("http://127.0.0.1:9", "t", timeout=0.5, attempts=2, backoff=0.01).upcoming("x", NOW)


def test_the_backend_is_chosen_by_the_environment(kb_source) -> None:  # type: ignore[no-untyped-def]
    from vecina.services.appointments import DatabaseBackend, appointment_backend
    from vecina.settings import Settings

    assert isinstance(appointment_backend(Settings(), kb_source), DatabaseBackend)
    chosen = appointment_backend(Settings(appointments_url="https://citas.example/v1", appointments_token="t",
                                          appointments_timeout=3), kb_source)
    assert isinstance(chosen, HttpBackend) and (chosen.base_url, chosen.timeout) == ("https://citas.example/v1", 3)
    with pytest.raises(ValueError, match="VECINA_APPOINTMENTS_TOKEN"):
        Settings(appointments_url="https://citas.example/v1")

