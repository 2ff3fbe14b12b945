"""Reminder records and `vecina reminders report`, against a seeded history whose figures were
worked out by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from typing import Optional

import pytest
from sqlalchemy import select

from vecina import db
from vecina.db.models import Appointment, Reminder
from vecina.kb.store import load
from vecina.services.reminders import (ACCEPTED, CANCELLED_ANSWER, CONFIRMED_ANSWER, DELIVERED, EXPIRED, FAILED,
                                       NO_REMINDER, READ, SENT, TOO_LATE, ReminderLog, report)
from vecina.settings import ROOT

SENT_AT = datetime(2026, 11, 2, 10, 0)


class Clock:
    def __init__(self) -> None:
        self.now = SENT_AT

    def __call__(self) -> datetime:
        return self.now


def appointment(session, day: int, hour: int, status: str, who: str = "web:1") -> int:  # type: ignore[no-untyped-def]
    starts = datetime(2026, 11, day, hour, 0)
    row = Appointment(office="oac-ajuntament", service="census", starts_at=starts, ends_at=starts + timedelta(minutes=15),
                      desk=1, conversation_id=who, channel="whatsapp", language="es", status=status,
                      created_at=SENT_AT, updated_at=SENT_AT)
    session.add(row)
    session.flush()
    return row.id


def reminder(session, appointment_id: int, status: str, answer: Optional[str] = None,  # type: ignore[no-untyped-def]
             answered_after: Optional[int] = None, failure: Optional[str] = None, sent: bool = True) -> None:
    session.add(Reminder(appointment_id=appointment_id, conversation_id="web:1", channel="whatsapp", status=status,
                         failure=failure, created_at=SENT_AT, sent_at=SENT_AT if sent else None,
                         answer=answer, expires_at=SENT_AT + timedelta(minutes=1420),
                         answered_at=SENT_AT + timedelta(minutes=answered_after) if answered_after else None))


@pytest.fixture
def history(database: str) -> str:
    with db.session_scope(database) as s:
        reminder(s, appointment(s, 3, 9, "attended"), "answered", CONFIRMED_ANSWER, 30)
        reminder(s, appointment(s, 3, 10, "no_show"), "answered", CONFIRMED_ANSWER, 120)
        reminder(s, appointment(s, 4, 9, "cancelled"), "answered", CANCELLED_ANSWER, 10)
        appointment(s, 4, 9, "attended", "web:2")  # the freed slot, taken by someone else
        reminder(s, appointment(s, 4, 10, "cancelled"), "answered", CANCELLED_ANSWER, 240)
        reminder(s, appointment(s, 4, 11, "attended"), "expired")
        reminder(s, appointment(s, 5, 9, "no_show"), "sent")
        reminder(s, appointment(s, 5, 10, "attended"), "failed", failure="invalid_phone", sent=False)
        reminder(s, appointment(s, 5, 11, "no_show"), "failed", failure="131026")
        appointment(s, 5, 12, "no_show")
        appointment(s, 5, 13, "attended")
        reminder(s, appointment(s, 9, 9, "attended"), "answered", CONFIRMED_ANSWER, 5)  # outside the period
    return database


def test_the_report_matches_the_hand_computed_figures(history: str) -> None:
    figures = report(history, date(2026, 11, 2), date(2026, 11, 6))
    assert figures.appointments == 11 and figures.reminders_sent == 7
    assert figures.failures == {"invalid_phone": 1, "131026": 1}
    assert (figures.answered, figures.confirmed, figures.cancelled) == (4, 2, 2)
    assert figures.response_rate == pytest.approx(4 / 7) and figures.cancellation_rate == pytest.approx(2 / 7)
    assert figures.median_minutes_to_answer == 75  # 10, 30, 120, 240
    assert (figures.slots_freed, figures.slots_reused) == (2, 1)
    assert figures.no_show_rate_with_reminder == pytest.approx(3 / 5)
    assert figures.no_show_rate_without_reminder == pytest.approx(1 / 4)


def test_the_command_prints_the_report(history: str) -> None:
    env = dict(os.environ, VECINA_DATABASE_URL=history, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "vecina.cli", "reminders", "report", "--from", "2026-11-02", "--to", "2026-11-06"]
    printed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert "reminders sent: 7" in printed and "answered: 4 (57.1% of sent)" in printed
    assert "median time to answer: 75 min" in printed and "slots freed: 2, re-used: 1" in printed
    assert "no-show rate with a reminder: 60.0%, without: 25.0%" in printed
    as_json = json.loads(subprocess.run(command + ["--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                                        check=True).stdout)
    assert as_json["failures"] == {"131026": 1, "invalid_phone": 1} and as_json["start"] == "2026-11-02"
    wrong = subprocess.run(command[:-1] + ["06/11/2026"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "YYYY-MM-DD" in wrong.stderr and "Traceback" not in wrong.stderr


def test_one_reminder_per_appointment_and_its_life(database: str) -> None:
    clock = Clock()
    log = ReminderLog(database, clock=clock)
    first = log.claim(1, "whatsapp:+34600000001", "whatsapp")
    assert first is not None and log.claim(1, "whatsapp:+34600000001", "whatsapp") is None
    log.sent(first, timedelta(minutes=1420), outbound_id=70)
    log.receipt(70, READ)
    log.receipt(70, DELIVERED)  # late and out of order: does not go back
    with db.session_scope(database) as session:
        row = session.get(Reminder, first)
        assert (row.status, row.read_at, row.delivered_at) == (READ, SENT_AT, SENT_AT)
    clock.now += timedelta(hours=2)
    assert log.answer(1, CONFIRMED_ANSWER) == ACCEPTED
    assert log.answer(1, CANCELLED_ANSWER) == NO_REMINDER  # answered already
    assert log.answer(99, CONFIRMED_ANSWER) == NO_REMINDER


def test_an_answer_is_recorded_only_when_its_change_is_made(database: str) -> None:
    log = ReminderLog(database, clock=Clock())
    log.sent(log.claim(1, "whatsapp:+34600000001", "whatsapp"), timedelta(minutes=1420))

    def system_down() -> None:
        raise RuntimeError("appointment system down")

    with pytest.raises(RuntimeError):
        log.answer(1, CANCELLED_ANSWER, system_down)
    with db.session_scope(database) as session:
        assert session.execute(select(Reminder)).scalar_one().status == SENT
    assert log.answer(1, CANCELLED_ANSWER) == ACCEPTED


def test_a_claim_given_back_is_claimed_again_by_the_next_run(database: str) -> None:
    log = ReminderLog(database, clock=Clock())
    claimed = log.claim(1, "whatsapp:+34600000001", "whatsapp")
    log.release(claimed)
    again = log.claim(1, "whatsapp:+34600000001", "whatsapp")
    assert again is not None
    log.sent(again, timedelta(minutes=1420))
    log.release(again)  # sent: no longer a claim to give back
    assert log.claim(1, "whatsapp:+34600000001", "whatsapp") is None


def test_answers_after_the_deadline_expire_the_reminder(database: str) -> None:
    clock = Clock()
    log = ReminderLog(database, clock=clock)
    late, silent, failed = (log.claim(n, f"web:{n}", "socketio") for n in (1, 2, 3))
    for reminder_id in (late, silent, failed):
        log.sent(reminder_id, timedelta(minutes=1420), outbound_id=100 + reminder_id)
    log.receipt(100 + failed, FAILED, "131047")
    clock.now += timedelta(minutes=1421)
    assert log.answer(1, CANCELLED_ANSWER) == TOO_LATE
    assert log.answer(1, CANCELLED_ANSWER) == TOO_LATE
    assert log.expire_due() == 1  # the silent one; the failed one keeps its cause
    with db.session_scope(database) as session:
        assert [session.get(Reminder, n).status for n in (late, silent, failed)] == [EXPIRED, EXPIRED, FAILED]
        assert session.get(Reminder, failed).failure == "131047"


def test_the_send_command_explains_what_it_needs(database: str) -> None:
    env = {key: value for key, value in os.environ.items()
           if key not in ("VECINA_RASA_ENABLE_API", "VECINA_RASA_JWT_SECRET")}
    env.update(VECINA_DATABASE_URL=database, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "vecina.cli", "reminders", "send", "--for"]
    no_api = subprocess.run(command + ["tomorrow"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert no_api.returncode == 1 and "VECINA_RASA_JWT_SECRET" in no_api.stderr
    env.update(VECINA_RASA_ENABLE_API="true", VECINA_RASA_JWT_SECRET="x" * 40, VECINA_CONSOLE_RASA_URL="http://127.0.0.1:9")
    no_kb = subprocess.run(command + ["tomorrow"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert no_kb.returncode == 1 and "vecina kb load" in no_kb.stderr and "Traceback" not in no_kb.stderr

    load(ROOT / "kb", database)
    with db.session_scope(database) as s:
        for hour, who in enumerate(("whatsapp:+34600000001", "whatsapp:+34600000002", "web:3"), start=9):
            appointment(s, 3, hour, "booked", who)
    bad_day = subprocess.run(command + ["31/12"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad_day.returncode == 1 and "--for" in bad_day.stderr and "YYYY-MM-DD" in bad_day.stderr
    down = subprocess.run(command + ["2026-11-03"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 1 and "run the command again" in down.stderr and "Traceback" not in down.stderr
    assert "due: 3" in down.stdout and "to retry (assistant unavailable): 2" in down.stdout
    assert "not sent: 1 (no_contact 1)" in down.stdout
