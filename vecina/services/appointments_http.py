"""An external appointment system (the town hall's own cita previa product) behind the JSON
contract in docs/appointments-api.md.

Every call has a timeout; throttling, 5xx and network errors are retried with backoff. Booking
carries an idempotency key, so a retry after a lost answer never books twice. When the system
still does not answer, BackendUnavailable, never a false "confirmed": after error answers nothing
was done; after lost answers to a change (`uncertain`) the citizen is told it could not be
confirmed, and the same key later finds out.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional
from urllib.parse import quote, urlencode

from vecina.services.appointments import (AppointmentBackend, AppointmentView, BackendUnavailable, Citizen, NotFound,
                                          Slot, SlotTaken)
from vecina.services.dates import DateRequest

logger = logging.getLogger(__name__)
RETRIED_STATUSES = (429, 500, 502, 503, 504)


class HttpBackend(AppointmentBackend):
    def __init__(self, base_url: str, token: str, timeout: float = 8.0, attempts: int = 3,
                 backoff: float = 0.5, horizon_days: int = 45) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.horizon_days = horizon_days

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
              idempotency_key: Optional[str] = None) -> Any:
        """The decoded answer; NotFound on 404; (status, body) of a 409 as SlotTaken's input."""
        data = json.dumps(body).encode() if body is not None else None
        uncertain = False
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers={
                "Authorization": f"Bearer {self.token}", "Accept": "application/json",
                "Content-Type": "application/json"})
            if idempotency_key:
                request.add_header("Idempotency-Key", idempotency_key)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return json.loads(answer.read().decode() or "null")
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    raise NotFound() from None
                if error.code == 409:
                    return {"conflict": json.loads(error.read().decode() or "{}")}
                if error.code not in RETRIED_STATUSES:
                    logger.error("appointment system: %s %s answered %s", method, path.split("?")[0], error.code)
                    raise BackendUnavailable(f"HTTP {error.code}") from None
                problem = f"HTTP {error.code}"
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, ValueError) as error:
                problem = type(error).__name__
                refused = isinstance(getattr(error, "reason", None), ConnectionRefusedError)
                uncertain = uncertain or (method != "GET" and not refused)  # it may have arrived
            logger.warning("appointment system: %s %s failed (%s), attempt %d of %d", method, path.split("?")[0],
                           problem, attempt, self.attempts)
            if attempt < self.attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise BackendUnavailable(problem, uncertain)

    @staticmethod
    def _slot(item: Dict[str, Any]) -> Slot:
        return Slot(str(item["office"]), str(item["service"]), datetime.fromisoformat(item["starts_at"]),
                    datetime.fromisoformat(item["ends_at"]))

    @staticmethod
    def _appointment(item: Dict[str, Any]) -> AppointmentView:
        return AppointmentView(int(item["id"]), str(item["office"]), str(item["service"]),
                               datetime.fromisoformat(item["starts_at"]), datetime.fromisoformat(item["ends_at"]),
                               str(item["citizen"]["reference"]), str(item["citizen"].get("channel") or ""),
                               str(item["citizen"].get("language") or "es"), str(item["status"]), item.get("reason"))

    def free_slots(self, office: str, service: str, wanted: Optional[DateRequest], now: datetime,
                   limit: int = 3) -> List[Slot]:
        first: date = now.date()
        last: date = first + timedelta(days=self.horizon_days)
        if wanted is not None and wanted.day is not None:
            first = last = wanted.day
        elif wanted is not None and wanted.start is not None:
            first, last = max(wanted.start, first), min(wanted.end or last, last)
        query = {"office": office, "service": service, "from": first.isoformat(), "to": last.isoformat(),
                 "limit": limit, "not_before": now.isoformat(timespec="minutes")}
        if wanted is not None and wanted.part_of_day:
            query["part_of_day"] = wanted.part_of_day
        answer = self._call("GET", f"/slots?{urlencode(query)}")
        return [self._slot(item) for item in answer["slots"]][:limit]

    def book(self, slot: Slot, citizen: Citizen, reason: Optional[str], request_key: str,
             now: datetime) -> AppointmentView:
        answer = self._call("POST", "/appointments", {
            "office": slot.office, "service": slot.service, "starts_at": slot.starts_at.isoformat(timespec="minutes"),
            "citizen": {"reference": citizen.conversation_id, "channel": citizen.channel,
                        "language": citizen.language, "phone": citizen.phone},
            "reason": reason, "request_key": request_key}, idempotency_key=request_key)
        if "conflict" in answer:
            raise SlotTaken([self._slot(item) for item in answer["conflict"].get("alternatives") or []])
        return self._appointment(answer["appointment"])

    def upcoming(self, conversation_id: str, now: datetime) -> List[AppointmentView]:
        query = urlencode({"citizen": conversation_id, "from": now.isoformat(timespec="minutes")})
        return [self._appointment(item) for item in self._call("GET", f"/appointments?{query}")["appointments"]]

    def _act(self, appointment_id: int, conversation_id: str, action: str) -> AppointmentView:
        answer = self._call("POST", f"/appointments/{quote(str(appointment_id))}/{action}",
                            {"citizen": {"reference": conversation_id}})
        if "conflict" in answer:  # no longer upcoming (cancelled meanwhile, or in the past)
            raise NotFound()
        return self._appointment(answer["appointment"])

    def cancel(self, appointment_id: int, conversation_id: str, now: datetime) -> AppointmentView:
        return self._act(appointment_id, conversation_id, "cancel")

    def confirm(self, appointment_id: int, conversation_id: str, now: datetime) -> AppointmentView:
        return self._act(appointment_id, conversation_id, "confirm")
