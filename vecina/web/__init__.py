"""The web chat page: static files from this package, plus /config.js built from settings and kb."""

from __future__ import annotations

import json
import logging
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vecina import LANGUAGES
from vecina.kb.store import KbReader
from vecina.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
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


class WebChatHandler(SimpleHTTPRequestHandler):
    settings: Settings
    reader: KbReader

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path.split("?")[0] == "/config.js":
            try:
                body = config_script(self.settings, self.reader)
            except Exception:  # the page then shows its offline message
                logger.exception("web chat configuration unavailable")
                self.send_error(HTTPStatus.SERVICE_UNAVAILABLE)
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/javascript; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (no request details at INFO)
        logger.debug(format, *args)


def serve(settings: Settings, host: str, port: int) -> None:
    handler = type("Handler", (WebChatHandler,), {"settings": settings, "reader": KbReader(settings.database_url)})
    server = ThreadingHTTPServer((host, port), partial(handler, directory=str(STATIC_DIR)))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
