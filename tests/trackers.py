"""Conversations written with Rasa's own tracker store, for tests that read transcripts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Sequence

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker

BASE = datetime(2026, 3, 2, 9, 0, 0)
DOCUMENTS = '/procedure_documents{"procedure":"census-registration"}'
MENU = [{"title": "Padrón", "payload": DOCUMENTS}, {"title": "Más trámites", "payload": "/procedure_list"}]
PHOTO = {"kind": "image", "mime_type": "image/jpeg", "size": 48213, "sha256": "ab" * 32, "file": "ab.jpg"}


def at(minutes: float) -> float:
    """Rasa's timestamp `minutes` after BASE (naive UTC)."""
    return (BASE + timedelta(minutes=minutes)).replace(tzinfo=timezone.utc).timestamp()


def user(text: str, intent: str = "greet", minute: Optional[float] = None,
         metadata: Optional[Dict[str, Any]] = None, channel: str = "whatsapp") -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 0.98}, timestamp=None if minute is None else at(minute),
                       input_channel=channel, metadata=metadata)


def bot(text: str, buttons: Optional[List[Dict[str, str]]] = None, response: Optional[str] = None,
        minute: Optional[float] = None, **metadata: Any) -> BotUttered:
    """A bot message shaped as Rasa stores one from a custom action."""
    data = {"elements": None, "quick_replies": None, "buttons": buttons, "attachment": None, "image": None,
            "custom": None}
    if response:
        metadata = {"utter_action": response, "template": response, **metadata}
    return BotUttered(text, data, metadata, timestamp=None if minute is None else at(minute))


def action(name: str, minute: Optional[float] = None) -> ActionExecuted:
    return ActionExecuted(name, timestamp=None if minute is None else at(minute))


def external(intent: str, minute: float) -> UserUttered:
    """The user event Rasa's trigger_intent writes (nobody typed it)."""
    event = UserUttered.create_external(intent, [], "web")
    event.timestamp = at(minute)
    return event


async def save(store: SQLTrackerStore, sender: str, events: Sequence[Event]) -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events(sender, list(events), slots=[TextSlot("language", mappings=[])])
    await store.save(tracker)
    return tracker
