"""Rasa graph component, last in the pipeline: routes messages no classifier should judge.

Empty or emoji-only messages, messages over `max_length` characters, and gibberish become
`nlu_fallback` with `message_guard.issue` saying why, so the fallback action can answer
helpfully. DIET is confidently wrong on gibberish ("qwrtp zxvbn" -> find_my_centre), so a
message counts as gibberish when none of its words was seen in training (the word-level
featurizer's vector is empty), no Spanish or Catalan dictionary knows them, and it has no
digits and no entities. An urgent message is never overridden, however long; and a message the
classifier was unsure about becomes urgent_help when that intent scored at least `urgent_floor`:
showing the emergency numbers to someone who did not need them costs little, missing someone
in danger does not.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

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


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class MessageGuard(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_length": 2000, "vocabulary_featurizer": None, "urgent_floor": 0.25}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.max_length = int(config["max_length"])
        self.vocabulary_featurizer = config.get("vocabulary_featurizer")
        self.urgent_floor = float(config.get("urgent_floor", self.get_default_config()["urgent_floor"]))

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "MessageGuard":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            issue = None
            current = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            urgent = _urgent_score(message) if current == FALLBACK_INTENT else 0.0
            if urgent >= self.urgent_floor:
                message.set(INTENT, {INTENT_NAME_KEY: URGENT_INTENT, "confidence": urgent}, add_to_output=True)
                continue
            if not has_words(text):
                issue = "empty"
            elif len(text) > self.max_length:
                issue = "too_long"
            elif self._gibberish(message, text):
                issue = "unknown_words"
            if issue is None or current in NEVER_OVERRIDDEN:
                continue
            message.set(INTENT, {INTENT_NAME_KEY: FALLBACK_INTENT, "confidence": 1.0}, add_to_output=True)
            ranking = message.get(INTENT_RANKING_KEY) or []
            message.set(INTENT_RANKING_KEY, [{INTENT_NAME_KEY: FALLBACK_INTENT, "confidence": 1.0}, *ranking],
                        add_to_output=True)
            message.set(MESSAGE_GUARD, {"issue": issue, "max_length": self.max_length}, add_to_output=True)
        return messages

    def _gibberish(self, message: Message, text: str) -> bool:
        if any(ch.isdigit() for ch in text) or message.get(ENTITIES):
            return False
        if self.vocabulary_featurizer:
            _, sentence = message.get_sparse_features(TEXT, [self.vocabulary_featurizer])
            if sentence is not None and sentence.features.nnz > 0:
                return False
        return not known_words(text)
