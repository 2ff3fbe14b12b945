"""What staff do in the console, without the web layer: see a ticket, claim or assign it, reply
through the citizen's own channel, write internal notes, close it, follow up conversations nobody
handed over, and mark who came to their appointment. Every action is written to the audit log.

Scoping (StaffUser.serves): every ticket, transcript, note and file is its ticket's team's; every
appointment is the team's that keeps its office (kb/appointments.yml, `team`); conversations nobody
handed over are the default team's, which gets the ticket when someone follows one up. Supervisors
and admins serve every team; an agent with no team serves none. Whatever a user may not see is
refused here, not only hidden by the pages."""

from __future__ import annotations

import logging
import urllib.error
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vecina.db import session_scope
from vecina.db.models import Followup
from vecina.kb.store import KbSource
from vecina.rasa_api import RasaApi
from vecina.services import appointments
from vecina.services.attendance import Attendance, AttendanceRefused, NotYourOffice, OfficeAppointment
from vecina.services.reminders import municipal_clock
from vecina.services.staff import StaffDirectory, StaffUser
from vecina.services.tickets import CLAIMED, NORMAL, OPEN, NewTicket, TicketError, TicketStore, TicketView
from vecina.services.transcripts import QuietConversation, TranscriptItem, TranscriptReader

logger = logging.getLogger(__name__)

# Channels that can carry a message the citizen did not ask for at that moment. REST answers only
# within its own request, and a phone call cannot be written to.
REPLYABLE_CHANNELS = ("whatsapp", "telegram", "twilio", "socketio")
OUTCOMES = ("resolved", "referred", "appointment", "callback", "no_answer", "duplicate", "other")
MAX_TEXT = 4000
SENDING, SENT, FAILED = "sending", "sent", "failed"
DISMISSED, FOLLOW_UP = "dismissed", "ticket"
FOLLOW_UP_REASON = "follow_up"


class NotAllowed(Exception):
    """The user may not do this (their role or team)."""


class NotFound(Exception):
    pass


class Refused(Exception):
    """The action does not apply now. `code` names the console's message; `who` is filled in."""

    def __init__(self, code: str, who: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.who = who


@dataclass(frozen=True)
class Reply:
    entry_id: int
    delivery: str
    repeated: bool  # the same client key again (a double click): nothing was sent this time


class Desk:
    def __init__(self, database_url: str, tickets: TicketStore, staff: StaffDirectory, rasa: RasaApi,
                 transcripts: TranscriptReader, kb: KbSource, media_dir: Path,
                 attendance: Optional[Attendance] = None) -> None:
        self.url = database_url
        self.tickets = tickets
        self.staff = staff
        self.rasa = rasa
        self.transcripts = transcripts
        self.kb = kb
        self.media_dir = Path(media_dir)
        self.attendance = attendance or Attendance(database_url, municipal_clock(kb))

    def _ticket(self, user: StaffUser, ticket_id: int) -> TicketView:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound()
        if not user.serves(ticket.team):
            raise NotAllowed()
        return ticket

    def queue(self, user: StaffUser, team: Optional[str] = None, channel: Optional[str] = None,
              language: Optional[str] = None) -> List[TicketView]:
        return [ticket for ticket in self.tickets.queue(team, channel, language) if user.serves(ticket.team)]

    def view(self, user: StaffUser, ticket_id: int) -> TicketView:
        ticket = self._ticket(user, ticket_id)
        self.tickets.audit(user.username, "view", f"ticket:{ticket_id}")
        return ticket

    def peek(self, user: StaffUser, ticket_id: int) -> TicketView:
        """The ticket for a live refresh (not audited: the page view was)."""
        return self._ticket(user, ticket_id)

    def transcript(self, ticket: TicketView, after: int = 0) -> List[TranscriptItem]:
        return self.transcripts.read(ticket.conversation_id, after=after)

    def notes(self, ticket: TicketView, after: int = 0) -> List[Dict[str, object]]:
        """Internal notes, and replies that did not reach Rasa (the sent ones are in the transcript)."""
        return [entry for entry in self.tickets.entries(ticket.id)
                if entry["id"] > after and (entry["kind"] == "note" or entry["delivery"] == FAILED)]

    def claim(self, user: StaffUser, ticket_id: int) -> TicketView:
        ticket = self._ticket(user, ticket_id)
        if ticket.status == CLAIMED and ticket.claimed_by != user.username and not user.can("assign"):
            raise Refused("taken", ticket.claimed_by or "")
        return self._apply(lambda: self.tickets.claim(ticket_id, user.username))

    def assign(self, user: StaffUser, ticket_id: int, to: str) -> TicketView:
        if not user.can("assign"):
            raise NotAllowed()
        ticket = self._ticket(user, ticket_id)
        colleague = self.staff.get(to)
        if colleague is None or not colleague.active or not colleague.serves(ticket.team):
            raise Refused("colleague")
        return self._apply(lambda: self.tickets.assign(ticket_id, user.username, colleague.username))

    def colleagues(self, ticket: TicketView) -> List[StaffUser]:
        return [person for person in self.staff.users() if person.active and person.serves(ticket.team)]

    def _may_write(self, user: StaffUser, ticket: TicketView) -> None:
        if ticket.status not in (OPEN, CLAIMED):
            raise Refused("closed")
        if ticket.status == CLAIMED and ticket.claimed_by != user.username and not user.can("assign"):
            raise Refused("taken", ticket.claimed_by or "")

    def reply(self, user: StaffUser, ticket_id: int, text: str, client_key: str) -> Reply:
        """Send `text` to the citizen once per `client_key`, through their own channel."""
        ticket = self._ticket(user, ticket_id)
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            raise Refused("length")
        if ticket.channel not in REPLYABLE_CHANNELS:
            raise Refused("channel")
        self._may_write(user, ticket)
        entry_id, created = self.tickets.add_entry(ticket.id, "staff", text, user.username, client_key[:64] or None,
                                                   delivery=SENDING)
        if not created:
            existing = self.tickets.entry(entry_id) or {}
            return Reply(entry_id, str(existing.get("delivery") or SENDING), True)
        if ticket.status == OPEN:
            self._apply(lambda: self.tickets.claim(ticket_id, user.username))
        delivery = SENT if self._trigger(ticket, "EXTERNAL_staff_reply",
                                         {"staff_text": text, "staff_name": user.display_name}) else FAILED
        self.tickets.set_delivery(entry_id, delivery)
        self.tickets.audit(user.username, "reply", f"ticket:{ticket_id}", {"entry": entry_id, "delivery": delivery})
        return Reply(entry_id, delivery, False)

    def note(self, user: StaffUser, ticket_id: int, text: str, client_key: str) -> int:
        ticket = self._ticket(user, ticket_id)
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            raise Refused("length")
        entry_id, created = self.tickets.add_entry(ticket.id, "note", text, user.username, client_key[:64] or None)
        if created:
            self.tickets.audit(user.username, "note", f"ticket:{ticket_id}", {"entry": entry_id})
        return entry_id

    def close(self, user: StaffUser, ticket_id: int, outcome: str) -> Tuple[TicketView, bool]:
        """Close the ticket and hand the conversation back to the bot; (ticket, citizen told)."""
        ticket = self._ticket(user, ticket_id)  # whose it is first: nothing is said about another team's
        if outcome not in OUTCOMES:
            raise Refused("outcome")
        self._may_write(user, ticket)
        closed = self._apply(lambda: self.tickets.close(ticket_id, user.username, outcome))
        told = self._trigger(closed, "EXTERNAL_handoff_closed", {})
        return closed, told

    def _trigger(self, ticket: TicketView, intent: str, entities: Dict[str, str]) -> bool:
        channel = ticket.channel if ticket.channel in REPLYABLE_CHANNELS else "collector"
        try:
            self.rasa.trigger(ticket.conversation_id, intent, channel, entities)
            return True
        except (urllib.error.URLError, OSError, ValueError) as error:
            logger.warning("ticket %s: %s not delivered (%s)", ticket.id, intent, type(error).__name__)
            return False

    @staticmethod
    def _apply(change):  # type: ignore[no-untyped-def]
        try:
            return change()
        except TicketError as error:
            raise Refused("stale") from error

    def media(self, user: StaffUser, ticket_id: int, name: str) -> Tuple[Path, str]:
        """A file the citizen sent in this ticket's conversation: (path, MIME type). Nothing else."""
        ticket = self._ticket(user, ticket_id)
        for item in self.transcripts.read(ticket.conversation_id, limit=100_000):
            if item.media and item.media.get("file") == name:
                path = self.media_dir / name
                if path.is_file():
                    self.tickets.audit(user.username, "view_media", f"ticket:{ticket_id}", {"file": name})
                    return path, str(item.media.get("mime_type") or "application/octet-stream")
        raise NotFound()

    def teams(self, user: StaffUser) -> Dict[str, str]:
        """The teams the user serves: id -> Spanish name."""
        return {team.id: team.name["es"] for team in self.kb.current().teams.values() if user.serves(team.id)}

    def sees_unattended(self, user: StaffUser) -> bool:
        """Conversations nobody handed over are the default team's: following one up opens a
        ticket for that team, which the user must be able to see and answer."""
        default = next((team.id for team in self.kb.current().teams.values() if team.default), None)
        return user.can("unattended") and user.serves(default)

    def unattended(self, user: StaffUser, now: datetime, quiet: timedelta, days: int) -> List[QuietConversation]:
        """Conversations that ended in a misunderstanding or that the citizen left half-way, which
        nobody has taken or followed up yet."""
        if not self.sees_unattended(user):
            raise NotAllowed()
        found = self.transcripts.quiet_conversations(now - timedelta(days=days), now - quiet)
        with session_scope(self.url) as session:
            handled = set(session.execute(select(Followup.conversation_id, Followup.quiet_since).where(
                Followup.conversation_id.in_([c.conversation_id for c in found]))).all())
        return [c for c in found if (c.conversation_id, c.last_at) not in handled
                and self.tickets.active(c.conversation_id) is None]

    def follow_up(self, user: StaffUser, conversation: QuietConversation, action: str) -> Optional[TicketView]:
        """Dismiss a quiet conversation, or open a ticket to write to the citizen."""
        if not self.sees_unattended(user):
            raise NotAllowed()
        try:
            with session_scope(self.url) as session:
                session.add(Followup(conversation_id=conversation.conversation_id, quiet_since=conversation.last_at,
                                     handled_by=user.username, handled_at=self.tickets.clock(), action=action))
        except IntegrityError:
            raise Refused("handled") from None
        self.tickets.audit(user.username, f"followup_{action}", f"conversation:{conversation.conversation_id}")
        if action != FOLLOW_UP:
            return None
        kb = self.kb.current()
        team = next(team for team in kb.teams.values() if team.default)
        summary = [{"from": item.speaker if item.speaker == "citizen" else "bot", "text": item.text}
                   for item in self.transcripts.read(conversation.conversation_id) if item.text][-6:]
        ticket, _ = self.tickets.open(NewTicket(conversation.conversation_id, conversation.channel or "rest",
                                                conversation.language or "es", team.id, FOLLOW_UP_REASON, NORMAL,
                                                summary=summary))
        return self._apply(lambda: self.tickets.claim(ticket.id, user.username))

    def appointment_offices(self, user: StaffUser) -> Dict[str, str]:
        """The offices giving appointments that the user's teams keep: id -> the name of their centre."""
        kb = self.kb.current()
        return {office.id: kb.centres[office.centre].name["es"] if office.centre in kb.centres else office.id
                for office in kb.appointment_offices.values() if user.serves(office.team)}

    def _may_keep_attendance(self, user: StaffUser, office: Optional[str] = None) -> None:
        if not user.can("appointments"):
            raise NotAllowed()
        if office is None:
            return
        known = self.kb.current().appointment_offices.get(office)
        if known is None:
            raise NotFound()
        if not user.serves(known.team):
            raise NotAllowed()

    def _keeps(self, user: StaffUser, office: str) -> bool:
        known = self.kb.current().appointment_offices.get(office)
        return known is not None and user.serves(known.team)

    def office_day(self, user: StaffUser, office: str, day: date) -> List[OfficeAppointment]:
        self._may_keep_attendance(user, office)
        return self.attendance.day(office, day)

    def mark_attendance(self, user: StaffUser, appointment_id: int, outcome: str) -> Tuple[str, date]:
        """Mark an appointment attended or no-show; its office and day."""
        self._may_keep_attendance(user)
        try:
            office, day = self.attendance.mark(appointment_id, outcome, lambda office: self._keeps(user, office))
        except NotYourOffice:
            raise NotAllowed() from None
        except AttendanceRefused as refusal:
            raise Refused(refusal.code) from None
        except appointments.NotFound:
            raise NotFound() from None
        self.tickets.audit(user.username, "attendance", f"appointment:{appointment_id}", {"outcome": outcome})
        return office, day

    def close_day(self, user: StaffUser, office: str, day: date) -> int:
        """Everyone of the day who is past their time and was not marked did not come."""
        self._may_keep_attendance(user, office)
        marked = self.attendance.close_day(office, day)
        self.tickets.audit(user.username, "no_shows", f"office:{office}", {"day": day.isoformat(), "marked": marked})
        return marked
