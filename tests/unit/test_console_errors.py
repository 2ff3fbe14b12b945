"""Errors in the console log no personal data: an unhandled error (a database down, typically,
whose message quotes the SQL parameters: DNI, phone numbers, e-mail addresses, message text) is
logged as its type, the route and a request id, under Flask's test client and behind waitress,
and the person gets a plain 500 page. Real SQLite databases."""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest
from sqlalchemy.exc import OperationalError

from tests.unit.test_console import Console, console, kb_database, rasa  # noqa: F401
from tests.unit.test_console_security import assert_security_headers

SECRETS = ("12345678Z", "+34600111222", "vecina@example.org", "me llamo Ana y vivo en la calle Mayor")


def failing(where: str) -> Any:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError(
            f"SELECT * FROM tickets WHERE dni = %(dni)s /* {where} */",
            {"dni": SECRETS[0], "phone": SECRETS[1], "email": SECRETS[2], "text": SECRETS[3]},
            Exception(f"could not serialize access: DETAIL: Key (phone)=({SECRETS[1]}) {SECRETS[2]} {SECRETS[0]}"))
    return fail


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (where, secret)


@pytest.mark.parametrize("breaks", ["route", "session lookup", "reply"])
def test_a_database_error_logs_its_type_route_and_request_id_only(console: Console, monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture,
                                                                    capfd: pytest.CaptureFixture[str],
                                                                    breaks: str) -> None:
    ticket = console.ticket("whatsapp:+34600000203")
    client, csrf = console.sign_in("ana")
    caplog.set_level(logging.DEBUG)
    if breaks == "route":
        monkeypatch.setattr(console.desk, "queue", failing(breaks))
        answer = client.get("/inbox", query_string={"q": SECRETS[1]})
    elif breaks == "session lookup":
        monkeypatch.setattr(console.desk.staff, "session", failing(breaks))
        answer = client.get(f"/tickets/{ticket}")
    else:
        monkeypatch.setattr(console.desk.tickets, "add_entry", failing(breaks))
        answer = client.post(f"/tickets/{ticket}/reply", data={"csrf_token": csrf, "text": SECRETS[3] + SECRETS[1],
                                                                "client_key": "k"})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 500 and "Algo ha fallado" in body
    assert_no_secret(body, "page")
    assert "OperationalError" not in body and "Traceback" not in body and "SELECT" not in body
    request_id = answer.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id) and request_id in body
    records = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(records) == 1 and records[0].exc_info is None
    logged = records[0].getMessage()
    assert "OperationalError" in logged and request_id in logged
    assert ("/inbox" if breaks == "route" else "/tickets/<int:ticket_id>") in logged
    everything = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    captured = capfd.readouterr()
    for text, where in ((everything, "log"), (captured.err, "stderr"), (captured.out, "stdout")):
        assert_no_secret(text, where)
        assert "Traceback" not in text, where


def test_an_error_that_escapes_flask_itself_is_answered_and_logged_by_type(console: Console,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(console.app, "full_dispatch_request", failing("dispatch"))
    monkeypatch.setattr(console.app, "handle_exception", failing("error handling"))
    answer = console.client().get("/inbox")
    assert answer.status_code == 500 and "Algo ha fallado" in answer.get_data(as_text=True)
    assert_security_headers(answer.headers, "last resort")
    assert_no_secret(answer.get_data(as_text=True) + caplog.text, "last resort")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"unhandled OperationalError outside the application (request {answer.headers['X-Request-Id']})"]


@pytest.fixture
def served(console: Console) -> Iterator[str]:
    """The console behind waitress, as `vecina serve console` runs it."""
    from waitress.server import create_server

    server = create_server(console.app, host="127.0.0.1", port=0, threads=2, expose_tracebacks=False)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def test_behind_waitress_an_error_logs_no_body_and_no_traceback(console: Console, served: str,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(console.desk.staff, "session", failing("waitress"))
    body = f"username=ana&password={SECRETS[3]}&next=/{SECRETS[0]}".encode()
    for request in (urllib.request.Request(f"{served}/inbox?phone={SECRETS[1]}"),
                    urllib.request.Request(f"{served}/login", data=body, method="POST")):
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=10)
        assert failed.value.code in (403, 500)
        page = failed.value.read().decode()
        assert_no_secret(page, "page")
        assert_security_headers(failed.value.headers, "waitress")
    captured = capfd.readouterr()
    for text, where in ((caplog.text, "log"), (captured.err, "stderr"), (captured.out, "stdout")):
        assert_no_secret(text, where)
        assert "Traceback" not in text, where
    assert any("OperationalError" in record.getMessage() for record in caplog.records)


def test_sql_logging_stays_off_even_when_the_root_logger_is_verbose(console: Console,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    client, _ = console.sign_in("ana")
    console.ticket("whatsapp:+34600111222")
    client.get("/inbox")
    assert_no_secret(caplog.text, "log")
    assert not [record for record in caplog.records if record.name.startswith("sqlalchemy")]
