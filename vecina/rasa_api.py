"""Rasa's HTTP API, authenticated with a short-lived JWT in the Authorization header (never the
`?token=` query parameter, which ends up in access logs)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Dict, Optional
from urllib.parse import quote

import jwt

TOKEN_SECONDS = 120


def request_json(url: str, body: Optional[dict] = None, token: Optional[str] = None, timeout: float = 60) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode() or "null")


class RasaApi:
    def __init__(self, url: str, jwt_secret: Optional[str], username: str = "vecina", timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self.jwt_secret = jwt_secret
        self.username = username
        self.timeout = timeout

    def token(self) -> str:
        if not self.jwt_secret:
            raise RuntimeError("Rasa's HTTP API needs VECINA_RASA_JWT_SECRET")
        payload = {"user": {"username": self.username, "role": "admin"}, "exp": int(time.time()) + TOKEN_SECONDS}
        return jwt.encode(payload, self.jwt_secret, algorithm="HS256")

    def conversation_url(self, sender: str, path: str) -> str:
        return f"{self.url}/conversations/{quote(sender, safe=':+')}/{path}"

    def parse(self, text: str) -> Dict[str, Any]:
        """The NLU result for `text` (/model/parse), without touching any conversation."""
        return request_json(f"{self.url}/model/parse", {"text": text}, self.token(), self.timeout)

    def tracker(self, sender: str) -> Dict[str, Any]:
        return request_json(self.conversation_url(sender, "tracker"), token=self.token(), timeout=self.timeout)

    def trigger(self, sender: str, intent: str, output_channel: str,
                entities: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """A proactive turn (trigger_intent), its messages sent through `output_channel`."""
        return request_json(self.conversation_url(sender, f"trigger_intent?output_channel={quote(output_channel)}"),
                            {"name": intent, "entities": entities or {}}, self.token(), self.timeout)
