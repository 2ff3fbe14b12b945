"""Typed text versus button payloads.

Rasa reads any message that starts with "/" as a forced intent ("/restart" even resumes a paused
conversation), and a citizen can type one. Every channel therefore passes such a text through
only when it is exactly the payload of a button the bot offered in its latest turn; otherwise
everything before the first word is dropped — every mix of slashes (and characters that look like
or normalise to one), whitespace, control and invisible characters — and NLU reads the words like
any other text. Nothing typed reaches Rasa starting with "/", however many layers it hides behind.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Set

PREFIX = "/"
# Look like a slash without normalising to one (NFKC already maps the full-width solidus and others).
SLASH_LOOKALIKES = frozenset("\u2044\u2215\u29f8\u2571\u27cb\u3033")


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


def _is_leading_noise(character: str) -> bool:
    """Whitespace, control or invisible characters, and anything that is or looks like a slash."""
    return (character.isspace() or unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp")
            or character in SLASH_LOOKALIKES or PREFIX in unicodedata.normalize("NFKC", character))


def words_only(text: str) -> str:
    """`text` from its first character that is not leading noise (see `_is_leading_noise`)."""
    for position, character in enumerate(text):
        if not _is_leading_noise(character):
            return text[position:].strip()
    return ""


def citizen_text(text: str, offered: Set[str]) -> str:
    """What Rasa receives for a message the citizen sent."""
    stripped = text.strip()
    if stripped.startswith(PREFIX) and stripped in offered:
        return stripped
    words = words_only(text)
    return text if words == stripped else words
