"""`vecina eval nlu` and `vecina bench` run end to end (their quick smoke modes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vecina.cli import model_path
from vecina.settings import ROOT, get_settings

pytestmark = pytest.mark.integration


def _vecina(*args: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vecina.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_eval_nlu_smoke_compares_both_pipelines(tmp_path: Path) -> None:
    completed = _vecina("eval", "nlu", "--smoke", "--output", str(tmp_path / "nlu"), timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "nlu.json").read_text())
    assert set(report["pipelines"]) == {"vecina", "stock"}
    for result in report["pipelines"].values():
        assert set(result["languages"]) == {"es", "ca", "va", "all"}
        assert result["languages"]["all"]["examples"] == report["test_examples"] > 70
        assert "procedure" in result["entities"]
    assert report["pipelines"]["vecina"]["threshold_sweep"]
    assert report["pipelines"]["vecina"]["keyboard_mash"]["messages"] == 10
    assert report["pipelines"]["stock"]["recorded_baseline"] is None  # a smoke run trains, and records nothing
    assert set(report["error_reduction_vs_stock"]) == {"es", "ca", "va", "all"}
    markdown = (tmp_path / "nlu.md").read_text()
    assert "vecina eval nlu --smoke" in markdown and "| es | stock |" in markdown
    assert "| es | vecina |" in completed.stdout


def test_eval_nlu_names_a_broken_test_set(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tsv"
    broken.write_text("es\tgreet\thola\nes\tgreet\n", encoding="utf-8")
    completed = _vecina("eval", "nlu", "--test-file", str(broken), "--output", str(tmp_path / "out"), timeout=300)
    assert completed.returncode == 1
    assert "broken.tsv:2: expected language<TAB>intent<TAB>text" in completed.stdout + completed.stderr


def test_bench_smoke_converses_over_rest_and_reads_memory(tmp_path: Path) -> None:
    if not model_path(get_settings()).exists():
        pytest.fail("no trained model for the current data: run 'make train' (make test does)")
    completed = _vecina("bench", "--smoke", "--output", str(tmp_path / "bench"), timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text())
    levels = report["targets"]["vecina"]["levels"]
    assert [level["concurrency"] for level in levels] == [1, 2]
    for level in levels:
        assert level["messages"] > 0 and level["errors"] == 0
        assert level["p50_ms"] > 0 and level["p99_ms"] >= level["p95_ms"] >= level["p50_ms"]
        assert level["peak_rss_mb"]["rasa"] > 100 and level["peak_rss_mb"]["actions"] > 20
    assert "| vecina | 2 |" in completed.stdout
    parses = report["targets"]["vecina"]["parse"]
    assert [row["characters"] for row in parses] == [100, 1000, 2000, 5000]
    assert all(row["max_ms"] >= row["p50_ms"] > 0 for row in parses)
    assert parses[-1]["intent"] == "nlu_fallback"  # too long for the guard: the citizen is asked to shorten it
    assert "| 5,000 |" in completed.stdout
