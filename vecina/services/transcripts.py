"""Conversation transcripts for the staff console, read straight from Rasa's SQL tracker store.

Only SELECTs on Rasa's `events` table (id, sender_id, type_name, timestamp, intent_name,
action_name, data: the event's `as_dict()` as JSON). Rows of unexpected shape are skipped or read
as empty text, never raised on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vecina.channels.payloads import PREFIX
from vecina.db import get_engine

EVENTS = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("sender_id", sa.String),
    sa.column("type_name", sa.String),
    sa.column("timestamp", sa.Float),
    sa.column("intent_name", sa.String),
    sa.column("action_name", sa.String),
    sa.column("data", sa.Text),
)

# Rasa marks the user events trigger_intent creates (rasa.shared.core.constants); nobody typed them.
IS_EXTERNAL = "is_external"
EXTERNAL_PREFIX = "EXTERNAL: "

STAFF_REPLY = "utter_staff_reply"  # domain/responses/handoff.yml: "{staff} ({team}):\n{reply}"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_RESPONSES = frozenset({"utter_did_not_understand", "utter_offer_human"})  # action_handle_fallback
CLOSING_INTENTS = frozenset({"goodbye", "thank"})
CLOSING_RESPONSE = "utter_goodbye"
LOOP_STATE_TYPES = ("active_loop", "form", "session_started", "restart")

BUTTON_LOOKBACK = 50  # older bot messages with buttons searched for a choice's title
USER_PAGE = 20


@dataclass(frozen=True)
class TranscriptItem:
    cursor: int
    at: datetime
    speaker: str
    kind: str
    text: str
    options: Tuple[str, ...] = ()
    staff_name: Optional[str] = None
    media: Optional[Dict[str, Any]] = None
    latitude: Optional[float] = None
    longitude: Optional[float] = None


@dataclass(frozen=True)
class QuietConversation:
    conversation_id: str
    channel: Optional[str]
    language: Optional[str]
    reason: str
    last_at: datetime
    last_text: str


class TranscriptReader:
    """Read-only access to the conversations Rasa keeps in its SQL tracker store."""

    def __init__(self, tracker_url: str) -> None:
        self.engine = get_engine(tracker_url)

    def read(self, conversation_id: str, after: int = 0, limit: int = 1000) -> List[TranscriptItem]:
        """Citizen, bot and staff turns with a cursor above `after`, oldest first, at most `limit`."""
        items: List[TranscriptItem] = []
        if limit <= 0:
            return items
        cursor = after
        with self.engine.connect() as connection:
            titles = _Titles(connection, conversation_id, after + 1)
            while len(items) < limit:
                rows = connection.execute(
                    sa.select(EVENTS.c.id, EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
                    .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.id > cursor,
                           EVENTS.c.type_name.in_(("user", "bot")))
                    .order_by(EVENTS.c.id).limit(limit)).all()
                for row in rows:
                    cursor = row.id
                    event = _load(row.data)
                    item = _item(row.id, row.type_name, row.timestamp, event, titles)
                    if row.type_name == "bot":
                        titles.add(event)
                    if item is not None:
                        items.append(item)
                        if len(items) == limit:
                            break
                if len(rows) < limit:
                    break
        return items

    def quiet_conversations(self, since: datetime, quiet_before: datetime,
                            limit: int = 200) -> List[QuietConversation]:
        """Conversations left hanging (last event in [since, quiet_before)), newest first."""
        found: List[QuietConversation] = []
        if limit <= 0:
            return found
        last_timestamp = sa.func.max(EVENTS.c.timestamp)
        candidates = (sa.select(EVENTS.c.sender_id, last_timestamp.label("last_timestamp"))
                      .where(EVENTS.c.timestamp >= _epoch(since))
                      .group_by(EVENTS.c.sender_id)
                      .having(last_timestamp < _epoch(quiet_before))
                      .order_by(last_timestamp.desc(), EVENTS.c.sender_id))
        page = max(limit, 50)
        offset = 0
        with self.engine.connect() as connection:
            while len(found) < limit:
                rows = connection.execute(candidates.limit(page).offset(offset)).all()
                for row in rows:
                    quiet = _quiet(connection, row.sender_id, row.last_timestamp)
                    if quiet is not None:
                        found.append(quiet)
                        if len(found) == limit:
                            break
                if len(rows) < page:
                    break
                offset += page
        return found


class _Titles:
    """Button titles for choice payloads: the bot messages read so far, then older ones."""

    def __init__(self, connection: Connection, conversation_id: str, before_id: int) -> None:
        self.connection = connection
        self.conversation_id = conversation_id
        self.before_id = before_id
        self.recent: List[Sequence[Mapping[str, Any]]] = []
        self.older: Optional[List[Sequence[Mapping[str, Any]]]] = None

    def add(self, event: Mapping[str, Any]) -> None:
        buttons = _buttons(event)
        if buttons:
            self.recent.append(buttons)

    def title(self, payload: str) -> Optional[str]:
        """The title of `payload` in the nearest earlier bot message that offered it."""
        found = _title_in(payload, reversed(self.recent))
        if found is None:
            if self.older is None:
                self.older = self._load_older()
            found = _title_in(payload, self.older)
        return found

    def _load_older(self) -> List[Sequence[Mapping[str, Any]]]:
        rows = self.connection.execute(
            sa.select(EVENTS.c.data)
            .where(EVENTS.c.sender_id == self.conversation_id, EVENTS.c.id < self.before_id,
                   EVENTS.c.type_name == "bot", EVENTS.c.data.like('%"payload"%'))
            .order_by(EVENTS.c.id.desc()).limit(BUTTON_LOOKBACK)).all()
        return [buttons for buttons in (_buttons(_load(row.data)) for row in rows) if buttons]


def _title_in(payload: str, offers: Iterable[Sequence[Mapping[str, Any]]]) -> Optional[str]:
    for buttons in offers:
        for button in buttons:
            if str(button.get("payload") or "").strip() == payload and _title(button):
                return _title(button)
    return None


def _item(cursor: int, type_name: str, timestamp: Any, event: Mapping[str, Any],
          titles: _Titles) -> Optional[TranscriptItem]:
    at = _time(timestamp)
    if at is None:
        return None
    if type_name == "user":
        return _citizen_item(cursor, at, event, titles)
    return _bot_item(cursor, at, event)


def _citizen_item(cursor: int, at: datetime, event: Mapping[str, Any], titles: _Titles) -> Optional[TranscriptItem]:
    if _is_external(event):
        return None
    text = _text(event)
    metadata = _mapping(event.get("metadata"))
    payload = text.strip() if text.strip().startswith(PREFIX) else None
    said = "" if payload is not None else text
    media = metadata.get("media")
    if isinstance(media, Mapping):
        kind = "media_refused" if media.get("rejected") is not None else "media"
        return TranscriptItem(cursor, at, "citizen", kind, said, media=dict(media))
    latitude, longitude = _coordinate(metadata.get("latitude")), _coordinate(metadata.get("longitude"))
    if latitude is not None and longitude is not None:
        return TranscriptItem(cursor, at, "citizen", "location", "", latitude=latitude, longitude=longitude)
    if metadata.get("unsupported") is not None:  # a message the channel could not carry (a sticker, a contact)
        return TranscriptItem(cursor, at, "citizen", "text", said)
    if payload is not None:
        return TranscriptItem(cursor, at, "citizen", "choice", titles.title(payload) or payload)
    return TranscriptItem(cursor, at, "citizen", "text", text)


def _bot_item(cursor: int, at: datetime, event: Mapping[str, Any]) -> Optional[TranscriptItem]:
    text = _text(event)
    options = tuple(_title(button) for button in _buttons(event) if _title(button))
    metadata = _mapping(event.get("metadata"))
    if metadata.get("utter_action") == STAFF_REPLY:
        staff = metadata.get("staff") if isinstance(metadata.get("staff"), str) else ""
        team = metadata.get("team") if isinstance(metadata.get("team"), str) else None
        heading = f"{staff} ({team}):\n"
        if team is not None and text.startswith(heading):  # the template's heading, when Rasa kept it
            text = text[len(heading):]
        return TranscriptItem(cursor, at, "staff", "text", text, options, staff_name=staff.strip() or None)
    if not text and not options:
        return None
    return TranscriptItem(cursor, at, "bot", "text", text, options)


def _quiet(connection: Connection, conversation_id: str, last_timestamp: Any) -> Optional[QuietConversation]:
    """Why the conversation is left hanging, or None when it is not."""
    last_at = _time(last_timestamp)
    citizen = _last_citizen_message(connection, conversation_id)
    if last_at is None or citizen is None:
        return None
    user_id, intent, event = citizen
    bot = _load(connection.execute(
        sa.select(EVENTS.c.data)
        .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.type_name == "bot", EVENTS.c.id > user_id)
        .order_by(EVENTS.c.id.desc()).limit(1)).scalar())
    response = _mapping(bot.get("metadata")).get("utter_action")
    if intent == FALLBACK_INTENT or response in FALLBACK_RESPONSES:
        reason = "fallback"
    elif intent in CLOSING_INTENTS or response == CLOSING_RESPONSE:
        return None
    elif _buttons(bot) or _loop_active(connection, conversation_id):
        reason = "abandoned"
    else:
        return None
    item = _citizen_item(user_id, last_at, event, _Titles(connection, conversation_id, user_id))
    channel = event.get("input_channel")
    return QuietConversation(conversation_id, channel if isinstance(channel, str) and channel else None,
                             _language(connection, conversation_id), reason, last_at,
                             item.text if item is not None else "")


def _last_citizen_message(connection: Connection,
                          conversation_id: str) -> Optional[Tuple[int, Optional[str], Dict[str, Any]]]:
    """(id, intent, event) of the last user event a citizen sent (trigger_intent's left out)."""
    before: Optional[int] = None
    while True:
        query = (sa.select(EVENTS.c.id, EVENTS.c.intent_name, EVENTS.c.data)
                 .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.type_name == "user"))
        if before is not None:
            query = query.where(EVENTS.c.id < before)
        rows = connection.execute(query.order_by(EVENTS.c.id.desc()).limit(USER_PAGE)).all()
        for row in rows:
            event = _load(row.data)
            if not _is_external(event):
                intent = row.intent_name or _mapping(_mapping(event.get("parse_data")).get("intent")).get("name")
                return row.id, intent if isinstance(intent, str) else None, event
            before = row.id
        if len(rows) < USER_PAGE:
            return None


def _loop_active(connection: Connection, conversation_id: str) -> bool:
    """Whether a form was still active at the end (a new session or a restart ends it)."""
    row = connection.execute(
        sa.select(EVENTS.c.type_name, EVENTS.c.action_name)
        .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.type_name.in_(LOOP_STATE_TYPES))
        .order_by(EVENTS.c.id.desc()).limit(1)).first()
    return row is not None and row.type_name in ("active_loop", "form") and bool(row.action_name)


def _language(connection: Connection, conversation_id: str) -> Optional[str]:
    data = connection.execute(
        sa.select(EVENTS.c.data)
        .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.type_name == "slot",
               EVENTS.c.action_name == "language")
        .order_by(EVENTS.c.id.desc()).limit(1)).scalar()
    value = _load(data).get("value")
    return value if isinstance(value, str) and value else None


def _load(data: Any) -> Dict[str, Any]:
    try:
        event = json.loads(data) if isinstance(data, (str, bytes)) else None
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(event: Mapping[str, Any]) -> str:
    text = event.get("text")
    return text if isinstance(text, str) else ""


def _buttons(event: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    buttons = _mapping(event.get("data")).get("buttons")
    return [b for b in buttons if isinstance(b, Mapping)] if isinstance(buttons, list) else []


def _title(button: Mapping[str, Any]) -> str:
    title = button.get("title")
    return title if isinstance(title, str) else ""


def _is_external(event: Mapping[str, Any]) -> bool:
    return bool(_mapping(event.get("metadata")).get(IS_EXTERNAL)) or _text(event).startswith(EXTERNAL_PREFIX)


def _coordinate(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _time(timestamp: Any) -> Optional[datetime]:
    try:
        return datetime.utcfromtimestamp(float(timestamp))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch of a naive UTC (or aware) datetime, as Rasa stores timestamps."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
