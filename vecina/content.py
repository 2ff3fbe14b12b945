"""Read response texts from the domain, for the few fragments actions compose (weekday names)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List

from ruamel.yaml import YAML

WEEKDAY_RESPONSES = ("utter_text_weekday_mon", "utter_text_weekday_tue", "utter_text_weekday_wed",
                     "utter_text_weekday_thu", "utter_text_weekday_fri", "utter_text_weekday_sat",
                     "utter_text_weekday_sun")


class ResponseTexts:
    def __init__(self, domain_dir: Path):
        yaml = YAML(typ="safe")
        self.responses: Dict[str, List[dict]] = {}
        for path in sorted(domain_dir.rglob("*.yml")):
            data = yaml.load(path.read_text(encoding="utf-8")) or {}
            self.responses.update(data.get("responses") or {})

    def text(self, name: str, language: str) -> str:
        variations = self.responses[name]
        for variation in variations:
            for condition in variation.get("condition") or []:
                if condition.get("name") == "language" and condition.get("value") == language:
                    return variation["text"]
        return next(v["text"] for v in variations if not v.get("condition"))

    def weekday_names(self, language: str) -> List[str]:
        return [self.text(name, language) for name in WEEKDAY_RESPONSES]


@lru_cache(maxsize=4)
def response_texts(domain_dir: str) -> ResponseTexts:
    return ResponseTexts(Path(domain_dir))
