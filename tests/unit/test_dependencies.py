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


def test_the_slim_image_pins_what_the_lock_pins() -> None:
    """docker/requirements-actions.txt (action server, web page, console) must not drift from the lock."""
    from vecina.settings import ROOT

    def pins(name: str) -> dict:
        lines = (ROOT / name).read_text().splitlines()
        return {line.split("==")[0].lower(): line.split("==")[1] for line in lines if "==" in line}

    locked = pins("requirements.lock")
    assert {name: version for name, version in pins("docker/requirements-actions.txt").items()
            if locked.get(name) != version} == {}


def test_the_action_server_the_console_and_the_scheduler_need_no_rasa() -> None:
    """They run on the slim rasa-sdk image (docker/actions.Dockerfile), which has no Rasa."""
    import subprocess
    import sys

    from vecina.settings import ROOT

    code = ("import sys, actions, vecina.console, vecina.web, vecina.scheduler; "
            "print(sorted(m for m in sys.modules if m == 'rasa' or m.startswith('rasa.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
