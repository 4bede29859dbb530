"""Prediction and feedback records out of a log object, local or as OCI's Service Connector writes it.

Locally a prediction-log object is NDJSON of the records themselves. In the cloud the
Service Connector moves *log entries* from the functions' invoke log to the bucket, so a
record is the ``message`` of an entry (``{"datetime", "logContent": {"data": {"message":
"<stdout line>"}, ...}}``, see the Logging format overview), and objects may be gzip
compressed. Both read the same here; lines that are not records are skipped.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"


def _message_of(entry: dict[str, Any]) -> Any:
    content = entry.get("logContent") if isinstance(entry.get("logContent"), dict) else entry
    data = content.get("data") if isinstance(content, dict) else None
    return data.get("message") if isinstance(data, dict) else None


def _unwrap(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, list):  # an array of log entries on one line
        for item in obj:
            yield from _unwrap(item)
        return
    if not isinstance(obj, dict):
        return
    if "kind" in obj:
        yield obj
        return
    msg = _message_of(obj)
    if isinstance(msg, str) and msg.startswith("{"):
        try:
            inner = json.loads(msg)
        except ValueError:
            return
        if isinstance(inner, dict) and "kind" in inner:
            yield inner
    elif isinstance(msg, dict) and "kind" in msg:
        yield msg


def iter_log_records(data: bytes) -> Iterator[dict[str, Any]]:
    """Every record (a dict with ``kind``) in a log object's bytes, in order."""
    if data[:2] == GZIP_MAGIC:
        data = gzip.decompress(data)
    start, end = 0, len(data)
    while start < end:
        nl = data.find(b"\n", start)
        stop = end if nl < 0 else nl
        line = data[start:stop].strip()
        start = stop + 1
        if not line or line[:1] not in (b"{", b"["):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        yield from _unwrap(obj)
