"""Who answers a conversation handed to a person, and when they can.

A ticket goes to the first team whose intents include the intent that raised it, else to the
team that covers the category of the procedure being discussed, else to the default team.
Whether that team is at work now — and if not, when it next is — comes from its office hours,
its exceptions and the municipality's public holidays (kb/teams.yml, kb/municipality.yml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional
from zoneinfo import ZoneInfo

from vecina.kb.model import CannedReply, KnowledgeBase, Team
from vecina.services.hours import open_state


@dataclass(frozen=True)
class Availability:
    open_now: bool
    next_opening: Optional[datetime] = None  # local time, when closed (None: nothing in two weeks)


def team_for(kb: KnowledgeBase, intent: Optional[str], procedure_id: Optional[str] = None) -> Team:
    for team in kb.teams.values():
        if intent and intent in team.intents:
            return team
    procedure = kb.procedures.get(procedure_id or "")
    if procedure is not None:
        for team in kb.teams.values():
            if procedure.category in team.procedure_categories:
                return team
    return next(team for team in kb.teams.values() if team.default)


def always_to_staff(kb: KnowledgeBase, intent: Optional[str], procedure_id: Optional[str] = None) -> bool:
    """Topics the town hall wants a person to handle even when the assistant could answer."""
    return bool(intent and intent in kb.always_to_staff.intents) or \
        bool(procedure_id and procedure_id in kb.always_to_staff.procedures)


def local_now(kb: KnowledgeBase) -> datetime:
    return datetime.now(ZoneInfo(kb.municipality.timezone))


def availability(kb: KnowledgeBase, team: Team, now: datetime) -> Availability:
    """Is `team` at work at `now` (local time), and if not, when does it start again."""
    state = open_state(team.hours, now.replace(tzinfo=None), kb.municipality.holidays)
    if state.open_now:
        return Availability(True)
    if state.next_day is None or state.next_time is None:
        return Availability(False)
    return Availability(False, datetime.combine(state.next_day, state.next_time, tzinfo=now.tzinfo))


def canned_replies_for(kb: KnowledgeBase, team_id: str) -> List[CannedReply]:
    """The ready-made replies a team's staff can send, in the order of kb/canned_replies.yml."""
    return [reply for reply in kb.canned_replies.values() if not reply.teams or team_id in reply.teams]
