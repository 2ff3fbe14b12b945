"""Editors get every problem as file:line: message; a valid kb loads idempotently."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import KB_DIR
from vecina.kb.build import validate_dir
from vecina.kb.store import KbInvalid, load
from vecina.settings import ROOT


def _replace(path: Path, old: str, new: str) -> int:
    """Replace the first `old` in the file; return the 1-based line where it was."""
    text = path.read_text(encoding="utf-8")
    index = text.index(old)
    path.write_text(text[:index] + new + text[index + len(old):], encoding="utf-8")
    return text[:index].count("\n") + 1


@pytest.fixture
def broken_kb(tmp_path: Path) -> tuple:
    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR, copy)
    expected = {}
    expected["unknown_centre"] = ("districts.yml", _replace(copy / "districts.yml", "centre: css-el-grau",
                                                            "centre: css-nowhere"), "unknown centre 'css-nowhere'")
    procedure = copy / "procedures" / "rent-aid.yml"
    text = procedure.read_text(encoding="utf-8")
    va_line = next(line for line in text.splitlines() if line.strip().startswith("va:") and "summary" not in line)
    expected["missing_translation"] = ("procedures/rent-aid.yml",
                                       _replace(procedure, va_line, va_line.replace("va:", "vx:", 1)),
                                       "unknown language 'vx'")
    centres = copy / "centres.yml"
    hours_line = next(line for line in centres.read_text(encoding="utf-8").splitlines() if "mon:" in line)
    expected["bad_hours"] = ("centres.yml", _replace(centres, hours_line, hours_line.split("mon:")[0] + 'mon: "9-14"'),
                             "'9-14' is not a range")
    broken_yaml = copy / "procedures" / "home-help.yml"
    expected["syntax"] = ("procedures/home-help.yml", _replace(broken_yaml, "popularity:", "popularity: [unclosed\n  x:"),
                          "cannot be read")
    expected["unknown_field"] = ("procedures/energy-bonus.yml",
                                 _replace(copy / "procedures" / "energy-bonus.yml", "fee:", "cost:"),
                                 "unknown field 'cost'")
    teams = copy / "teams.yml"
    expected["team_category"] = ("teams.yml", _replace(teams, "procedure_categories: [citizen_services]",
                                                       "procedure_categories: [citizen_service]"),
                                 "'citizen_service' is not a procedure category")
    expected["staff_procedure"] = ("teams.yml", _replace(teams, "procedures: [gender-violence-support",
                                                         "procedures: [gender-violence"),
                                   "always_to_staff: unknown procedure 'gender-violence'")
    expected["team_intent"] = ("teams.yml", _replace(teams, "intents: [urgent_help]", "intents: [Urgent-Help]"),
                               "'Urgent-Help' is not an intent name")
    return copy, expected


def test_the_demo_kb_is_valid_and_complete(kb) -> None:
    assert len(kb.procedures) >= 30
    assert len([c for c in kb.centres.values() if c.kind == "social_services"]) >= 12
    assert len(kb.streets) >= 200
    assert set(kb.polygons) == set(kb.districts)
    assert [team.id for team in kb.teams.values() if team.default] == ["citizen-office"]


def test_exactly_one_default_team(tmp_path: Path) -> None:
    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR, copy)
    _replace(copy / "teams.yml", "    default: true\n", "")
    _kb, problems, _files = validate_dir(copy)
    assert any(p.file == "teams.yml" and "exactly one team must say 'default: true'" in p.message for p in problems)


def test_every_injected_error_is_reported_with_file_and_line(broken_kb) -> None:
    copy, expected = broken_kb
    _kb, problems, _files = validate_dir(copy)
    for name, (file, line, message) in expected.items():
        matching = [p for p in problems if p.file == file and message in p.message]
        assert matching, f"{name}: no problem with '{message}' in {file}; got:\n" + "\n".join(map(str, problems))
        if name != "syntax":
            assert any(p.line == line for p in matching), f"{name}: expected line {line}, got {matching}"
        else:
            assert all(p.line and line <= p.line <= line + 2 for p in matching)


def test_cli_prints_file_line_and_fails(broken_kb) -> None:
    copy, expected = broken_kb
    result = subprocess.run([sys.executable, "-m", "vecina.cli", "kb", "validate", "--kb-dir", str(copy)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    for file, line, _message in expected.values():
        assert f"kb/{file}:" in result.stdout
    assert f"kb/districts.yml:{expected['unknown_centre'][1]}: " in result.stdout


def test_overlapping_street_segments_are_reported(tmp_path: Path) -> None:
    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR, copy)
    streets = copy / "streets.yml"
    text = streets.read_text(encoding="utf-8")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if "{from: 1, to: 999, parity: all" in line)
    segments_line = next(i for i in range(index, -1, -1) if lines[i].strip() == "segments:") + 1
    _replace(streets, lines[index], lines[index] + "\n" + lines[index])
    _kb, problems, _ = validate_dir(copy)
    overlaps = [p for p in problems if p.file == "streets.yml" and "overlap" in p.message]
    assert [p.line for p in overlaps] == [segments_line], problems


def test_invalid_kb_loads_nothing(broken_kb, tmp_path: Path) -> None:
    copy, _ = broken_kb
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(KbInvalid) as raised:
        load(copy, url)
    assert raised.value.problems


def test_load_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    first = load(KB_DIR, url)
    second = load(KB_DIR, url)
    assert first.changed and not second.changed
    assert first.version == second.version
    assert first.counts["procedures"] >= 30


def test_generated_nlu_lookups_match_the_kb(kb) -> None:
    from vecina.cli import LOOKUPS_PATH
    from vecina.kb.lookups import render

    assert LOOKUPS_PATH.read_text(encoding="utf-8") == render(kb), "run 'vecina kb lookups' and commit the result"


def test_a_content_change_reaches_the_running_assistant_without_retraining(tmp_path: Path) -> None:
    from vecina.kb.store import KbReader

    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR, copy)
    url = f"sqlite:///{tmp_path / 'live.db'}"
    load(copy, url)
    reader = KbReader(url)
    before = reader.current().procedures["rent-aid"].documents[0].name["es"]
    assert reader.current() is reader.current()  # cached while nothing changes
    _replace(copy / "procedures" / "rent-aid.yml", before, "Contrato de alquiler firmado (nuevo requisito)")
    assert load(copy, url).changed
    assert reader.current().procedures["rent-aid"].documents[0].name["es"] == "Contrato de alquiler firmado (nuevo requisito)"
