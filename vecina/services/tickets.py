"""Tickets: conversations handed to a person, their queue, and the staff audit trail.

A conversation has at most one ticket that is open (waiting) or claimed (a person has it); the
database enforces it, so two triggers racing (a double "quiero hablar con alguien") give one
ticket. The queue is ordered by priority, then age. Every staff action is written to the audit
log, which the database keeps append-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vecina.db import session_scope, utcnow
from vecina.db.models import AuditEntry, Ticket, TicketEntry

TICKET_SLOT = "handoff_ticket"  # set while a person has the conversation: the bot stays silent
OPEN, CLAIMED, CLOSED, CANCELLED = "open", "claimed", "closed", "cancelled"
ACTIVE = (OPEN, CLAIMED)
URGENT, HIGH, NORMAL = 1, 2, 3
AUDITED_FIELDS = ("status", "outcome", "claimed_by")


@dataclass(frozen=True)
class TicketView:
    id: int
    conversation_id: str
    channel: str
    language: str
    team: str
    reason: str
    priority: int
    status: str
    procedure: Optional[str]
    centre: Optional[str]
    summary: List[Dict[str, Any]]
    created_at: datetime
    claimed_by: Optional[str]
    outcome: Optional[str]

    @classmethod
    def of(cls, row: Ticket) -> "TicketView":
        return cls(row.id, row.conversation_id, row.channel, row.language, row.team, row.reason, row.priority,
                   row.status, row.procedure, row.centre, list(row.summary or []), row.created_at, row.claimed_by,
                   row.outcome)


@dataclass(frozen=True)
class NewTicket:
    conversation_id: str
    channel: str
    language: str
    team: str
    reason: str
    priority: int = NORMAL
    procedure: Optional[str] = None
    centre: Optional[str] = None
    summary: List[Dict[str, Any]] = field(default_factory=list)


class TicketError(Exception):
    """A staff action that does not apply to the ticket as it is now (e.g. closing a closed one)."""


class TicketStore:
    def __init__(self, database_url: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = database_url
        self.clock = clock

    def open(self, new: NewTicket) -> Tuple[TicketView, bool]:
        """The conversation's active ticket, created now (True) or already there (False). A more
        urgent reason raises the priority of the existing one."""
        try:
            with session_scope(self.url) as session:
                current = self._active(session, new.conversation_id)
                if current is not None:
                    if new.priority < current.priority:
                        current.priority, current.reason = new.priority, new.reason
                    return TicketView.of(current), False
                row = Ticket(conversation_id=new.conversation_id, channel=new.channel, language=new.language,
                             team=new.team, reason=new.reason, priority=new.priority, status=OPEN,
                             procedure=new.procedure, centre=new.centre, summary=new.summary,
                             created_at=self.clock())
                session.add(row)
                session.flush()
                return TicketView.of(row), True
        except IntegrityError:  # another request created it in the meantime
            return self.active(new.conversation_id), False  # type: ignore[return-value]

    @staticmethod
    def _active(session: Any, conversation_id: str) -> Optional[Ticket]:
        return session.execute(select(Ticket).where(Ticket.conversation_id == conversation_id,
                                                    Ticket.status.in_(ACTIVE))).scalar_one_or_none()

    def active(self, conversation_id: str) -> Optional[TicketView]:
        with session_scope(self.url) as session:
            row = self._active(session, conversation_id)
            return TicketView.of(row) if row else None

    def get(self, ticket_id: int) -> Optional[TicketView]:
        with session_scope(self.url) as session:
            row = session.get(Ticket, ticket_id)
            return TicketView.of(row) if row else None

    def queue(self, team: Optional[str] = None, channel: Optional[str] = None,
              language: Optional[str] = None) -> List[TicketView]:
        """Active tickets, most urgent first, then oldest first."""
        query = select(Ticket).where(Ticket.status.in_(ACTIVE))
        for column, value in ((Ticket.team, team), (Ticket.channel, channel), (Ticket.language, language)):
            if value:
                query = query.where(column == value)
        with session_scope(self.url) as session:
            rows = session.execute(query.order_by(Ticket.priority, Ticket.created_at, Ticket.id)).scalars().all()
            return [TicketView.of(row) for row in rows]

    def position(self, ticket_id: int) -> Optional[int]:
        """1 for the next ticket its team will take; None when it is no longer waiting."""
        with session_scope(self.url) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or ticket.status != OPEN:
                return None
            ahead = session.execute(select(func.count()).select_from(Ticket).where(
                Ticket.team == ticket.team, Ticket.status == OPEN,
                (Ticket.priority < ticket.priority)
                | ((Ticket.priority == ticket.priority) & (Ticket.created_at < ticket.created_at))
                | ((Ticket.priority == ticket.priority) & (Ticket.created_at == ticket.created_at)
                   & (Ticket.id < ticket.id)))).scalar_one()
            return int(ahead) + 1

    def add_entry(self, ticket_id: int, kind: str, text: str, author: Optional[str] = None,
                  client_key: Optional[str] = None, delivery: Optional[str] = None) -> Tuple[int, bool]:
        """(entry id, created); the same `client_key` twice gives the first entry back."""
        try:
            with session_scope(self.url) as session:
                entry = TicketEntry(ticket_id=ticket_id, kind=kind, author=author, text=text, client_key=client_key,
                                    created_at=self.clock(), delivery=delivery)
                session.add(entry)
                session.flush()
                return entry.id, True
        except IntegrityError:
            with session_scope(self.url) as session:
                existing = session.execute(select(TicketEntry.id).where(
                    TicketEntry.ticket_id == ticket_id, TicketEntry.client_key == client_key)).scalar_one()
                return existing, False

    def entries(self, ticket_id: int) -> List[Dict[str, Any]]:
        with session_scope(self.url) as session:
            rows = session.execute(select(TicketEntry).where(TicketEntry.ticket_id == ticket_id)
                                   .order_by(TicketEntry.id)).scalars().all()
            return [{"id": r.id, "kind": r.kind, "author": r.author, "text": r.text, "at": r.created_at,
                     "delivery": r.delivery} for r in rows]

    def entry(self, entry_id: int) -> Optional[Dict[str, Any]]:
        with session_scope(self.url) as session:
            row = session.get(TicketEntry, entry_id)
            return {"id": row.id, "ticket_id": row.ticket_id, "kind": row.kind, "author": row.author,
                    "text": row.text, "at": row.created_at, "delivery": row.delivery} if row else None

    def set_delivery(self, entry_id: int, delivery: str) -> None:
        with session_scope(self.url) as session:
            row = session.get(TicketEntry, entry_id)
            if row is not None:
                row.delivery = delivery

    def claim(self, ticket_id: int, staff: str) -> TicketView:
        return self._change(ticket_id, staff, "claim", (OPEN, CLAIMED), status=CLAIMED, claimed_by=staff,
                            claimed_at=self.clock())

    def assign(self, ticket_id: int, staff: str, to: str) -> TicketView:
        """A supervisor gives the ticket to `to` (who then has it as if they had claimed it)."""
        return self._change(ticket_id, staff, "assign", (OPEN, CLAIMED), status=CLAIMED, claimed_by=to,
                            claimed_at=self.clock())

    def close(self, ticket_id: int, staff: str, outcome: str) -> TicketView:
        return self._change(ticket_id, staff, "close", ACTIVE, status=CLOSED, closed_by=staff,
                            closed_at=self.clock(), outcome=outcome[:30])

    def cancel(self, conversation_id: str) -> Optional[TicketView]:
        """The citizen no longer needs a person, whether or not someone has taken the ticket."""
        current = self.active(conversation_id)
        if current is None:
            return None
        return self._change(current.id, "citizen", "cancel", ACTIVE, status=CANCELLED, closed_at=self.clock(),
                            outcome="cancelled_by_citizen")

    def _change(self, ticket_id: int, actor: str, action: str, allowed: Tuple[str, ...], **values: Any) -> TicketView:
        with session_scope(self.url) as session:
            row = session.get(Ticket, ticket_id, with_for_update=True)
            if row is None:
                raise TicketError(f"there is no ticket {ticket_id}")
            if row.status not in allowed:
                raise TicketError(f"ticket {ticket_id} is {row.status}: '{action}' does not apply")
            for key, value in values.items():
                setattr(row, key, value)
            detail = {key: value for key, value in values.items() if key in AUDITED_FIELDS}
            session.add(AuditEntry(at=self.clock(), actor=actor, action=action, target=f"ticket:{ticket_id}",
                                   detail=detail))
            session.flush()
            return TicketView.of(row)

    def audit(self, actor: str, action: str, target: str, detail: Optional[Dict[str, Any]] = None) -> None:
        with session_scope(self.url) as session:
            session.add(AuditEntry(at=self.clock(), actor=actor, action=action, target=target, detail=detail))

    def audit_trail(self, target: Optional[str] = None) -> List[Dict[str, Any]]:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if target:
            query = query.where(AuditEntry.target == target)
        with session_scope(self.url) as session:
            return [{"actor": r.actor, "action": r.action, "target": r.target, "detail": r.detail, "at": r.at}
                    for r in session.execute(query).scalars().all()]
