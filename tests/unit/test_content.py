"""Every bot text exists in es, ca and va with the same variables and buttons."""

from __future__ import annotations

import re

import pytest

from vecina.content import ResponseTexts
from vecina.data_validation import channel_intents, check_rasa_output, dispatched_responses, missing_responses
from vecina.settings import ROOT

RESPONSES = ResponseTexts(ROOT / "domain").responses
VARIABLE = re.compile(r"{([a-z_]+)}")


def _variation(variations, language):
    for variation in variations:
        conditions = variation.get("condition") or []
        if any(c.get("name") == "language" and c.get("value") == language for c in conditions):
            return variation
        if language is None and not conditions:
            return variation
    return None


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_has_every_language_with_the_same_variables_and_buttons(name: str) -> None:
    variations = RESPONSES[name]
    shapes = set()
    for language in ("es", "ca", "va", None):
        variation = _variation(variations, language)
        assert variation is not None, f"{name}: no variation for {language or 'default'}"
        buttons = variation.get("buttons") or []
        for button in buttons:
            assert len(button["title"]) <= 20, f"{name}/{language}: button title over 20 characters"
        shapes.add((frozenset(VARIABLE.findall(variation["text"])), tuple(b["payload"] for b in buttons)))
    assert len(shapes) == 1, f"{name}: languages differ in variables or button payloads: {shapes}"


def test_every_response_an_action_sends_exists() -> None:
    assert dispatched_responses(ROOT), "no responses found in actions/"
    assert missing_responses(ROOT) == []


def test_only_warnings_about_responses_sent_by_actions_are_accepted() -> None:
    output = "\n".join([
        "UserWarning: The utterance 'utter_procedure_summary' is not used in any story or rule.",
        "UserWarning: The utterance 'utter_forgotten' is not used in any story or rule.",
        "UserWarning: Issue found in 'data/nlu/core/es.yml': entity 'x' not in domain",
        "/site-packages/pkg_resources/__init__.py: DeprecationWarning: something",
    ])
    problems = check_rasa_output(output, {"utter_procedure_summary"})
    assert len(problems) == 2
    assert "utter_forgotten" in problems[0] and "entity 'x'" in problems[1]


def test_only_channel_intents_may_lack_training_examples() -> None:
    output = "\n".join([
        "UserWarning: The intent 'share_media' is listed in the domain file, but is not found in the NLU training data.",
        "UserWarning: The intent 'greet' is listed in the domain file, but is not found in the NLU training data.",
        "UserWarning: The intent 'EXTERNAL_staff_reply' is listed in the domain file, but is not found in the NLU",
    ])
    assert "share_media" in channel_intents(ROOT)
    problems = check_rasa_output(output, set(), channel_intents(ROOT))
    assert len(problems) == 1 and "'greet'" in problems[0]
