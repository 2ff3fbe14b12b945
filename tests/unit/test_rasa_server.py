"""The Rasa server as Vecina starts it: action responses are checked exactly as Rasa checks them,
with the schema compiled once."""

from __future__ import annotations

from typing import Any, Dict

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from vecina.rasa_server import validate_action_responses_once

RESPONSES = [
    {"events": [{"event": "slot", "name": "language", "value": "es"}], "responses": [{"response": "utter_greet"}]},
    {"events": [], "responses": []},
    {},
    {"events": "not a list", "responses": []},
    {"events": [{"no_event_key": 1}], "responses": []},
    {"events": [], "responses": "not a list"},
    {"events": [{"event": 3}], "responses": [{}]},
]


def outcome(check: Any, response: Dict[str, Any]) -> Any:
    try:
        return check(RemoteAction("action_x", None), response)
    except ValidationError as error:
        return ("refused", error.message)


@pytest.mark.parametrize("response", RESPONSES)
def test_action_responses_are_judged_as_rasa_judges_them(response: Dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rasa_check = RemoteAction._validate_action_result
    expected = outcome(rasa_check, response)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", rasa_check)
    validate_action_responses_once()
    assert outcome(RemoteAction._validate_action_result, response) == expected
