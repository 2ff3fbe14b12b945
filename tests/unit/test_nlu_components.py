"""The message guard and the language detector as Rasa components, on real Message objects."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from vecina.nlu.guard import MessageGuard
from vecina.nlu.language_detector import LanguageDetector


def _message(text: str, intent: str) -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.9}, add_to_output=True)
    return message


@pytest.mark.parametrize("text, intent, issue", [
    ("", "greet", "empty"),
    ("👍🙂", "affirm", "empty"),
    ("hola " * 500, "greet", "too_long"),
    ("fjdksl qpwoei zmxn", "out_of_scope", "unknown_words"),
    ("qwrtp zxvbn mlkjh", "find_my_centre", "unknown_words"),  # classifiers are confidently wrong on gibberish
    ("quien gano el partido ayer", "out_of_scope", None),  # a real out-of-scope question stays
    ("zxvbn 46981", "find_my_centre", None),  # digits: a postcode, not gibberish
    ("no tengo donde dormir esta noche " * 100, "urgent_help", None),  # never overridden
    ("que documentos necesito", "procedure_documents", None),
], ids=["empty", "emoji", "too-long", "gibberish-oos", "gibberish-intent", "real-oos", "digits", "long-urgent",
        "normal"])
def test_guard(text: str, intent: str, issue) -> None:
    message = MessageGuard({"max_length": 2000}).process([_message(text, intent)])[0]
    if issue is None:
        assert message.get("intent")["name"] == intent and message.get("message_guard") is None
    else:
        assert message.get("intent")["name"] == "nlu_fallback"
        assert message.get("message_guard")["issue"] == issue
        assert "message_guard" in message.as_dict(only_output_properties=True)


@pytest.mark.parametrize("classifier_confidence, intent", [(0.91, "thank"), (0.6, "nlu_fallback")])
def test_unknown_words_the_classifier_is_sure_about_are_not_gibberish(classifier_confidence, intent) -> None:
    message = _message("grasies", "thank")
    message.set("intent_ranking", [{"name": "thank", "confidence": classifier_confidence},
                                   {"name": "greet", "confidence": 0.05}], add_to_output=True)
    guarded = MessageGuard({"trusted_confidence": 0.8}).process([message])[0]
    assert guarded.get("intent")["name"] == intent


@pytest.mark.parametrize("urgent_score, expected", [(0.4, "urgent_help"), (0.1, "nlu_fallback")])
def test_an_unsure_message_that_may_be_urgent_is_treated_as_urgent(urgent_score: float, expected: str) -> None:
    message = _message("no trobe sentit a res, millor que no estiguera aci", "nlu_fallback")
    message.set("intent_ranking", [{"name": "out_of_scope", "confidence": 0.45},
                                   {"name": "urgent_help", "confidence": urgent_score}], add_to_output=True)
    assert MessageGuard({"max_length": 2000}).process([message])[0].get("intent")["name"] == expected


def test_words_the_model_learned_are_not_gibberish() -> None:
    """"holaa" or "grax" are in no dictionary, but the training data taught them to the model."""
    import numpy as np
    import scipy.sparse
    from rasa.shared.nlu.training_data.features import Features

    guard = MessageGuard({"max_length": 2000, "vocabulary_featurizer": "word_counts"})
    learned = _message("grax", "thank")
    learned.add_features(Features(scipy.sparse.coo_matrix(np.array([[0, 1, 0]])), "sentence", "text", "word_counts"))
    unseen = _message("grax", "thank")
    unseen.add_features(Features(scipy.sparse.coo_matrix(np.array([[0, 0, 0]])), "sentence", "text", "word_counts"))
    assert guard.process([learned])[0].get("intent")["name"] == "thank"
    assert guard.process([unseen])[0].get("intent")["name"] == "nlu_fallback"
    with_entity = _message("benimar", "find_my_centre")
    with_entity.set("entities", [{"entity": "district", "value": "benimar"}])
    assert guard.process([with_entity])[0].get("intent")["name"] == "find_my_centre"


def test_language_detection_reaches_the_parse_output() -> None:
    detector = LanguageDetector(LanguageDetector.get_default_config())
    message = detector.process([Message(data={"text": "vull saber quins documents necessito"})])[0]
    output = message.as_dict(only_output_properties=True)["language_detection"]
    assert output["language"] == "ca" and output["reliable"] is True


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError):
        LanguageDetector({"backend": "guess"})


def test_urgent_phrases_from_the_training_data_always_mean_urgent_help(tmp_path) -> None:
    """The `regex: urgent_signal` phrases are persisted with the model and override the classifier."""
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    storage, resource = LocalModelStorage(tmp_path), Resource("guard")
    data = TrainingData(regex_features=[{"name": "urgent_signal", "pattern": r"\bno quiero vivir\b"},
                                        {"name": "postcode", "pattern": r"\b46\d{3}\b"}])
    MessageGuard({}, storage, resource).train(data)
    guard = MessageGuard.load({}, storage, resource, None)
    urgent = guard.process([_message("ya no puedo mas, NO QUIERO VIVIR", "unsubscribe_notices")])[0]
    assert urgent.get("intent") == {"name": "urgent_help", "confidence": 1.0}
    assert urgent.get("intent_ranking")[0]["name"] == "urgent_help"
    assert guard.process([_message("vivo en el 46981", "find_my_centre")])[0].get("intent")["name"] == "find_my_centre"


def test_the_urgent_phrases_catch_no_other_training_example() -> None:
    import re

    from vecina.evaluation import load_examples
    from vecina.settings import ROOT
    from rasa.shared.nlu.training_data.loading import load_data

    patterns = [r["pattern"] for path in sorted((ROOT / "data" / "nlu").glob("*/*.yml"))
                for r in load_data(str(path)).regex_features if r["name"] == "urgent_signal"]
    assert len(patterns) > 30
    urgent = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    caught = [e.text for e in load_examples(ROOT / "data") if e.intent != "urgent_help" and urgent.search(e.text)]
    assert caught == []


def test_a_message_over_max_characters_gets_no_token_level_work() -> None:
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from vecina.nlu.bounded import BoundedRegexFeaturizer, BoundedWhitespaceTokenizer

    tokenizer = BoundedWhitespaceTokenizer({**BoundedWhitespaceTokenizer.get_default_config(), "max_characters": 30})
    featurizer = BoundedRegexFeaturizer({**BoundedRegexFeaturizer.get_default_config(), "max_characters": 30,
                                         "case_sensitive": False},
                                        None, None, ExecutionContext(GraphSchema({}), node_name="regex"),
                                        [{"name": "street", "pattern": r"\bcalle mayor\b"}])
    short = Message(data={"text": "vivo en la calle Mayor 12"})
    long = Message(data={"text": "vivo en la calle Mayor 12 " * 100})
    tokenizer.process_training_data(TrainingData([short, long]))
    featurizer.process([short, long])
    assert [t.text for t in short.get("text_tokens")] == ["vivo", "en", "la", "calle", "Mayor", "12"]
    assert [t.get("pattern") for t in short.get("text_tokens")][3] == {"street": True}
    assert [t.text for t in long.get("text_tokens")] == ["vivo"]
    assert long.features == [] and short.features
