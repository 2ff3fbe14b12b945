"""The linear intent classifier as a Rasa component: trains, persists, loads, ranks."""

from __future__ import annotations

import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from vecina.nlu.intent_classifier import LinearIntentClassifier, NegationMarker

EXAMPLES = {
    "appointment_book": ["quiero pedir cita", "necesito una cita con la trabajadora social", "pedir hora",
                         "vull demanar cita", "em dona cita per dijous", "cita per a la assistenta"],
    "appointment_cancel": ["anular mi cita", "no podre ir a la cita, anulela", "cancelar la cita del martes",
                           "vull anul·lar la cita", "cancel·la la meua cita", "ja no necessite la cita"],
    "report_incident": ["hay una farola rota", "un bache enorme en mi calle", "basura tirada en la acera",
                        "hi ha un fanal trencat", "un forat al carrer", "el contenidor esta cremat"],
}


def _training_data() -> TrainingData:
    return TrainingData([Message(data={"text": text, "intent": intent})
                         for intent, texts in EXAMPLES.items() for text in texts])


def _trained(tmp_path, config=None, data=None) -> LinearIntentClassifier:  # type: ignore[no-untyped-def]
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage, resource = LocalModelStorage(tmp_path), Resource("intents")
    LinearIntentClassifier(config or {}, storage, resource).train(data or _training_data())
    return LinearIntentClassifier.load(config or {}, storage, resource, None)


@pytest.mark.parametrize("text, intent", [
    ("quisiera pedir una cita", "appointment_book"),
    ("vull anul·lar la cita de dimarts", "appointment_cancel"),
    ("farola rota en la plaza", "report_incident"),
    ("FAROLA ROTA", "report_incident"),  # case and accents do not matter
])
def test_a_loaded_model_ranks_the_right_intent_first(tmp_path, text: str, intent: str) -> None:
    message = _trained(tmp_path).process([Message(data={"text": text})])[0]
    ranking = message.get("intent_ranking")
    assert message.get("intent")["name"] == intent == ranking[0]["name"]
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert {r["name"] for r in ranking} == set(EXAMPLES)
    assert "intent" in message.as_dict(only_output_properties=True)


def test_the_ranking_is_cut_at_ranking_length(tmp_path) -> None:
    message = _trained(tmp_path, {"ranking_length": 2}).process([Message(data={"text": "pedir cita"})])[0]
    assert len(message.get("intent_ranking")) == 2


def test_few_examples_per_intent_train_without_calibration(tmp_path) -> None:
    """Smoke runs train on a handful of examples: too few for cross-validated calibration."""
    data = TrainingData([Message(data={"text": t, "intent": i}) for i, texts in EXAMPLES.items() for t in texts[:1]])
    message = _trained(tmp_path, data=data).process([Message(data={"text": "hay una farola rota"})])[0]
    assert message.get("intent")["name"] == "report_incident"
    assert 0 < message.get("intent")["confidence"] <= 1


def test_one_intent_and_empty_text_do_not_fail(tmp_path) -> None:
    data = TrainingData([Message(data={"text": "hola", "intent": "greet"})])
    classifier = _trained(tmp_path, data=data)
    message = classifier.process([Message(data={"text": ""})])[0]
    assert message.get("intent") == {"name": "greet", "confidence": 1.0}


def test_the_same_data_gives_the_same_confidences(tmp_path) -> None:
    first = _trained(tmp_path / "a").process([Message(data={"text": "necesito cita"})])[0].get("intent_ranking")
    second = _trained(tmp_path / "b").process([Message(data={"text": "necesito cita"})])[0].get("intent_ranking")
    assert first == second


@pytest.mark.parametrize("text, marked", [
    ("No quiero recibir más avisos", "no NEG_quiero NEG_recibir NEG_mas NEG_avisos"),
    ("no, apúntame a los avisos", "no apuntame a los avisos"),  # the comma ends the negated clause
    ("ja no vull avisos. Gràcies", "ja no NEG_vull NEG_avisos gracies"),
    ("sense falta, sí", "sense NEG_falta si"),
    ("quiero recibir avisos", "quiero recibir avisos"),
])
def test_negation_marks_the_rest_of_the_clause(text: str, marked: str) -> None:
    assert NegationMarker(["no", "sense"])(text) == marked


def test_an_unquoted_no_in_config_is_reported_not_ignored() -> None:
    with pytest.raises(ValueError, match="negation_words must be quoted strings"):
        NegationMarker([False, "ni"])


def test_the_stored_model_learns_negated_words_as_their_own_features(tmp_path) -> None:
    data = TrainingData([Message(data={"text": t, "intent": i}) for i, t in [
        ("subscribe_notices", "quiero recibir avisos"), ("subscribe_notices", "apuntame a los avisos"),
        ("unsubscribe_notices", "no quiero recibir avisos"), ("unsubscribe_notices", "no me mandeis avisos")]])
    stored = _trained(tmp_path, {"negation_words": ["no"]}, data)
    words = stored.model.steps[0][1].transformer_list[1][1].vocabulary_
    assert {"quiero", "NEG_quiero", "NEG_recibir", "recibir"} <= set(words)
