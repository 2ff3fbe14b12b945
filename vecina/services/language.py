"""Which language the conversation is in: decided per message from detection and intent."""

from __future__ import annotations

from typing import Optional

from vecina import LANGUAGES

SPANISH, CATALAN = "es", "ca"


def family(language: Optional[str]) -> Optional[str]:
    """Catalan and Valencian are one language for detection purposes."""
    if language is None:
        return None
    return SPANISH if language == SPANISH else CATALAN


def decide(current: Optional[str], detected: Optional[str], reliable: bool, requested: Optional[str],
           variety: str, default: str = SPANISH) -> str:
    """The conversation's language after one citizen message.

    - an explicit request (change_language with a language) always wins;
    - the first message sets it from detection, even a weak one ("bon dia");
    - later it changes only on reliable evidence of the other language family, so "ok",
      "hola" or "sí" never switch it, and Valencian stays Valencian when Catalan is detected.
    """
    if requested in LANGUAGES:
        return requested  # type: ignore[return-value]
    if detected not in (SPANISH, CATALAN):
        return current or default
    wanted = SPANISH if detected == SPANISH else variety
    if current is None:
        return wanted
    if reliable and family(current) != family(wanted):
        return wanted
    return current
