"""End-to-end conversations (tests/e2e/<language>.yml) through the real servers over REST."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from vecina.stack import Stack

pytestmark = pytest.mark.integration
E2E_DIR = Path(__file__).resolve().parent.parent / "e2e"


def _conversations():
    yaml = YAML(typ="safe")
    for path in sorted(E2E_DIR.glob("*.yml")):
        for conversation in yaml.load(path.read_text(encoding="utf-8"))["conversations"]:
            yield pytest.param(conversation, id=f"{path.stem}: {conversation['name']}")


def _is_subsequence(expected, actual) -> bool:
    remaining = iter(actual)
    return all(any(name == item for item in remaining) for name in expected)


@pytest.mark.parametrize("conversation", list(_conversations()))
def test_conversation(stack: Stack, conversation: dict) -> None:
    sender = stack.new_sender()
    for number, step in enumerate(conversation["steps"], start=1):
        replies, names, slots = stack.turn(sender, step["user"])
        where = f"step {number} ({step['user']!r}): responses {names}"
        assert replies, f"{where}: no reply at all"
        assert _is_subsequence(step.get("bot", []), names), f"{where}, expected in order {step['bot']}"
        for name in step.get("not_bot", []):
            assert name not in names, f"{where}: {name} must not be sent"
        for slot, value in (step.get("slots") or {}).items():
            assert slots.get(slot) == value, f"{where}: slot {slot}={slots.get(slot)!r}, expected {value!r}"
