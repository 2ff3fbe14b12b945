"""Who came to their appointment. The office marks each appointment attended or no-show on the
day; those marks give `vecina reminders report` its no-show rates, with and without a reminder.
Only for appointments in our own database: a town hall's own appointment system keeps its own.
Who may mark which office is the caller's rule (the console: the team that keeps the office)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Callable, List, Optional, Tuple

from sqlalchemy import select

from vecina.db import session_scope
from vecina.db.models import Appointment, Reminder
from vecina.services.appointments import ATTENDED, CANCELLED, NO_SHOW, UPCOMING, NotFound

OUTCOMES = (ATTENDED, NO_SHOW)
PHONE_DIGITS_SHOWN = 4  # enough for the desk to ask "the last four digits of your mobile?"


class NotYourOffice(Exception):
    """The appointment belongs to an office whose team the person marking does not serve."""


class AttendanceRefused(Exception):
    """The mark does not apply: `code` is "attendance_outcome", "cancelled" or "not_yet"."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class OfficeAppointment:
    id: int
    starts_at: datetime
    ends_at: datetime
    service: str
    status: str
    channel: str
    language: str
    phone_end: str  # the last digits of the citizen's phone, or "" when none is known
    reminder_answer: Optional[str]  # "confirmed" / "cancelled" when they answered the reminder

    @property
    def open(self) -> bool:
        """Still waiting for a mark (neither cancelled nor marked)."""
        return self.status in UPCOMING


class Attendance:
    def __init__(self, database_url: str, clock: Callable[[], datetime]) -> None:
        """`clock`: the municipality's wall-clock time, in which appointments are kept."""
        self.url = database_url
        self.clock = clock

    def day(self, office: str, day: date) -> List[OfficeAppointment]:
        """The office's appointments of `day`, cancelled ones included, by time."""
        with session_scope(self.url) as session:
            rows = session.execute(
                select(Appointment, Reminder.answer).outerjoin(Reminder, Reminder.appointment_id == Appointment.id)
                .where(Appointment.office == office, Appointment.starts_at >= datetime.combine(day, time.min),
                       Appointment.starts_at < datetime.combine(day + timedelta(days=1), time.min))
                .order_by(Appointment.starts_at, Appointment.desk, Appointment.id)).all()
            return [OfficeAppointment(row.id, row.starts_at, row.ends_at, row.service, row.status, row.channel,
                                      row.language, (row.phone or "")[-PHONE_DIGITS_SHOWN:], answer)
                    for row, answer in rows]

    def mark(self, appointment_id: int, outcome: str,
             may_mark: Callable[[str], bool] = lambda _office: True) -> Tuple[str, date]:
        """Mark one appointment; a mark can be corrected (attended <-> no-show). Attended from the
        appointment's day on; no-show once its time has come. Returns its office and day.
        `may_mark(office)`: whether the person marking keeps that office (NotYourOffice if not)."""
        now = self.clock()
        with session_scope(self.url) as session:
            row = session.get(Appointment, appointment_id, with_for_update=True)
            if row is None:
                raise NotFound()
            if not may_mark(row.office):
                raise NotYourOffice()
            if outcome not in OUTCOMES:
                raise AttendanceRefused("attendance_outcome")
            if row.status == CANCELLED:
                raise AttendanceRefused("cancelled")
            if row.starts_at.date() > now.date() or (outcome == NO_SHOW and row.starts_at > now):
                raise AttendanceRefused("not_yet")
            row.status, row.updated_at = outcome, now
            return row.office, row.starts_at.date()

    def close_day(self, office: str, day: date) -> int:
        """Mark as no-show every appointment of the office's `day` that is over and was neither
        cancelled nor marked; how many."""
        now = self.clock()
        with session_scope(self.url) as session:
            rows = session.execute(select(Appointment).where(
                Appointment.office == office, Appointment.status.in_(UPCOMING),
                Appointment.starts_at >= datetime.combine(day, time.min),
                Appointment.starts_at < datetime.combine(day + timedelta(days=1), time.min),
                Appointment.ends_at <= now).with_for_update()).scalars().all()
            for row in rows:
                row.status, row.updated_at = NO_SHOW, now
            return len(rows)
