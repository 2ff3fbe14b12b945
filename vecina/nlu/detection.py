"""Spanish/Catalan detection for one message, independent of Rasa (used by the NLU component)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
MIN_RELIABLE_WORDS = 3
MIN_RELIABLE_CONFIDENCE = 0.85


@dataclass(frozen=True)
class Detection:
    language: Optional[str]  # "es" | "ca" | None when there is nothing to detect
    confidence: float
    reliable: bool

    def as_dict(self) -> dict:
        return {"language": self.language, "confidence": round(self.confidence, 3), "reliable": self.reliable}


@lru_cache(maxsize=1)
def _lingua():  # type: ignore[no-untyped-def]
    from lingua import Language, LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_languages(Language.CATALAN, Language.SPANISH) \
        .with_preloaded_language_models().build()
    return detector, {Language.CATALAN: "ca", Language.SPANISH: "es"}


def detect_lingua(text: str) -> tuple:
    detector, codes = _lingua()
    values = detector.compute_language_confidence_values(text)
    if not values:
        return None, 0.0
    return codes[values[0].language], float(values[0].value)


def detect_simplemma(text: str) -> tuple:
    from simplemma import langdetect

    scores = dict(langdetect(text, lang=("es", "ca")))
    es, ca = scores.get("es", 0.0), scores.get("ca", 0.0)
    if es == ca:
        return None, 0.0
    best = "es" if es > ca else "ca"
    return best, max(es, ca) / (es + ca)


BACKENDS = {"lingua": detect_lingua, "simplemma": detect_simplemma}


def detect(text: str, backend: str = "lingua") -> Detection:
    words = WORD.findall(text or "")
    if not words:
        return Detection(None, 0.0, False)
    language, confidence = BACKENDS[backend](" ".join(words))
    reliable = language is not None and len(words) >= MIN_RELIABLE_WORDS and confidence >= MIN_RELIABLE_CONFIDENCE
    return Detection(language, confidence, reliable)
