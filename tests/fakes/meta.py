"""A local stand-in for Meta's WhatsApp Cloud API, held to the documented contract.

The Graph API side accepts `POST /{version}/{phone_number_id}/messages` only with the bearer token,
checks every message against Meta's limits (error 100), refuses free-form messages outside the
24-hour customer-service window (error 131047) and unknown templates (error 132001), serves media
(`GET /{version}/{media_id}`, then the bytes with the token) and can be told to fail the next
requests. The webhook side builds notifications like Meta's, signs them with the app secret
(`X-Hub-Signature-256`) and posts them to the channel, remembering when each citizen last wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from tests.fakes.server import FakeServer

WINDOW_SECONDS = 24 * 3600


def limit_errors(message: Dict[str, Any]) -> List[str]:
    """Where a message breaks the Cloud API's documented limits (empty when it is valid)."""
    problems: List[str] = []
    if message.get("messaging_product") != "whatsapp" or not str(message.get("to", "")).isdigit():
        problems.append("messaging_product/to")
    kind = message.get("type")
    if kind == "text":
        body = message.get("text", {}).get("body", "")
        if not body or len(body) > 4096:
            problems.append("text.body length")
    elif kind == "interactive":
        interactive = message["interactive"]
        body = interactive.get("body", {}).get("text", "")
        if not body or len(body) > 1024:
            problems.append("interactive.body length")
        action = interactive.get("action", {})
        if interactive.get("type") == "button":
            buttons = action.get("buttons", [])
            titles = [b["reply"]["title"] for b in buttons]
            if not 1 <= len(buttons) <= 3:
                problems.append("1-3 reply buttons")
            if any(not t or len(t) > 20 for t in titles) or len(set(titles)) != len(titles):
                problems.append("button titles: 1-20 characters, unique")
            if any(not b["reply"]["id"] or len(b["reply"]["id"]) > 256 for b in buttons):
                problems.append("button id length")
        elif interactive.get("type") == "list":
            sections = action.get("sections", [])
            rows = [row for section in sections for row in section.get("rows", [])]
            if not action.get("button") or len(action["button"]) > 20:
                problems.append("list button text 1-20")
            if not 1 <= len(rows) <= 10:
                problems.append("1-10 rows")
            if len(sections) > 1 and any(not s.get("title") for s in sections):
                problems.append("section titles required with several sections")
            if any(not r.get("title") or len(r["title"]) > 24 for r in rows):
                problems.append("row title 1-24")
            if any(len(r.get("description", "")) > 72 for r in rows):
                problems.append("row description <= 72")
            ids = [r.get("id", "") for r in rows]
            if any(not i or len(i) > 200 for i in ids) or len(set(ids)) != len(ids):
                problems.append("row ids: 1-200 characters, unique")
        else:
            problems.append("interactive type")
    elif kind == "image":
        if not message.get("image", {}).get("link") and not message.get("image", {}).get("id"):
            problems.append("image link or id")
    elif kind != "template":
        problems.append(f"type {kind}")
    return problems


@dataclass
class FakeMeta(FakeServer):
    app_secret: str = "test-app-secret"
    access_token: str = "test-access-token"
    version: str = "v21.0"
    templates: Dict[str, int] = field(default_factory=lambda: {"vecina_reopen": 1, "appointment_reminder": 2})
    media: Dict[str, Tuple[str, bytes]] = field(default_factory=dict)  # media id -> (mime type, bytes)
    sent: List[Dict[str, Any]] = field(default_factory=list)
    refused: List[Tuple[int, Dict[str, Any]]] = field(default_factory=list)
    last_inbound: Dict[str, float] = field(default_factory=dict)
    failures: List[Tuple[int, Dict[str, Any]]] = field(default_factory=list)  # answers for the next requests
    times: List[float] = field(default_factory=list)  # when each accepted message arrived (rate checks)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- server ------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get(r"/download/{media_id}", self._download)  # before the pattern that matches it too
        app.router.add_post(r"/{version}/{number}/messages", self._messages)
        app.router.add_get(r"/{version}/{media_id}", self._media_info)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.access_token}"

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response({"error": {"message": message, "type": "OAuthException", "code": code,
                                            "error_data": {"messaging_product": "whatsapp", "details": message},
                                            "fbtrace_id": "fake"}}, status=status)

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 190, "Invalid OAuth access token")
        body = await request.json()
        with self._lock:
            if self.failures:
                status, error = self.failures.pop(0)
                self.refused.append((status, body))
                return web.json_response({"error": error}, status=status)
        problems = limit_errors(body)
        if problems:
            return self._refuse(400, 100, "; ".join(problems), body)
        if body["type"] == "template":
            template = body["template"]
            quick_replies = [c for c in template.get("components", []) if c.get("sub_type") == "quick_reply"]
            if template.get("name") not in self.templates or len(quick_replies) > self.templates[template["name"]]:
                return self._refuse(400, 132001, "Template name does not exist in the translation", body)
        elif time.time() - self.last_inbound.get(body["to"], 0) > WINDOW_SECONDS:
            return self._refuse(400, 131047, "Re-engagement message", body)
        wamid = f"wamid.fake{next(self._ids)}"
        with self._lock:
            self.sent.append({**body, "id": wamid, "phone_number_id": request.match_info["number"]})
            self.times.append(time.time())
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": body["to"],
                                  "wa_id": body["to"]}], "messages": [{"id": wamid}]})

    def _refuse(self, status: int, code: int, message: str, body: Dict[str, Any]) -> web.Response:
        with self._lock:
            self.refused.append((code, body))
        return self._error(status, code, message)

    async def _media_info(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 190, "Invalid OAuth access token")
        media_id = request.match_info["media_id"]
        if media_id not in self.media:
            return self._error(404, 100, "Unsupported get request")
        mime, data = self.media[media_id]
        return web.json_response({"messaging_product": "whatsapp", "url": f"{self.url}/download/{media_id}",
                                  "mime_type": mime, "sha256": hashlib.sha256(data).hexdigest(),
                                  "file_size": len(data), "id": media_id})

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        mime, data = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=mime)

    # --- what a test looks at ----------------------------------------------------------------
    def sent_to(self, wa_id: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [m for m in self.sent if m["to"] == wa_id]

    def wait_for(self, wa_id: str, count: int, seconds: float = 60) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            messages = self.sent_to(wa_id)
            if len(messages) >= count:
                return messages
            time.sleep(0.2)
        raise AssertionError(f"{wa_id}: {len(self.sent_to(wa_id))} messages after {seconds}s, expected {count}")

    # --- webhook side ------------------------------------------------------------------------
    def sign(self, body: bytes, secret: Optional[str] = None) -> str:
        return "sha256=" + hmac.new((secret or self.app_secret).encode(), body, hashlib.sha256).hexdigest()

    @staticmethod
    def notification(phone_number_id: str, messages: List[Dict[str, Any]] = (),
                     statuses: List[Dict[str, Any]] = ()) -> Dict[str, Any]:
        value: Dict[str, Any] = {"messaging_product": "whatsapp",
                                 "metadata": {"display_phone_number": "34960000000",
                                              "phone_number_id": phone_number_id}}
        if messages:
            value["contacts"] = [{"profile": {"name": "Vecino"}, "wa_id": m["from"]} for m in messages]
            value["messages"] = list(messages)
        if statuses:
            value["statuses"] = list(statuses)
        return {"object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]}

    def message(self, wa_id: str, kind: str, content: Dict[str, Any], at: Optional[float] = None,
                context: Optional[str] = None, message_id: Optional[str] = None) -> Dict[str, Any]:
        message = {"from": wa_id, "id": message_id or f"wamid.in{next(self._ids)}",
                   "timestamp": str(int(at if at is not None else time.time())), "type": kind, kind: content}
        if context:
            message["context"] = {"from": "34960000000", "id": context}
        return message

    def post(self, webhook: str, body: Any, signature: Optional[str] = "valid",
             raw: Optional[bytes] = None) -> Tuple[int, str]:
        """POST a notification as Meta would; `signature` None leaves the header out."""
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = self.sign(data)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        request = urllib.request.Request(webhook, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def deliver(self, webhook: str, phone_number_id: str, *messages: Dict[str, Any]) -> Tuple[int, str]:
        """A citizen's messages reach the channel; their 24-hour window opens at each message's time."""
        for message in messages:
            self.last_inbound[message["from"]] = max(self.last_inbound.get(message["from"], 0),
                                                     float(message["timestamp"]))
        return self.post(webhook, self.notification(phone_number_id, list(messages)))
