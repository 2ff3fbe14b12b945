"""Rasa graph component: adds `language_detection` to every parsed message."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from vecina.nlu import LANGUAGE_DETECTION
from vecina.nlu.detection import BACKENDS, detect



@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class LanguageDetector(GraphComponent):
    """Detects Spanish or Catalan; the dialogue decides what to do with it (see vecina.services.language)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"backend": "lingua"}

    def __init__(self, config: Dict[Text, Any]) -> None:
        if config["backend"] not in BACKENDS:
            raise ValueError(f"LanguageDetector backend must be one of {sorted(BACKENDS)}")
        self.backend = config["backend"]
        detect("hola bon dia", self.backend)  # load the models at startup, not on the first citizen

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LanguageDetector":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            message.set(LANGUAGE_DETECTION, detect(text, self.backend).as_dict(), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
