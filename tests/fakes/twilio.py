"""A local stand-in for Twilio's Messaging API and its webhooks, held to the documented contract.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded, HTTP basic auth with the
account SID and auth token) answers 201 with the message resource, or an error resource
`{"code", "message", "status"}`: 20003 for bad credentials, 21617 for a body over 1,600
characters, 63016 for free-form WhatsApp outside the 24-hour window, 21656 for an unknown
ContentSid. Media is served at `/media/<id>` with the same basic auth. Webhooks are signed like
Twilio's `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + sorted name/value pairs)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

from tests.fakes.server import FakeServer

WINDOW_SECONDS = 24 * 3600


def twilio_signature(auth_token: str, url: str, params: Dict[str, str]) -> str:
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@dataclass
class FakeTwilio(FakeServer):
    account_sid: str = "AC00000000000000000000000000000000"
    auth_token: str = "test-auth-token"
    content_sids: Tuple[str, ...] = ("HX0000000000000000000000000000reopen",)
    sent: List[Dict[str, str]] = field(default_factory=list)
    media: Dict[str, Tuple[str, bytes]] = field(default_factory=dict)
    last_inbound: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(r"/2010-04-01/Accounts/{sid}/Messages.json", self._messages)
        app.router.add_get(r"/media/{media_id}", self._media)

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == expected

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "status": status,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=status)

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        fields = dict(await request.post())
        if not fields.get("To") or not fields.get("From"):
            return self._error(400, 21604, "A 'To' phone number is required.")
        if "ContentSid" in fields:
            if fields["ContentSid"] not in self.content_sids:
                return self._error(400, 21656, "The ContentSid is invalid.")
        else:
            if not fields.get("Body") and not fields.get("MediaUrl"):
                return self._error(400, 21602, "Message body is required.")
            if len(fields.get("Body", "")) > 1600:
                return self._error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
            to = fields["To"]
            if to.startswith("whatsapp:") and time.time() - self.last_inbound.get(to, 0) > WINDOW_SECONDS:
                return self._error(400, 63016, "Failed to send freeform message because you are outside the "
                                               "allowed window.")
        sid = f"SM{next(self._ids):032d}"
        with self._lock:
            self.sent.append({**fields, "sid": sid})
        return web.json_response({"sid": sid, "status": "queued", "to": fields["To"], "from": fields["From"],
                                  "body": fields.get("Body", "")}, status=201)

    async def _media(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        mime, data = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=mime)

    # --- what a test looks at ----------------------------------------------------------------
    def sent_to(self, to: str) -> List[Dict[str, str]]:
        with self._lock:
            return [m for m in self.sent if m["To"] == to]

    # --- webhook side ------------------------------------------------------------------------
    def post(self, public_url: str, local_url: str, params: Dict[str, str], signature: Optional[str] = "valid",
             ) -> Tuple[int, str]:
        """POST a webhook as Twilio would: signed for the public URL, delivered to the local one."""
        data = urllib.parse.urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature == "valid":
            headers["X-Twilio-Signature"] = twilio_signature(self.auth_token, public_url, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(local_url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def message(self, sender: str, to: str, **fields: Any) -> Dict[str, str]:
        """An inbound message's parameters; a WhatsApp sender's window opens now."""
        if sender.startswith("whatsapp:"):
            self.last_inbound[sender] = time.time()
        params = {"MessageSid": f"SM{next(self._ids):032d}", "AccountSid": self.account_sid, "From": sender,
                  "To": to, "Body": "", "NumMedia": "0"}
        params.update({key: str(value) for key, value in fields.items()})
        return params
