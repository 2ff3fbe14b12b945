"""What the web chat and REST channels accept from the network, checked before Rasa sees anything.

- Sender ids: REST senders match SENDER (letters, digits, `_`, `.`, `-`; 1 to 64 characters) and
  live in their own namespace (`rest:<id>`); web chat conversations are `socketio:<id>`, where the
  id comes from a verified signed session id (vecina.web.session). No client can name another
  channel's conversation (`whatsapp:…`), nor another namespace's.
- Metadata: only keys on a channel's allow-list, each with a validated type, are kept; everything
  else is dropped before the message is built, so it is never stored. The widget sends no
  metadata and nothing our actions read from metadata may come from a browser or a REST client
  (`media`, `latitude`, `is_external`… are set only by the provider channels), so both
  allow-lists are empty today; a key added here needs a validator.
- Client address: the peer address, or with N trusted proxies in front (VECINA_RASA_TRUSTED_PROXIES)
  the Nth address from the right of X-Forwarded-For, as the proxies append it.
- Rate limits: fixed one-minute windows per conversation and per client address (`limits`), in
  Redis when VECINA_LOCK_STORE_URL is set (every Rasa replica shares the counts), in memory
  otherwise. Keys hold digests, never ids or addresses. A counting store that fails lets messages
  through (the lock store in the same Redis then fails the turn visibly) and logs the error type.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, Callable, Dict, Mapping, Optional

from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

logger = logging.getLogger(__name__)

SENDER = re.compile(r"[A-Za-z0-9_.-]{1,64}")
REST_PREFIX = "rest:"
WEBCHAT_PREFIX = "socketio:"
NAMESPACE = "vecina-rate"
NOTICES_PER_MINUTE = 1  # the "please slow down" message, at most once a minute per conversation
REDIS_TIMEOUT_SECONDS = 2

Validator = Callable[[Any], bool]
WEBCHAT_METADATA: Mapping[str, Validator] = {}
REST_METADATA: Mapping[str, Validator] = {}


def rest_conversation(sender: Any) -> Optional[str]:
    """The conversation id of a REST sender, or None when the sender id is not acceptable."""
    if isinstance(sender, str) and SENDER.fullmatch(sender):
        return REST_PREFIX + sender
    return None


def allowed_metadata(raw: Any, allowed: Mapping[str, Validator]) -> Dict[str, Any]:
    """The entries of `raw` whose key is allowed and whose value passes that key's validator."""
    if not isinstance(raw, Mapping):
        return {}
    return {key: value for key, value in raw.items() if key in allowed and allowed[key](value)}


def client_address(peer: Optional[str], forwarded_for: Optional[str], trusted_proxies: int) -> str:
    """Who sent the request: the peer, or the address the nearest trusted proxy saw."""
    if trusted_proxies and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return peer or "unknown"


def counter_store(url: Optional[str]) -> Storage:
    """Redis (shared by every replica) when a URL is given, else this process's memory."""
    if url:
        return storage_from_string(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                   socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
    return storage_from_string("memory://")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


class RateLimits:
    """Messages a minute per conversation and per client address, for one channel."""

    def __init__(self, channel: str, per_sender: int, per_address: int, storage_url: Optional[str] = None) -> None:
        self.channel = channel
        self.store = counter_store(storage_url)  # the limiter only keeps a weak reference to it
        self.limiter = FixedWindowRateLimiter(self.store)
        self.sender_limit = RateLimitItemPerMinute(per_sender, namespace=NAMESPACE)
        self.address_limit = RateLimitItemPerMinute(per_address, namespace=NAMESPACE)
        self.notice_limit = RateLimitItemPerMinute(NOTICES_PER_MINUTE, namespace=NAMESPACE)

    def _hit(self, limit: RateLimitItemPerMinute, kind: str, value: str) -> bool:
        try:
            return self.limiter.hit(limit, self.channel, kind, _digest(value))
        except Exception as error:  # noqa: BLE001 (fail open, see the module docstring)
            logger.warning("%s: rate limit store unavailable (%s); message let through", self.channel,
                           type(error).__name__)
            return True

    def allow(self, conversation_id: str, address: str) -> bool:
        """Count one message; False when the conversation or the address is over its limit."""
        return self._hit(self.sender_limit, "sender", conversation_id) and \
            self._hit(self.address_limit, "address", address)

    def notice_due(self, conversation_id: str) -> bool:
        """True at most once a minute per conversation: when to tell the citizen to slow down."""
        return self._hit(self.notice_limit, "notice", conversation_id)
