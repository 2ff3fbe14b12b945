"""Appointments (cita previa): free slots from the offices' calendars (kb/appointments.yml), booking
that is atomic and idempotent, the citizen's upcoming appointments, cancelling and changing, and the
waiting list that gets a freed slot first.

Times are the municipality's local wall-clock time, naive (an office opens at 09:00 whatever the
UTC offset). A citizen is the channel's verified sender: who may see or cancel an appointment is
decided by its conversation id, never by anything the citizen typed.
"""

from __future__ import annotations

import abc
import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Tuple

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from vecina.db import session_scope
from vecina.db.models import Appointment, WaitingEntry
from vecina.kb.model import AppointmentOffice, AppointmentService, KnowledgeBase
from vecina.kb.store import KbSource
from vecina.services.dates import AFTERNOON, MORNING, DateRequest
from vecina.services.hours import ranges_on
from vecina.text import fold, names_in_text

if TYPE_CHECKING:
    from vecina.settings import Settings

BOOKED, CONFIRMED, CANCELLED, ATTENDED, NO_SHOW = "booked", "confirmed", "cancelled", "attended", "no_show"
UPCOMING = (BOOKED, CONFIRMED)
AFTERNOON_FROM = time(14, 0)  # slots from 14:00 on are "afternoon" (tardes, vesprades)
WAITING, OFFERED, WAITING_BOOKED, WITHDRAWN = "waiting", "offered", "booked", "withdrawn"


@dataclass(frozen=True)
class Slot:
    office: str
    service: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Citizen:
    conversation_id: str  # the verified sender, e.g. whatsapp:+34600000000
    channel: str
    language: str
    phone: Optional[str] = None


@dataclass(frozen=True)
class AppointmentView:
    id: int
    office: str
    service: str
    starts_at: datetime
    ends_at: datetime
    conversation_id: str
    channel: str
    language: str
    status: str
    reason: Optional[str]

    @property
    def slot(self) -> Slot:
        return Slot(self.office, self.service, self.starts_at, self.ends_at)

    @classmethod
    def of(cls, row: Appointment) -> "AppointmentView":
        return cls(row.id, row.office, row.service, row.starts_at, row.ends_at, row.conversation_id, row.channel,
                   row.language, row.status, row.reason)


@dataclass(frozen=True)
class WaitingView:
    id: int
    office: str
    service: str
    conversation_id: str
    channel: str
    language: str
    offered_slot: Optional[datetime] = None

    @classmethod
    def of(cls, row: WaitingEntry) -> "WaitingView":
        return cls(row.id, row.office, row.service, row.conversation_id, row.channel, row.language,
                   row.offered_slot)


class SlotTaken(Exception):
    """Someone else got the slot first; `alternatives` are free slots near it."""

    def __init__(self, alternatives: List[Slot]) -> None:
        super().__init__("slot taken")
        self.alternatives = alternatives


class BackendUnavailable(Exception):
    """The appointment system did not answer. `uncertain`: a change was sent and no answer came
    back, so the system may have made it; a retry with the same request key finds out."""

    def __init__(self, problem: str, uncertain: bool = False) -> None:
        super().__init__(problem)
        self.uncertain = uncertain


class NotFound(Exception):
    """No such upcoming appointment for this citizen."""


class AppointmentBackend(abc.ABC):
    """Where appointments live: our database (DatabaseBackend) or a town hall's own system."""

    @abc.abstractmethod
    def free_slots(self, office: str, service: str, wanted: Optional[DateRequest], now: datetime,
                   limit: int = 3) -> List[Slot]:
        """The first free slots matching `wanted` (None or first_available: the earliest)."""

    @abc.abstractmethod
    def book(self, slot: Slot, citizen: Citizen, reason: Optional[str], request_key: str,
             now: datetime) -> AppointmentView:
        """Book `slot`; the same `request_key` again returns the same appointment. SlotTaken when
        someone else got it first."""

    @abc.abstractmethod
    def upcoming(self, conversation_id: str, now: datetime) -> List[AppointmentView]:
        """The citizen's booked or confirmed appointments from `now` on, soonest first."""

    @abc.abstractmethod
    def cancel(self, appointment_id: int, conversation_id: str, now: datetime) -> AppointmentView:
        """Cancel the citizen's upcoming appointment, freeing its slot."""

    @abc.abstractmethod
    def confirm(self, appointment_id: int, conversation_id: str, now: datetime) -> AppointmentView:
        """The citizen says they will come."""

    def change(self, appointment_id: int, conversation_id: str, slot: Slot, request_key: str,
               now: datetime) -> AppointmentView:
        """Move an appointment to `slot`: the new one is booked before the old one is cancelled,
        so a citizen never ends up with neither."""
        current = next((a for a in self.upcoming(conversation_id, now) if a.id == appointment_id), None)
        if current is None:
            raise NotFound()
        citizen = Citizen(current.conversation_id, current.channel, current.language)
        moved = self.book(slot, citizen, current.reason, request_key, now)
        if moved.id != current.id:
            self.cancel(current.id, conversation_id, now)
        return moved


def appointment_backend(settings: "Settings", kb: KbSource) -> AppointmentBackend:
    """The town hall's own system when VECINA_APPOINTMENTS_URL is set, else our database."""
    if settings.appointments_url:
        from vecina.services.appointments_http import HttpBackend

        return HttpBackend(settings.appointments_url, settings.appointments_token, settings.appointments_timeout,
                           horizon_days=kb.current().booking.horizon_days)
    return DatabaseBackend(settings.database_url, kb)


def day_refusal(kb: KnowledgeBase, office_id: str, wanted: DateRequest, today: date) -> Optional[str]:
    """Why a requested day cannot be booked at all: "past", "closed" or "too_far"; None if it can."""
    if wanted.day is None:
        return None
    if wanted.day < today:
        return "past"
    if wanted.day > today + timedelta(days=kb.booking.horizon_days):
        return "too_far"
    office = kb.appointment_offices[office_id]
    if not ranges_on(office.hours, wanted.day, kb.municipality.holidays):
        return "closed"
    return None


def part_of_day(moment: datetime) -> str:
    return AFTERNOON if moment.time() >= AFTERNOON_FROM else MORNING


class DatabaseBackend(AppointmentBackend):
    """Appointments in our own database; the calendars come from kb/appointments.yml."""

    def __init__(self, database_url: str, kb: KbSource, clock: Callable[[], datetime] = datetime.now) -> None:
        self.url = database_url
        self.kb = kb
        self.clock = clock  # local time, for the rows' created/updated stamps

    def _calendar(self, office: AppointmentOffice, service: AppointmentService, days: Iterator[date],
                  kb: KnowledgeBase) -> Iterator[Slot]:
        length = timedelta(minutes=service.minutes)
        for day in days:
            for opening in ranges_on(office.hours, day, kb.municipality.holidays):
                start, end = datetime.combine(day, opening.start), datetime.combine(day, opening.end)
                while start + length <= end:
                    yield Slot(office.id, service.id, start, start + length)
                    start += length

    def _days(self, kb: KnowledgeBase, wanted: Optional[DateRequest], now: datetime) -> Tuple[date, date]:
        last = now.date() + timedelta(days=kb.booking.horizon_days)
        if wanted is not None and wanted.day is not None:
            return wanted.day, min(wanted.day, last)
        if wanted is not None and wanted.start is not None:
            return max(wanted.start, now.date()), min(wanted.end or last, last)
        return now.date(), last

    def free_slots(self, office: str, service: str, wanted: Optional[DateRequest], now: datetime,
                   limit: int = 3) -> List[Slot]:
        kb = self.kb.current()
        place, kind = kb.appointment_offices[office], kb.appointment_services[service]
        desks = place.desks.get(service, 0)
        first, last = self._days(kb, wanted, now)
        if desks == 0 or first > last:
            return []
        with session_scope(self.url) as session:
            taken = Counter(session.execute(select(Appointment.starts_at).where(
                Appointment.office == office, Appointment.service == service, Appointment.status != CANCELLED,
                Appointment.starts_at >= datetime.combine(first, time.min),
                Appointment.starts_at < datetime.combine(last + timedelta(days=1), time.min))).scalars())
        earliest = now + timedelta(minutes=kb.booking.min_notice_minutes)
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        found: List[Slot] = []
        for slot in self._calendar(place, kind, days, kb):
            if slot.starts_at < earliest or taken[slot.starts_at] >= desks:
                continue
            if wanted is not None and wanted.part_of_day and part_of_day(slot.starts_at) != wanted.part_of_day:
                continue
            found.append(slot)
            if len(found) == limit:
                break
        return found

    def _by_key(self, request_key: str) -> Optional[AppointmentView]:
        with session_scope(self.url) as session:
            row = session.execute(select(Appointment).where(Appointment.request_key == request_key)).scalar_one_or_none()
            return AppointmentView.of(row) if row else None

    def book(self, slot: Slot, citizen: Citizen, reason: Optional[str], request_key: str,
             now: datetime) -> AppointmentView:
        existing = self._by_key(request_key)
        if existing is not None:
            return existing
        kb = self.kb.current()
        place, kind = kb.appointment_offices[slot.office], kb.appointment_services[slot.service]
        in_calendar = slot in set(self._calendar(place, kind, iter([slot.starts_at.date()]), kb))
        if in_calendar and slot.starts_at >= now + timedelta(minutes=kb.booking.min_notice_minutes):
            for desk in range(1, place.desks.get(slot.service, 0) + 1):
                try:
                    with session_scope(self.url) as session:
                        row = Appointment(office=slot.office, service=slot.service, starts_at=slot.starts_at,
                                          ends_at=slot.ends_at, desk=desk, conversation_id=citizen.conversation_id,
                                          channel=citizen.channel, language=citizen.language, phone=citizen.phone,
                                          reason=(reason or None) and reason[:500], status=BOOKED,
                                          request_key=request_key, created_at=self.clock(), updated_at=self.clock())
                        session.add(row)
                        session.flush()
                        return AppointmentView.of(row)
                except IntegrityError:
                    existing = self._by_key(request_key)  # the same request, retried at the same moment
                    if existing is not None:
                        return existing
        wanted = DateRequest(start=slot.starts_at.date())
        raise SlotTaken([s for s in self.free_slots(slot.office, slot.service, wanted, now, 4) if s != slot][:3])

    def upcoming(self, conversation_id: str, now: datetime) -> List[AppointmentView]:
        with session_scope(self.url) as session:
            rows = session.execute(select(Appointment).where(
                Appointment.conversation_id == conversation_id, Appointment.status.in_(UPCOMING),
                Appointment.starts_at >= now).order_by(Appointment.starts_at)).scalars().all()
            return [AppointmentView.of(row) for row in rows]

    def _update(self, appointment_id: int, conversation_id: str, now: datetime, **values: object) -> AppointmentView:
        with session_scope(self.url) as session:
            row = session.get(Appointment, appointment_id, with_for_update=True)
            if (row is None or row.conversation_id != conversation_id or row.status not in UPCOMING
                    or row.starts_at < now):
                raise NotFound()
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = self.clock()
            return AppointmentView.of(row)

    def cancel(self, appointment_id: int, conversation_id: str, now: datetime) -> AppointmentView:
        return self._update(appointment_id, conversation_id, now, status=CANCELLED, cancelled_at=self.clock())

    def confirm(self, appointment_id: int, conversation_id: str, now: datetime) -> AppointmentView:
        return self._update(appointment_id, conversation_id, now, status=CONFIRMED)


class WaitingList:
    """Citizens who found nothing that suited them; a freed slot goes to the first who fits it."""

    def __init__(self, database_url: str, clock: Callable[[], datetime] = datetime.now) -> None:
        self.url = database_url
        self.clock = clock

    def join(self, office: str, service: str, citizen: Citizen, wanted: Optional[DateRequest],
             today: date) -> int:
        earliest = (wanted.day or wanted.start) if wanted else None
        with session_scope(self.url) as session:
            waiting = session.execute(select(WaitingEntry.id).where(
                WaitingEntry.conversation_id == citizen.conversation_id, WaitingEntry.office == office,
                WaitingEntry.service == service, WaitingEntry.status == WAITING)).scalars().first()
            if waiting is not None:  # asked twice: one place in the queue, the first
                return waiting
            row = WaitingEntry(office=office, service=service, conversation_id=citizen.conversation_id,
                               channel=citizen.channel, language=citizen.language,
                               earliest=max(earliest or today, today),
                               latest=(wanted.day or wanted.end) if wanted else None,
                               part_of_day=wanted.part_of_day if wanted else None, status=WAITING,
                               created_at=self.clock())
            session.add(row)
            session.flush()
            return row.id

    def offer(self, slot: Slot) -> Optional[WaitingView]:
        """The first waiting citizen the freed `slot` suits, now marked as offered it. Nobody is
        offered the same time twice."""
        day = slot.starts_at.date()
        with session_scope(self.url) as session:
            rows = session.execute(select(WaitingEntry).where(
                WaitingEntry.office == slot.office, WaitingEntry.service == slot.service,
                WaitingEntry.status == WAITING, WaitingEntry.earliest <= day,
                or_(WaitingEntry.offered_slot.is_(None), WaitingEntry.offered_slot != slot.starts_at))
                .order_by(WaitingEntry.created_at, WaitingEntry.id).with_for_update()).scalars().all()
            for row in rows:
                if (row.latest is None or day <= row.latest) and row.part_of_day in (None, part_of_day(slot.starts_at)):
                    row.status, row.offered_at, row.offered_slot = OFFERED, self.clock(), slot.starts_at
                    row.notified_at, row.notify_failure = None, None
                    return WaitingView.of(row)
        return None

    def booked(self, conversation_id: str, office: str, service: str) -> None:
        """The citizen booked this service at this office: they leave its waiting list."""
        with session_scope(self.url) as session:
            session.execute(update(WaitingEntry).where(
                WaitingEntry.conversation_id == conversation_id, WaitingEntry.office == office,
                WaitingEntry.service == service, WaitingEntry.status.in_((WAITING, OFFERED)))
                .values(status=WAITING_BOOKED))

    def pass_on(self, now: datetime, answer_window: timedelta,
                still_free: Callable[[str, str, datetime], Optional[Slot]]) -> int:
        """Offers the citizen has not taken within `answer_window` of hearing of them: the citizen
        goes back to waiting, keeping their place, and the time, if `still_free` finds it bookable,
        is offered to the next person it suits. A citizen the offer could not reach leaves the
        list (their contact does not work). An offer whose time came before it could be sent (the
        scheduler was down) lapses too. How many times were passed on."""
        with session_scope(self.url) as session:
            rows = session.execute(select(WaitingEntry).where(
                WaitingEntry.status == OFFERED,
                or_(WaitingEntry.notified_at <= now - answer_window, WaitingEntry.notify_failure.is_not(None),
                    and_(WaitingEntry.notified_at.is_(None), WaitingEntry.offered_slot <= now)))
                .order_by(WaitingEntry.offered_at, WaitingEntry.id).with_for_update()).scalars().all()
            lapsed = [(row.office, row.service, row.offered_slot) for row in rows]
            for row in rows:
                row.status = WITHDRAWN if row.notify_failure else WAITING
        passed = 0
        for office, service, starts_at in lapsed:
            slot = still_free(office, service, starts_at)
            if slot is not None and self.offer(slot) is not None:
                passed += 1
        return passed

    def to_notify(self, now: datetime) -> List[WaitingView]:
        """Offers not sent yet whose slot is still ahead (the scheduler sends each one once)."""
        with session_scope(self.url) as session:
            rows = session.execute(select(WaitingEntry).where(
                WaitingEntry.status == OFFERED, WaitingEntry.notified_at.is_(None),
                WaitingEntry.offered_slot > now).order_by(WaitingEntry.offered_at, WaitingEntry.id)).scalars().all()
            return [WaitingView.of(row) for row in rows]

    def claim_notice(self, entry_id: int) -> bool:
        """Take an offer for sending; False when it was already sent (or is being sent)."""
        with session_scope(self.url) as session:
            row = session.get(WaitingEntry, entry_id, with_for_update=True)
            if row is None or row.notified_at is not None:
                return False
            row.notified_at = self.clock()
            return True

    def notice_failed(self, entry_id: int, cause: Optional[str]) -> None:
        """The offer could not be sent: keep the cause, or (None) give it back for the next run."""
        with session_scope(self.url) as session:
            row = session.get(WaitingEntry, entry_id, with_for_update=True)
            if row is not None:
                if cause is None:
                    row.notified_at = None
                else:
                    row.notify_failure = cause[:40]

    def offered(self, entry_id: int, conversation_id: str) -> Optional[WaitingView]:
        """The citizen's own offer (never another conversation's)."""
        with session_scope(self.url) as session:
            row = session.get(WaitingEntry, entry_id)
            if row is None or row.conversation_id != conversation_id or row.status != OFFERED:
                return None
            return WaitingView.of(row)


def service_named(kb: KnowledgeBase, text: str) -> Optional[str]:
    """The service a citizen names in free text ("para empadronarme", "padró", "dependència"),
    by its names and those of its procedure, in any of our languages."""
    labels: dict = {}
    for service in kb.appointment_services.values():
        names = list(service.name.values()) + [s for words in service.synonyms.values() for s in words]
        procedure = kb.procedures.get(service.procedure or "")
        if procedure is not None:
            names += list(procedure.name.values()) + [s for words in procedure.synonyms.values() for s in words]
        for name in names:
            labels[fold(name)] = service.id
    found = sorted(names_in_text(fold(text), labels), key=lambda item: (-item[1], -len(item[0])))
    return labels[found[0][0]] if found else None


def encode_when(wanted: DateRequest) -> str:
    """A DateRequest as a slot value (JSON), and back with decode_when."""
    return json.dumps({key: value.isoformat() if isinstance(value, date) else value
                       for key, value in asdict(wanted).items() if value not in (None, False)})


def decode_when(value: Optional[str]) -> Optional[DateRequest]:
    if not value:
        return None
    data = json.loads(value)
    return DateRequest(**{key: date.fromisoformat(item) if key in ("day", "start", "end") else item
                          for key, item in data.items()})
