"""Proactive messages (appointment reminders, waiting-list offers) through Rasa's trigger_intent.

Each one is recorded before it goes out, so a repeated run sends nothing twice. They leave at the
configured rate (the provider's limit), several conversations at a time, one message at a time per
conversation: that is what lets the outbound store tell which message carried which reminder.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import urllib.error
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Dict, List, Optional, Sequence, Union

from sqlalchemy import select

from vecina.channels.outbound import FAILED, OutboundStore
from vecina.db import session_scope
from vecina.db.models import Appointment
from vecina.rasa_api import RasaApi
from vecina.services.appointments import UPCOMING, WaitingList, WaitingView
from vecina.services.reminders import ReminderLog

logger = logging.getLogger(__name__)

REMINDER_INTENT, OFFER_INTENT = "EXTERNAL_appointment_reminder", "EXTERNAL_waiting_list_offer"
REMINDER_RESPONSES = ("utter_appointment_reminder", "utter_appointment_reminder_documents")
OFFER_RESPONSES = ("utter_waiting_list_offer",)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
# Channels that can reach a citizen who is not writing at the moment, by conversation id prefix.
PUSH_CHANNELS = {"whatsapp": "whatsapp", "telegram": "telegram", "twilio": "twilio"}
NO_CONTACT, INVALID_PHONE, NO_ANSWER, ASSISTANT_UNAVAILABLE = (
    "no_contact", "invalid_phone", "not_sent", "assistant_unavailable")
SENT_OUTCOME, ALREADY = "sent", "already"


@dataclass(frozen=True)
class Route:
    conversation_id: str
    output_channel: str


def route(conversation_id: str, phone: Optional[str], sms_enabled: bool) -> Union[Route, str]:
    """Where a proactive message to this citizen goes, or why it cannot go anywhere.

    WhatsApp, Telegram and Twilio (SMS, WhatsApp) conversations are answered where they are. A
    citizen who booked by phone call, on the web page or through the REST API gets an SMS when a
    phone number is known and SMS is configured."""
    prefix, _, rest = conversation_id.partition(":")
    if prefix in PUSH_CHANNELS:
        number = rest.rsplit(":", 1)[-1]
        if prefix == "telegram":
            return Route(conversation_id, "telegram") if number.lstrip("-").isdigit() else INVALID_PHONE
        return Route(conversation_id, PUSH_CHANNELS[prefix]) if E164.match(number) else INVALID_PHONE
    if not phone:
        return NO_CONTACT
    if not E164.match(phone):
        return INVALID_PHONE
    return Route(f"twilio:{phone}", "twilio") if sms_enabled else NO_CONTACT


class RateLimit:
    """At most `per_second` starts per second, shared by every worker thread."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class DispatchResult:
    day: Optional[date] = None
    due: int = 0  # appointments (or offers) that should get a message
    sent: int = 0
    already: int = 0  # sent by an earlier run
    failed: Dict[str, int] = field(default_factory=Counter)  # cause -> count
    retry_later: int = 0  # the assistant did not answer: the next run sends them
    seconds: float = 0.0

    def add(self, outcome: str, count: int = 1) -> None:
        if outcome == SENT_OUTCOME:
            self.sent += count
        elif outcome == ALREADY:
            self.already += count
        elif outcome == ASSISTANT_UNAVAILABLE:
            self.retry_later += count
        else:
            self.failed[outcome] += count

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def lines(self) -> List[str]:
        failures = ", ".join(f"{cause} {count}" for cause, count in sorted(self.failed.items())) or "none"
        return [f"due: {self.due}", f"sent: {self.sent}", f"already sent by an earlier run: {self.already}",
                f"not sent: {sum(self.failed.values())} ({failures})",
                f"to retry (assistant unavailable): {self.retry_later}",
                f"time: {self.seconds:.1f} s ({self.per_second:.1f} per second)"]


@dataclass(frozen=True)
class Due:
    """One appointment due a reminder."""

    appointment_id: int
    conversation_id: str
    channel: str
    phone: Optional[str]
    language: str


def due_on(database_url: str, day: date) -> List[Due]:
    """The appointments of `day` that are still on (booked or confirmed)."""
    first = datetime.combine(day, datetime.min.time())
    with session_scope(database_url) as session:
        rows = session.execute(select(Appointment).where(
            Appointment.starts_at >= first, Appointment.starts_at < first + timedelta(days=1),
            Appointment.status.in_(UPCOMING)).order_by(Appointment.starts_at, Appointment.id)).scalars().all()
        return [Due(r.id, r.conversation_id, r.channel, r.phone, r.language) for r in rows]


class Dispatcher:
    def __init__(self, database_url: str, rasa: RasaApi, reminders: ReminderLog, waiting: WaitingList,
                 answer_window: timedelta, sms_enabled: bool, per_second: float = 20, workers: int = 4) -> None:
        self.url = database_url
        self.rasa = rasa
        self.reminders = reminders
        self.waiting = waiting
        self.answer_window = answer_window
        self.sms_enabled = sms_enabled
        self.per_second = per_second
        self.workers = workers
        self.outbound = OutboundStore(database_url)

    def _trigger(self, target: Route, intent: str, entities: Dict[str, str], responses: Sequence[str],
                 limit: RateLimit) -> Union[Dict[str, object], str]:
        """Trigger the intent and find the message it sent: {id, status, error_code}, or why not:
        ASSISTANT_UNAVAILABLE (nothing happened, try again) or NO_ANSWER (Rasa sent nothing)."""
        marker = self.outbound.last_id(target.conversation_id)
        limit.wait()
        try:
            self.rasa.trigger(target.conversation_id, intent, target.output_channel, entities)
        except urllib.error.HTTPError as error:
            logger.error("dispatch: %s refused by the assistant (HTTP %s)", intent, error.code)
            if error.code >= 500:
                carried = self.outbound.sent_since(target.conversation_id, marker, responses)
                return carried or ASSISTANT_UNAVAILABLE
            return NO_ANSWER
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as error:
            logger.error("dispatch: the assistant did not answer %s (%s)", intent, type(error).__name__)
            carried = self.outbound.sent_since(target.conversation_id, marker, responses)
            return carried or ASSISTANT_UNAVAILABLE
        return self.outbound.sent_since(target.conversation_id, marker, responses) or NO_ANSWER

    def _run(self, groups: Dict[str, List[Callable[[RateLimit], str]]]) -> Counter:
        """Run each conversation's jobs in order, conversations in parallel; count the outcomes."""
        limit, outcomes, lock = RateLimit(self.per_second), Counter(), threading.Lock()

        def conversation(jobs: List[Callable[[RateLimit], str]]) -> None:
            for job in jobs:
                try:
                    outcome = job(limit)
                except Exception as error:  # one citizen's problem never stops the run
                    # the type only: database errors carry their parameters (conversation ids, numbers)
                    logger.error("dispatch: a message could not be handled (%s)", type(error).__name__)
                    outcome = "error"
                with lock:
                    outcomes[outcome] += 1

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for jobs in groups.values():
                pool.submit(conversation, jobs)
        return outcomes

    def send_reminders(self, day: date) -> DispatchResult:
        """Remind every appointment of `day` once."""
        started, result = time.monotonic(), DispatchResult(day)
        groups: Dict[str, List[Callable[[RateLimit], str]]] = defaultdict(list)
        for due in due_on(self.url, day):
            result.due += 1
            target = route(due.conversation_id, due.phone, self.sms_enabled)
            key = target.conversation_id if isinstance(target, Route) else due.conversation_id
            groups[key].append(lambda limit, due=due, target=target: self._remind(due, target, limit))
        for outcome, count in self._run(groups).items():
            result.add(outcome, count)
        result.seconds = time.monotonic() - started
        return result

    def _remind(self, due: Due, target: Union[Route, str], limit: RateLimit) -> str:
        conversation = target.conversation_id if isinstance(target, Route) else due.conversation_id
        channel = target.output_channel if isinstance(target, Route) else due.channel
        reminder_id = self.reminders.claim(due.appointment_id, conversation, channel)
        if reminder_id is None:
            return ALREADY
        if not isinstance(target, Route):
            self.reminders.failed(reminder_id, target)
            return target
        carried = self._trigger(target, REMINDER_INTENT, {"appointment_id": str(due.appointment_id),
                                                          "language": due.language}, REMINDER_RESPONSES, limit)
        if carried == ASSISTANT_UNAVAILABLE:
            self.reminders.release(reminder_id)
            return ASSISTANT_UNAVAILABLE
        if isinstance(carried, str):
            self.reminders.failed(reminder_id, carried)
            return carried
        if carried["status"] == FAILED:
            cause = f"{channel}:{carried['error_code'] or 'unknown'}"
            self.reminders.failed(reminder_id, cause)
            return cause
        self.reminders.sent(reminder_id, self.answer_window, int(carried["id"]))
        return SENT_OUTCOME

    def send_offers(self, now: datetime) -> DispatchResult:
        """Tell each citizen on the waiting list who was offered a freed slot, once."""
        started, result = time.monotonic(), DispatchResult()
        groups: Dict[str, List[Callable[[RateLimit], str]]] = defaultdict(list)
        for offer in self.waiting.to_notify(now):
            result.due += 1
            groups[offer.conversation_id].append(lambda limit, offer=offer: self._offer(offer, limit))
        for outcome, count in self._run(groups).items():
            result.add(outcome, count)
        result.seconds = time.monotonic() - started
        return result

    def _offer(self, offer: WaitingView, limit: RateLimit) -> str:
        if not self.waiting.claim_notice(offer.id):
            return ALREADY
        target = route(offer.conversation_id, None, self.sms_enabled)
        if not isinstance(target, Route):
            self.waiting.notice_failed(offer.id, target)
            return target
        carried = self._trigger(target, OFFER_INTENT, {"waiting_id": str(offer.id), "language": offer.language},
                                OFFER_RESPONSES, limit)
        if carried == ASSISTANT_UNAVAILABLE:
            self.waiting.notice_failed(offer.id, None)
            return ASSISTANT_UNAVAILABLE
        failure = carried if isinstance(carried, str) else (
            f"{target.output_channel}:{carried['error_code'] or 'unknown'}" if carried["status"] == FAILED else None)
        if failure:
            self.waiting.notice_failed(offer.id, failure)
        return failure or SENT_OUTCOME
