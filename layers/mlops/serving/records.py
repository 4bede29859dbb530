"""The prediction record lines an inference function prints: the input of drift and A/B analysis.

One JSON line per predicted row (``kind: "prediction"``) with who asked (a digest of the principal),
which version and variant answered, the latency share and, for a sampled share of rows, the features
(with the endpoint's ``retain_features``, every row's features; rows outside the sample are marked
``"sampled": false``).
When the endpoint's ``explain_top_k`` is set, a record also carries the row's top contributions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlops.http import COHORT_HEADER, Request
from mlops.serving.loaded import LoadedModel


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def principal_digest(principal: str | None) -> str | None:
    if not principal:
        return None
    return _digest(principal)


@functools.lru_cache(maxsize=4096)
def _digest(principal: str) -> str:
    """Callers are few and call often: their digest is computed once (issue 19, per-request CPU)."""
    return hashlib.sha256(principal.encode()).hexdigest()[:16]


def write_line(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, separators=(",", ":"), default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


@dataclass(slots=True)
class Scored:
    """What one predict request scored: the rows and what the model said of them (not frozen: a frozen
    dataclass costs ~1 µs more to build, on every predict request)."""

    m: LoadedModel
    X: np.ndarray
    preds: list
    confidence: np.ndarray | None
    ids: Sequence[str]
    latency_ms: float
    variant: str
    fallback: dict[str, Any] | None = None
    explanations: Sequence[dict[str, Any] | None] | None = None  # per row, with explain_top_k


def emit_prediction_records(
    emit: Callable[[dict[str, Any]], None],
    request: Request,
    s: Scored,
    *,
    endpoint: str,
    model_name: str,
    sample_rate: float,
    rng: random.Random,
    retain_features: bool = False,
) -> None:
    """One record line per row of ``s``; features on a ``sample_rate`` share of them (the monitoring sample),
    or on every row with ``retain_features`` - then rows outside the sample say ``"sampled": false``, so that
    drift still reads the sample only, while every labelled prediction can become a training row."""
    ts = now_iso()
    cohort = request.headers.get(COHORT_HEADER)
    who = principal_digest(request.principal)
    m, preds, confidence, fallback, explanations = s.m, s.preds, s.confidence, s.fallback, s.explanations
    per_row = round(s.latency_ms / max(1, len(s.ids)), 4)
    names = m.signature.names
    for i, pid in enumerate(s.ids):
        rec = {
            "kind": "prediction",
            "ts": ts,
            "prediction_id": pid,
            "request_id": request.request_id,
            "endpoint": endpoint,
            "model": model_name,
            "version": m.version,
            "variant": s.variant,
            "cohort": cohort,
            "principal": who,
            "latency_ms": per_row,
            "prediction": preds[i],
            "confidence": None if confidence is None else round(float(confidence[i]), 6),
        }
        if fallback is not None:
            rec["fallback"] = fallback
        if explanations is not None and explanations[i] is not None:
            rec["explanation"] = explanations[i]
        if sample_rate >= 1.0 or (sample_rate > 0 and rng.random() < sample_rate):
            rec["features"] = dict(zip(names, s.X[i].tolist(), strict=True))
        elif retain_features:
            rec["features"] = dict(zip(names, s.X[i].tolist(), strict=True))
            rec["sampled"] = False
        emit(rec)
