"""A fake external appointment system implementing docs/appointments-api.md: bearer token,
idempotency keys, 409 with alternatives, 404 for another citizen's appointment; plus injected
delays and error statuses, one per request, to test timeouts and retries."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Dict, List

from aiohttp import web

from tests.fakes.server import FakeServer


class FakeAppointmentSystem(FakeServer):
    def __init__(self, token: str, slots: List[Dict[str, str]]) -> None:
        self.token = token
        self.slots = slots  # {"office", "service", "starts_at", "ends_at"}
        self.appointments: Dict[int, Dict[str, Any]] = {}
        self.keys: Dict[str, int] = {}
        self.faults: List[Any] = []  # per request: an HTTP status to answer, or seconds to wait first
        self.requests = 0

    def routes(self, app: web.Application) -> None:
        app.middlewares.append(self._faults)
        app.router.add_get("/slots", self.free)
        app.router.add_post("/appointments", self.book)
        app.router.add_get("/appointments", self.upcoming)
        app.router.add_post("/appointments/{id}/{action}", self.act)

    def _taken(self, slot: Dict[str, str]) -> bool:
        return any(a["starts_at"] == slot["starts_at"] and a["office"] == slot["office"]
                   and a["service"] == slot["service"] and a["status"] != "cancelled"
                   for a in self.appointments.values())

    def _free(self, office: str, service: str) -> List[Dict[str, str]]:
        return [s for s in self.slots if s["office"] == office and s["service"] == service and not self._taken(s)]

    async def free(self, request: web.Request) -> web.Response:
        query = request.query
        found = [s for s in self._free(query["office"], query["service"])
                 if query["from"] <= s["starts_at"][:10] <= query["to"] and s["starts_at"] >= query["not_before"]]
        return web.json_response({"slots": found[:int(query.get("limit", 3))]})

    async def book(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers.get("Idempotency-Key")
        if key in self.keys:
            return web.json_response({"appointment": self.appointments[self.keys[key]]})
        wanted = next((s for s in self.slots if s["office"] == body["office"] and s["service"] == body["service"]
                       and s["starts_at"] == body["starts_at"]), None)
        if wanted is None or self._taken(wanted):
            return web.json_response({"error": "slot_taken",
                                      "alternatives": self._free(body["office"], body["service"])[:3]}, status=409)
        ident = len(self.appointments) + 1
        self.appointments[ident] = {"id": ident, **wanted, "citizen": body["citizen"], "reason": body.get("reason"),
                                    "status": "booked"}
        self.keys[key] = ident
        return web.json_response({"appointment": self.appointments[ident]}, status=201)

    async def upcoming(self, request: web.Request) -> web.Response:
        mine = [a for a in self.appointments.values() if a["citizen"]["reference"] == request.query["citizen"]
                and a["status"] in ("booked", "confirmed") and a["starts_at"] >= request.query["from"]]
        return web.json_response({"appointments": sorted(mine, key=lambda a: a["starts_at"])})

    async def act(self, request: web.Request) -> web.Response:
        body = await request.json()
        appointment = self.appointments.get(int(request.match_info["id"]))
        if appointment is None or appointment["citizen"]["reference"] != body["citizen"]["reference"]:
            return web.json_response({"error": "not_found"}, status=404)
        if appointment["status"] not in ("booked", "confirmed"):
            return web.json_response({"error": "not_upcoming"}, status=409)
        appointment["status"] = {"cancel": "cancelled", "confirm": "confirmed"}[request.match_info["action"]]
        return web.json_response({"appointment": appointment})

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The token check, then the next injected fault: an error answer, or a delay after which
        the request is handled anyway (a slow system that books after the caller gave up)."""
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, float):
                await asyncio.sleep(fault)
            else:
                return web.json_response({"error": "injected"}, status=fault)
        return await handler(request)


def slot(office: str, service: str, starts_at: datetime, minutes: int = 15) -> Dict[str, str]:
    return {"office": office, "service": service, "starts_at": starts_at.isoformat(timespec="minutes"),
            "ends_at": (starts_at + timedelta(minutes=minutes)).isoformat(timespec="minutes")}
