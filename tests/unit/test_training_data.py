"""The NLU contract is complete from day one: every intent, every language, enough examples."""

from __future__ import annotations

from collections import defaultdict

import pytest

from vecina import LANGUAGES
from vecina.content import ResponseTexts
from vecina.data_validation import channel_intents
from vecina.evaluation import load_examples, split
from vecina.settings import ROOT

FIXED_INTENTS = {
    "greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "help_menu", "procedure_info",
    "procedure_requirements", "procedure_documents", "centre_info", "find_my_centre", "appointment_book",
    "appointment_cancel", "appointment_change", "appointment_list", "case_status", "report_incident", "complaint",
    "human_handoff", "urgent_help", "change_language", "subscribe_notices", "unsubscribe_notices", "out_of_scope",
}


@pytest.fixture(scope="module")
def examples():
    return load_examples(ROOT / "data")


def _domain_intents() -> set:
    from ruamel.yaml import YAML

    intents = set()
    for path in (ROOT / "domain").glob("*.yml"):
        intents.update(YAML(typ="safe").load(path.read_text(encoding="utf-8")).get("intents") or [])
    return intents


def test_the_fixed_intents_are_all_in_the_domain() -> None:
    assert FIXED_INTENTS <= _domain_intents()


def test_every_intent_has_twenty_distinct_examples_per_language(examples) -> None:
    distinct = defaultdict(set)
    for example in examples:
        distinct[(example.language, example.intent)].add(example.text.lower())
    for intent in _domain_intents() - channel_intents(ROOT):  # only channels send those
        if intent.startswith("EXTERNAL_"):  # only trigger_intent raises those
            continue
        for language in LANGUAGES:
            assert len(distinct[(language, intent)]) >= 20, (language, intent, len(distinct[(language, intent)]))


def test_no_text_means_two_intents(examples) -> None:
    intents_of = defaultdict(set)
    for example in examples:
        intents_of[example.text.strip().lower()].add(example.intent)
    conflicts = {text: intents for text, intents in intents_of.items() if len(intents) > 1}
    assert not conflicts


def test_held_out_split_is_stratified_and_reproducible(examples) -> None:
    train, test = split(examples, 0.2, 2026)
    again_train, again_test = split(examples, 0.2, 2026)
    assert [e.text for e in test] == [e.text for e in again_test]
    assert not {e.text for e in train} & {e.text for e in test}
    assert {(e.language, e.intent) for e in test} == {(e.language, e.intent) for e in examples}


def test_entities_annotated_are_in_the_domain(examples) -> None:
    from ruamel.yaml import YAML

    entities = set()
    for path in (ROOT / "domain").glob("*.yml"):
        entities.update(YAML(typ="safe").load(path.read_text(encoding="utf-8")).get("entities") or [])
    used = {entity["entity"] for example in examples for entity in example.message.get("entities") or []}
    assert used <= entities
    assert {"procedure", "centre", "district", "street", "street_number", "postcode", "date", "time",
            "case_code"} <= used
