"""Rasa graph component, last in the pipeline: routes messages no classifier should judge.

Empty or emoji-only messages, messages over `max_length` characters, and gibberish become
`nlu_fallback` with `message_guard.issue` saying why, so the fallback action can answer
helpfully. Classifiers are confidently wrong on gibberish ("qwrtp zxvbn" -> find_my_centre), so a
message counts as gibberish when none of its words was seen in training (the word-level
featurizer's vector is empty), no Spanish or Catalan dictionary knows them, and it has no
digits and no entities — unless the classifier is at least `trusted_confidence` sure of its
answer: spelling it learned from its character n-grams ("grasies", "adioss", "nooo") is not
gibberish; of 200 keyboard-mash strings only "hggl" (0.81) got past that (docs/nlu.md). An
urgent message is never overridden, however long; and a message the classifier was unsure
about becomes urgent_help when that intent scored at least `urgent_floor`: showing the
emergency numbers to someone who did not need them costs little, missing someone in danger
does not. For the same reason a message matching one of the training data's
`regex: urgent_signal` patterns ("no quiero vivir", "dormo al carrer", ...) is urgent_help
whatever the classifier thought: editors maintain those phrases in data/nlu/handoff/<lang>.yml.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from vecina.nlu import MESSAGE_GUARD
from vecina.nlu.detection import WORD
from vecina.text import has_words


FALLBACK_INTENT = "nlu_fallback"
URGENT_INTENT = "urgent_help"
NEVER_OVERRIDDEN = (URGENT_INTENT,)


def known_words(text: str) -> bool:
    """Any word a Spanish or Catalan dictionary knows (simplemma ships them in its package)."""
    from simplemma import is_known

    return any(is_known(word, lang="es") or is_known(word, lang="ca") for word in WORD.findall(text.lower()))


def _urgent_score(message: Message) -> float:
    ranking = message.get(INTENT_RANKING_KEY) or []
    return max((r.get("confidence", 0.0) for r in ranking if r.get(INTENT_NAME_KEY) == URGENT_INTENT), default=0.0)


def _classifier_confidence(message: Message) -> float:
    """The classifier's own top confidence, before the FallbackClassifier put nlu_fallback first."""
    ranking = message.get(INTENT_RANKING_KEY) or []
    return next((r.get("confidence", 0.0) for r in ranking if r.get(INTENT_NAME_KEY) != FALLBACK_INTENT), 0.0)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class MessageGuard(GraphComponent):
    PATTERNS_FILE = "urgent_patterns.json"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_length": 2000, "vocabulary_featurizer": None, "urgent_floor": 0.25, "trusted_confidence": None,
                "urgent_regex": "urgent_signal"}

    def __init__(self, config: Dict[Text, Any], model_storage: Optional[ModelStorage] = None,
                 resource: Optional[Resource] = None, urgent_patterns: Optional[List[str]] = None) -> None:
        config = {**self.get_default_config(), **config}
        self.max_length = int(config["max_length"])
        self.vocabulary_featurizer = config.get("vocabulary_featurizer")
        self.urgent_floor = float(config["urgent_floor"])
        trusted = config.get("trusted_confidence")
        self.trusted_confidence = None if trusted is None else float(trusted)
        self.urgent_regex = config["urgent_regex"]
        self._model_storage, self._resource = model_storage, resource
        self.urgent_patterns = list(urgent_patterns or [])
        self._urgent = re.compile("|".join(f"(?:{p})" for p in self.urgent_patterns), re.IGNORECASE) \
            if self.urgent_patterns else None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "MessageGuard":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        assert self._model_storage is not None and self._resource is not None
        patterns = [r["pattern"] for r in training_data.regex_features if r.get("name") == self.urgent_regex]
        with self._model_storage.write_to(self._resource) as directory:
            (directory / self.PATTERNS_FILE).write_text(json.dumps(patterns, ensure_ascii=False), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "MessageGuard":
        try:
            with model_storage.read_from(resource) as directory:
                patterns = json.loads((directory / cls.PATTERNS_FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            patterns = []
        return cls(config, model_storage, resource, patterns)

    def _set_intent(self, message: Message, intent: str, confidence: float, details: Dict[str, Any]) -> None:
        message.set(INTENT, {INTENT_NAME_KEY: intent, "confidence": confidence}, add_to_output=True)
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
        message.set(INTENT_RANKING_KEY, [{INTENT_NAME_KEY: intent, "confidence": confidence}, *ranking],
                    add_to_output=True)
        message.set(MESSAGE_GUARD, details, add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            current = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if self._urgent is not None and current != URGENT_INTENT and self._urgent.search(text):
                self._set_intent(message, URGENT_INTENT, 1.0, {"issue": None, "urgent_signal": True})
                continue
            urgent = _urgent_score(message) if current == FALLBACK_INTENT else 0.0
            if urgent >= self.urgent_floor:
                message.set(INTENT, {INTENT_NAME_KEY: URGENT_INTENT, "confidence": urgent}, add_to_output=True)
                continue
            issue = None
            if not has_words(text):
                issue = "empty"
            elif len(text) > self.max_length:
                issue = "too_long"
            elif self._gibberish(message, text):
                issue = "unknown_words"
            if issue is None or current in NEVER_OVERRIDDEN:
                continue
            self._set_intent(message, FALLBACK_INTENT, 1.0, {"issue": issue, "max_length": self.max_length})
        return messages

    def _gibberish(self, message: Message, text: str) -> bool:
        if any(ch.isdigit() for ch in text) or message.get(ENTITIES):
            return False
        if self.trusted_confidence is not None and _classifier_confidence(message) >= self.trusted_confidence:
            return False
        if self.vocabulary_featurizer:
            _, sentence = message.get_sparse_features(TEXT, [self.vocabulary_featurizer])
            if sentence is not None and sentence.features.nnz > 0:
                return False
        return not known_words(text)
