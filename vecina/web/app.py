"""The public web chat page: a small Flask app served by waitress.

- Static files come from this package only; /config.js is built from settings and kb (never
  cached); POST /session issues a new signed session id (vecina.web.session) for the widget.
- Every response carries a Content-Security-Policy (scripts and styles from this server only, no
  inline script; connections to this server and the Rasa socket URL; no plugins; no <base>; no
  framing unless VECINA_WEBCHAT_FRAME_ANCESTORS lists the origins allowed to embed the page),
  X-Frame-Options (when no embedding is allowed), X-Content-Type-Options and Referrer-Policy.
- waitress closes a connection idle for VECINA_WEB_TIMEOUT_SECONDS, even mid-request, and refuses
  oversized headers and bodies; it logs no requests.
- No Rasa import here: the page runs on the slim image (tests/unit/test_dependencies.py).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, send_from_directory

from vecina import LANGUAGES
from vecina.kb.store import KbReader
from vecina.settings import Settings
from vecina.web.session import SessionSigner

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024
THREADS = 4
WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss"}
logger = logging.getLogger(__name__)


def config_script(settings: Settings, reader: KbReader) -> bytes:
    kb = reader.current()
    config = {
        "socketUrl": settings.socket_url,
        "languages": list(LANGUAGES),
        "catalanVariety": settings.catalan_variety,
        "texts": kb.webchat,
    }
    return f"window.VECINA_CONFIG = {json.dumps(config, ensure_ascii=False)};\n".encode("utf-8")


def socket_sources(socket_url: str) -> str:
    """The socket.io origin for connect-src, for both its polling (http) and websocket (ws) forms."""
    parts = urlsplit(socket_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    websocket = WEBSOCKET_SCHEMES.get(parts.scheme)
    return f"{origin} {websocket}://{parts.netloc}" if websocket else origin


def content_security_policy(settings: Settings) -> str:
    ancestors = settings.webchat_frame_ancestors or "'none'"
    return "; ".join((
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        f"connect-src 'self' {socket_sources(settings.socket_url)}", "object-src 'none'", "base-uri 'none'",
        "form-action 'none'", f"frame-ancestors {ancestors}",
    ))


def create_app(settings: Settings, reader: Optional[KbReader] = None) -> Flask:
    if not settings.webchat_secret:
        raise ValueError("the web chat needs VECINA_WEBCHAT_SECRET (32+ characters), the same as the Rasa server's")
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    reader = reader or KbReader(settings.database_url)
    signer = SessionSigner(settings.webchat_secret)
    csp = content_security_policy(settings)

    @app.get("/")
    def index() -> Response:
        return send_from_directory(STATIC_DIR, "index.html")

    @app.get("/config.js")
    def config() -> Response:
        try:
            body = config_script(settings, reader)
        except Exception:  # noqa: BLE001 (the page then shows its offline message)
            logger.exception("web chat configuration unavailable")
            return Response(status=503)
        return Response(body, mimetype="application/javascript", headers={"Cache-Control": "no-store"})

    @app.post("/session")
    def session() -> Response:
        issued = jsonify(session_id=signer.issue())
        issued.headers["Cache-Control"] = "no-store"
        return issued

    @app.get("/<path:name>")
    def static_file(name: str) -> Response:
        return send_from_directory(STATIC_DIR, name)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = csp
        if not settings.webchat_frame_ancestors:
            response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return app


def serve(settings: Settings, host: str, port: int) -> None:
    from waitress import serve as waitress_serve

    timeout = settings.web_timeout_seconds
    waitress_serve(create_app(settings), host=host, port=port, threads=THREADS, ident="vecina",
                   channel_timeout=timeout, cleanup_interval=max(1, timeout // 2),
                   max_request_header_size=MAX_HEADER_BYTES, max_request_body_size=MAX_BODY_BYTES,
                   asyncore_use_poll=True)
