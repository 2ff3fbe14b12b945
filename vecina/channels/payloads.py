"""Typed text versus button payloads.

Rasa reads any message that starts with "/" as a forced intent ("/restart" even resumes a paused
conversation), and a citizen can type one. Every channel therefore passes such a text through
only when it is exactly the payload of a button the bot offered in its latest turn; otherwise
the slashes are dropped and NLU reads the words like any other text.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Mapping, Set

PREFIX = "/"


def offered_payloads(events: Iterable[Mapping[str, Any]]) -> Set[str]:
    """The button payloads of the bot messages after the citizen's last message (tracker events)."""
    offered: List[str] = []
    for event in reversed(list(events)):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            buttons = (event.get("data") or {}).get("buttons") or []
            offered += [str(b["payload"]).strip() for b in buttons if isinstance(b, Mapping) and b.get("payload")]
    return set(offered)


def citizen_text(text: str, offered: Set[str]) -> str:
    """What Rasa receives for a message the citizen sent."""
    stripped = text.strip()
    if not stripped.startswith(PREFIX):
        return text
    return stripped if stripped in offered else stripped.lstrip(PREFIX).strip()
