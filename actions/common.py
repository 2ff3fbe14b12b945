"""What every action needs: the kb, the citizen's language, the latest message's details."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker

from vecina.channels.payloads import latest_bot_turn
from vecina.content import ResponseTexts, response_texts
from vecina.kb.model import KnowledgeBase
from vecina.kb.store import KbReader
from vecina.settings import get_settings

DEFAULT_LANGUAGE = "es"


@lru_cache(maxsize=1)
def kb_reader() -> KbReader:
    return KbReader(get_settings().database_url)


def knowledge_base() -> KnowledgeBase:
    return kb_reader().current()


def texts() -> ResponseTexts:
    return response_texts(str(get_settings().domain_dir))


def language(tracker: Tracker) -> str:
    return tracker.get_slot("language") or DEFAULT_LANGUAGE


def intent(tracker: Tracker) -> Optional[Text]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def proactive(tracker: Tracker) -> bool:
    """The turn is the town hall's (a reminder, an offer, a staff reply), triggered, not typed."""
    return (intent(tracker) or "").startswith("EXTERNAL_")


def answers_no_form(tracker: Tracker) -> bool:
    """A turn an open form must let pass (its validation then sets nothing, so the form rejects it
    and the rule for it runs): the town hall's own messages, the answer to a reminder, joining the
    waiting list."""
    return proactive(tracker) or intent(tracker) in ("appointment_reminder_answer", "appointment_wait")


def entity(tracker: Tracker, name: Text) -> Optional[Text]:
    value = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value is not None else None


def message_text(tracker: Tracker) -> Text:
    return tracker.latest_message.get("text") or ""


def responses_before_this_message(tracker: Tracker) -> List[Text]:
    """The response names of the bot's turn the citizen is answering now."""
    events = tracker.events
    users = [index for index, event in enumerate(events) if event.get("event") == "user"]
    turn = latest_bot_turn(events[:users[-1]]) if users else []
    return [str((event.get("metadata") or {}).get("utter_action")) for event in turn]


def municipality_variables(kb: KnowledgeBase, lang: str) -> Dict[str, Any]:
    municipality = kb.municipality
    return {"e_office_url": municipality.e_office_url, "phone": municipality.phone,
            "phone_hours": municipality.phone_hours[lang], "privacy_url": municipality.privacy_url}


def buttons(pairs: List[tuple]) -> List[Dict[str, str]]:
    return [{"title": title, "payload": payload} for title, payload in pairs]
