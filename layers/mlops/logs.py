"""Diagnostic logging: one JSON line per record on stderr, with the request id of the request being served.

Every function process and the local runtime log through stdlib ``logging`` under the ``mlops``
logger; :func:`configure` (idempotent) gives that logger one handler whose :class:`JsonFormatter`
writes ``{"time", "level", "logger", "message", "request_id", ...extra fields}`` on one line
(a traceback travels flattened in ``traceback``). The request id comes from ``request_id_var``, a
context variable set per request by the fdk entry (``mlops.function``) and the local gateway, so a
line logged anywhere below them names its request without passing it along.

Prediction and feedback records are not diagnostics: they are a data contract on stdout
(``mlops.serving.inference``, read by ``mlops.logrecords``) and never go through here.
Levels: ``MLOPS_LOG_LEVEL`` (default INFO). A disabled level costs one ``isEnabledFor`` check.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

ROOT = "mlops"
LEVEL_ENV = "MLOPS_LOG_LEVEL"
#: the id of the request being served, in this thread or task (None outside a request)
request_id_var: ContextVar[str | None] = ContextVar("mlops_request_id", default=None)

# the attributes every LogRecord has: anything else on a record came from ``extra=``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, request_id, then the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in doc:
                doc[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc.setdefault("error", type(exc).__name__)
            doc["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return json.dumps(doc, separators=(",", ":"), default=str)


class StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (pytest swaps it), flushed."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)


_handler: StderrHandler | None = None


def configure(level: str | int | None = None) -> logging.Logger:
    """Give the ``mlops`` logger its JSON handler on stderr (once; later calls only set the level)."""
    global _handler
    logger = logging.getLogger(ROOT)
    if _handler is None:
        _handler = StderrHandler()
        _handler.setFormatter(JsonFormatter())
        logger.addHandler(_handler)
    wanted = level if level is not None else (os.environ.get(LEVEL_ENV) or "INFO")
    try:
        logger.setLevel(wanted.upper() if isinstance(wanted, str) else wanted)
    except ValueError:
        logger.setLevel(logging.INFO)
    return logger
