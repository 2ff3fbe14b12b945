"""The scheduler process (`vecina serve scheduler`; `make run` starts it too).

Every tick (VECINA_SCHEDULER_TICK_SECONDS) it expires the reminders nobody answered in time,
passes on the waiting-list offers nobody took in time, and sends the offers of freed slots; once
a day, from VECINA_REMINDERS_AT (municipal time), it sends the reminders of the next day's
appointments. Everything it sends is recorded
first, so a restart or a second run sends nothing twice. It needs Rasa's HTTP API (JWT).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import date, datetime, time, timedelta
from typing import Callable, List, Optional

from sqlalchemy.exc import SQLAlchemyError

from vecina.kb.store import KbReader, KbSource
from vecina.rasa_api import RasaApi
from vecina.services.appointments import BackendUnavailable, Slot, WaitingList, appointment_backend
from vecina.services.dates import DateRequest
from vecina.services.dispatch import Dispatcher
from vecina.services.reminders import ReminderLog, municipal_clock
from vecina.settings import Settings, get_settings

logger = logging.getLogger("vecina.scheduler")


def build_dispatcher(settings: Settings, kb: KbSource, clock: Optional[Callable[[], datetime]] = None,
                     per_second: Optional[float] = None) -> Dispatcher:
    clock = clock or municipal_clock(kb)
    answer_window = timedelta(minutes=kb.current().booking.reminder_answer_minutes)
    return Dispatcher(settings.database_url, RasaApi(settings.rasa_api_url, settings.rasa_jwt_secret, "scheduler"),
                      ReminderLog(settings.database_url, clock), WaitingList(settings.database_url, clock),
                      answer_window, sms_enabled=bool(settings.twilio_sms_from and settings.twilio_account_sid),
                      per_second=per_second or settings.reminders_per_second, workers=settings.reminders_workers)


class Scheduler:
    def __init__(self, settings: Settings, kb: KbSource, clock: Optional[Callable[[], datetime]] = None) -> None:
        self.clock = clock or municipal_clock(kb)
        self.dispatcher = build_dispatcher(settings, kb, self.clock)
        self.kb = kb
        self.agenda = appointment_backend(settings, kb)
        self.reminders_at = time.fromisoformat(settings.reminders_at)
        self.reminded_for: Optional[date] = None

    def tick(self) -> List[str]:
        """One round; what it did, for the log (counts only: no citizen data)."""
        now, done = self.clock(), []
        expired = self.dispatcher.reminders.expire_due()
        if expired:
            done.append(f"{expired} reminders expired unanswered")
        passed = self.dispatcher.waiting.pass_on(
            now, timedelta(minutes=self.kb.current().booking.offer_answer_minutes), self.still_free)
        if passed:
            done.append(f"{passed} waiting-list offers passed on to the next person")
        offers = self.dispatcher.send_offers(now)
        if offers.due:
            done.append(f"waiting-list offers: {offers.sent} sent of {offers.due}")
        tomorrow = now.date() + timedelta(days=1)
        if now.time() >= self.reminders_at and self.reminded_for != tomorrow:
            result = self.dispatcher.send_reminders(tomorrow)
            done.append(f"reminders for {tomorrow}: " + "; ".join(result.lines()))
            if not result.retry_later:
                self.reminded_for = tomorrow
        return done

    def still_free(self, office: str, service: str, starts_at: datetime) -> Optional[Slot]:
        """The slot at `starts_at` if it can still be booked (None when taken, too close, or the
        appointment system does not answer)."""
        try:
            free = self.agenda.free_slots(office, service, DateRequest(day=starts_at.date()), self.clock(), 1000)
        except (BackendUnavailable, KeyError):  # KeyError: an office or service no longer in the kb
            return None
        return next((slot for slot in free if slot.starts_at == starts_at), None)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vecina.scheduler", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if not settings.rasa_jwt_secret:
        logger.error("the scheduler sends through Rasa's HTTP API: set VECINA_RASA_ENABLE_API and "
                     "VECINA_RASA_JWT_SECRET (docs/deployment.md)")
        return 2
    try:
        scheduler = Scheduler(settings, KbReader(settings.database_url))
    except SQLAlchemyError as error:
        logger.error("the scheduler cannot read its database (%s): check VECINA_DATABASE_URL and that "
                     "'vecina kb load' has run", type(error).__name__)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logger.info("scheduler started: reminders from %s, every %.0f s", settings.reminders_at,
                settings.scheduler_tick_seconds)
    while not stop.is_set():
        try:
            for line in scheduler.tick():
                logger.info(line)
        except Exception as error:  # a database or kb hiccup: the next tick tries again
            logger.error("scheduler tick failed (%s); trying again at the next tick", type(error).__name__)
        stop.wait(settings.scheduler_tick_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
