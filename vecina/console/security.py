"""The console's defences that do not depend on who is signed in.

Rules:
- Every response carries a strict Content-Security-Policy (scripts and styles only from the
  console itself, no inline script, no plugins, no framing, no <base>), X-Frame-Options DENY,
  X-Content-Type-Options nosniff, Referrer-Policy no-referrer and an X-Request-Id. Pages hold
  personal data: they are never cached. A citizen's file gets a policy that runs nothing at all.
- After sign-in the browser goes back only to a path of the console: control characters and
  whitespace are removed first (browsers drop them too, which turns "/\\t/evil" into "//evil"),
  then anything but "/" followed by printable ASCII, and anything that starts like "//" or "/\\"
  or names a scheme or host, even percent-encoded, sends it to the inbox instead.
- Errors never log what they carry. Database errors quote their SQL parameters (phone numbers,
  message text, DNI), and tracebacks quote them again: an unhandled error is logged as its type,
  the route (the rule, not the URL) and the request id, and answered with a plain 500 page. The
  same holds for whatever escapes Flask (a last-resort WSGI wrapper) and for records the servers'
  own loggers (waitress, werkzeug, Flask's) write with a traceback attached.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Callable, Iterable, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, g, has_request_context, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger("vecina.console")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
FILE_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"  # a file a citizen sent: inert
FIXED_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                 ("Referrer-Policy", "no-referrer"))
REQUEST_ID = "vecina.request_id"  # WSGI environ key, so the last-resort wrapper logs the same id

# Removed before a return path is checked: C0 and C1 controls, DEL, every Unicode space and the
# invisible format characters browsers ignore in URLs (zero-width, bidi marks, BOM).
INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\s\u00ad\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]")
SAME_SITE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")
MAX_NEXT = 2000


def same_site_path(target: Optional[str]) -> Optional[str]:
    """`target` as a path of this site to redirect to, or None when it could lead elsewhere."""
    cleaned = INVISIBLE.sub("", target or "")
    if len(cleaned) > MAX_NEXT or not SAME_SITE_PATH.fullmatch(cleaned) or "\\" in cleaned:
        return None
    decoded = INVISIBLE.sub("", unquote(cleaned))
    if decoded.startswith(("//", "/\\")) or "\\" in decoded:
        return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return None
    return cleaned


def request_id() -> str:
    """This request's id (32 hex digits), made on first use."""
    if not has_request_context():
        return uuid.uuid4().hex
    if "request_id" not in g:
        g.request_id = request.environ.setdefault(REQUEST_ID, uuid.uuid4().hex)
    return str(g.request_id)


def route() -> str:
    """The matched rule ("/tickets/<int:ticket_id>"), never the URL with its values and query."""
    rule = request.url_rule.rule if has_request_context() and request.url_rule is not None else "(no route)"
    return f"{request.method} {rule}" if has_request_context() else rule


def log_failure(error: BaseException) -> None:
    logger.error("unhandled %s on %s (request %s)", type(error).__name__, route(), request_id())


class ConsoleFlask(Flask):
    """Flask, but an unhandled error is logged as its type only (Flask would log the traceback)."""

    def log_exception(self, exc_info: Any) -> None:
        log_failure(exc_info[1])


class NoDetails(logging.Filter):
    """Strips tracebacks (and the error text they carry) from records, keeping the error's type."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "error"
            record.msg, record.args = f"{record.getMessage()} ({kind}; details not logged)", None
            record.exc_info = record.exc_text = None
        record.stack_info = None
        return True


def quiet_server_loggers() -> None:
    """The loggers that could print a traceback or a request: theirs keep only the error type."""
    for name in ("vecina.console", "waitress", "werkzeug", "flask.app"):
        target = logging.getLogger(name)
        if not any(isinstance(existing, NoDetails) for existing in target.filters):
            target.addFilter(NoDetails())


def failure_page(app: Flask, ident: str) -> bytes:
    """The plain 500 page (no layout, no session, no database, no details): templates/failed.html."""
    try:
        return app.jinja_env.get_template("failed.html").render(request_id=ident).encode()
    except Exception:  # the page of last resort must not fail in turn
        return b"<!doctype html><html lang=\"es\"><title>Error</title><p>Error 500</p></html>"


def failure_response(app: Flask) -> Response:
    response = Response(failure_page(app, request_id()), status=500, mimetype="text/html")
    response.headers["X-Request-Id"] = request_id()
    return response


def add_headers(response: Response, secure: bool, cacheable: bool) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    for name, value in FIXED_HEADERS:
        response.headers[name] = value
    response.headers["X-Request-Id"] = request_id()
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"
    if secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


class LastResort:
    """The outermost WSGI layer: an error nothing else handled becomes the plain 500 page, logged
    by type only, so the server (waitress) never sees it and never prints its traceback."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app, self.wsgi_app = app, wsgi_app

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return self.wsgi_app(environ, start_response)
        except Exception as error:
            ident = environ.setdefault(REQUEST_ID, uuid.uuid4().hex)
            logger.error("unhandled %s outside the application (request %s)", type(error).__name__, ident)
            body = failure_page(self.app, ident)
            headers: List[Tuple[str, str]] = [("Content-Type", "text/html; charset=utf-8"),
                                              ("Content-Length", str(len(body))), ("Content-Security-Policy", CSP),
                                              ("Cache-Control", "no-store"), ("X-Request-Id", ident),
                                              *FIXED_HEADERS]
            start_response("500 INTERNAL SERVER ERROR", headers)
            return [body]


def install(app: Flask, secure: bool) -> None:
    """Headers on every response, the plain 500 page, and logs without details."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # never let an error reach the server with its text
    quiet_server_loggers()

    @app.after_request
    def security_headers(response: Response) -> Response:
        return add_headers(response, secure, cacheable=request.endpoint == "static")

    @app.errorhandler(Exception)
    def unhandled(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return error
        log_failure(error)
        return failure_response(app)

    @app.errorhandler(500)
    def failed(_error: Exception) -> Any:
        return failure_response(app)

    app.wsgi_app = LastResort(app, app.wsgi_app)  # type: ignore[method-assign]
