"""Pins that carry a reason beyond "it resolves"."""

from __future__ import annotations


def test_rasa_validates_action_responses_with_a_cheap_meta_schema() -> None:
    """Rasa calls jsonschema.validate on every action server response. jsonschema 4.x picks Draft
    2020-12 for Rasa's schema and re-checks it against that meta-schema on each call (~200 ms on
    our 2-core machine, most of a turn's time); 3.2.0, inside Rasa's range, uses Draft 7 (~10 ms).
    See docs/performance.md."""
    from jsonschema.validators import Draft7Validator, validator_for
    from rasa.core.actions.action import RemoteAction

    assert validator_for(RemoteAction.action_response_format_spec()) is Draft7Validator
