"""Canned replies for the staff console: kb content in three languages, checked as file:line, per team."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import KB_DIR
from tests.unit.test_kb_validation import _replace
from vecina import LANGUAGES
from vecina.kb.build import KbError, build_from_documents, to_document, validate_dir
from vecina.kb.model import CannedReply
from vecina.kb.store import KbReader, load
from vecina.services.handoff import canned_replies_for

PLEASE_WAIT_TITLE = ('    title:\n'
                     '      es: "Un momento, estoy consultando"\n'
                     '      ca: "Un moment, ho estic consultant"\n'
                     '      va: "Un moment, ho estic consultant"\n')


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "kb"
    shutil.copytree(KB_DIR, copy)
    return copy


@pytest.fixture
def broken_replies(tmp_path: Path) -> tuple:
    copy = _copy(tmp_path)
    replies = copy / "canned_replies.yml"
    expected = {
        "unknown_team": (_replace(replies, "teams: [citizen-office]", "teams: [citizen-ofice]"),
                         "canned reply 'e-office': unknown team 'citizen-ofice'"),
        "missing_language": (_replace(replies, PLEASE_WAIT_TITLE,
                                      PLEASE_WAIT_TITLE.replace("      va:", "      # va:")),
                             "canned reply 'please-wait': field 'title' has no 'va' text"),
        "duplicate_id": (_replace(replies, "- id: goodbye", "- id: greeting"),
                         "canned_replies.yml: id 'greeting' is used twice"),
        "long_title": (_replace(replies, 'es: "Le daremos cita"', f'es: "{"x" * 41}"'),
                       "canned reply 'appointment': field 'title' in 'es' is 41 characters long (at most 40)"),
        "long_text": (_replace(replies, 'ca: "Necessita alguna cosa més?', f'ca: "{"x" * 1001}'),
                      "canned reply 'anything-else': field 'text' in 'ca' is"),
    }
    return copy, expected


def test_the_demo_kb_has_canned_replies_in_every_language(kb) -> None:
    assert 10 <= len(kb.canned_replies) <= 12
    for reply in kb.canned_replies.values():
        assert set(reply.title) == set(reply.text) == set(LANGUAGES), reply.id
        assert all(0 < len(title) <= 40 for title in reply.title.values()), reply.id
        assert all(0 < len(text) <= 1000 for text in reply.text.values()), reply.id
        assert set(reply.teams) <= set(kb.teams), reply.id
    assert kb.canned_replies["ask-address"].teams == ["social-services"]
    assert kb.canned_replies["greeting"].teams == []


def test_a_team_gets_the_shared_replies_and_its_own_in_file_order(kb) -> None:
    social = [reply.id for reply in canned_replies_for(kb, "social-services")]
    office = [reply.id for reply in canned_replies_for(kb, "citizen-office")]
    assert "ask-address" in social and "ask-address" not in office
    assert "e-office" in office and "e-office" not in social
    shared = [reply.id for reply in kb.canned_replies.values() if not reply.teams]
    assert shared and all(ident in social and ident in office for ident in shared)
    assert social == [ident for ident in kb.canned_replies if ident in social]

    text = {"es": "x", "ca": "x", "va": "x"}
    replies = {ident: CannedReply(ident, text, text, teams) for ident, teams in
               (("c", ["social-services"]), ("a", []), ("b", ["citizen-office"]), ("d", ["citizen-office", "x"]))}
    small = replace(kb, canned_replies=replies)
    assert [reply.id for reply in canned_replies_for(small, "citizen-office")] == ["a", "b", "d"]
    assert [reply.id for reply in canned_replies_for(small, "social-services")] == ["c", "a"]
    assert [reply.id for reply in canned_replies_for(small, "nobody")] == ["a"]


def test_every_canned_reply_error_is_reported_with_file_and_line(broken_replies) -> None:
    copy, expected = broken_replies
    _kb, problems, _files = validate_dir(copy)
    for name, (line, message) in expected.items():
        matching = [p for p in problems if p.file == "canned_replies.yml" and message in p.message]
        assert matching, f"{name}: no problem with '{message}'; got:\n" + "\n".join(map(str, problems))
        assert any(p.line == line for p in matching), f"{name}: expected line {line}, got {matching}"
    assert not [p for p in problems if p.file != "canned_replies.yml"], problems


def test_markup_in_a_reply_is_kept_as_text(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    _replace(copy / "canned_replies.yml", 'es: "Gracias por escribirnos.', 'es: "<b>Gracias</b> por escribirnos.')
    kb, problems, _files = validate_dir(copy)
    assert not problems, problems
    assert kb is not None and kb.canned_replies["goodbye"].text["es"].startswith("<b>Gracias</b> por")


def test_a_missing_canned_replies_file_is_an_error(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    (copy / "canned_replies.yml").unlink()
    _kb, problems, _files = validate_dir(copy)
    assert any(p.file == "canned_replies.yml" and "file is missing" in p.message for p in problems), problems


def test_canned_replies_survive_the_database_round_trip(kb, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    load(KB_DIR, url)
    stored = KbReader(url).current()
    assert list(stored.canned_replies) == list(kb.canned_replies)
    assert stored.canned_replies == kb.canned_replies
    assert [r.id for r in canned_replies_for(stored, "citizen-office")] == \
        [r.id for r in canned_replies_for(kb, "citizen-office")]


def test_a_database_loaded_without_canned_replies_must_be_reloaded() -> None:
    _kb, _problems, files = validate_dir(KB_DIR)
    documents = {path: to_document(node) for path, node in files.items() if path != "canned_replies.yml"}
    with pytest.raises(KbError, match="canned_replies.yml"):
        build_from_documents(documents)
