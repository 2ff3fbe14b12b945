"""The durable inbound path shared by the webhook channels (WhatsApp, Twilio, Telegram).

A webhook checks the provider's signature, calls `InboundStore.accept` and answers 200 at once;
workers then `claim` stored messages, hand them to Rasa and mark them `done`. Providers deliver at
least once: the unique (channel, provider id) makes a repeated delivery — concurrent, or after a
restart — a no-op. Per conversation, only the oldest unfinished message can be claimed, so a
citizen's messages reach Rasa in the order they arrived; different conversations go in parallel.
A worker holds a message for a lease: if it dies, the lease runs out and another worker takes the
message again. Both SQLite and PostgreSQL give these guarantees: claiming is a compare-and-set
UPDATE, not a lock held across the Rasa call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from vecina.db import session_scope, utcnow
from vecina.db.models import InboundMessage

PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
UNFINISHED = (PENDING, PROCESSING)
CANDIDATES = 20  # heads of conversations looked at per claim


@dataclass(frozen=True)
class Claimed:
    """A message a worker holds until `lease_until`; `attempt` fences it against later claims."""

    id: int
    channel: str
    provider_id: str
    conversation_id: str
    payload: Dict[str, Any]
    attempt: int
    failures: int
    lease_until: datetime


class InboundStore:
    def __init__(self, database_url: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = database_url
        self.clock = clock

    def accept(self, channel: str, provider_id: str, conversation_id: str, payload: Dict[str, Any]) -> bool:
        """Store a delivered message; False when this provider id was already stored."""
        now = self.clock()
        try:
            with session_scope(self.url) as session:
                session.add(InboundMessage(channel=channel, provider_id=provider_id, conversation_id=conversation_id,
                                           payload=payload, status=PENDING, attempts=0, failures=0, received_at=now,
                                           available_at=now))
        except IntegrityError:
            return False
        return True

    def claim(self, lease: timedelta) -> Optional[Claimed]:
        """The oldest claimable message whose conversation has nothing older unfinished, or None."""
        now = self.clock()
        earlier = aliased(InboundMessage)
        blocked = exists().where(and_(earlier.conversation_id == InboundMessage.conversation_id,
                                      earlier.id < InboundMessage.id, earlier.status.in_(UNFINISHED)))
        query = (select(InboundMessage.id, InboundMessage.status, InboundMessage.attempts)
                 .where(InboundMessage.status.in_(UNFINISHED), InboundMessage.available_at <= now, ~blocked)
                 .order_by(InboundMessage.id).limit(CANDIDATES))
        with session_scope(self.url) as session:
            candidates = session.execute(query).all()
        for message_id, status, attempts in candidates:
            claimed = self._take(message_id, status, attempts, now + lease, now)
            if claimed is not None:
                return claimed
        return None

    def _take(self, message_id: int, status: str, attempts: int, lease_until: datetime,
              now: datetime) -> Optional[Claimed]:
        with session_scope(self.url) as session:
            result = session.execute(
                update(InboundMessage)
                .where(InboundMessage.id == message_id, InboundMessage.status == status,
                       InboundMessage.attempts == attempts, InboundMessage.available_at <= now)
                .values(status=PROCESSING, attempts=attempts + 1, available_at=lease_until)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return None  # another worker took it first
            row = session.get(InboundMessage, message_id)
            return Claimed(row.id, row.channel, row.provider_id, row.conversation_id, dict(row.payload),
                           row.attempts, row.failures, lease_until)

    def _finish(self, claimed: Claimed, **values: Any) -> bool:
        with session_scope(self.url) as session:
            result = session.execute(
                update(InboundMessage)
                .where(InboundMessage.id == claimed.id, InboundMessage.status == PROCESSING,
                       InboundMessage.attempts == claimed.attempt)
                .values(**values)
                .execution_options(synchronize_session=False))
            return result.rowcount == 1

    def renew(self, claimed: Claimed, lease: timedelta) -> bool:
        """Extend the lease of a message still being handled; False when it is not ours any more."""
        return self._finish(claimed, available_at=self.clock() + lease)

    def done(self, claimed: Claimed) -> bool:
        """Mark handled; False when the lease had run out and another worker took the message.
        The message's content is dropped (the tracker has it now); the row stays, so a late
        repeat of the delivery is still recognised."""
        return self._finish(claimed, status=DONE, finished_at=self.clock(), error=None, payload={})

    def retry(self, claimed: Claimed, error: str, delay: timedelta, message_failed: bool = False) -> bool:
        """Give the message back, to be claimed again after `delay` (it still blocks its conversation);
        `message_failed` when the message itself, not the way to Rasa, caused the error."""
        return self._finish(claimed, status=PENDING, available_at=self.clock() + delay, error=error[:200],
                            failures=claimed.failures + int(message_failed))

    def fail(self, claimed: Claimed, error: str) -> bool:
        """Give up on the message (kept, with its error, for staff); its conversation moves on."""
        return self._finish(claimed, status=FAILED, finished_at=self.clock(), error=error[:200])

    def failed(self, limit: int = 20) -> List[Tuple[int, str, datetime, str]]:
        """(id, channel, received at, error) of the latest messages set aside as failed, for staff."""
        with session_scope(self.url) as session:
            rows = session.execute(select(InboundMessage.id, InboundMessage.channel, InboundMessage.received_at,
                                          InboundMessage.error).where(InboundMessage.status == FAILED)
                                   .order_by(InboundMessage.id.desc()).limit(limit)).all()
        return [(row[0], row[1], row[2], row[3] or "") for row in rows]

    def counts(self) -> Dict[str, int]:
        """Messages per status, for health checks and metrics."""
        with session_scope(self.url) as session:
            rows = session.execute(select(InboundMessage.status, func.count()).group_by(InboundMessage.status)).all()
        return {status: count for status, count in rows}
