"""The model registry: models, immutable versions, aliases, approvals and deployments on one object store.

Nothing here is ever lost or silently overwritten: version records are created exclusively
(the number is allocated by trying ``latest + 1`` with ``if-none-match`` until it sticks), every
mutable record changes by compare-and-swap, and each change appends to the hash-chained audit
log. The order of writes is artifact -> record -> audit entry, so a reader never sees a record
whose artifact is missing. Registering a version is ``mlops.registry.versions``; moving aliases is
``mlops.registry.aliases``; endpoint deployments are ``mlops.registry.deployments``
(``Registry.deployments(actor=...)``).
"""

from __future__ import annotations

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
from mlops.registry import aliases, artifacts, governance, onnxexport, records, versions
from mlops.registry.aliases import RESERVED_REFS, UNSET
from mlops.registry.anchor import AuditAnchor
from mlops.registry.audit import AuditLog
from mlops.registry.deployments import Deployments
from mlops.registry.fields import check_tags, check_text, public, validate_actor
from mlops.registry.keys import MODELS_PREFIX, approval_key, model_key, model_subject, version_key
from mlops.storage.base import ObjectStore

__all__ = ["Registry", "validate_actor"]

_UNSET = UNSET
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\Z")
_SUBJECT = re.compile(r"^[a-z]+:[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def _check_version_doc(key: str, doc: Mapping[str, Any]) -> None:
    """A version record must at least name its artifact and signature (else it is corrupt, not a 500)."""
    art = doc.get("artifact")
    sig = doc.get("signature")
    if (
        not isinstance(art, Mapping)
        or not isinstance(art.get("sha256"), str)
        or not isinstance(sig, Mapping)
        or not isinstance(sig.get("inputs"), list)
    ):
        raise IntegrityError(
            f"metadata object {key} is corrupt (no artifact sha256 or signature)",
            code="corrupt_metadata",
            details={"key": key},
        )


class Registry:
    """The registry API. ``actor`` is who the changes are attributed to (``with_actor`` per request)."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        clock: Callable[[], float] = time.time,
        actor: str = "unknown",
        audit: AuditLog | None = None,
        anchor: AuditAnchor | None = None,
        audit_store: ObjectStore | None = None,
    ):
        """``anchor`` signs the audit log with a key kept outside the store (``mlops.registry.anchor``);
        ``audit_store`` holds the audit entries when they have their own (WORM) bucket."""
        self.store = store
        self.clock = clock
        self.actor = validate_actor(actor)
        self.audit = (
            audit if audit is not None else AuditLog(store, clock, anchor=anchor, entries_store=audit_store)
        )

    def with_actor(self, actor: str) -> Registry:
        """The same registry (store, clock, audit head cache) acting for ``actor``."""
        return Registry(self.store, clock=self.clock, actor=actor, audit=self.audit)

    def _now(self) -> str:
        return records.iso(self.clock())

    def _audit(self, action: str, subject: str, details: dict[str, Any]) -> dict[str, Any]:
        return self.audit.append(self.actor, action, subject, details)

    def audit_event(
        self, actor: str | None, action: str, subject: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Append an entry for something that is not a registry change but belongs in the trail
        (e.g. the guardian's ``retrain.requested``). ``action`` is ``word.word``; ``subject`` ``kind:name``."""
        if not isinstance(action, str) or not _ACTION.match(action):
            raise BadRequestError(
                f"audit action {str(action)[:60]!r} must look like 'retrain.requested'", code="invalid_action"
            )
        if not isinstance(subject, str) or not _SUBJECT.match(subject):
            raise BadRequestError(
                f"audit subject {str(subject)[:60]!r} must look like 'endpoint:churn'", code="invalid_subject"
            )
        try:
            records.dumps(details or {})
        except (TypeError, ValueError) as exc:
            raise BadRequestError(
                f"audit details must be plain JSON: {exc}", code="invalid_details"
            ) from None
        return self.audit.append(validate_actor(actor or self.actor), action, subject, dict(details or {}))

    def _read_many(self, keys: list[str]) -> list[records.Doc | None]:
        if len(keys) > 4 and type(self.store).__name__ != "FileStore":
            with ThreadPoolExecutor(max_workers=8) as pool:
                return list(pool.map(lambda k: records.read(self.store, k), keys))
        return [records.read(self.store, k) for k in keys]

    # ================================================================== models

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        required_metadata: list[str] | None = None,
        governed_aliases: list[str] | tuple[str, ...] | None = None,
        allow_unapproved_deploys: bool = False,
        exist_ok: bool = False,
    ) -> dict[str, Any]:
        """Create a model; ``ConflictError`` if it exists (unless ``exist_ok``).
        ``allow_unapproved_deploys`` lifts the rule that only approved versions serve traffic (audited)."""
        validate_name(name, "model")
        governed = governance.validate_governed_aliases(
            governance.DEFAULT_GOVERNED_ALIASES if governed_aliases is None else governed_aliases
        )
        policy = governance.validate_deploy_policy(allow_unapproved_deploys)
        now = self._now()
        doc = {
            "schema": records.SCHEMA,
            "name": name,
            "description": check_text("description", description, 10_000),
            "tags": check_tags(tags),
            "required_metadata": governance.validate_required_metadata(required_metadata),
            "governed_aliases": governed,
            governance.DEPLOY_POLICY: policy,
            "aliases": {},
            "created_by": self.actor,
            "created_at": now,
            "updated_by": self.actor,
            "updated_at": now,
            "generation": 1,
        }
        try:
            records.create(self.store, model_key(name), doc)
        except PreconditionFailedError:
            if exist_ok:
                return self.get_model(name)
            raise ConflictError(f"model {name!r} already exists", code="model_exists") from None
        self._audit(
            "model.create",
            model_subject(name),
            {
                "description": doc["description"],
                "required_metadata": doc["required_metadata"],
                "governed_aliases": governed,
                governance.DEPLOY_POLICY: policy,
                "tags": doc["tags"],
            },
        )
        return public(doc)

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        required_metadata: list[str] | None = None,
        governed_aliases: list[str] | None = None,
        allow_unapproved_deploys: bool | None = None,
    ) -> dict[str, Any]:
        """Change a model's description, tags or governance settings (only the fields given)."""
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = check_text("description", description, 10_000)
        if tags is not None:
            changes["tags"] = check_tags(tags)
        if required_metadata is not None:
            changes["required_metadata"] = governance.validate_required_metadata(required_metadata)
        if governed_aliases is not None:
            changes["governed_aliases"] = governance.validate_governed_aliases(governed_aliases)
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

        assert doc is not None  # change() raises rather than leave a missing record missing
        if changed:
            self._audit("model.update", model_subject(name), {**changes, "generation": doc["generation"]})
        return public(doc)

    def get_model(self, name: str) -> dict[str, Any]:
        """The model record (settings, governance, aliases)."""
        doc = records.read(self.store, model_key(name))
        if doc is None:
            raise NotFoundError(f"model {name!r} does not exist", code="model_not_found")
        return public(doc.data)

    def list_models(self) -> list[dict[str, Any]]:
        """Every model record, by name."""
        keys = [k for k in self.store.list(MODELS_PREFIX) if k.endswith("/model.json") and k.count("/") == 2]
        return [public(d.data) for d in self._read_many(keys) if d is not None]

    # ================================================================== versions

    def version_numbers(self, model: str) -> list[int]:
        """The version numbers of a model, ascending (from the store listing)."""
        return versions.version_numbers(self.store, model)

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
            raise IntegrityError(
                f"metadata object {key} is corrupt (it describes "
                f"{doc.data.get('model')!r} v{doc.data.get('version')!r})",
                code="corrupt_metadata",
                details={"key": key},
            )
        _check_version_doc(key, doc.data)
        return public(doc.data)

    def list_versions(self, model: str) -> list[dict[str, Any]]:
        """Every version record of a model, ascending."""
        self.get_model(model)
        keys = [version_key(model, n) for n in self.version_numbers(model)]
        return [public(d.data) for d in self._read_many(keys) if d is not None]

    def upload_artifact(self, data: bytes) -> dict[str, Any]:
        """Store artifact bytes by content; returns ``{"sha256", "size", "key"}`` (idempotent)."""
        return artifacts.upload(self.store, data)

    def _registrar(self) -> versions.Registrar:
        def model_for(name: str) -> dict[str, Any]:
            try:
                return self.get_model(name)
            except NotFoundError:
                return self.create_model(name, exist_ok=True)

        return versions.Registrar(self.store, self.actor, self._now, self._audit, model_for)

    def register_version(
        self, model: str, artifact: Any = None, X: Any = None, y: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Register a new version of ``model`` (created with default governance if new).

        The artifact is a fitted estimator (serialized with joblib), its joblib bytes, or
        ``artifact_sha256`` of bytes already uploaded. The signature, training-data digest and
        reference profile are inferred from the training frame ``X`` (and ``y``); without ``X``,
        pass ``signature`` (and optionally ``reference_profile`` / ``training_data_digest``).
        ``estimator`` is the deserialized artifact when the caller already has it (e.g. the CLI loaded
        the user's own joblib file): it is only inspected (feature count, class labels), never stored.
        The keyword arguments are ``mlops.registry.versions.RegistrationOptions``' fields. Returns the record.
        """
        return versions.register_version(self._registrar(), model, artifact, X, y, **kwargs)

    def import_mlflow(
        self, model: str, path: str, X: Any = None, y: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Register an MLflow sklearn-flavor model directory (``MLmodel`` + pickle) as a new version.
        Without ``X`` the signature comes from ``MLmodel`` (no reference profile then)."""
        return versions.import_mlflow(self._registrar(), model, path, X, y, **kwargs)

    def get_compiled(self, model: str, version: int | str) -> tuple[Any, dict[str, Any]]:
        """The version's compiled scorer (verified by sha256, loaded without pickle), or None."""
        from mlops.serving.compiled import CompiledTrees

        rec = self.get_version(model, version)
        ref = rec.get("compiled")
        if not ref:
            return None, rec
        data = self._verified(rec, ref["sha256"], ref.get("size"), what="compiled scorer")
        return CompiledTrees.from_npz(data), rec

    def get_onnx(self, model: str, version: int | str) -> tuple[Any, dict[str, Any]]:
        """The version's ONNX scorer, its bytes verified by sha256 before onnxruntime parses them, or None."""
        rec = self.get_version(model, version)
        if not (ref := rec.get("onnx") or {}).get("sha256"):
            return None, rec
        return onnxexport.scorer(self._verified(rec, ref["sha256"], ref.get("size"), "ONNX export")), rec

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
                self._audit(
                    "artifact.verify_failed",
                    model_subject(rec["model"]),
                    {"version": rec["version"], "what": what, **exc.details},
                )
            except Exception:  # noqa: BLE001 - refusing the artifact matters more than recording it
                pass
            raise

    def verify_servable(self, model: str, version: int | str) -> dict[str, Any]:
        """Check, by sha256 and size, everything serving may load for a version (its artifact and its
        compiled scorer or ONNX export); ``IntegrityError`` / ``NotFoundError`` name the object. Returns the record."""
        rec = self.get_version(model, version)
        art = rec["artifact"]
        self._verified(rec, art["sha256"], art.get("size"), what=f"artifact of {model} v{rec['version']}")
        v = rec["version"]
        for field, what in (("compiled", "compiled scorer"), ("onnx", "ONNX export")):
            if (ref := rec.get(field) or {}).get("sha256"):
                self._verified(rec, ref["sha256"], ref.get("size"), what=f"{what} of {model} v{v}")
        return rec

    def get_artifact(self, model: str, version: int | str) -> bytes:
        """The version's artifact bytes, verified against the recorded sha256 and size."""
        rec = self.get_version(model, version)
        art = rec["artifact"]
        return self._verified(
            rec, art["sha256"], art.get("size"), what=f"artifact of {model} v{rec['version']}"
        )

    def load_model(self, model: str, ref: int | str) -> tuple[Any, dict[str, Any]]:
        """(deserialized model, version record) for a version number, alias or ``latest``.
        The artifact is verified against the recorded sha256 before joblib sees it."""
        v = self.resolve(model, ref)
        rec = self.get_version(model, v)
        if rec["artifact"].get("format") != artifacts.FORMAT_JOBLIB:
            raise UnprocessableError(
                f"{model} v{v}: artifact format {rec['artifact'].get('format')!r} cannot be loaded",
                code="unsupported_format",
            )
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

    def _alias_moves(self) -> aliases.AliasMoves:
        return aliases.AliasMoves(self.store, self.actor, self._now, self._audit)

    def set_alias(
        self,
        model: str,
        alias: str,
        version: int | str,
        *,
        expected_version: Any = _UNSET,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (CAS). ``expected_version`` (a number, or None for "unset")
        makes the move conditional: ``ConflictError`` if the alias has moved meanwhile.
        A governed alias moves only to an approved version (``ForbiddenError``)."""
        validate_name(alias, "alias")
        if alias in RESERVED_REFS:
            raise BadRequestError(f"{alias!r} is reserved and cannot be an alias", code="reserved_alias")
        v = validate_version(version)
        expected_version = aliases.expectation(expected_version)
        self.get_version(model, v)
        state = self.get_approval(model, v)["state"]
        reason = check_text("reason", reason, 1000) or None
        return self._alias_moves().set(model, alias, v, state, expected_version, reason)

    def delete_alias(
        self, model: str, alias: str, *, expected_version: Any = _UNSET, reason: str | None = None
    ) -> dict[str, Any]:
        """Remove an alias (CAS; ``expected_version`` as in ``set_alias``)."""
        validate_name(alias, "alias")
        expected_version = aliases.expectation(expected_version)
        reason = check_text("reason", reason, 1000) or None
        return self._alias_moves().delete(model, alias, expected_version, reason)

    # ================================================================== governance

    def get_approval(self, model: str, version: int | str) -> dict[str, Any]:
        """The approval record of a version (state ``none`` when nobody asked yet)."""
        v = validate_version(version)
        doc = records.read(self.store, approval_key(model, v))
        if doc is None:
            self.get_version(model, v)
            return governance.new_approval(model, v)
        return public(doc.data)

    def is_approved(self, model: str, version: int | str) -> bool:
        return self.get_approval(model, version)["state"] == "approved"

    def request_approval(self, model: str, version: int | str, *, comment: str = "") -> dict[str, Any]:
        """Ask for approval of a version (state -> pending)."""
        v = validate_version(version)
        self.get_version(model, v)
        comment = check_text("comment", comment, 2000)
        now = self._now()

        def change(cur: dict[str, Any] | None) -> dict[str, Any]:
            return governance.apply_request(
                cur or governance.new_approval(model, v), actor=self.actor, at=now, comment=comment
            )

        doc, _ = records.update(self.store, approval_key(model, v), change, what="approval")

        assert doc is not None  # change() raises rather than leave a missing record missing
        self._audit("approval.request", model_subject(model), {"version": v, "comment": comment})
        return public(doc)

    def decide_approval(
        self, model: str, version: int | str, decision: str, *, comment: str = ""
    ) -> dict[str, Any]:
        """Approve or reject a pending request; the registrant of the version cannot approve it."""
        v = validate_version(version)
        rec = self.get_version(model, v)
        comment = check_text("comment", comment, 2000)
        now = self._now()

        def change(cur: dict[str, Any] | None) -> dict[str, Any]:
            return governance.apply_decision(
                cur or governance.new_approval(model, v),
                rec,
                decision=decision,
                actor=self.actor,
                at=now,
                comment=comment,
            )

        doc, _ = records.update(self.store, approval_key(model, v), change, what="approval")

        assert doc is not None  # change() raises rather than leave a missing record missing
        self._audit(f"approval.{decision}", model_subject(model), {"version": v, "comment": comment})
        return public(doc)

    # ================================================================== deployments (see deployments.py)

    def deployments(self, actor: str | None = None) -> Deployments:
        """The endpoint deployment operations (``mlops.registry.deployments``), acting as ``actor``
        (this registry's actor by default)."""
        reg = self if actor is None or actor == self.actor else self.with_actor(actor)
        return Deployments(reg.store, reg, reg.actor, reg._now, reg._audit)
