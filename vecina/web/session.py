"""Web chat session ids: issued by the server, signed, verified on every use.

- The page server issues each browser a random id (128 bits) signed with VECINA_WEBCHAT_SECRET
  (HMAC-SHA256 through itsdangerous); the widget keeps the signed id and sends it with every
  socket.io event.
- The socket.io channel accepts only ids whose signature verifies with the same secret, so
  knowing a conversation's id (staff see it in the console) is not enough to act in it; only the
  browser that received the signed id can. Changing the secret ends every web chat session.
- Ids carry no personal data and no expiry; `verify` never raises on input from the network.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any, Optional

from itsdangerous import BadSignature, Signer

SALT = "vecina.webchat.session"
RAW_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TOKEN_LENGTH = 128  # a signed id is 32 + 1 + 43 characters


class SessionSigner:
    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)

    def issue(self) -> str:
        """A new random session id, signed."""
        return self._signer.sign(secrets.token_hex(16)).decode("ascii")

    def verify(self, token: Any) -> Optional[str]:
        """The raw id inside a signed session id, or None when it is unsigned, forged or malformed."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH or not token.isascii():
            return None
        try:
            raw = self._signer.unsign(token).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        return raw if RAW_ID.match(raw) else None
