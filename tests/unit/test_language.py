"""The conversation language: set on the first message, changed only on clear evidence."""

from __future__ import annotations

import pytest

from vecina.nlu.detection import detect
from vecina.services.language import decide


@pytest.mark.parametrize("current, detected, reliable, requested, variety, expected", [
    (None, "ca", False, None, "va", "va"),  # first message, even a weak guess, Valencian deployment
    (None, "ca", False, None, "ca", "ca"),  # central Catalan deployment
    (None, "es", True, None, "va", "es"),
    (None, None, False, None, "va", "es"),  # emoji-only first message: default
    ("va", "es", False, None, "va", "va"),  # "ok", "hola", "sí": never switch
    ("va", "es", True, None, "va", "es"),  # a clear Spanish sentence switches
    ("es", "ca", True, None, "va", "va"),
    ("va", "ca", True, None, "va", "va"),  # Catalan detected in a Valencian conversation: stays va
    ("ca", "ca", True, None, "va", "ca"),  # citizen chose central Catalan: kept
    ("es", "es", True, "va", "va", "va"),  # explicit request wins
    ("va", "ca", True, "ca", "va", "ca"),
])
def test_decide(current, detected, reliable, requested, variety, expected) -> None:
    assert decide(current, detected, reliable, requested, variety) == expected


@pytest.mark.parametrize("text, language", [
    ("quiero saber qué documentos necesito para pedir la ayuda del alquiler", "es"),
    ("vull saber quins documents necessito per demanar l'ajuda del lloguer", "ca"),
    ("vull saber quins papers tinc que portar per a demanar l'ajuda", "ca"),
])
def test_detection_of_clear_sentences(text: str, language: str) -> None:
    detection = detect(text)
    assert detection.language == language and detection.reliable


@pytest.mark.parametrize("text", ["ok", "hola", "sí", "👍", ""])
def test_short_messages_are_not_reliable(text: str) -> None:
    assert not detect(text).reliable
