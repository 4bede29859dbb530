"""Training runs in the object store, under ``runs/``: one immutable record per run, plus its holdout.

::

    runs/<run_id>/run.json        the run record (create-exclusive; never rewritten)
    runs/<run_id>/holdout.npz     the holdout split (X, y) the run was scored on, for ``mlops validate``

A run id is ``<UTC yyyymmddThhmmssffffffZ>-<8 hex>``, so key order is time order.
Record shape (``format`` = ``mlops-run/1``)::

    {"format": "mlops-run/1", "run_id": ..., "model": "breast-cancer", "status": "registered",
     "entrypoint": "pipelines/train/train.py", "params": {...}, "metrics": {...},
     "data_digest": "sha256:...", "code_digest": "sha256:...", "code_commit": "<git sha>",
     "code_dirty": false, "started_at": iso, "finished_at": iso, "duration_s": 1.2,
     "packages": {"python": "3.11.7", "scikit-learn": "1.5.2", ...}, "task": "classification",
     "n_train": 426, "n_holdout": 143, "version": 3 | null, "holdout": {"key", "sha256", "size"},
     "created_by": "alice", "error": null}

``status``: ``registered`` (a version was created), ``trained`` (not registered), ``failed``;
and for hyperparameter search (``mlops.tuning``): ``pruned`` (a trial stopped early), ``tuned`` (the
study's parent run). A trial's record adds ``parent_run_id`` and ``trial: {"study", "number"}``; the
parent adds ``kind: "study"`` and ``study`` (the summary); the study journal lives beside it as
``runs/<parent_run_id>/study.journal``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlops.errors import (
    ConflictError,
    IntegrityError,
    InvalidNameError,
    NotFoundError,
    PreconditionFailedError,
)
from mlops.storage.base import JSON_CONTENT_TYPE, ObjectStore, put_once

RUN_FORMAT = "mlops-run/1"
PREFIX = "runs/"
_RUN_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}\Z")


def new_run_id(clock: Callable[[], float] = time.time) -> str:
    """A fresh, time-sortable run id."""
    ts = datetime.fromtimestamp(clock(), UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{ts}-{secrets.token_hex(4)}"


def validate_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidNameError(
            f"run id {str(run_id)[:60]!r} is not of the form 20260101T120000000000Z-1a2b3c4d"
        )
    return run_id


def run_key(run_id: str) -> str:
    return f"{PREFIX}{validate_run_id(run_id)}/run.json"


def holdout_key(run_id: str) -> str:
    return f"{PREFIX}{validate_run_id(run_id)}/holdout.npz"


def pack_holdout(X: Any, y: Any) -> bytes:
    """The holdout as an ``.npz`` (no pickles: object columns are stored as text)."""
    X_arr, y_arr = np.asarray(X), np.asarray(y)
    if X_arr.dtype == object:
        X_arr = X_arr.astype(str)
    if y_arr.dtype == object:
        y_arr = y_arr.astype(str)
    buf = io.BytesIO()
    np.savez_compressed(buf, X=X_arr, y=y_arr)
    return buf.getvalue()


def unpack_holdout(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return npz["X"], npz["y"]


class RunStore:
    """Reads and writes run records in an ``ObjectStore``."""

    def __init__(self, store: ObjectStore):
        self.store = store

    def save(self, record: dict[str, Any], holdout: bytes | None = None) -> dict[str, Any]:
        """Write a new run (holdout first, then the record, both create-exclusive); returns the record."""
        run_id = validate_run_id(record.get("run_id"))
        record = dict(record)
        record["format"] = RUN_FORMAT
        if holdout is not None:
            key = holdout_key(run_id)
            put_once(self.store, key, holdout, if_none_match=True, content_type="application/octet-stream")
            record["holdout"] = {
                "key": key,
                "sha256": hashlib.sha256(holdout).hexdigest(),
                "size": len(holdout),
            }
        data = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str).encode()
        try:
            put_once(self.store, run_key(run_id), data, if_none_match=True, content_type=JSON_CONTENT_TYPE)
        except PreconditionFailedError:
            raise ConflictError(f"run {run_id} already exists") from None
        return record

    def get(self, run_id: str) -> dict[str, Any]:
        """One run record; ``NotFoundError`` naming the run when it does not exist."""
        try:
            obj = self.store.get(run_key(run_id))
        except NotFoundError:
            raise NotFoundError(f"run {run_id} not found in {self.store.url}", code="run_not_found") from None
        try:
            doc = json.loads(obj.data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise IntegrityError(f"run record {run_key(run_id)} is not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("run_id") != run_id:
            raise IntegrityError(f"run record {run_key(run_id)} does not describe run {run_id}")
        return doc

    def run_ids(self) -> list[str]:
        """Every run id, oldest first."""
        ids = []
        for key in self.store.list(PREFIX):
            parts = key[len(PREFIX) :].split("/")
            if len(parts) == 2 and parts[1] == "run.json" and _RUN_ID.match(parts[0]):
                ids.append(parts[0])
        return ids

    def iter_runs(self, model: str | None = None, parent: str | None = None) -> Iterator[dict[str, Any]]:
        """Run records newest first, optionally of one model, or only the children of one parent run
        (the trials of a hyperparameter search, whose records carry ``parent_run_id``)."""
        for run_id in reversed(self.run_ids()):
            doc = self.get(run_id)
            if (model is None or doc.get("model") == model) and (
                parent is None or doc.get("parent_run_id") == parent
            ):
                yield doc

    def list(
        self, model: str | None = None, limit: int = 20, parent: str | None = None
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` runs, newest first."""
        out: list[dict[str, Any]] = []
        for doc in self.iter_runs(model, parent):
            out.append(doc)
            if len(out) >= limit:
                break
        return out

    def latest(self, model: str, status: str | None = None) -> dict[str, Any] | None:
        """The newest run of ``model`` (with ``status`` if given), or None."""
        for doc in self.iter_runs(model):
            if status is None or doc.get("status") == status:
                return doc
        return None

    def find_by_version(self, model: str, version: int) -> dict[str, Any] | None:
        """The run that registered ``model`` version ``version``, or None."""
        for doc in self.iter_runs(model):
            if doc.get("version") == version:
                return doc
        return None

    def holdout(self, run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The holdout ``(X, y)`` of a run, verified against the sha256 in its record."""
        meta = run.get("holdout")
        if not meta:
            raise NotFoundError(f"run {run.get('run_id')} has no recorded holdout", code="holdout_not_found")
        data = self.store.get(meta["key"]).data
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise IntegrityError(f"holdout {meta['key']} does not match its recorded sha256")
        return unpack_holdout(data)
