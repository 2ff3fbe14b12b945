"""Log records carry no personal data, whoever writes them (vecina.logs), and database errors
carry no bound values (vecina.db)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from vecina import db
from vecina.logs import describe_exception, make_safe, redact

SECRETS = {
    "phone": "+34 600 111 222", "whatsapp": "whatsapp:+34600111222", "national": "612345678",
    "grouped": "612 345 678", "in pairs": "912 34 56 78", "dni": "12345678Z", "nie": "X1234567L",
    "email": "ana.garcia+citas@correo.example.es", "telegram": "telegram:612345678",
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_personal_data_in_a_message_is_redacted(kind: str) -> None:
    assert SECRETS[kind].split(":")[-1] not in redact(f"turn for {SECRETS[kind]} failed")


@pytest.mark.parametrize("kept", ["2026-12-03 18:00:05", "message 1234567 of 20", "appointment 42",
                                  "took 1530.25 ms", "version 3.6.21", "port 5432", "uid 1001"])
def test_ordinary_numbers_are_kept(kept: str) -> None:
    assert redact(kept) == kept


def test_an_exception_is_logged_as_types_and_places_only(caplog: pytest.LogCaptureFixture) -> None:
    try:
        try:
            raise ValueError("Soy Ana, vivo en la calle Mayor 3")
        except ValueError as error:
            raise RuntimeError("body={'tracker': 'calle Mayor 3'}") from error
    except RuntimeError:
        with caplog.at_level(logging.ERROR):
            logging.getLogger("rasa.core.processor").exception("Encountered an exception")
    assert "calle Mayor" not in caplog.text
    assert "RuntimeError" in caplog.text and "ValueError" in caplog.text and "test_logs.py" in caplog.text


def test_a_record_with_a_broken_format_is_still_logged() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items for %s", ("many",), None)
    assert make_safe(record).getMessage() == "%d items for %s"


def test_records_are_made_safe_when_created() -> None:
    record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "sent to %s", ("+34600111222",), None)
    assert record.getMessage() == "sent to [redacted]"


def test_database_errors_name_no_values(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vecina.db'}"
    with pytest.raises(Exception) as error:
        with db.session_scope(url) as session:
            session.execute(text("SELECT * FROM nowhere WHERE phone = :phone AND dni = :dni"),
                            {"phone": "+34600111222", "dni": "12345678Z"})
    assert "nowhere" in str(error.value)
    assert "+34600111222" not in str(error.value) and "12345678Z" not in str(error.value)
    assert "+34600111222" not in describe_exception(error.value)


@pytest.mark.parametrize("kept", ["request 759233979d7c4a56bc3ac9949e2f1c0f", "id 00345678901abcdef",
                                  "sha 612345678a9b"])
def test_hex_ids_that_start_with_digits_are_kept(kept: str) -> None:
    assert redact(kept) == kept


@pytest.mark.parametrize("where", ["main", "thread"])
def test_an_uncaught_exception_is_logged_as_its_type_only(where: str) -> None:
    import subprocess
    import sys

    from vecina.settings import ROOT

    crash = "raise RuntimeError('cita de Ana, DNI 12345678Z, calle Mayor 3')"
    code = ("import vecina, threading\n" + (crash if where == "main" else
            f"def crash():\n    {crash}\nt = threading.Thread(target=crash); t.start(); t.join()"))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "RuntimeError" in result.stderr
    assert "12345678Z" not in result.stderr and "calle Mayor" not in result.stderr
