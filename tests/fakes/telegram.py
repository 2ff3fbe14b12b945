"""A local stand-in for the Telegram Bot API, held to the documented contract.

`POST /bot<token>/<method>` answers `{"ok": true, "result": …}` or `{"ok": false, "error_code",
"description"}` like the real API: a wrong token is 401, a text over 4,096 characters or a
callback_data over 64 bytes is 400. Files are served by `getFile` and `/file/bot<token>/<path>`.
The webhook side posts updates with the `X-Telegram-Bot-Api-Secret-Token` header.
"""

from __future__ import annotations

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


def limit_errors(method: str, payload: Dict[str, Any]) -> List[str]:
    problems = []
    if method == "sendMessage":
        if not 1 <= len(payload.get("text", "")) <= 4096:
            problems.append("text must be 1-4096 characters")
        for row in (payload.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if not button.get("text") or not 1 <= len(button.get("callback_data", "").encode()) <= 64:
                    problems.append("inline button: text, callback_data 1-64 bytes")
    return problems


@dataclass
class FakeTelegram(FakeServer):
    token: str = "123456:test-token"
    secret_token: str = "test-secret-token"
    calls: List[Tuple[str, Dict[str, Any]]] = field(default_factory=list)
    files: Dict[str, Tuple[str, bytes]] = field(default_factory=dict)  # file id -> (path, bytes)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)

    def routes(self, app: web.Application) -> None:
        app.router.add_get(r"/file/bot{token}/{path:.+}", self._file)
        app.router.add_post(r"/bot{token}/{method}", self._method)

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method, payload = request.match_info["method"], await request.json()
        problems = limit_errors(method, payload)
        if problems:
            return self._error(400, "Bad Request: " + "; ".join(problems))
        sent_id = next(self._ids)
        with self._lock:  # what was sent, with the message_id the API gave it
            self.calls.append((method, {**payload, "message_id": sent_id} if method.startswith("send") else payload))
        if method in ("sendMessage", "sendPhoto"):
            return web.json_response({"ok": True, "result": {"message_id": sent_id,
                                                             "chat": {"id": payload["chat_id"]}}})
        if method == "getFile":
            if payload["file_id"] not in self.files:
                return self._error(400, "Bad Request: invalid file_id")
            path, data = self.files[payload["file_id"]]
            return web.json_response({"ok": True, "result": {"file_id": payload["file_id"], "file_path": path,
                                                             "file_size": len(data)}})
        return web.json_response({"ok": True, "result": True})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for path, data in self.files.values():
            if path == request.match_info["path"]:
                return web.Response(body=data)
        return web.Response(status=404)

    # --- what a test looks at ----------------------------------------------------------------
    def sent_to(self, chat: int, method: Optional[str] = None) -> List[Dict[str, Any]]:
        with self._lock:
            return [p for m, p in self.calls if p.get("chat_id") == chat and (method is None or m == method)]

    def called(self, method: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [p for m, p in self.calls if m == method]

    def wait_for(self, chat: int, count: int, seconds: float = 60) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.sent_to(chat)) >= count:
                return self.sent_to(chat)
            time.sleep(0.2)
        raise AssertionError(f"chat {chat}: {len(self.sent_to(chat))} messages after {seconds}s, expected {count}")

    # --- webhook side ------------------------------------------------------------------------
    def update(self, chat: int, sender: Optional[int] = None, chat_type: str = "private",
               language_code: Optional[str] = None, **content: Any) -> Dict[str, Any]:
        """An update as Telegram sends it. In a private chat the chat id is the sender's user id; a
        group's or a supergroup's is negative and shared by its members (`sender` is the member)."""
        update_id = next(self._ids)
        if "callback_query" in content:
            return {"update_id": update_id, "callback_query": content["callback_query"]}
        person: Dict[str, Any] = {"id": chat if sender is None else sender, "is_bot": False, "first_name": "Ana"}
        if language_code:
            person["language_code"] = language_code
        chat_info: Dict[str, Any] = {"id": chat, "type": chat_type}
        if chat_type != "private":
            chat_info["title"] = "Veïns del barri"
        message = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat_info, "from": person,
                   **content}
        return {"update_id": update_id, "message": message}

    def post(self, webhook: str, body: Any, secret: Optional[str] = "valid", raw: Optional[bytes] = None) -> int:
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.secret_token if secret == "valid" else secret
        request = urllib.request.Request(webhook, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
