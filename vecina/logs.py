"""Log records that carry no personal data, in every process that imports Vecina.

Rules (installed by `vecina/__init__.py`, so the Rasa server, the action server, the console, the
scheduler, the web page and the command line all follow them, whoever logs — our code, Rasa,
rasa-sdk, Sanic, Flask, waitress or SQLAlchemy):
- An exception is logged as its type and where it happened (file, line, function), for itself
  and each error that caused it, never its message: messages carry what failed — a database
  error's statement, a provider's answer with a citizen's number, rasa-sdk's reply with the
  whole tracker.
- Whatever still reaches a log message is redacted: phone numbers, DNI and NIE, e-mail addresses.
  This is the last line of defence: our own code logs ids, counts and error types only, and
  database engines hide bound parameters (vecina.db, vecina.tracker_store).
- A record is made safe when it is created (logging's record factory), before any handler,
  filter or formatter sees it, so no configuration done later can bypass it.
- An exception nobody caught (which Python would print whole) is logged the same way, from the
  main thread and from any other.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from typing import Any, List, Optional

REDACTED = "[redacted]"
PERSONAL_DATA = re.compile("|".join((
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",                       # e-mail
    r"(?<![\w+])(?:\+|00)[1-9](?:[ .-]?\d){7,14}(?!\w)",  # international phone number
    r"(?<![\w+])[6789](?:[ .-]?\d){8}(?!\w)",                # Spanish phone number, however grouped
    r"(?<![\w])\d{8}[ -]?[A-Za-z](?![\w])",                 # DNI
    r"(?<![\w])[XYZxyz][ -]?\d{7}[ -]?[A-Za-z](?![\w])",    # NIE
)))
CHAIN_LIMIT = 5


def redact(text: str) -> str:
    return PERSONAL_DATA.sub(REDACTED, text)


def describe_exception(error: Optional[BaseException], limit: int = CHAIN_LIMIT) -> str:
    """The error's type and frames, then those of what caused it — never a message."""
    parts: List[str] = []
    while error is not None and len(parts) < limit:
        frames = traceback.extract_tb(error.__traceback__)
        lines = [f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in frames]
        parts.append("\n".join([f"{type(error).__module__}.{type(error).__qualname__} (message withheld)",
                                *lines]))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return "\nwhich was caused by: ".join(parts)


def make_safe(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string must not lose the record
        message = str(record.msg)
    record.msg, record.args = redact(message), ()
    if record.exc_info:
        error = record.exc_info[1]
        record.exc_text = describe_exception(error) if error is not None else None
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def _log_uncaught(kind: Any, error: BaseException, _trace: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        return
    logging.getLogger("vecina").critical("uncaught %s", kind.__name__, exc_info=error)


def _log_uncaught_in_thread(arguments: Any) -> None:
    if arguments.exc_value is not None:
        _log_uncaught(arguments.exc_type, arguments.exc_value, None)


def install() -> None:
    """Make every log record of this process safe from its creation (idempotent)."""
    create = logging.getLogRecordFactory()
    if getattr(create, "vecina_safe", False):
        return

    def safe_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return make_safe(create(*args, **kwargs))

    safe_record.vecina_safe = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(safe_record)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread

