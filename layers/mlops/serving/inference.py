"""Inference for one endpoint variant: hot-swapped model, validated payloads, prediction records.

``InferenceService`` owns the model currently served. A background refresher
re-resolves the version the deployment state (or the alias) names every
``refresh_s`` and swaps the loaded model atomically, so promote and rollback need no
redeploy; when the store is unreachable the cached model keeps serving and the log
says so once. Every prediction prints one JSON record line (the input of drift and
A/B analysis); feedback requests print feedback lines. Shadow scoring runs after the
response on a bounded background queue, so it never adds latency.

A version that cannot be served - its artifact fails its sha256, is missing, or its record is
corrupt - is *unavailable*, which is not the same as "nothing deployed": the stable variant keeps
the version it holds (or answers 503 ``model_unavailable`` naming the failure), and the canary
variant serves its cohort with the endpoint's stable version, says so in the answer
(``variant: "stable"``, ``fallback``) and in each prediction record (``fallback``), from which
the drift job posts ``canary_unavailable`` for the canary alarm that rolls the canary back.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from mlops.errors import IntegrityError, NotFoundError, UnavailableError, UnprocessableError
from mlops.http import Request, Response, Router
from mlops.jsonbody import check_media_type
from mlops.names import explain_path
from mlops.serving import explainer
from mlops.serving.loaded import LoadedModel, ModelSource, score
from mlops.serving.payload import parse_payload
from mlops.serving.records import Scored, emit_prediction_records, now_iso, principal_digest, write_line

__all__ = ["InferenceService", "LoadedModel", "ModelSource", "score"]

log = logging.getLogger(__name__)


def _diagnostic(msg: str) -> None:
    """What the service has to say about its model (loads, swaps, failures): a diagnostic log line."""
    log.info(msg)


_PRED_ID_CHARS = frozenset("0123456789abcdef")


class InferenceService:
    """Serves predict and feedback for one endpoint variant."""

    def __init__(
        self,
        source: ModelSource,
        *,
        endpoint: str,
        model_name: str,
        variant: str,
        max_batch: int = 1000,
        sample_rate: float = 0.1,
        refresh_s: float = 10.0,
        explain_top_k: int = 0,
        retain_features: bool = False,
        emit: Callable[[dict[str, Any]], None] = write_line,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
        start_refresher: bool = True,
    ) -> None:
        self.source, self.endpoint, self.model_name, self.variant = source, endpoint, model_name, variant
        self.max_batch, self.sample_rate, self.refresh_s = max_batch, sample_rate, refresh_s
        self.explain_top_k = explain_top_k  # > 0: each prediction record carries its top contributions
        self.retain_features = retain_features  # features on every record (training), not only the sample
        self.emit, self.clock = emit, clock
        self.log: Callable[[str], None] = log or _diagnostic
        self.current: LoadedModel | None = None
        self.shadow: tuple[LoadedModel, float] | None = None
        self.unavailable: dict[str, Any] | None = None  # the deployed version that cannot be served, and why
        self.fallback: LoadedModel | None = None  # canary only: stable's model while that is so
        self._bad_shadow: int | None = None
        self._store_down: str | None = None  # why the registry store cannot be reached, while it cannot
        self._rng = random.Random()
        self._shadow_q: queue.Queue = queue.Queue(maxsize=1000)
        self.refresh()
        if start_refresher:
            threading.Thread(target=self._refresh_loop, name="model-refresh", daemon=True).start()
            threading.Thread(target=self._shadow_loop, name="shadow", daemon=True).start()

    # ------------------------------------------------------------------ model lifecycle
    def refresh(self) -> None:
        """Re-resolve the served version; load and swap when it changed."""
        try:
            version = self.source.resolve()
            if version is not None and (self.current is None or self.current.version != version):
                try:
                    loaded = self.source.load(version)
                except (IntegrityError, NotFoundError) as exc:
                    self._version_unavailable(version, exc)
                else:
                    old = self.current
                    self.current = loaded  # one reference assignment: atomic for readers
                    self.unavailable, self.fallback = None, None
                    self.log(
                        f"serving {self.model_name} v{version} as {self.variant} of {self.endpoint}"
                        + (f" (was v{old.version})" if old else "")
                    )
            elif version is None and self.current is not None:
                self.log(
                    f"no version is deployed for {self.variant} of {self.endpoint} any more; "
                    f"keeping v{self.current.version} until one is"
                )
            if version is None or (self.current is not None and self.current.version == version):
                self.unavailable, self.fallback = None, None
            self._refresh_fallback()
            shadow = self.source.resolve_shadow()
            if shadow is None:
                self.shadow = None
            elif self.shadow is None or self.shadow[0].version != shadow[0]:
                try:
                    self.shadow = (self.source.load(shadow[0]), shadow[1])
                except (IntegrityError, NotFoundError) as exc:
                    if self._bad_shadow != shadow[0]:
                        self.log(
                            f"shadow v{shadow[0]} of {self.endpoint} cannot be served "
                            f"({exc.code}: {exc.message}); not shadowing"
                        )
                    self._bad_shadow, self.shadow = shadow[0], None
            elif self.shadow[1] != shadow[1]:
                self.shadow = (self.shadow[0], shadow[1])
            if self._store_down:
                self.log("the registry store is reachable again")
                self._store_down = None
        except Exception as exc:  # keep serving what we have
            if not self._store_down:
                self._store_down = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                held = f"v{self.current.version}" if self.current else "nothing"
                self.log(
                    f"cannot refresh the model from the registry store ({type(exc).__name__}: {exc}); "
                    f"keep serving {held}"
                )

    def _version_unavailable(self, version: int, exc: IntegrityError | NotFoundError) -> None:
        """The deployed ``version`` cannot be served: remember why (logged once per version and reason)."""
        reason = {"version": int(version), "code": exc.code, "message": exc.message}
        if self.unavailable != reason:
            held = (
                f"keeping v{self.current.version}"
                if self.current is not None and self.variant != "canary"
                else ("its callers get the stable version" if self.variant == "canary" else "answering 503")
            )
            self.log(
                f"{self.model_name} v{version} cannot be served as {self.variant} of {self.endpoint} "
                f"({exc.code}: {exc.message}); {held}"
            )
        self.unavailable = reason

    def _refresh_fallback(self) -> None:
        """Canary only: while the canary version is unavailable, hold the endpoint's stable version."""
        resolve = getattr(self.source, "resolve_fallback", None)
        if self.unavailable is None or self.variant != "canary" or resolve is None:
            self.fallback = None
            return
        v = resolve()
        if v is None:
            self.fallback = None
        elif self.fallback is None or self.fallback.version != v:
            try:
                self.fallback = self.source.load(v)
            except (IntegrityError, NotFoundError) as exc:
                self.fallback = None
                self.log(
                    f"the stable v{v} of {self.endpoint} cannot be served either ({exc.code}: {exc.message})"
                )

    def _serving(self) -> tuple[LoadedModel, str, dict[str, Any] | None]:
        """(model, variant it belongs to, fallback note) for the next request, or a 503 that says why."""
        bad = self.unavailable
        m = self.current
        if bad is not None:
            fb = self.fallback
            if self.variant == "canary" and fb is not None:
                return (
                    fb,
                    "stable",
                    {
                        "from": self.variant,
                        "version": bad["version"],
                        "code": "model_unavailable",
                        "reason": bad["code"],
                    },
                )
            if m is None or self.variant == "canary":
                raise UnavailableError(
                    f"{self.model_name} v{bad['version']}, the {self.variant} version of endpoint {self.endpoint!r}, "
                    f"cannot be served: {bad['message']}",
                    code="model_unavailable",
                    details={"version": bad["version"], "variant": self.variant, "reason": bad["code"]},
                )
        if m is None:
            down = self._store_down
            if down:  # we do not know what is deployed: say why, not "nothing is deployed" (issue 13 F)
                raise UnavailableError(
                    f"the registry store cannot be reached ({down}), so this worker of endpoint {self.endpoint!r} "
                    f"({self.variant}) has no model loaded yet; retry shortly",
                    code="store_unavailable",
                    details={"variant": self.variant},
                )
            raise UnavailableError(
                f"no model version is deployed to endpoint {self.endpoint!r} "
                f"({self.variant}); deploy one with `mlops deploy`",
                code="no_model_deployed",
            )
        return m, self.variant, None

    def _refresh_loop(self) -> None:
        while True:
            time.sleep(self.refresh_s)
            self.refresh()

    # ------------------------------------------------------------------ predict
    def predict(self, request: Request) -> Response:
        t0 = time.perf_counter()
        check_media_type(request.headers.get("content-type"))
        m, variant, fallback = self._serving()
        X, _ = parse_payload(request.body, m.signature, self.max_batch)
        preds, proba, confidence = score(m, X)
        latency_ms = (time.perf_counter() - t0) * 1000
        ids = [uuid.uuid4().hex for _ in range(len(X))]
        body: dict[str, Any] = {
            "predictions": preds,
            "model": self.model_name,
            "version": m.version,
            "variant": variant,
            "prediction_ids": ids,
            "request_id": request.request_id,
        }
        if fallback is not None:
            body["fallback"] = fallback
        if proba is not None and confidence is not None:  # both or neither (score)
            body["probabilities"] = np.round(proba, 6).tolist()
            body["classes"] = m.classes
            body["confidence"] = np.round(confidence, 6).tolist()
        if len(ids) == 1:
            body["prediction_id"] = ids[0]
        top = explainer.top_contributions(m, X, proba, self.explain_top_k) if self.explain_top_k else None
        self._record(request, Scored(m, X, preds, confidence, ids, latency_ms, variant, fallback, top))
        sh = self.shadow
        if sh is not None and fallback is None and self._rng.random() < sh[1]:
            try:
                self._shadow_q.put_nowait((request, X, ids))
            except queue.Full:
                pass
        return Response(body=body, headers={"x-model-version": str(m.version), "x-variant": variant})

    def _record(self, request: Request, scored: Scored) -> None:
        emit_prediction_records(
            self.emit,
            request,
            scored,
            endpoint=self.endpoint,
            model_name=self.model_name,
            sample_rate=self.sample_rate,
            rng=self._rng,
            retain_features=self.retain_features,
        )

    def _shadow_loop(self) -> None:
        while True:
            request, X, ids = self._shadow_q.get()
            sh = self.shadow
            if sh is None:
                continue
            try:
                t0 = time.perf_counter()
                preds, _, conf = score(sh[0], X)
                ms = (time.perf_counter() - t0) * 1000
                self._record(request, Scored(sh[0], X, preds, conf, ids, ms, "shadow"))
            except Exception as exc:
                self.log(f"shadow scoring failed: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ explain
    def explain(self, request: Request) -> Response:
        """Feature contributions of the served model's outputs for the rows of a predict payload."""
        check_media_type(request.headers.get("content-type"))
        m, variant, fallback = self._serving()
        return explainer.explain(
            request, m, variant, fallback, model_name=self.model_name, max_batch=self.max_batch
        )

    # ------------------------------------------------------------------ feedback
    def feedback(self, request: Request) -> Response:
        doc = request.json()
        items = doc.get("feedback") if isinstance(doc, dict) and "feedback" in doc else [doc]
        if not isinstance(items, list) or not items:
            raise UnprocessableError(
                'send {"prediction_id": ..., "actual": ...} or {"feedback": [...]}', code="invalid_shape"
            )
        if len(items) > self.max_batch:
            raise UnprocessableError(
                f"at most {self.max_batch} feedback items per request", code="batch_too_large"
            )
        ts = now_iso()
        lines = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise UnprocessableError(f"feedback[{i}]: expected an object", code="invalid_row")
            pid = item.get("prediction_id")
            if not isinstance(pid, str) or len(pid) != 32 or not set(pid) <= _PRED_ID_CHARS:
                raise UnprocessableError(
                    f"feedback[{i}].prediction_id: expected the 32-hex-digit id a prediction returned",
                    code="invalid_prediction_id",
                    details={"row": i},
                )
            if "actual" not in item:
                raise UnprocessableError(
                    f"feedback[{i}].actual: the observed outcome is required",
                    code="missing_actual",
                    details={"row": i},
                )
            actual = item["actual"]
            if (
                not isinstance(actual, (int, float, str, bool))
                or isinstance(actual, float)
                and not np.isfinite(actual)
            ):
                raise UnprocessableError(
                    f"feedback[{i}].actual: expected a number, string or boolean",
                    code="invalid_actual",
                    details={"row": i},
                )
            lines.append(
                {
                    "kind": "feedback",
                    "ts": ts,
                    "prediction_id": pid,
                    "endpoint": self.endpoint,
                    "actual": actual,
                    "principal": principal_digest(request.principal),
                }
            )
        for rec in lines:
            self.emit(rec)
        return Response(body={"accepted": len(lines), "request_id": request.request_id}, status=202)

    def info(self, request: Request) -> dict[str, Any]:
        m = self.current
        return {
            "endpoint": self.endpoint,
            "model": self.model_name,
            "variant": self.variant,
            "version": m.version if m else None,
            "features": list(m.signature.names) if m else None,
            "shadow_version": self.shadow[0].version if self.shadow else None,
            "unavailable": self.unavailable,
            "fallback_version": self.fallback.version if self.fallback else None,
        }

    def smoke(self, request: Request) -> Response:
        """The deploy pipeline's INVOKE_FUNCTION check: the model is loaded and answers one row."""
        m = self.current
        bad = self.unavailable
        if bad is not None:
            raise UnavailableError(
                f"smoke test: {self.model_name} v{bad['version']} cannot be served as "
                f"{self.variant}: {bad['message']}",
                code="model_unavailable",
            )
        if m is None:
            if self._store_down:
                raise UnavailableError(
                    f"smoke test: the registry store cannot be reached ({self._store_down}); "
                    f"no model loaded for {self.variant} of {self.endpoint}",
                    code="store_unavailable",
                )
            raise UnavailableError(
                f"smoke test: no model loaded for {self.variant} of {self.endpoint}", code="no_model_deployed"
            )
        doc = request.json(required=False) or {}
        want = doc.get("version") if isinstance(doc, dict) else None
        if want is not None and str(want) != str(m.version):
            raise UnavailableError(
                f"smoke test: serving v{m.version}, expected v{want} (still loading?)", code="wrong_version"
            )
        X = np.zeros((1, m.signature.width))
        pred = m.model.predict(X)
        return Response(
            body={
                "ok": True,
                "endpoint": self.endpoint,
                "model": self.model_name,
                "version": m.version,
                "variant": self.variant,
                "prediction": pred[0].item() if isinstance(pred[0], np.generic) else pred[0],
            }
        )

    def direct(self, request: Request) -> Response:
        """A direct invoke (no gateway, URL "/"): a smoke check when asked for, else a prediction."""
        if request.body[:200].find(b'"smoke"') >= 0:
            doc = request.json(required=False)
            if isinstance(doc, dict) and doc.get("smoke"):
                return self.smoke(request)
        return self.predict(request)

    def router(self) -> Router:
        r = Router()
        r.add("POST", f"/v1/endpoints/{self.endpoint}/predict", self.predict)
        if self.variant in (
            "stable",
            "canary",
        ):  # its pinned route (mlops.blueprint.gateway, scope mlops:pin)
            from mlops.names import pinned_predict_path

            r.add("POST", pinned_predict_path(self.endpoint, self.variant), self.predict)
        r.add("POST", explain_path(self.endpoint), self.explain)
        r.add("POST", f"/v1/endpoints/{self.endpoint}/feedback", self.feedback)
        r.add("GET", f"/v1/endpoints/{self.endpoint}/info", self.info)
        # a direct invoke (no gateway) arrives with URL "/"
        r.add("POST", "/", self.direct)
        r.add("POST", "/call", self.direct)
        return r
