"""The office marks who came: the rules of a mark, closing the day, and the report's no-show rates
that the marks feed. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from vecina import db
from vecina.db.models import Appointment, Reminder
from vecina.services.appointments import NotFound
from vecina.services.attendance import Attendance, AttendanceRefused, NotYourOffice
from vecina.services.reminders import CONFIRMED_ANSWER, report

DAY = date(2026, 11, 24)
OFFICE = "oac-ajuntament"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def book(database: str, hour: int, minute: int = 0, status: str = "booked", office: str = OFFICE,
         day: date = DAY, phone: str = "+34600112233", reminded: bool = False) -> int:
    starts = datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)
    with db.session_scope(database) as session:
        row = Appointment(office=office, service="census", starts_at=starts, ends_at=starts + timedelta(minutes=15),
                          desk=1, conversation_id=f"whatsapp:{phone}", channel="whatsapp", language="ca",
                          phone=phone, status=status, created_at=starts - timedelta(days=3),
                          updated_at=starts - timedelta(days=3))
        session.add(row)
        session.flush()
        if reminded:
            sent = starts - timedelta(hours=15)
            session.add(Reminder(appointment_id=row.id, conversation_id=row.conversation_id, channel="whatsapp",
                                 status="answered", created_at=sent, sent_at=sent, answer=CONFIRMED_ANSWER,
                                 answered_at=sent + timedelta(minutes=20), expires_at=sent + timedelta(hours=23)))
        return row.id


def status(database: str, appointment_id: int) -> str:
    with db.session_scope(database) as session:
        return session.get(Appointment, appointment_id).status


def test_the_day_lists_the_office_appointments_by_time_with_what_the_desk_needs(database: str) -> None:
    late = book(database, 11, 30, phone="+34611223344")
    early = book(database, 9, reminded=True)
    cancelled = book(database, 10, status="cancelled", phone="+34655667788")
    book(database, 9, office="css-benimar")  # another office
    book(database, 9, day=DAY + timedelta(days=1))  # another day
    rows = Attendance(database, Clock(datetime(2026, 11, 24, 8, 0))).day(OFFICE, DAY)
    assert [r.id for r in rows] == [early, cancelled, late]
    assert [r.phone_end for r in rows] == ["2233", "7788", "3344"]  # never the whole number
    assert [r.reminder_answer for r in rows] == [CONFIRMED_ANSWER, None, None]
    assert [r.open for r in rows] == [True, False, True]


@pytest.mark.parametrize("now, outcome, refusal", [
    (datetime(2026, 11, 23, 18, 0), "attended", "not_yet"),  # the day before
    (datetime(2026, 11, 24, 9, 59), "no_show", "not_yet"),  # before its time
    (datetime(2026, 11, 24, 12, 0), "came", "attendance_outcome"),
    (datetime(2026, 11, 24, 9, 59), "attended", None),  # early is fine
    (datetime(2026, 11, 24, 10, 0), "no_show", None),
    (datetime(2026, 11, 27, 9, 0), "attended", None),  # marked days later
])
def test_a_mark_applies_from_the_day_and_no_show_from_the_time(database: str, now: datetime, outcome: str,
                                                              refusal: str) -> None:
    appointment_id = book(database, 10)
    attendance = Attendance(database, Clock(now))
    if refusal:
        with pytest.raises(AttendanceRefused) as refused:
            attendance.mark(appointment_id, outcome)
        assert refused.value.code == refusal and status(database, appointment_id) == "booked"
    else:
        assert attendance.mark(appointment_id, outcome) == (OFFICE, DAY)
        assert status(database, appointment_id) == outcome


def test_a_mark_can_be_corrected_but_a_cancelled_or_unknown_appointment_cannot_be_marked(database: str) -> None:
    attendance = Attendance(database, Clock(datetime(2026, 11, 24, 13, 0)))
    appointment_id = book(database, 10, status="confirmed")
    attendance.mark(appointment_id, "no_show")
    attendance.mark(appointment_id, "attended")  # they were in the waiting room after all
    assert status(database, appointment_id) == "attended"
    cancelled = book(database, 11, status="cancelled")
    with pytest.raises(AttendanceRefused) as refused:
        attendance.mark(cancelled, "attended")
    assert refused.value.code == "cancelled" and status(database, cancelled) == "cancelled"
    with pytest.raises(NotFound):
        attendance.mark(999_999, "attended")


def test_a_mark_for_an_office_the_marker_does_not_keep_is_refused_and_changes_nothing(database: str) -> None:
    ours, theirs = book(database, 10), book(database, 10, office="css-benimar")
    attendance = Attendance(database, Clock(datetime(2026, 11, 24, 13, 0)))
    keeps = {OFFICE}.__contains__
    for outcome in ("attended", "no_show", "came"):  # whose it is comes first, before the mark's own rules
        with pytest.raises(NotYourOffice):
            attendance.mark(theirs, outcome, keeps)
    assert status(database, theirs) == "booked"
    assert attendance.mark(ours, "attended", keeps) == (OFFICE, DAY) and status(database, ours) == "attended"


def test_closing_the_day_marks_only_the_unmarked_appointments_that_are_over(database: str) -> None:
    came = book(database, 9, status="attended")
    forgot = book(database, 9, 30, status="confirmed")
    absent = book(database, 10)
    cancelled = book(database, 10, 30, status="cancelled")
    in_progress = book(database, 12, 50)  # ends at 13:05
    later = book(database, 13, 30)
    other_office = book(database, 9, office="css-benimar")
    attendance = Attendance(database, Clock(datetime(2026, 11, 24, 13, 0)))
    assert attendance.close_day(OFFICE, DAY) == 2
    assert [status(database, a) for a in (came, forgot, absent, cancelled, in_progress, later, other_office)] == [
        "attended", "no_show", "no_show", "cancelled", "booked", "booked", "booked"]
    assert attendance.close_day(OFFICE, DAY) == 0  # nothing twice


def test_the_marks_give_the_report_its_no_show_rates(database: str) -> None:
    with_reminder = [book(database, 9, reminded=True), book(database, 9, 15, reminded=True),
                     book(database, 9, 30, reminded=True), book(database, 9, 45, reminded=True)]
    without = [book(database, 10), book(database, 10, 15)]
    assert report(database, DAY, DAY).no_show_rate_with_reminder is None  # nobody marked yet
    attendance = Attendance(database, Clock(datetime(2026, 11, 24, 14, 0)))
    for appointment_id in with_reminder[:3] + without[:1]:
        attendance.mark(appointment_id, "attended")
    assert attendance.close_day(OFFICE, DAY) == 2  # one of each did not come
    figures = report(database, DAY, DAY)
    assert figures.no_show_rate_with_reminder == pytest.approx(1 / 4)
    assert figures.no_show_rate_without_reminder == pytest.approx(1 / 2)
