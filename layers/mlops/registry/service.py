"""The model registry: models, immutable versions, aliases, approvals and deployments on one object store.

Nothing here is ever lost or silently overwritten: version records are created exclusively
(the number is allocated by trying ``latest + 1`` with ``if-none-match`` until it sticks), every
mutable record changes by compare-and-swap, and each change appends to the hash-chained audit
log. The order of writes is artifact -> record -> audit entry, so a reader never sees a record
whose artifact is missing.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlops.errors import (
    BadRequestError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    PreconditionFailedError,
    UnprocessableError,
)
from mlops.names import validate_name, validate_version
from mlops.registry import artifacts, governance, records
from mlops.registry.anchor import AuditAnchor
from mlops.registry.audit import AuditLog
from mlops.registry.keys import (
    MODELS_PREFIX,
    approval_key,
    model_key,
    model_subject,
    version_key,
    version_of_key,
    versions_prefix,
)
from mlops.storage.base import ObjectStore

MAX_VERSION_ATTEMPTS = 1000
VERIFY_ON_REGISTER_MAX_BYTES = 64 * 1024 * 1024
RESERVED_REFS = ("latest",)
_UNSET: Any = object()
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
_SUBJECT = re.compile(r"^[a-z]+:[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def _public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k != "write_id"}


def validate_actor(actor: object) -> str:
    if not isinstance(actor, str) or not actor or len(actor) > 256 or any(ord(c) < 0x20 for c in actor):
        raise BadRequestError("actor must be a printable string of 1-256 characters", code="invalid_actor")
    return actor


def _check_scalars(name: str, value: Any, *, numbers_only: bool = False, max_items: int = 1000) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequestError(f"{name} must be an object of name -> value", code=f"invalid_{name}")
    if len(value) > max_items:
        raise BadRequestError(f"{name} has more than {max_items} entries", code=f"invalid_{name}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or len(k) > 256:
            raise BadRequestError(f"{name} keys must be strings of 1-256 characters", code=f"invalid_{name}")
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            v = v.item()  # numpy scalars
        if numbers_only:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise BadRequestError(f"{name}[{k!r}] must be a finite number", code=f"invalid_{name}")
        elif v is not None and not isinstance(v, (str, int, float, bool)):
            raise BadRequestError(f"{name}[{k!r}] must be a string, number, boolean or null", code=f"invalid_{name}")
        elif isinstance(v, float) and not math.isfinite(v):
            raise BadRequestError(f"{name}[{k!r}] must be finite", code=f"invalid_{name}")
        out[k] = v
    return out


def _check_tags(tags: Any) -> dict[str, str]:
    out = _check_scalars("tags", tags, max_items=100)
    for k, v in out.items():
        validate_name(k, "tag")
        if not isinstance(v, str) or len(v) > 1024:
            raise BadRequestError(f"tags[{k!r}] must be a string of at most 1024 characters", code="invalid_tags")
    return out


def _alias_list(value: Any) -> list[str]:
    return governance.validate_governed_aliases(value)


def _check_version_doc(key: str, doc: Mapping[str, Any]) -> None:
    """A version record must at least name its artifact and signature (else it is corrupt, not a 500)."""
    art = doc.get("artifact")
    sig = doc.get("signature")
    if not isinstance(art, Mapping) or not isinstance(art.get("sha256"), str) or \
            not isinstance(sig, Mapping) or not isinstance(sig.get("inputs"), list):
        raise IntegrityError(f"metadata object {key} is corrupt (no artifact sha256 or signature)",
                             code="corrupt_metadata", details={"key": key})


def _check_text(name: str, value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequestError(f"{name} must be a string of at most {limit} characters", code=f"invalid_{name}")
    return value


class Registry:
    """The registry API. ``actor`` is who the changes are attributed to (``with_actor`` per request)."""

    def __init__(self, store: ObjectStore, *, clock: Callable[[], float] = time.time, actor: str = "unknown",
                 audit: AuditLog | None = None, anchor: AuditAnchor | None = None,
                 audit_store: ObjectStore | None = None):
        """``anchor`` signs the audit log with a key kept outside the store (``mlops.registry.anchor``);
        ``audit_store`` holds the audit entries when they have their own (WORM) bucket."""
        self.store = store
        self.clock = clock
        self.actor = validate_actor(actor)
        self.audit = audit if audit is not None else AuditLog(store, clock, anchor=anchor,
                                                              entries_store=audit_store)

    def with_actor(self, actor: str) -> Registry:
        """The same registry (store, clock, audit head cache) acting for ``actor``."""
        return Registry(self.store, clock=self.clock, actor=actor, audit=self.audit)

    def _now(self) -> str:
        return records.iso(self.clock())

    def _audit(self, action: str, subject: str, details: dict[str, Any]) -> dict[str, Any]:
        return self.audit.append(self.actor, action, subject, details)

    def audit_event(self, actor: str | None, action: str, subject: str,
                    details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append an entry for something that is not a registry change but belongs in the trail
        (e.g. the guardian's ``retrain.requested``). ``action`` is ``word.word``; ``subject`` ``kind:name``."""
        if not isinstance(action, str) or not _ACTION.match(action):
            raise BadRequestError(f"audit action {str(action)[:60]!r} must look like 'retrain.requested'",
                                  code="invalid_action")
        if not isinstance(subject, str) or not _SUBJECT.match(subject):
            raise BadRequestError(f"audit subject {str(subject)[:60]!r} must look like 'endpoint:churn'",
                                  code="invalid_subject")
        try:
            records.dumps(details or {})
        except (TypeError, ValueError) as exc:
            raise BadRequestError(f"audit details must be plain JSON: {exc}", code="invalid_details") from None
        return self.audit.append(validate_actor(actor or self.actor), action, subject, dict(details or {}))

    def _read_many(self, keys: list[str]) -> list[records.Doc | None]:
        if len(keys) > 4 and type(self.store).__name__ != "FileStore":
            with ThreadPoolExecutor(max_workers=8) as pool:
                return list(pool.map(lambda k: records.read(self.store, k), keys))
        return [records.read(self.store, k) for k in keys]

    # ================================================================== models

    def create_model(self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None,
                     required_metadata: list[str] | None = None,
                     governed_aliases: list[str] | tuple[str, ...] | None = None,
                     allow_unapproved_deploys: bool = False, exist_ok: bool = False) -> dict[str, Any]:
        """Create a model; ``ConflictError`` if it exists (unless ``exist_ok``).
        ``allow_unapproved_deploys`` lifts the rule that only approved versions serve traffic (audited)."""
        validate_name(name, "model")
        governed = _alias_list(governance.DEFAULT_GOVERNED_ALIASES if governed_aliases is None else governed_aliases)
        policy = governance.validate_deploy_policy(allow_unapproved_deploys)
        now = self._now()
        doc = {"schema": records.SCHEMA, "name": name, "description": _check_text("description", description, 10_000),
               "tags": _check_tags(tags), "required_metadata": governance.validate_required_metadata(required_metadata),
               "governed_aliases": governed, governance.DEPLOY_POLICY: policy, "aliases": {},
               "created_by": self.actor, "created_at": now,
               "updated_by": self.actor, "updated_at": now, "generation": 1}
        try:
            records.create(self.store, model_key(name), doc)
        except PreconditionFailedError:
            if exist_ok:
                return self.get_model(name)
            raise ConflictError(f"model {name!r} already exists", code="model_exists") from None
        self._audit("model.create", model_subject(name),
                    {"description": doc["description"], "required_metadata": doc["required_metadata"],
                     "governed_aliases": governed, governance.DEPLOY_POLICY: policy, "tags": doc["tags"]})
        return _public(doc)

    def update_model(self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None,
                     required_metadata: list[str] | None = None,
                     governed_aliases: list[str] | None = None,
                     allow_unapproved_deploys: bool | None = None) -> dict[str, Any]:
        """Change a model's description, tags or governance settings (only the fields given)."""
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = _check_text("description", description, 10_000)
        if tags is not None:
            changes["tags"] = _check_tags(tags)
        if required_metadata is not None:
            changes["required_metadata"] = governance.validate_required_metadata(required_metadata)
        if governed_aliases is not None:
            changes["governed_aliases"] = _alias_list(governed_aliases)
        if allow_unapproved_deploys is not None:
            changes[governance.DEPLOY_POLICY] = governance.validate_deploy_policy(allow_unapproved_deploys)
        if not changes:
            raise BadRequestError("nothing to change", code="empty_update")

        def change(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if cur is None:
                raise NotFoundError(f"model {name!r} does not exist", code="model_not_found")
            if all(cur.get(k) == v for k, v in changes.items()):
                return None
            cur.update(changes)
            cur["updated_by"], cur["updated_at"] = self.actor, self._now()
            cur["generation"] = int(cur.get("generation", 0)) + 1
            return cur

        doc, changed = records.update(self.store, model_key(name), change, what="model")
        if changed:
            self._audit("model.update", model_subject(name), {**changes, "generation": doc["generation"]})
        return _public(doc)

    def get_model(self, name: str) -> dict[str, Any]:
        """The model record (settings, governance, aliases)."""
        doc = records.read(self.store, model_key(name))
        if doc is None:
            raise NotFoundError(f"model {name!r} does not exist", code="model_not_found")
        return _public(doc.data)

    def list_models(self) -> list[dict[str, Any]]:
        """Every model record, by name."""
        keys = [k for k in self.store.list(MODELS_PREFIX)
                if k.endswith("/model.json") and k.count("/") == 2]
        return [_public(d.data) for d in self._read_many(keys) if d is not None]

    # ================================================================== versions

    def version_numbers(self, model: str) -> list[int]:
        """The version numbers of a model, ascending (from the store listing)."""
        prefix = versions_prefix(model)
        nums = [version_of_key(model, k) for k in self.store.list(prefix)]
        return sorted(n for n in nums if n is not None)

    def latest_version(self, model: str) -> int | None:
        nums = self.version_numbers(model)
        return nums[-1] if nums else None

    def get_version(self, model: str, version: int | str) -> dict[str, Any]:
        """An immutable version record; ``NotFoundError`` when absent, ``IntegrityError`` if misplaced."""
        validate_name(model, "model")
        v = validate_version(version)
        key = version_key(model, v)
        doc = records.read(self.store, key)
        if doc is None:
            if records.read(self.store, model_key(model)) is None:
                raise NotFoundError(f"model {model!r} does not exist", code="model_not_found")
            raise NotFoundError(f"model {model!r} has no version {v}", code="version_not_found")
        if doc.data.get("model") != model or doc.data.get("version") != v:
            raise IntegrityError(f"metadata object {key} is corrupt (it describes "
                                 f"{doc.data.get('model')!r} v{doc.data.get('version')!r})",
                                 code="corrupt_metadata", details={"key": key})
        _check_version_doc(key, doc.data)
        return _public(doc.data)

    def list_versions(self, model: str) -> list[dict[str, Any]]:
        """Every version record of a model, ascending."""
        self.get_model(model)
        keys = [version_key(model, n) for n in self.version_numbers(model)]
        return [_public(d.data) for d in self._read_many(keys) if d is not None]

    def upload_artifact(self, data: bytes) -> dict[str, Any]:
        """Store artifact bytes by content; returns ``{"sha256", "size", "key"}`` (idempotent)."""
        return artifacts.upload(self.store, data)

    def register_version(self, model: str, artifact: Any = None, X: Any = None, y: Any = None, *,
                         artifact_sha256: str | None = None, feature_names: list[str] | None = None,
                         target_name: str | None = None, signature: Mapping[str, Any] | None = None,
                         reference_profile: Mapping[str, Any] | None = None,
                         reference_profile_sha256: str | None = None, profile: bool = True,
                         params: Mapping[str, Any] | None = None, metrics: Mapping[str, float] | None = None,
                         training_data_digest: str | None = None, code_commit: str | None = None,
                         description: str = "", tags: Mapping[str, str] | None = None,
                         flavor: str = artifacts.FLAVOR_SKLEARN, source: Mapping[str, Any] | None = None,
                         estimator: Any = None) -> dict[str, Any]:
        """Register a new version of ``model`` (created with default governance if new).

        The artifact is a fitted estimator (serialized with joblib), its joblib bytes, or
        ``artifact_sha256`` of bytes already uploaded. The signature, training-data digest and
        reference profile are inferred from the training frame ``X`` (and ``y``); without ``X``,
        pass ``signature`` (and optionally ``reference_profile`` / ``training_data_digest``).
        ``estimator`` is the deserialized artifact when the caller already has it (e.g. the CLI loaded
        the user's own joblib file): it is only inspected (feature count, class labels), never stored.
        Returns the version record.
        """
        from mlops.registry import signature as sigmod

        validate_name(model, "model")
        if flavor not in artifacts.FLAVORS:
            raise BadRequestError(f"flavor must be one of {', '.join(artifacts.FLAVORS)}", code="invalid_flavor")
        params_ = _check_scalars("params", params)
        metrics_ = _check_scalars("metrics", metrics, numbers_only=True)
        tags_ = _check_tags(tags)
        description = _check_text("description", description, 10_000)
        code_commit = _check_text("code_commit", code_commit, 200) or None
        source_ = _check_scalars("source", source, max_items=50) or None
        if X is not None and signature is not None:
            raise BadRequestError("give the training frame X or a signature, not both", code="ambiguous_signature")
        if reference_profile is not None and reference_profile_sha256 is not None:
            raise BadRequestError("give reference_profile or reference_profile_sha256, not both",
                                  code="ambiguous_profile")

        # ---- the artifact (bytes in memory, or a reference to an upload)
        model_obj = None
        data: bytes | None = None
        if isinstance(artifact, (bytes, bytearray, memoryview)):
            data = bytes(artifact)
        elif artifact is not None:
            artifacts.check_model_object(artifact)      # a dict or list is not a model version
            model_obj = artifact
            data = artifacts.serialize_model(artifact)
        elif artifact_sha256 is None:
            raise BadRequestError("an artifact is required: a fitted model, its joblib bytes, or artifact_sha256",
                                  code="missing_artifact")
        if model_obj is None and estimator is not None:
            model_obj = estimator
        if data is not None and artifact_sha256 is not None and artifacts.sha256_hex(data) != artifact_sha256:
            raise BadRequestError("artifact_sha256 does not match the artifact bytes", code="sha256_mismatch")

        # ---- signature and training data
        training_data = None
        columns = None
        if X is not None:
            names, columns = sigmod.to_columns(X, feature_names)
            sig = sigmod.infer_signature(names, columns, y=y, target_name=target_name,
                                         classes=sigmod.classes_of(model_obj, y))
            training_data = {"digest": sigmod.data_digest(names, columns, y), "rows": len(columns[names[0]]),
                             "columns": len(names)}
            if training_data_digest and training_data_digest != training_data["digest"]:
                raise BadRequestError("training_data_digest does not match the training data given",
                                      code="digest_mismatch")
            _check_model_fits(model_obj, names)
        elif signature is not None:
            sig = sigmod.validate_signature(signature)
            if training_data_digest:
                training_data = {"digest": _check_text("training_data_digest", training_data_digest, 200),
                                 "rows": None, "columns": len(sig["inputs"])}
        else:
            raise UnprocessableError("a signature is needed: pass the training frame X (and y) or a signature",
                                     code="missing_signature")

        sigmod.check_classes(sig.get("classes"))
        will_profile = reference_profile is not None or reference_profile_sha256 is not None or \
            (columns is not None and profile)
        artifact_info = {"sha256": artifact_sha256, "size": None, "flavor": flavor, "format": artifacts.FORMAT_JOBLIB,
                         "python_class": f"{type(model_obj).__module__}.{type(model_obj).__qualname__}"
                         if model_obj is not None else None}
        record: dict[str, Any] = {
            "schema": records.SCHEMA, "model": model, "version": None, "artifact": artifact_info,
            "signature": sig, "params": params_, "metrics": metrics_, "training_data": training_data,
            "code_commit": code_commit, "description": description, "tags": tags_,
            "reference_profile": {"pending": True} if will_profile else None,
            "source": source_, "created_by": self.actor, "created_at": None}

        # ---- governance before any write
        try:
            model_doc = self.get_model(model)
        except NotFoundError:
            model_doc = self.create_model(model, exist_ok=True)
        governance.check_required_metadata(model_doc, record)

        # ---- writes: artifact, profile, then the version record, then the audit entry
        if data is not None:
            up = artifacts.upload(self.store, data)
            artifact_info.update(sha256=up["sha256"], size=up["size"])
        else:
            artifact_info.update(_existing_artifact(self.store, artifact_sha256))
        artifact_info["key"] = f"artifacts/sha256/{artifact_info['sha256']}"
        if will_profile:
            record["reference_profile"] = self._store_profile(sig, columns, reference_profile,
                                                              reference_profile_sha256)
        record["compiled"] = self._store_compiled(model_obj, sig, columns)
        record["created_at"] = self._now()
        version = self._allocate_version(model, record)
        self._audit("version.register", model_subject(model),
                    {"version": version, "artifact_sha256": artifact_info["sha256"],
                     "artifact_size": artifact_info["size"], "flavor": flavor,
                     "training_data_digest": (training_data or {}).get("digest"), "code_commit": code_commit})
        return _public(record)

    def import_mlflow(self, model: str, path: str, X: Any = None, y: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Register an MLflow sklearn-flavor model directory (``MLmodel`` + pickle) as a new version.
        Without ``X`` the signature comes from ``MLmodel`` (no reference profile then)."""
        obj, facts = artifacts.read_mlflow_sklearn_dir(path)
        if X is None and "signature" not in kwargs:
            if not facts.get("signature"):
                raise UnprocessableError(f"{path}: MLmodel has no column signature; pass the training frame X",
                                         code="missing_signature")
            kwargs["signature"] = facts["signature"]
            classes = getattr(obj, "classes_", None)
            if classes is not None:
                kwargs["signature"] = {**kwargs["signature"],
                                       "classes": [c.item() if hasattr(c, "item") else c for c in classes]}
        return self.register_version(model, obj, X, y, source=facts["source"], **kwargs)

    def _store_compiled(self, model_obj: Any, sig: dict[str, Any], columns: Mapping[str, Any] | None
                        ) -> dict[str, Any] | None:
        """A tree ensemble's compiled scorer (``mlops.serving.compiled``), stored like an artifact and
        verified against the model on training rows; serving then needs neither pickle nor sklearn."""
        if model_obj is None or columns is None:
            return None
        import numpy as np

        from mlops.serving.compiled import FORMAT, compile_model, verified

        names = [f["name"] for f in sig["inputs"]]
        try:
            probe = np.column_stack([np.asarray(columns[n], dtype=np.float64)[:256] for n in names])
        except (TypeError, ValueError):
            return None                        # text features: a pipeline, served by the model itself
        compiled = verified(compile_model(model_obj), model_obj, probe)
        if compiled is None:
            return None
        up = artifacts.upload(self.store, compiled.to_npz(), content_type="application/octet-stream")
        return {"sha256": up["sha256"], "size": up["size"], "key": f"artifacts/sha256/{up['sha256']}",
                "format": FORMAT}

    def get_compiled(self, model: str, version: int | str):
        """The version's compiled scorer (verified by sha256, loaded without pickle), or None."""
        from mlops.serving.compiled import CompiledTrees

        rec = self.get_version(model, version)
        ref = rec.get("compiled")
        if not ref:
            return None, rec
        data = self._verified(rec, ref["sha256"], ref.get("size"), what="compiled scorer")
        return CompiledTrees.from_npz(data), rec

    def _store_profile(self, sig: dict[str, Any], columns: Mapping[str, Any] | None,
                       given: Mapping[str, Any] | None, given_sha256: str | None) -> dict[str, Any]:
        if given_sha256 is not None:
            info = _existing_artifact(self.store, given_sha256, what="reference profile")
            profile = _profile_document(given_sha256, artifacts.fetch_verified(self.store, given_sha256,
                                                                                what="reference profile"))
            fmt = profile.get("format")
        else:
            if given is not None:
                if not isinstance(given, Mapping) or not isinstance(given.get("features"), Mapping):
                    raise UnprocessableError("reference_profile must be a profile document with 'features'",
                                             code="invalid_profile")
                profile = dict(given)
            else:
                from mlops.drift.profile import build_reference_profile
                from mlops.registry.signature import kinds_of

                kinds = kinds_of(sig)
                # 10k reference values per feature keep KS exact and strong for production windows
                # while a 100-feature profile stays ~20 MB rather than ~90 MB (drift benchmark)
                profile = build_reference_profile({n: columns[n] for n in kinds}, kinds,  # type: ignore[index]
                                                  max_sample=PROFILE_MAX_SAMPLE)
            try:
                payload = records.dumps(profile)
            except (TypeError, ValueError) as exc:
                raise UnprocessableError(f"reference_profile is not plain JSON: {exc}",
                                         code="invalid_profile") from None
            info = artifacts.upload(self.store, payload, content_type="application/json")
            fmt = profile.get("format")
        missing = [f["name"] for f in sig["inputs"] if f["name"] not in (profile.get("features") or {})]
        if missing:
            raise UnprocessableError(f"reference profile lacks features {missing[:10]}", code="invalid_profile")
        return {"sha256": info["sha256"], "size": info["size"], "key": f"artifacts/sha256/{info['sha256']}",
                "format": fmt}

    def _allocate_version(self, model: str, record: dict[str, Any]) -> int:
        """Create ``versions/<n>.json`` for the first free n from latest+1 (create-exclusive); returns n."""
        n = (self.latest_version(model) or 0) + 1
        for attempt in range(MAX_VERSION_ATTEMPTS):
            record["version"] = n
            record.pop("write_id", None)
            t0 = time.perf_counter()
            try:
                records.create(self.store, version_key(model, n), record)
                record.pop("write_id", None)
                return n
            except PreconditionFailedError:
                # Someone else took n, so the next free number is above it (back off: a crowd is
                # registering, and the audit log they append to next is contended as well).
                n += 1
                records.backoff(attempt, time.perf_counter() - t0)
        raise ConflictError(f"could not allocate a version number for {model!r} after "
                            f"{MAX_VERSION_ATTEMPTS} attempts", code="too_much_contention")

    def get_reference_profile(self, model: str, version: int | str) -> dict[str, Any] | None:
        """The version's drift reference profile (verified by sha256), or None if it has none."""
        rec = self.get_version(model, version)
        ref = rec.get("reference_profile")
        if not ref:
            return None
        data = self._verified(rec, ref["sha256"], ref.get("size"), what="reference profile")
        return records.loads(ref["key"], data, store=self.store)

    def _verified(self, rec: dict[str, Any], sha256: str, size: int | None, what: str) -> bytes:
        try:
            return artifacts.fetch_verified(self.store, sha256, size=size, what=what)
        except IntegrityError as exc:
            try:
                self._audit("artifact.verify_failed", model_subject(rec["model"]),
                            {"version": rec["version"], "what": what, **exc.details})
            except Exception:  # noqa: BLE001 - refusing the artifact matters more than recording it
                pass
            raise

    def verify_servable(self, model: str, version: int | str) -> dict[str, Any]:
        """Check, by sha256 and size, everything serving may load for a version (its artifact and its
        compiled scorer); ``IntegrityError`` / ``NotFoundError`` name the object. Returns the record."""
        rec = self.get_version(model, version)
        art = rec["artifact"]
        self._verified(rec, art["sha256"], art.get("size"), what=f"artifact of {model} v{rec['version']}")
        ref = rec.get("compiled")
        if ref:
            self._verified(rec, ref["sha256"], ref.get("size"), what=f"compiled scorer of {model} v{rec['version']}")
        return rec

    def get_artifact(self, model: str, version: int | str) -> bytes:
        """The version's artifact bytes, verified against the recorded sha256 and size."""
        rec = self.get_version(model, version)
        art = rec["artifact"]
        return self._verified(rec, art["sha256"], art.get("size"), what=f"artifact of {model} v{rec['version']}")

    def load_model(self, model: str, ref: int | str) -> tuple[Any, dict[str, Any]]:
        """(deserialized model, version record) for a version number, alias or ``latest``.
        The artifact is verified against the recorded sha256 before joblib sees it."""
        v = self.resolve(model, ref)
        rec = self.get_version(model, v)
        if rec["artifact"].get("format") != artifacts.FORMAT_JOBLIB:
            raise UnprocessableError(f"{model} v{v}: artifact format {rec['artifact'].get('format')!r} "
                                     "cannot be loaded", code="unsupported_format")
        data = self.get_artifact(model, v)
        return artifacts.load_joblib(data), rec

    # ================================================================== aliases

    def alias_version(self, model: str, alias: str) -> int:
        """The version number an alias points to; ``NotFoundError`` if unset."""
        validate_name(alias, "alias")
        doc = self.get_model(model)
        v = (doc.get("aliases") or {}).get(alias)
        if v is None:
            raise NotFoundError(f"model {model!r} has no alias {alias!r}", code="alias_not_found")
        return int(v)

    def resolve_alias(self, model: str, alias: str) -> dict[str, Any]:
        """The version record an alias points to; ``NotFoundError`` if unset."""
        return self.get_version(model, self.alias_version(model, alias))

    def resolve(self, model: str, ref: int | str) -> int:
        """A version number from a number, ``"3"``, an alias or ``"latest"``."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return validate_version(ref)
        if ref == "latest":
            v = self.latest_version(model)
            if v is None:
                self.get_model(model)
                raise NotFoundError(f"model {model!r} has no versions", code="version_not_found")
            return v
        return self.alias_version(model, ref)

    def set_alias(self, model: str, alias: str, version: int | str, *, expected_version: Any = _UNSET,
                  reason: str | None = None) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (CAS). ``expected_version`` (a number, or None for "unset")
        makes the move conditional: ``ConflictError`` if the alias has moved meanwhile.
        A governed alias moves only to an approved version (``ForbiddenError``)."""
        validate_name(alias, "alias")
        if alias in RESERVED_REFS:
            raise BadRequestError(f"{alias!r} is reserved and cannot be an alias", code="reserved_alias")
        v = validate_version(version)
        if expected_version is not _UNSET and expected_version is not None:
            expected_version = validate_version(expected_version)
        self.get_version(model, v)
        state = self.get_approval(model, v)["state"]
        reason = _check_text("reason", reason, 1000) or None
        moved: dict[str, Any] = {}

        def change(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if cur is None:
                raise NotFoundError(f"model {model!r} does not exist", code="model_not_found")
            aliases = cur.setdefault("aliases", {})
            prev = aliases.get(alias)
            if expected_version is not _UNSET and prev != expected_version:
                raise ConflictError(f"alias {alias!r} of {model!r} points to "
                                    f"{'v' + str(prev) if prev else 'nothing'}, not "
                                    f"{'v' + str(expected_version) if expected_version else 'nothing'} as expected; "
                                    "re-read and retry", code="alias_moved",
                                    details={"alias": alias, "current": prev})
            governance.check_governed_alias(cur, alias, v, state)
            if prev == v:
                return None
            aliases[alias] = v
            cur["updated_by"], cur["updated_at"] = self.actor, self._now()
            cur["generation"] = int(cur.get("generation", 0)) + 1
            moved["previous"] = prev
            return cur

        doc, changed = records.update(self.store, model_key(model), change, what="model")
        if changed:
            self._audit("alias.set", model_subject(model),
                        {"alias": alias, "version": v, "previous": moved.get("previous"), "reason": reason,
                         "generation": doc["generation"]})
        return _public(doc)

    def delete_alias(self, model: str, alias: str, *, expected_version: Any = _UNSET,
                     reason: str | None = None) -> dict[str, Any]:
        """Remove an alias (CAS; ``expected_version`` as in ``set_alias``)."""
        validate_name(alias, "alias")
        if expected_version is not _UNSET and expected_version is not None:
            expected_version = validate_version(expected_version)
        reason = _check_text("reason", reason, 1000) or None
        removed: dict[str, Any] = {}

        def change(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if cur is None:
                raise NotFoundError(f"model {model!r} does not exist", code="model_not_found")
            aliases = cur.setdefault("aliases", {})
            if alias not in aliases:
                raise NotFoundError(f"model {model!r} has no alias {alias!r}", code="alias_not_found")
            if expected_version is not _UNSET and aliases[alias] != expected_version:
                raise ConflictError(f"alias {alias!r} of {model!r} points to v{aliases[alias]}, "
                                    f"not v{expected_version} as expected", code="alias_moved")
            removed["previous"] = aliases.pop(alias)
            cur["updated_by"], cur["updated_at"] = self.actor, self._now()
            cur["generation"] = int(cur.get("generation", 0)) + 1
            return cur

        doc, _ = records.update(self.store, model_key(model), change, what="model")
        self._audit("alias.delete", model_subject(model),
                    {"alias": alias, "version": None, "previous": removed.get("previous"), "reason": reason,
                     "generation": doc["generation"]})
        return _public(doc)

    # ================================================================== governance

    def get_approval(self, model: str, version: int | str) -> dict[str, Any]:
        """The approval record of a version (state ``none`` when nobody asked yet)."""
        v = validate_version(version)
        doc = records.read(self.store, approval_key(model, v))
        if doc is None:
            self.get_version(model, v)
            return governance.new_approval(model, v)
        return _public(doc.data)

    def is_approved(self, model: str, version: int | str) -> bool:
        return self.get_approval(model, version)["state"] == "approved"

    def request_approval(self, model: str, version: int | str, *, comment: str = "") -> dict[str, Any]:
        """Ask for approval of a version (state -> pending)."""
        v = validate_version(version)
        self.get_version(model, v)
        comment = _check_text("comment", comment, 2000)
        now = self._now()

        def change(cur: dict[str, Any] | None) -> dict[str, Any]:
            return governance.apply_request(cur or governance.new_approval(model, v), actor=self.actor, at=now,
                                            comment=comment)

        doc, _ = records.update(self.store, approval_key(model, v), change, what="approval")
        self._audit("approval.request", model_subject(model), {"version": v, "comment": comment})
        return _public(doc)

    def decide_approval(self, model: str, version: int | str, decision: str, *, comment: str = "") -> dict[str, Any]:
        """Approve or reject a pending request; the registrant of the version cannot approve it."""
        v = validate_version(version)
        rec = self.get_version(model, v)
        comment = _check_text("comment", comment, 2000)
        now = self._now()

        def change(cur: dict[str, Any] | None) -> dict[str, Any]:
            return governance.apply_decision(cur or governance.new_approval(model, v), rec, decision=decision,
                                             actor=self.actor, at=now, comment=comment)

        doc, _ = records.update(self.store, approval_key(model, v), change, what="approval")
        self._audit(f"approval.{decision}", model_subject(model), {"version": v, "comment": comment})
        return _public(doc)

    # ================================================================== deployments (see deployments.py)

    def get_deployment(self, endpoint: str) -> dict[str, Any]:
        from mlops.registry import deployments

        return deployments.get_deployment(self, endpoint)

    def list_deployments(self) -> list[dict[str, Any]]:
        from mlops.registry import deployments

        return deployments.list_deployments(self)

    def _as(self, actor: str | None) -> Registry:
        return self if actor is None or actor == self.actor else self.with_actor(actor)

    def set_stable(self, endpoint: str, model: str, version: int | str, *, reason: str | None = None,
                   expected_generation: int | None = None, alias: str = "production",
                   actor: str | None = None) -> dict[str, Any]:
        """First deploy / direct switch of the stable version (approved versions only when governed)."""
        from mlops.registry import deployments

        return deployments.set_stable(self._as(actor), endpoint, model, version, reason=reason,
                                      expected_generation=expected_generation, alias=alias)

    def start_canary(self, endpoint: str, version: int | str, weight_bp: int, *, reason: str | None = None,
                     expected_generation: int | None = None, actor: str | None = None) -> dict[str, Any]:
        """Route ``weight_bp`` basis points of callers to ``version``."""
        from mlops.registry import deployments

        return deployments.start_canary(self._as(actor), endpoint, version, weight_bp, reason=reason,
                                        expected_generation=expected_generation)

    def set_weight(self, endpoint: str, weight_bp: int, *, reason: str | None = None,
                   expected_generation: int | None = None, actor: str | None = None) -> dict[str, Any]:
        """Change the running canary's weight (basis points)."""
        from mlops.registry import deployments

        return deployments.set_weight(self._as(actor), endpoint, weight_bp, reason=reason,
                                      expected_generation=expected_generation)

    def set_shadow(self, endpoint: str, version: int | str | None, rate: float = 0.0, *, reason: str | None = None,
                   expected_generation: int | None = None, actor: str | None = None) -> dict[str, Any]:
        """Shadow-score a share of stable traffic with ``version`` (None stops it)."""
        from mlops.registry import deployments

        return deployments.set_shadow(self._as(actor), endpoint, version, rate, reason=reason,
                                      expected_generation=expected_generation)

    def promote(self, endpoint: str, *, reason: str | None = None, expected_generation: int | None = None,
                alias: str = "production", actor: str | None = None) -> dict[str, Any]:
        """Canary becomes stable (weight 0) and ``alias`` moves to it (approved versions only when governed)."""
        from mlops.registry import deployments

        return deployments.promote(self._as(actor), endpoint, reason=reason,
                                   expected_generation=expected_generation, alias=alias)

    def rollback(self, endpoint: str, *, reason: str, expected_generation: int | None = None,
                 actor: str | None = None) -> dict[str, Any]:
        """Stop the canary (weight 0, canary cleared), audited with ``reason``; a no-op when none runs."""
        from mlops.registry import deployments

        return deployments.rollback(self._as(actor), endpoint, reason=reason,
                                    expected_generation=expected_generation)


PROFILE_MAX_SAMPLE = 10_000


def _existing_artifact(store: ObjectStore, sha256: str | None, what: str = "artifact") -> dict[str, Any]:
    """Size of an uploaded artifact, verified by sha256 when small enough to read here."""
    from mlops.registry.keys import artifact_key

    key = artifact_key(sha256 or "")
    info = store.head(key)
    if info is None:
        raise NotFoundError(f"{what} sha256:{sha256} has not been uploaded (no {key} in the store)",
                            code="artifact_missing")
    if info.size <= VERIFY_ON_REGISTER_MAX_BYTES:
        artifacts.fetch_verified(store, sha256, size=info.size, what=what)  # type: ignore[arg-type]
    return {"sha256": sha256, "size": info.size}


def _profile_document(sha256: str, data: bytes) -> dict[str, Any]:
    """An uploaded artifact named as a reference profile: a JSON profile document, else a 422 that says so
    (the caller chose the artifact; nothing in the store is corrupt)."""
    from mlops.jsonbody import parse_json

    try:
        doc = parse_json(data)
    except BadRequestError as exc:
        raise UnprocessableError(f"reference_profile_sha256 {sha256[:12]}... names an artifact that is not a JSON "
                                 f"reference profile ({exc.message})", code="invalid_profile") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("features"), Mapping):
        raise UnprocessableError(f"reference_profile_sha256 {sha256[:12]}... names an artifact that is not a "
                                 "reference profile (a JSON object with 'features')", code="invalid_profile")
    return dict(doc)


def _check_model_fits(model: Any, names: list[str]) -> None:
    """A fitted estimator must take exactly the training frame's columns."""
    if model is None:
        return
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and int(n_in) != len(names):
        raise UnprocessableError(f"the model takes {n_in} features but the training data has {len(names)} columns",
                                 code="feature_count_mismatch")
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None and [str(x) for x in fitted] != list(names):
        raise UnprocessableError(f"the model was fitted on columns {[str(x) for x in fitted][:10]} but the training "
                                 f"data has {names[:10]}", code="feature_names_mismatch")

