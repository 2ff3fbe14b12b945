"""Rasa graph components that skip token-level work on messages over `max_characters`.

Finding entities costs time in proportion to the text: the lookup-table regexes run over the
whole text and the CRF over every token (a 5,000-character message took about a second, a
2,000-character one over 200 ms). Over `max_characters` the tokenizer keeps only the first token
and the lookup-table featurizer does nothing, so such a message gets no entities; the intent
classifier and the guard (urgent phrases, the "too long" answer over its own `max_length`) still
read the whole text. A citizen who wrote that much is asked for the detail the answer needs.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Text, Tuple

import scipy.sparse

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

MAX_CHARACTERS = 1000

# Rasa's recipe validator looks for its own RegexFeaturizer class, not subclasses, and would warn
# at every training that the lookup tables and regexes go unused. The lookup tables are used
# here; the regexes (urgent phrases) are applied by the message guard.
warnings.filterwarnings("ignore", message=r"You have defined training data (with regexes|consisting of lookup "
                        r"tables), but your NLU configuration does not include a")


def _too_long(message: Message, attribute: Text, config: Dict[Text, Any]) -> bool:
    return len(message.get(attribute) or "") > int(config.get("max_characters", MAX_CHARACTERS))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class BoundedWhitespaceTokenizer(WhitespaceTokenizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**WhitespaceTokenizer.get_default_config(), "max_characters": MAX_CHARACTERS}

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        return tokens[:1] if _too_long(message, attribute, self._config) else tokens


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class BoundedRegexFeaturizer(RegexFeaturizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**RegexFeaturizer.get_default_config(), "max_characters": MAX_CHARACTERS}

    def _features_for_patterns(self, message: Message, attribute: Text
                               ) -> Tuple[Optional[scipy.sparse.coo_matrix], Optional[scipy.sparse.coo_matrix]]:
        if _too_long(message, attribute, self._config):
            return None, None
        return super()._features_for_patterns(message, attribute)
