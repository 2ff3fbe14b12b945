"""The measuring tools themselves: test sets, folds, metrics and the threshold simulation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vecina.evaluation import load_examples
from vecina.evaluation.bench import Level, long_message, rss_mb
from vecina.evaluation.data import InvalidTestSet, folds, keyboard_mash, read_tsv, split, subsample
from vecina.evaluation.nlu import (FALLBACK, TEST_SETS, baseline_key, baseline_path, load_baseline, make_plan,
                                   record_baseline, simulate_threshold, summarize)
from vecina.settings import ROOT


@pytest.fixture(scope="module")
def examples():
    return load_examples(ROOT / "data")


def test_a_tsv_test_set_is_read_with_its_entities(tmp_path: Path) -> None:
    path = tmp_path / "test.tsv"
    path.write_text("# comment\nes\tprocedure_documents\tpapeles para la [teleasistencia](procedure)\n"
                    "va\tgreet\tbon dia\n", encoding="utf-8")
    first, second = read_tsv(path, {"procedure_documents", "greet"})
    assert (first.language, first.intent, first.text) == ("es", "procedure_documents", "papeles para la teleasistencia")
    assert first.entities == [{"entity": "procedure", "start": 16, "end": 30}]
    assert second.language == "va" and second.entities == []


@pytest.mark.parametrize("line, problem", [
    ("es\tgreet", "expected language<TAB>intent<TAB>text"),
    ("fr\tgreet\tbonjour", "language must be one of"),
    ("es\tsing_a_song\thola", "unknown intent 'sing_a_song'"),
    ("es\tgreet\t ", "empty text"),
])
def test_a_broken_tsv_line_is_named_with_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "broken.tsv"
    path.write_text(f"es\tgreet\thola\n{line}\n", encoding="utf-8")
    with pytest.raises(InvalidTestSet, match=rf"broken.tsv:2: .*{problem}"):
        read_tsv(path, {"greet"})


def test_folds_test_every_example_once_and_never_train_on_it(examples) -> None:
    sample = subsample(examples, 10, 7)
    rounds = folds(sample, 5, 7)
    tested = [id(e) for _, test in rounds for e in test]
    assert len(tested) == len(set(tested))
    assert len(tested) >= 0.95 * len(sample)  # a text shared by two languages stays in training
    groups = {(e.language, e.intent) for e in sample}
    for train, test in rounds:
        assert not {e.text.lower() for e in train} & {e.text.lower() for e in test}
        assert len({(e.language, e.intent) for e in test}) >= 0.95 * len(groups)  # stratified
    assert {(e.language, e.intent) for _, test in rounds for e in test} == groups


def _row(intent: str, predicted: str, language: str = "es", **extra) -> dict:
    row = {"language": language, "intent": intent, "text": f"{intent} {predicted}", "predicted": predicted,
           "top": predicted, "top_confidence": 0.9, "second_confidence": 0.05, "urgent_confidence": 0.0,
           "guard": None, "detected_language": "es", "gold_entities": [], "entities": []}
    row.update(extra)
    return row


def test_a_recorded_baseline_is_found_only_for_the_same_data_and_test_set(examples, tmp_path: Path) -> None:
    train, test = split(examples, 0.2, 2026)
    key = baseline_key("stock", ROOT, train, test, None)
    assert key == baseline_key("stock", ROOT, list(train), list(test), None)
    assert key != baseline_key("stock", ROOT, train[1:], test, None)  # one training message less
    assert key != baseline_key("stock", ROOT, train, test[1:], None)  # another test set
    assert key != baseline_key("stock", ROOT, train, test, 2)  # another config
    rows = [{"intent": "greet", "predicted": "greet"}]
    other_test_set = record_baseline(tmp_path, "stock-independent", "fedcba9876543210", 10.0, rows)
    older = record_baseline(tmp_path, "stock-split", "0123456789abcdef", 10.0, rows)
    path = record_baseline(tmp_path, "stock-split", key, 2400.5, rows)
    assert not older.exists() and path == baseline_path(tmp_path, "stock-split", key)
    assert other_test_set.exists()  # one recorded baseline per test set
    assert load_baseline(tmp_path, "stock-split", key)["predictions"] == rows
    assert load_baseline(tmp_path, "stock-split", key)["training_seconds"] == 2400.5
    assert load_baseline(tmp_path, "stock-split", "0123456789abcdef") is None


def test_test_sets_leave_out_training_texts_and_only_committed_ones_are_recorded(tmp_path: Path) -> None:
    committed = sorted((ROOT / TEST_SETS).glob("*.tsv"))
    assert committed, "eval/ holds at least one independent test set"
    plan = make_plan(ROOT, 0.2, 2026, None, committed[0], smoke=False)
    (train, test), = plan.rounds
    training_texts = {e.text.strip().lower() for e in train}
    assert test and not any(e.text.strip().lower() in training_texts for e in test)
    assert plan.baseline == committed[0].stem and "left out" in plan.mode
    elsewhere = tmp_path / "mine.tsv"
    elsewhere.write_text("es\tgreet\thola\nes\tgreet\twenas tardes, vecina\n", encoding="utf-8")
    plan = make_plan(ROOT, 0.2, 2026, None, elsewhere, smoke=False)
    assert plan.baseline is None and [e.text for e in plan.rounds[0][1]] == ["wenas tardes, vecina"]
    assert "1 of its 2 messages left out" in plan.mode


def test_keyboard_mash_is_reproducible_and_never_a_training_example(examples) -> None:
    mash = keyboard_mash(200, 2026)
    assert [e.text for e in mash] == [e.text for e in keyboard_mash(200, 2026)]
    assert len({e.text for e in mash}) == 200 and all(e.intent == "nlu_fallback" for e in mash)
    assert not {e.text for e in mash} & {e.text.lower() for e in examples}


def test_summary_counts_fallbacks_as_errors_and_scores_entities() -> None:
    rows = [_row("greet", "greet"), _row("greet", FALLBACK), _row("thank", "thank", "ca", detected_language="es"),
            _row("out_of_scope", "procedure_info", gold_entities=[], entities=[]),
            _row("procedure_documents", "procedure_documents",
                 gold_entities=[{"entity": "procedure", "start": 0, "end": 5}],
                 entities=[{"entity": "procedure", "start": 0, "end": 5}, {"entity": "date", "start": 6, "end": 9}])]
    summary = summarize(rows)
    everything = summary["languages"]["all"]
    assert everything["errors"] == 2 and everything["fallback_share"] == 0.2
    assert summary["languages"]["ca"]["language_detection_accuracy"] == 0.0
    assert summary["entities"] == {"procedure": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}}
    assert summary["out_of_scope_taken_as_municipal"] == [{"text": "out_of_scope procedure_info",
                                                           "predicted": "procedure_info"}]


@pytest.mark.parametrize("row, threshold, expected", [
    (_row("greet", "greet", top_confidence=0.45), 0.4, "greet"),
    (_row("greet", "greet", top_confidence=0.45), 0.5, FALLBACK),
    (_row("greet", "greet", top_confidence=0.45, second_confidence=0.40), 0.3, FALLBACK),  # ambiguous
    (_row("urgent_help", "thank", top_confidence=0.35, urgent_confidence=0.3), 0.5, "urgent_help"),
    (_row("greet", FALLBACK, top="greet", guard="unknown_words"), 0.1, FALLBACK),
])
def test_the_threshold_simulation_follows_the_pipeline(row: dict, threshold: float, expected: str) -> None:
    assert simulate_threshold(row, threshold) == expected


@pytest.mark.parametrize("length", [1, 100, 5000])
def test_long_messages_are_real_sentences_cut_to_length(length: int) -> None:
    text = long_message(["hola, necesito cita", "bon dia"], length)
    assert len(text) == length and text.startswith("hola"[:length])
    assert long_message(["hola, necesito cita", "bon dia"], 30) == "hola, necesito cita bon dia ho"


def test_latency_percentiles_and_memory_reading() -> None:
    level = Level(concurrency=3, seconds=2.0, messages=100, latencies_ms=[float(n) for n in range(1, 101)])
    summary = level.summary()
    assert (summary["p50_ms"], summary["p95_ms"], summary["p99_ms"]) == (51.0, 96.0, 100.0)
    assert summary["messages_per_second"] == 50.0
    assert rss_mb(os.getpid()) > 10


@pytest.mark.parametrize("argv, message", [
    (["bench", "--concurrency", "1000"], "bench is bounded"),
    (["bench", "--seconds", "3600"], "bench is bounded"),
    (["eval", "nlu", "--folds", "1"], "--folds must be between 2 and 20"),
    (["eval", "nlu", "--test-share", "1.5"], "--test-share must be between 0 and 1"),
    (["eval", "nlu", "--test-file", "/no/such/test.tsv"], "/no/such/test.tsv: no such file"),
])
def test_measuring_commands_refuse_unbounded_or_missing_input(argv, message, capsys) -> None:
    from vecina.cli import main

    assert main(argv) == 1
    assert message in capsys.readouterr().err
