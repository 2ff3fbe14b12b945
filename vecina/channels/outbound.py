"""Messages to citizens: recorded before they are sent, retried on transient provider errors,
updated by the provider's delivery receipts.

Receipts arrive out of order and some are skipped ("delivered" may never come before "read"), so
a receipt only ever moves a message forward: sending → sent → delivered → read; "failed" is final
and keeps the provider's error code. Each step's time is kept for the reports.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

import aiohttp
from sqlalchemy import func, select

from vecina.db import session_scope, utcnow
from vecina.db.models import OutboundMessage

logger = logging.getLogger(__name__)

HELD, SENDING, SENT, DELIVERED, READ, FAILED = "held", "sending", "sent", "delivered", "read", "failed"
RANK = {HELD: 0, SENDING: 1, SENT: 2, DELIVERED: 3, READ: 4, FAILED: 5}
STEP_TIME = {SENT: "sent_at", DELIVERED: "delivered_at", READ: "read_at", FAILED: "failed_at"}


class SendError(Exception):
    """A provider refused a message. `transient` errors (throttling, 5xx, network) are retried."""

    def __init__(self, code: str, transient: bool) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient


# What a send can fail with before the provider's answer is read.
SEND_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, OSError, ValueError, KeyError, IndexError)


def send_failure(error: BaseException) -> SendError:
    """A send that failed without the provider's answer. One that never reached the provider (no
    connection) is retried. One that may have reached it (a timeout, a dropped connection, an
    unreadable answer) is not: WhatsApp Cloud, the Telegram Bot API and Twilio's Messages API take
    no idempotency key, and a citizen must not get a message twice (at most once, docs/security.md)."""
    if isinstance(error, aiohttp.ClientConnectorError):
        return SendError(type(error).__name__, True)
    return SendError(f"uncertain:{type(error).__name__}", False)


@dataclass(frozen=True)
class Outgoing:
    id: int
    channel: str
    conversation_id: str
    kind: str
    content: Dict[str, Any]


@dataclass
class RetryPolicy:
    attempts: int = 4
    first_delay: float = 0.5  # seconds, doubled after each failure


class OutboundStore:
    def __init__(self, database_url: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = database_url
        self.clock = clock

    def record(self, channel: str, conversation_id: str, kind: str, content: Dict[str, Any],
               response: Optional[str] = None, status: str = SENDING) -> Outgoing:
        with session_scope(self.url) as session:
            row = OutboundMessage(channel=channel, conversation_id=conversation_id, kind=kind, content=content,
                                  response=response, status=status, attempts=0, created_at=self.clock())
            session.add(row)
            session.flush()
            return Outgoing(row.id, channel, conversation_id, kind, content)

    def get(self, message_id: int) -> Optional[Outgoing]:
        with session_scope(self.url) as session:
            row = session.get(OutboundMessage, message_id)
            return None if row is None else Outgoing(row.id, row.channel, row.conversation_id, row.kind,
                                                     dict(row.content))

    def by_provider_id(self, channel: str, provider_id: str) -> Optional[Outgoing]:
        if not provider_id:
            return None
        with session_scope(self.url) as session:
            row = session.execute(select(OutboundMessage).where(
                OutboundMessage.channel == channel, OutboundMessage.provider_id == provider_id)).scalar_one_or_none()
            return None if row is None else Outgoing(row.id, row.channel, row.conversation_id, row.kind,
                                                     dict(row.content))

    def sent(self, message_id: int, provider_id: str, attempts: int) -> None:
        with session_scope(self.url) as session:
            row = session.get(OutboundMessage, message_id)
            row.provider_id, row.attempts = provider_id, attempts
            if RANK[row.status] < RANK[SENT]:
                row.status, row.sent_at = SENT, self.clock()

    def failed(self, message_id: int, code: str, attempts: int) -> None:
        with session_scope(self.url) as session:
            row = session.get(OutboundMessage, message_id)
            row.status, row.error_code, row.attempts, row.failed_at = FAILED, code[:40], attempts, self.clock()

    def receipt(self, channel: str, provider_id: str, status: str, at: datetime,
                error_code: Optional[str] = None) -> Optional[int]:
        """Apply a provider's delivery receipt; the message's id, None when no message of ours has
        that provider id. Queued/sending/accepted receipts change nothing."""
        with session_scope(self.url) as session:
            row = session.execute(select(OutboundMessage).where(
                OutboundMessage.channel == channel, OutboundMessage.provider_id == provider_id)).scalar_one_or_none()
            if row is None:
                return None
            column = STEP_TIME.get(status)
            if column is None:
                return row.id
            if getattr(row, column) is None:
                setattr(row, column, at)
            if status == FAILED:
                row.error_code = (error_code or row.error_code or "")[:40] or None
            if row.status != FAILED and RANK[status] > RANK[row.status]:
                row.status = status
            return row.id

    def last_id(self, conversation_id: str) -> int:
        """The newest message recorded for a conversation (0 when none): a marker for `sent_since`."""
        with session_scope(self.url) as session:
            return session.execute(select(func.max(OutboundMessage.id)).where(
                OutboundMessage.conversation_id == conversation_id)).scalar() or 0

    def recorded_since(self, conversation_id: str, since: datetime, kind: Optional[str] = None,
                       response: Optional[str] = None) -> int:
        """How many messages (of a kind, or of a response) were recorded for a conversation since
        `since`, whatever became of them: the limits on refusals and texts to callers."""
        query = select(func.count(OutboundMessage.id)).where(OutboundMessage.conversation_id == conversation_id,
                                                             OutboundMessage.created_at >= since)
        if kind is not None:
            query = query.where(OutboundMessage.kind == kind)
        if response is not None:
            query = query.where(OutboundMessage.response == response)
        with session_scope(self.url) as session:
            return session.execute(query).scalar() or 0

    def sent_since(self, conversation_id: str, after_id: int, responses: Sequence[str]) -> Optional[Dict[str, Any]]:
        """What became of a response (any of `responses`) sent to a conversation after the marker:
        the last of its messages (id, status, error_code), failed if any of them failed; None if
        none was recorded."""
        with session_scope(self.url) as session:
            rows = session.execute(select(OutboundMessage).where(
                OutboundMessage.conversation_id == conversation_id, OutboundMessage.id > after_id,
                OutboundMessage.response.in_(responses)).order_by(OutboundMessage.id)).scalars().all()
            if not rows:
                return None
            failed = next((row for row in rows if row.status == FAILED), None)
            row = failed or rows[-1]
            return {"id": row.id, "status": row.status, "error_code": row.error_code}

    def held(self, conversation_id: str) -> List[Outgoing]:
        """Messages waiting for the citizen to reopen the 24-hour window, oldest first."""
        with session_scope(self.url) as session:
            rows = session.execute(select(OutboundMessage).where(
                OutboundMessage.conversation_id == conversation_id, OutboundMessage.status == HELD)
                .order_by(OutboundMessage.id)).scalars().all()
            return [Outgoing(r.id, r.channel, r.conversation_id, r.kind, dict(r.content)) for r in rows]

    def release(self, message_id: int) -> bool:
        """Take a held message for sending; False when another worker already did."""
        with session_scope(self.url) as session:
            row = session.get(OutboundMessage, message_id, with_for_update=True)
            if row is None or row.status != HELD:
                return False
            row.status = SENDING
            return True

    def status(self, message_id: int) -> Dict[str, Any]:
        with session_scope(self.url) as session:
            row = session.get(OutboundMessage, message_id)
            return {"status": row.status, "error_code": row.error_code, "provider_id": row.provider_id,
                    "attempts": row.attempts}

    def counts(self) -> Dict[str, int]:
        with session_scope(self.url) as session:
            rows = session.execute(select(OutboundMessage.status, func.count())
                                   .group_by(OutboundMessage.status)).all()
        return {status: count for status, count in rows}


async def deliver(store: OutboundStore, message: Outgoing, send: Callable[[Outgoing], Awaitable[str]],
                  policy: Optional[RetryPolicy] = None) -> Optional[str]:
    """Send a recorded message, retrying transient errors; record and return the provider id,
    or None when it failed (the failure is recorded with the provider's code)."""
    policy = policy or RetryPolicy()
    delay = policy.first_delay
    for attempt in range(1, policy.attempts + 1):
        try:
            provider_id = await send(message)
        except SendError as error:
            if error.transient and attempt < policy.attempts:
                logger.warning("outbound %s message %s: %s, retrying", message.channel, message.id, error.code)
                await asyncio.sleep(delay)
                delay *= 2
                continue
            logger.error("outbound %s message %s failed: %s", message.channel, message.id, error.code)
            await asyncio.to_thread(store.failed, message.id, error.code, attempt)
            return None
        await asyncio.to_thread(store.sent, message.id, provider_id, attempt)
        return provider_id
    return None
