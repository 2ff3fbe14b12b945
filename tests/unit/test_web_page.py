"""The public web chat page: security headers, configuration, session ids, no inline script."""

from __future__ import annotations

import re

import pytest

from vecina.settings import Settings
from vecina.web.app import STATIC_DIR, create_app
from vecina.web.session import SessionSigner

SECRET = "unit-tests-webchat-secret-not-a-real-one"


def _client(kb_source, **settings):  # type: ignore[no-untyped-def]
    values = {"webchat_secret": SECRET, "webchat_socket_url": "https://chat.example.org:5005", **settings}
    return create_app(Settings(_env_file=None, **values), kb_source).test_client()


def _directives(response) -> dict:  # type: ignore[no-untyped-def]
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


@pytest.mark.parametrize("path", ["/", "/config.js", "/chat.js", "/chat.css", "/vendor/socket.io-4.8.4.min.js",
                                  "/missing.js"])
def test_every_response_carries_the_security_headers(kb_source, path: str) -> None:  # type: ignore[no-untyped-def]
    response = _client(kb_source).get(path)
    assert response.status_code == (404 if path == "/missing.js" else 200)
    csp = _directives(response)
    assert csp["default-src"] == ["'none'"] and csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'", "https://chat.example.org:5005", "wss://chat.example.org:5005"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_listed_origins_may_embed_the_page(kb_source) -> None:  # type: ignore[no-untyped-def]
    embedders = "https://www.riuclar.example  https://seu.example:8443"
    response = _client(kb_source, webchat_frame_ancestors=embedders).get("/")
    assert _directives(response)["frame-ancestors"] == ["https://www.riuclar.example", "https://seu.example:8443"]
    assert "X-Frame-Options" not in response.headers  # it cannot name several origins; the CSP does


def test_the_page_has_no_inline_script_or_style() -> None:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert all(re.search(r"\bsrc=", tag) for tag in re.findall(r"<script\b[^>]*>", page))
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", page) and "<style" not in page
    assert not re.search(r"\son[a-z]+=", page) and "style=" not in page


def test_a_session_is_issued_signed_and_never_cached(kb_source) -> None:  # type: ignore[no-untyped-def]
    client = _client(kb_source)
    first, second = client.post("/session"), client.post("/session")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    ids = [first.get_json()["session_id"], second.get_json()["session_id"]]
    assert ids[0] != ids[1] and all(SessionSigner(SECRET).verify(token) for token in ids)
    assert client.get("/session").status_code in (404, 405)  # issued only on POST


def test_the_configuration_script_is_built_from_settings_and_kb(kb_source, kb) -> None:  # type: ignore[no-untyped-def]
    response = _client(kb_source).get("/config.js")
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert body.startswith("window.VECINA_CONFIG = ") and kb.webchat["title"]["va"] in body
    assert SECRET not in body


def test_files_outside_the_static_folder_are_not_served(kb_source) -> None:  # type: ignore[no-untyped-def]
    client = _client(kb_source)
    for path in ("/../session.py", "/%2e%2e/session.py", "/..%2fapp.py", "/static/../app.py"):
        assert client.get(path).status_code == 404


def test_the_page_does_not_start_without_a_secret(kb_source) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="VECINA_WEBCHAT_SECRET"):
        create_app(Settings(_env_file=None), kb_source)


@pytest.mark.parametrize("field, value", [
    ("webchat_secret", "short"), ("rest_token", "short"), ("webchat_frame_ancestors", "javascript:alert(1)"),
    ("webchat_frame_ancestors", "https://ok.example 'self'"), ("rate_limit_sender", "0"),
    ("rasa_trusted_proxies", "9"),
])
def test_bad_web_settings_are_refused(field: str, value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, **{field: value})
    assert field in str(raised.value)
