"""Appointment reminders: the life of each one (sent, delivered, read, failed, answered, expired)
and the report town halls judge them by (El Prat's figures: response rate, cancellations, slots
freed and re-used, fewer no-shows).

Times are local wall-clock time, like the appointments'.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable, Dict, List, Optional, Tuple

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError

from vecina.db import session_scope
from vecina.db.models import Appointment, Reminder
from vecina.kb.store import KbSource
from vecina.services.appointments import (ATTENDED, CANCELLED, NO_SHOW, UPCOMING, AppointmentBackend,
                                          AppointmentView, WaitingList)
from vecina.services.handoff import local_now

PENDING, SENT, DELIVERED, READ, FAILED, ANSWERED, EXPIRED = (
    "pending", "sent", "delivered", "read", "failed", "answered", "expired")
CONFIRMED_ANSWER, CANCELLED_ANSWER = "confirmed", "cancelled"
ACCEPTED, TOO_LATE, NO_REMINDER = "accepted", "too_late", "no_reminder"
PROGRESS = {PENDING: 0, SENT: 1, DELIVERED: 2, READ: 3}  # receipts only move a reminder forward
AWAITING_ANSWER = (SENT, DELIVERED, READ)


def municipal_clock(kb: KbSource) -> Callable[[], datetime]:
    """The municipality's wall-clock time, in which appointments and reminders are kept."""
    return lambda: local_now(kb.current()).replace(tzinfo=None)


class ReminderLog:
    def __init__(self, database_url: str, clock: Callable[[], datetime] = datetime.now) -> None:
        self.url = database_url
        self.clock = clock

    def claim(self, appointment_id: int, conversation_id: str, channel: str) -> Optional[int]:
        """Reserve the appointment's one reminder; None when it has one already (a repeated run)."""
        try:
            with session_scope(self.url) as session:
                row = Reminder(appointment_id=appointment_id, conversation_id=conversation_id, channel=channel,
                               status=PENDING, created_at=self.clock())
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            return None

    def release(self, reminder_id: int) -> None:
        """Give back a claim that was never sent (the assistant was unreachable): the next run retries it."""
        with session_scope(self.url) as session:
            row = session.get(Reminder, reminder_id, with_for_update=True)
            if row is not None and row.status == PENDING:
                session.delete(row)

    def _set(self, reminder_id: int, **values: object) -> None:
        with session_scope(self.url) as session:
            row = session.get(Reminder, reminder_id, with_for_update=True)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    def sent(self, reminder_id: int, answer_window: timedelta, outbound_id: Optional[int] = None) -> None:
        now = self.clock()
        self._set(reminder_id, status=SENT, sent_at=now, expires_at=now + answer_window, outbound_id=outbound_id)

    def failed(self, reminder_id: int, cause: str) -> None:
        self._set(reminder_id, status=FAILED, failure=cause[:40], failed_at=self.clock())

    def receipt(self, outbound_id: int, status: str, cause: Optional[str] = None) -> None:
        """The provider's delivery receipt for the message that carried a reminder (if it did): the
        status only moves forward (receipts come out of order), each step keeps its time; failed is kept."""
        with session_scope(self.url) as session:
            row = session.execute(select(Reminder).where(Reminder.outbound_id == outbound_id)
                                  .with_for_update()).scalar_one_or_none()
            if row is None or row.status not in PROGRESS:
                return
            now = self.clock()
            if status == FAILED:
                row.status, row.failure, row.failed_at = FAILED, (cause or "delivery_failed")[:40], now
            elif status in (DELIVERED, READ):
                if getattr(row, f"{status}_at") is None:  # a late receipt still tells when it happened
                    setattr(row, f"{status}_at", now)
                if PROGRESS[status] > PROGRESS[row.status]:
                    row.status = status

    def answer(self, appointment_id: int, answer: str, apply: Callable[[], object] = lambda: None) -> str:
        """Record Confirm or Cancel: ACCEPTED, TOO_LATE (after the deadline: the reminder expires)
        or NO_REMINDER (none is waiting for an answer). `apply` (the confirmation or cancellation
        itself) runs before the answer is recorded: when it fails, nothing is recorded."""
        now = self.clock()
        with session_scope(self.url) as session:
            row = session.execute(select(Reminder).where(Reminder.appointment_id == appointment_id)
                                  .with_for_update()).scalar_one_or_none()
            if row is None or row.status not in AWAITING_ANSWER:
                return TOO_LATE if row is not None and row.status == EXPIRED else NO_REMINDER
            if row.expires_at is not None and now > row.expires_at:
                row.status, row.expired_at = EXPIRED, now
                return TOO_LATE
            apply()
            row.status, row.answer, row.answered_at = ANSWERED, answer, now
            return ACCEPTED

    def addressed_to(self, appointment_id: int, conversation_id: str) -> Optional[AppointmentView]:
        """The appointment a reminder was sent for to this conversation (the verified sender may be
        the SMS number of a citizen who booked on the web), if it is still on."""
        with session_scope(self.url) as session:
            found = session.execute(select(Appointment).join(Reminder, Reminder.appointment_id == Appointment.id)
                                    .where(Appointment.id == appointment_id,
                                           Reminder.conversation_id == conversation_id)).scalar_one_or_none()
            return AppointmentView.of(found) if found is not None and found.status in UPCOMING else None

    def expire_due(self) -> int:
        """Reminders whose answer window has passed without an answer; how many were expired now."""
        now = self.clock()
        with session_scope(self.url) as session:
            rows = session.execute(select(Reminder).where(Reminder.status.in_(AWAITING_ANSWER),
                                                          Reminder.expires_at < now)).scalars().all()
            for row in rows:
                row.status, row.expired_at = EXPIRED, now
            return len(rows)


def reminder_template(name: str, variables: Dict[str, str], quick_replies: List[str]) -> Optional[Dict[str, object]]:
    """The approved WhatsApp template that carries a reminder outside the 24-hour window (None
    when none is configured). Its body parameters, in the order docs/channels.md registers them:
    weekday and date, time, service, office, address; its two quick replies: Confirm, Cancel."""
    if not name:
        return None
    parameters = [f"{variables['weekday']} {variables['date']}", variables["time"], variables["service"],
                  variables["office"], variables["address"]]
    return {"whatsapp_template": {"name": name, "parameters": parameters, "quick_replies": quick_replies}}


def answer_reminder(log: ReminderLog, backend: AppointmentBackend, waiting: WaitingList, appointment_id: int,
                    conversation_id: str, answer: str, now: datetime) -> Tuple[str, Optional[AppointmentView]]:
    """Confirm or Cancel pressed on a reminder: the outcome (ACCEPTED, TOO_LATE, NO_REMINDER) and
    the appointment. A cancellation frees the slot and offers it to the first on the waiting list.
    NotFound and BackendUnavailable from the appointment system come through, with nothing recorded."""
    appointment = log.addressed_to(appointment_id, conversation_id)
    if appointment is None:
        return NO_REMINDER, None
    change = backend.confirm if answer == CONFIRMED_ANSWER else backend.cancel
    outcome = log.answer(appointment_id, answer, lambda: change(appointment.id, appointment.conversation_id, now))
    if outcome == ACCEPTED and answer == CANCELLED_ANSWER:
        waiting.offer(appointment.slot)
    return outcome, appointment


@dataclass
class ReminderReport:
    """Figures for the appointments that start between `start` and `end` (inclusive)."""

    start: date
    end: date
    appointments: int = 0
    reminders_sent: int = 0
    failures: Dict[str, int] = field(default_factory=dict)  # cause -> reminders that failed
    answered: int = 0
    confirmed: int = 0
    cancelled: int = 0
    response_rate: Optional[float] = None  # of reminders sent
    confirmation_rate: Optional[float] = None
    cancellation_rate: Optional[float] = None
    median_minutes_to_answer: Optional[float] = None
    slots_freed: int = 0  # cancelled from a reminder
    slots_reused: int = 0  # of those, booked again by someone else
    no_show_rate_with_reminder: Optional[float] = None  # no-shows / (attended + no-shows)
    no_show_rate_without_reminder: Optional[float] = None

    def as_dict(self) -> Dict[str, object]:
        values = asdict(self)
        values.update(start=self.start.isoformat(), end=self.end.isoformat())
        return values

    def lines(self) -> List[str]:
        def rate(value: Optional[float]) -> str:
            return "n/a" if value is None else f"{value:.1%}"

        failures = ", ".join(f"{cause} {count}" for cause, count in sorted(self.failures.items())) or "none"
        median = "n/a" if self.median_minutes_to_answer is None else f"{self.median_minutes_to_answer:.0f} min"
        return [
            f"appointments {self.start} to {self.end}: {self.appointments}",
            f"reminders sent: {self.reminders_sent}",
            f"delivery failures: {sum(self.failures.values())} ({failures})",
            f"answered: {self.answered} ({rate(self.response_rate)} of sent)",
            f"confirmed: {self.confirmed} ({rate(self.confirmation_rate)})",
            f"cancelled: {self.cancelled} ({rate(self.cancellation_rate)})",
            f"median time to answer: {median}",
            f"slots freed: {self.slots_freed}, re-used: {self.slots_reused}",
            f"no-show rate with a reminder: {rate(self.no_show_rate_with_reminder)}, "
            f"without: {rate(self.no_show_rate_without_reminder)}",
        ]


def _share(part: int, whole: int) -> Optional[float]:
    return part / whole if whole else None


def report(database_url: str, start: date, end: date) -> ReminderReport:
    first, after = datetime.combine(start, time.min), datetime.combine(end + timedelta(days=1), time.min)
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Appointment, Reminder).outerjoin(Reminder, Reminder.appointment_id == Appointment.id)
            .where(Appointment.starts_at >= first, Appointment.starts_at < after)).all()
        result = ReminderReport(start, end, appointments=len(rows))
        waits: List[float] = []
        shows: Dict[bool, List[str]] = {True: [], False: []}
        freed: List[Appointment] = []
        for appointment, reminder in rows:
            reminded = reminder is not None and reminder.sent_at is not None
            if appointment.status in (ATTENDED, NO_SHOW):
                shows[reminded].append(appointment.status)
            if reminder is None:
                continue
            if reminder.status == FAILED:
                result.failures[reminder.failure or "unknown"] = result.failures.get(reminder.failure or "unknown",
                                                                                     0) + 1
            if not reminded:
                continue
            result.reminders_sent += 1
            if reminder.answer is not None:
                result.answered += 1
                waits.append((reminder.answered_at - reminder.sent_at).total_seconds() / 60)
                if reminder.answer == CONFIRMED_ANSWER:
                    result.confirmed += 1
                elif reminder.answer == CANCELLED_ANSWER:
                    result.cancelled += 1
                    if appointment.status == CANCELLED:
                        freed.append(appointment)
        for appointment in freed:
            result.slots_freed += 1
            taken_again = session.execute(select(Appointment.id).where(and_(
                Appointment.office == appointment.office, Appointment.service == appointment.service,
                Appointment.starts_at == appointment.starts_at, Appointment.status != CANCELLED,
                Appointment.id != appointment.id)).limit(1)).first()
            result.slots_reused += taken_again is not None
    result.response_rate = _share(result.answered, result.reminders_sent)
    result.confirmation_rate = _share(result.confirmed, result.reminders_sent)
    result.cancellation_rate = _share(result.cancelled, result.reminders_sent)
    result.median_minutes_to_answer = statistics.median(waits) if waits else None
    for reminded, attribute in ((True, "no_show_rate_with_reminder"), (False, "no_show_rate_without_reminder")):
        setattr(result, attribute, _share(shows[reminded].count(NO_SHOW), len(shows[reminded])))
    return result
