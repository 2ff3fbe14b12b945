"""Rasa graph component: Rasa's whitespace tokenizer, bounded to the first `max_characters`.

The token-level components (lookup-table patterns, the CRF entity extractor) cost time in
proportion to the number of tokens: a 5,000-character message took about a second to parse.
The message guard answers any message over its `max_length` with a request to shorten it, so
entities past that point are never used; the intent classifier and the guard still read the
whole text. Keep `max_characters` equal to the guard's `max_length`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class BoundedWhitespaceTokenizer(WhitespaceTokenizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**WhitespaceTokenizer.get_default_config(), "max_characters": 2000}

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        limit = int(self._config["max_characters"])
        bounded = [token for token in tokens if token.start < limit]
        return bounded or tokens[:1]
