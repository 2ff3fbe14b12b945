"""Typed text versus button payloads.

Rasa reads any message that starts with "/" as a forced intent ("/restart" even resumes a paused
conversation), and a citizen can type one. Every channel therefore passes such a text through
only when it is exactly the payload of a button the bot offered in its latest turn; otherwise
the slashes are dropped and NLU reads the words like any other text.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Mapping, Optional, Sequence, Set

PREFIX = "/"


def latest_bot_turn(events: Iterable[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The bot events after the citizen's last message (tracker events), oldest first."""
    turn: List[Mapping[str, Any]] = []
    for event in reversed(list(events)):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            turn.insert(0, event)
    return turn


def offered_buttons(events: Iterable[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The buttons of the bot's latest turn, in the order the citizen saw them."""
    return [b for event in latest_bot_turn(events) for b in (event.get("data") or {}).get("buttons") or []
            if isinstance(b, Mapping) and b.get("payload")]


def offered_payloads(events: Iterable[Mapping[str, Any]]) -> Set[str]:
    return {str(b["payload"]).strip() for b in offered_buttons(events)}


def numbered_choice(text: str, buttons: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """The payload of option `n` when the citizen answers just "n" to numbered options (SMS, phone keypad)."""
    stripped = text.strip().rstrip(".")
    if stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
        return str(buttons[int(stripped) - 1]["payload"]).strip()
    return None


def citizen_text(text: str, offered: Set[str]) -> str:
    """What Rasa receives for a message the citizen sent."""
    stripped = text.strip()
    if not stripped.startswith(PREFIX):
        return text
    return stripped if stripped in offered else stripped.lstrip(PREFIX).strip()
