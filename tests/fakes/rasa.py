"""A fake of Rasa's HTTP API as the console uses it: trigger_intent, authenticated the way Rasa
3.6 does it (a Bearer JWT, HS256, whose user has the admin role; 401 otherwise)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional

import jwt
from aiohttp import web

from tests.fakes.server import FakeServer


class FakeRasaApi(FakeServer):
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.triggers: List[Dict[str, Any]] = []
        self.failures: List[int] = []  # statuses to answer with, one per request, before succeeding
        self.delay = 0.0
        self.on_trigger: Optional[Callable[[Dict[str, Any]], None]] = None  # what the output channel would do

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/conversations/{sender}/trigger_intent", self.trigger)

    async def trigger(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            user = jwt.decode(header.removeprefix("Bearer "), self.secret, algorithms=["HS256"])["user"]
        except (jwt.InvalidTokenError, KeyError):
            return web.json_response({"status": "failure", "reason": "NotAuthenticated"}, status=401)
        if "token" in request.query or user.get("role") != "admin":
            return web.json_response({"status": "failure", "reason": "NotAuthorized"}, status=403)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            return web.json_response({"status": "failure"}, status=self.failures.pop(0))
        body = await request.json()
        self.triggers.append({"sender": request.match_info["sender"], "intent": body["name"],
                              "entities": body.get("entities") or {},
                              "output_channel": request.query.get("output_channel")})
        if self.on_trigger is not None:
            self.on_trigger(self.triggers[-1])
        return web.json_response({"tracker": {}, "messages": []})
