"""Where an inference function's model comes from: the registry, via the endpoint's deployment state.

The stable variant serves ``stable_version`` and the canary ``canary_version`` of the
deployment record; an endpoint that was never deployed through ``mlops deploy`` falls
back to the model's alias (``production`` / ``canary``). A version is scored by its compiled
trees, else its ONNX export (onnxruntime), else its joblib artifact; each is verified by sha256
inside the registry (``get_compiled`` / ``get_onnx`` / ``load_model``) before it is parsed. A
version's explanation background sample (``explain_background``, ``mlops.registry.background``) is
verified by sha256 too; one that fails leaves the version servable and its explanations answering
409 with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Any

import numpy as np

from mlops.errors import NotFoundError
from mlops.serving.deployment_state import read_deployment
from mlops.serving.loaded import LoadedModel
from mlops.serving.payload import Signature
from mlops.serving.sampling_shap import background_from_npz


class RegistrySource:
    def __init__(
        self,
        registry,
        store,
        *,
        endpoint: str,
        model: str,
        variant: str,
        alias: str,
        shadow_enabled: bool = False,
    ) -> None:
        self.registry, self.store = registry, store
        self.endpoint, self.model, self.variant, self.alias = endpoint, model, variant, alias
        self.shadow_enabled = shadow_enabled
        self._deployment: dict[str, Any] | None = None

    def resolve(self) -> int | None:
        dep = read_deployment(self.store, self.endpoint)
        self._deployment = dep
        if dep is not None:
            v = dep.get("stable_version") if self.variant == "stable" else dep.get("canary_version")
            return int(v) if v else None
        try:
            rec = self.registry.resolve_alias(self.model, self.alias)
        except NotFoundError:
            return None
        return int(rec["version"])

    def resolve_fallback(self) -> int | None:
        """What the canary serves its cohort while its own version cannot be served: the stable version."""
        dep = self._deployment
        if self.variant != "canary" or not dep or not dep.get("stable_version"):
            return None
        return int(dep["stable_version"])

    def resolve_shadow(self) -> tuple[int, float] | None:
        dep = self._deployment
        if not self.shadow_enabled or self.variant != "stable" or not dep:
            return None
        v, rate = dep.get("shadow_version"), float(dep.get("shadow_rate") or 0)
        return (int(v), rate) if v and rate > 0 else None

    def load(self, version: int) -> LoadedModel:
        loaded, record = self._load(version)
        rows, why = self._background(record, loaded.signature)
        return dataclasses.replace(loaded, background=rows, background_error=why)

    def _background(self, record: dict[str, Any], sig: Signature) -> tuple[np.ndarray | None, str | None]:
        """(the version's verified background sample or None, why it cannot be used)."""
        ref = record.get("explain_background")
        if not ref:
            return None, None
        what = f"the explanation background of {self.model} v{record.get('version')}"
        try:
            data = self.store.get(ref["key"]).data
        except NotFoundError:
            return None, f"{what} is missing from the store (key {ref['key']})"
        if hashlib.sha256(data).hexdigest() != ref["sha256"] or len(data) != ref.get("size", len(data)):
            return None, f"{what} failed sha256 verification; it will not be used (re-register to explain)"
        try:
            rows, names = background_from_npz(data)
        except (ValueError, KeyError, OSError) as exc:
            return None, f"{what} is not a background sample ({exc})"
        if tuple(names) != sig.names:
            return None, f"{what} has features {names[:10]}, not the signature's"
        return rows, None

    def _load(self, version: int) -> tuple[LoadedModel, dict[str, Any]]:
        compiled, record = self.registry.get_compiled(self.model, version)
        if compiled is not None:  # exact, no pickle, no sklearn import: the fast and safe path
            sig = Signature.from_dict(record.get("signature") or {})
            classes = (
                [c.item() if hasattr(c, "item") else c for c in compiled.classes]
                if compiled.classes is not None
                else None
            )
            return LoadedModel(
                model=compiled,
                version=int(version),
                signature=sig,
                classes=classes,
                has_proba=compiled.has_proba,
                loaded_at=time.time(),
            ), record
        onnx, record = self.registry.get_onnx(self.model, version)
        if onnx is not None:  # a verified ONNX export on onnxruntime: no pickle, no sklearn import either
            return LoadedModel(
                model=onnx,
                version=int(version),
                signature=Signature.from_dict(record.get("signature") or {}),
                classes=onnx.classes,
                has_proba=onnx.has_proba,
                loaded_at=time.time(),
            ), record
        model, record = self.registry.load_model(self.model, version)
        sig = Signature.from_dict(record.get("signature") or {})
        classes = list(getattr(model, "classes_", [])) or (list(sig.classes) if sig.classes else None)
        classes = [c.item() if hasattr(c, "item") else c for c in classes] if classes else None
        return LoadedModel(
            model=model,
            version=int(version),
            signature=sig,
            classes=classes,
            has_proba=hasattr(model, "predict_proba"),
            loaded_at=time.time(),
        ), record
