"""Text normalisation and fuzzy matching shared by every matcher (procedures, centres, streets)."""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from rapidfuzz import fuzz, process

_NON_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lowercase, strip accents and punctuation: "L'Eixample, C/ Major" -> "l eixample c major"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_only = ascii_only.replace("·", "").replace("l.l", "ll")
    return _NON_WORD.sub(" ", ascii_only).strip()


def has_words(text: str) -> bool:
    """True when the text contains at least one letter or digit (not only emoji or symbols)."""
    return any(ch.isalnum() for ch in text)


def best_matches(
    query: str, choices: dict[str, str], limit: int = 5, cutoff: float = 70.0
) -> list[tuple[str, float]]:
    """Rank `choices` (key -> folded label) against a folded query; returns (key, score) pairs.

    The score combines a whole-string comparison (typos) with a token-set one (extra words
    such as "la ayuda de ..."), so "renta inclusion" and "renda d'inclusio" both match.
    """
    if not query:
        return []
    scored = process.extract(
        query, choices, scorer=_score, limit=limit * 4, score_cutoff=cutoff
    )
    best: dict[str, float] = {}
    for _label, score, key in scored:
        best[key] = max(score, best.get(key, 0.0))
    return sorted(best.items(), key=lambda item: -item[1])[:limit]


def _score(query: str, label: str, **_: object) -> float:
    whole = fuzz.ratio(query, label)
    partial = fuzz.token_set_ratio(query, label) if len(label) >= 4 else 0.0
    return max(whole, partial * 0.95)


def names_in_text(folded_text: str, labels: Iterable[str], cutoff: float = 86.0) -> list[tuple[str, float]]:
    """Folded names that appear, allowing typos, inside a longer folded message.

    Short names (acronyms like "sad", "oac") must appear as whole words; a name contained in a
    longer matched one ("empadronamiento" in "volante de empadronamiento") is dropped.
    """
    if len(folded_text) < 2:
        return []
    padded = f" {folded_text} "
    found = []
    for label in labels:
        if len(label) < 3 or len(label) > len(folded_text) + 3:
            continue
        if len(label) <= 5:
            if f" {label} " in padded:
                found.append((label, 100.0))
            continue
        score = fuzz.partial_ratio(label, folded_text)
        if score >= cutoff:
            found.append((label, score))
    return [(label, score) for label, score in found
            if not any(label != other and label in other and other_score >= score for other, other_score in found)]


def unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
