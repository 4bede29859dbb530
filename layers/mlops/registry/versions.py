"""Registering a model version: check what is given, store artifact, profile and compiled scorer, then
allocate the next version number (create-exclusive) and audit it.

The order of writes is artifact -> reference profile -> compiled scorer -> version record -> audit
entry, so a reader never sees a record whose artifact is missing. Version numbers are allocated by
trying ``latest + 1`` with ``if-none-match`` until one sticks (``mlops.storage.cas.retry_lost_races``).
What registration needs of the registry is ``Registrar`` (store, actor, clock, audit appender and
the model record, created with default governance if new); ``Registry.register_version`` builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from mlops.datasets.catalog import resolve_references
from mlops.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableError
from mlops.names import validate_name
from mlops.registry import artifacts, governance, mlflowdir, mlflowuri, onnxexport, records
from mlops.registry.background import store_background
from mlops.registry.expectations import store_expectations
from mlops.registry.fields import check_scalars, check_tags, check_text, public
from mlops.registry.keys import artifact_key, model_subject, version_key, version_of_key, versions_prefix
from mlops.registry.shapimportance import version_importance
from mlops.storage.base import ObjectStore

MAX_VERSION_ATTEMPTS = 1000
VERIFY_ON_REGISTER_MAX_BYTES = 64 * 1024 * 1024
PROFILE_MAX_SAMPLE = 10_000


@dataclass(frozen=True)
class Registrar:
    """What registering a version needs of the registry: where to write, who acts, the registry's ISO clock,
    the audit appender ``audit(action, subject, details)`` and ``model_for(name)``, the model record
    (created with default governance if it does not exist yet)."""

    store: ObjectStore
    actor: str
    now: Callable[[], str]
    audit: Callable[[str, str, dict[str, Any]], object]
    model_for: Callable[[str], dict[str, Any]]


def version_numbers(store: ObjectStore, model: str) -> list[int]:
    """The version numbers of a model, ascending (from the store listing)."""
    prefix = versions_prefix(model)
    nums = [version_of_key(model, k) for k in store.list(prefix)]
    return sorted(n for n in nums if n is not None)


@dataclass(frozen=True)
class RegistrationOptions:
    """The keyword arguments of ``register_version`` (everything but the artifact and the ``X``/``y``
    training frame), with their defaults; ``registration_options`` builds it from the caller's keywords."""

    artifact_sha256: str | None = None
    feature_names: list[str] | None = None
    target_name: str | None = None
    signature: Mapping[str, Any] | None = None
    reference_profile: Mapping[str, Any] | None = None
    reference_profile_sha256: str | None = None
    profile: bool = True
    params: Mapping[str, Any] | None = None
    metrics: Mapping[str, float] | None = None
    training_data_digest: str | None = None
    code_commit: str | None = None
    description: str = ""
    tags: Mapping[str, str] | None = None
    flavor: str = artifacts.FLAVOR_SKLEARN
    source: Mapping[str, Any] | None = None
    estimator: Any = None
    datasets: Mapping[str, str] | None = None  # role -> "NAME:VERSION" (mlops.datasets), checked to exist
    expectations: Any = None  # a mlops.quality Suite (or its YAML); None: inferred from the training frame


_OPTION_NAMES = frozenset(f.name for f in fields(RegistrationOptions))


def registration_options(given: Mapping[str, Any]) -> RegistrationOptions:
    """The options of one registration; an unknown keyword is the caller's ``TypeError``, as for any call."""
    for name in given:
        if name not in _OPTION_NAMES:
            raise TypeError(f"register_version() got an unexpected keyword argument {name!r}")
    return RegistrationOptions(**given)


def register_version(
    reg: Registrar, model: str, artifact: Any = None, X: Any = None, y: Any = None, **options: Any
) -> dict[str, Any]:
    """Register a new version of ``model`` (see ``Registry.register_version``); returns the version record.
    The keyword arguments are ``RegistrationOptions``' fields."""
    opts = registration_options(options)
    record, data, model_obj, columns = _draft(reg, model, artifact, X, y, opts)
    governance.check_required_metadata(reg.model_for(model), record)  # governance before any write

    # ---- writes: artifact, profile, compiled scorer, then the version record, then the audit entry
    artifact_info = record["artifact"]
    if data is not None:
        up = artifacts.upload(reg.store, data)
        artifact_info.update(sha256=up["sha256"], size=up["size"])
    else:
        artifact_info.update(existing_artifact(reg.store, opts.artifact_sha256))
    artifact_info["key"] = f"artifacts/sha256/{artifact_info['sha256']}"
    sig = record["signature"]
    if record["reference_profile"] is not None:
        record["reference_profile"] = store_profile(
            reg.store, sig, columns, opts.reference_profile, opts.reference_profile_sha256
        )
    record["compiled"] = store_compiled(reg.store, model_obj, sig, columns)
    record["explain_background"] = store_background(reg.store, sig, columns)
    record["expectations"] = store_expectations(reg.store, columns, opts.expectations)
    record["shap_importance"] = version_importance(reg.store, record["compiled"], model_obj, sig, columns)
    record["onnx"] = onnxexport.store_onnx(reg.store, model_obj, sig, columns, record["compiled"])
    record["created_at"] = reg.now()
    version = allocate_version(reg.store, model, record)
    reg.audit(
        "version.register",
        model_subject(model),
        {
            "version": version,
            "artifact_sha256": artifact_info["sha256"],
            "artifact_size": artifact_info["size"],
            "flavor": opts.flavor,
            "training_data_digest": (record["training_data"] or {}).get("digest"),
            "code_commit": record["code_commit"],
            "datasets": {role: d["ref"] for role, d in (record.get("datasets") or {}).items()} or None,
        },
    )
    return public(record)


def _draft(
    reg: Registrar, model: str, artifact: Any, X: Any, y: Any, opts: RegistrationOptions
) -> tuple[dict[str, Any], bytes | None, Any, dict[str, Any] | None]:
    """Everything given, checked before any write: (the version record still to be completed, the artifact
    bytes to upload or None, the model object to inspect or None, the training columns or None)."""
    meta = _check_metadata(model, opts)
    if X is not None and opts.signature is not None:
        raise BadRequestError(
            "give the training frame X or a signature, not both", code="ambiguous_signature"
        )
    if opts.reference_profile is not None and opts.reference_profile_sha256 is not None:
        raise BadRequestError(
            "give reference_profile or reference_profile_sha256, not both", code="ambiguous_profile"
        )
    model_obj, data = _artifact_input(artifact, opts.artifact_sha256, opts.estimator)
    sig, training_data, columns = _signature_of(X, y, model_obj, opts)
    will_profile = (
        opts.reference_profile is not None
        or opts.reference_profile_sha256 is not None
        or (columns is not None and opts.profile)
    )
    artifact_info = {
        "sha256": opts.artifact_sha256,
        "size": None,
        "flavor": opts.flavor,
        "format": artifacts.FORMAT_JOBLIB,
        "python_class": f"{type(model_obj).__module__}.{type(model_obj).__qualname__}"
        if model_obj is not None
        else None,
    }
    record: dict[str, Any] = {
        "schema": records.SCHEMA,
        "model": model,
        "version": None,
        "artifact": artifact_info,
        "signature": sig,
        "params": meta["params"],
        "metrics": meta["metrics"],
        "training_data": training_data,
        "datasets": resolve_references(reg.store, opts.datasets) or None,
        "code_commit": meta["code_commit"],
        "description": meta["description"],
        "tags": meta["tags"],
        "reference_profile": {"pending": True} if will_profile else None,
        "source": meta["source"],
        "created_by": reg.actor,
        "created_at": None,
    }
    return record, data, model_obj, columns


def _check_metadata(model: str, opts: RegistrationOptions) -> dict[str, Any]:
    """The version's descriptive fields, checked (model name and flavor first)."""
    validate_name(model, "model")
    if opts.flavor not in artifacts.FLAVORS:
        raise BadRequestError(f"flavor must be one of {', '.join(artifacts.FLAVORS)}", code="invalid_flavor")
    return {
        "params": check_scalars("params", opts.params),
        "metrics": check_scalars("metrics", opts.metrics, numbers_only=True),
        "tags": check_tags(opts.tags),
        "description": check_text("description", opts.description, 10_000),
        "code_commit": check_text("code_commit", opts.code_commit, 200) or None,
        "source": check_scalars("source", opts.source, max_items=50) or None,
    }


def _artifact_input(artifact: Any, artifact_sha256: str | None, estimator: Any) -> tuple[Any, bytes | None]:
    """(the model object to inspect or None, the artifact bytes to upload or None for an upload by sha256)."""
    model_obj = None
    data: bytes | None = None
    if isinstance(artifact, (bytes, bytearray, memoryview)):
        data = bytes(artifact)
    elif artifact is not None:
        artifacts.check_model_object(artifact)  # a dict or list is not a model version
        model_obj = artifact
        data = artifacts.serialize_model(artifact)
    elif artifact_sha256 is None:
        raise BadRequestError(
            "an artifact is required: a fitted model, its joblib bytes, or artifact_sha256",
            code="missing_artifact",
        )
    if model_obj is None and estimator is not None:
        model_obj = estimator
    if data is not None and artifact_sha256 is not None and artifacts.sha256_hex(data) != artifact_sha256:
        raise BadRequestError("artifact_sha256 does not match the artifact bytes", code="sha256_mismatch")
    return model_obj, data


def _signature_of(
    X: Any, y: Any, model_obj: Any, opts: RegistrationOptions
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """(signature, training-data facts, training columns) from the frame ``X`` (and ``y``) or a signature."""
    from mlops.registry import signature as sigmod

    feature_names, target_name = opts.feature_names, opts.target_name
    signature, training_data_digest = opts.signature, opts.training_data_digest
    training_data = None
    columns = None
    if X is not None:
        names, columns = sigmod.to_columns(X, feature_names)
        sig = sigmod.infer_signature(
            names, columns, y=y, target_name=target_name, classes=sigmod.classes_of(model_obj, y)
        )
        training_data = {
            "digest": sigmod.data_digest(names, columns, y),
            "rows": len(columns[names[0]]),
            "columns": len(names),
        }
        if training_data_digest and training_data_digest != training_data["digest"]:
            raise BadRequestError(
                "training_data_digest does not match the training data given", code="digest_mismatch"
            )
        check_model_fits(model_obj, names)
    elif signature is not None:
        sig = sigmod.validate_signature(signature)
        if training_data_digest:
            training_data = {
                "digest": check_text("training_data_digest", training_data_digest, 200),
                "rows": None,
                "columns": len(sig["inputs"]),
            }
    else:
        raise UnprocessableError(
            "a signature is needed: pass the training frame X (and y) or a signature",
            code="missing_signature",
        )
    sigmod.check_classes(sig.get("classes"))
    return sig, training_data, columns


def import_mlflow(
    reg: Registrar, model: str, path: str, X: Any = None, y: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """Register an MLflow sklearn-flavor model directory (``MLmodel`` + model file), or the one a
    ``models:/`` URI names in an MLflow file store, as a new version.
    Without ``X`` the signature comes from ``MLmodel`` (no reference profile then)."""
    registered: dict[str, Any] = {}
    if mlflowuri.is_models_uri(path):
        found, registered = mlflowuri.resolve_models_uri(path, mlflowuri.store_root())
        path = str(found)
    obj, facts = mlflowdir.read_mlflow_sklearn_dir(path)
    if X is None and "signature" not in kwargs:
        if not facts.get("signature"):
            raise UnprocessableError(
                f"{path}: MLmodel has no column signature; pass the training frame X",
                code="missing_signature",
            )
        kwargs["signature"] = facts["signature"]
        classes = getattr(obj, "classes_", None)
        if classes is not None:
            kwargs["signature"] = {
                **kwargs["signature"],
                "classes": [c.item() if hasattr(c, "item") else c for c in classes],
            }
    return register_version(reg, model, obj, X, y, source={**facts["source"], **registered}, **kwargs)


def store_compiled(
    store: ObjectStore, model_obj: Any, sig: dict[str, Any], columns: Mapping[str, Any] | None
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
        return None  # text features: a pipeline, served by the model itself
    compiled = verified(compile_model(model_obj), model_obj, probe)
    if compiled is None:
        return None
    up = artifacts.upload(store, compiled.to_npz(), content_type="application/octet-stream")
    return {
        "sha256": up["sha256"],
        "size": up["size"],
        "key": f"artifacts/sha256/{up['sha256']}",
        "format": FORMAT,
    }


def store_profile(
    store: ObjectStore,
    sig: dict[str, Any],
    columns: Mapping[str, Any] | None,
    given: Mapping[str, Any] | None,
    given_sha256: str | None,
) -> dict[str, Any]:
    """The version's drift reference profile: an upload named by sha256, a given document, or one built
    from the training columns; stored by content. Returns its reference for the version record."""
    if given_sha256 is not None:
        info = existing_artifact(store, given_sha256, what="reference profile")
        profile = profile_document(
            given_sha256, artifacts.fetch_verified(store, given_sha256, what="reference profile")
        )
    else:
        profile = _new_profile(sig, columns, given)
        try:
            payload = records.dumps(profile)
        except (TypeError, ValueError) as exc:
            raise UnprocessableError(
                f"reference_profile is not plain JSON: {exc}", code="invalid_profile"
            ) from None
        info = artifacts.upload(store, payload, content_type="application/json")
    fmt = profile.get("format")
    missing = [f["name"] for f in sig["inputs"] if f["name"] not in (profile.get("features") or {})]
    if missing:
        raise UnprocessableError(f"reference profile lacks features {missing[:10]}", code="invalid_profile")
    return {
        "sha256": info["sha256"],
        "size": info["size"],
        "key": f"artifacts/sha256/{info['sha256']}",
        "format": fmt,
    }


def _new_profile(
    sig: dict[str, Any], columns: Mapping[str, Any] | None, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    if given is not None:
        if not isinstance(given, Mapping) or not isinstance(given.get("features"), Mapping):
            raise UnprocessableError(
                "reference_profile must be a profile document with 'features'", code="invalid_profile"
            )
        return dict(given)
    from mlops.drift.profile import build_reference_profile
    from mlops.registry.signature import kinds_of

    kinds = kinds_of(sig)
    if columns is None:
        raise UnprocessableError(
            "a reference profile needs the training data or a given reference_profile", code="invalid_profile"
        )
    # 10k reference values per feature keep KS exact and strong for production windows
    # while a 100-feature profile stays ~20 MB rather than ~90 MB (drift benchmark)
    return build_reference_profile(
        {n: columns[n] for n in kinds},
        kinds,
        max_sample=PROFILE_MAX_SAMPLE,
    )


def allocate_version(store: ObjectStore, model: str, record: dict[str, Any]) -> int:
    """Create ``versions/<n>.json`` for the first free n from latest+1 (create-exclusive); returns n."""
    nums = version_numbers(store, model)
    n = (nums[-1] if nums else 0) + 1

    def once(_attempt: int) -> int:
        nonlocal n
        record["version"] = n
        record.pop("write_id", None)
        try:
            records.put_or_lose(lambda: records.create(store, version_key(model, n), record))
        except records.LostRace:
            # Someone else took n, so the next free number is above it (back off: a crowd is
            # registering, and the audit log they append to next is contended as well).
            n += 1
            raise
        record.pop("write_id", None)
        return n

    return records.retry_lost_races(
        once,
        attempts=MAX_VERSION_ATTEMPTS,
        exhausted=lambda: ConflictError(
            f"could not allocate a version number for {model!r} after {MAX_VERSION_ATTEMPTS} attempts",
            code="too_much_contention",
        ),
    )


def existing_artifact(store: ObjectStore, sha256: str | None, what: str = "artifact") -> dict[str, Any]:
    """Size of an uploaded artifact, verified by sha256 when small enough to read here."""
    key = artifact_key(sha256 or "")
    info = store.head(key)
    if info is None:
        raise NotFoundError(
            f"{what} sha256:{sha256} has not been uploaded (no {key} in the store)", code="artifact_missing"
        )
    if info.size <= VERIFY_ON_REGISTER_MAX_BYTES:
        artifacts.fetch_verified(store, sha256, size=info.size, what=what)  # type: ignore[arg-type]
    return {"sha256": sha256, "size": info.size}


def profile_document(sha256: str, data: bytes) -> dict[str, Any]:
    """An uploaded artifact named as a reference profile: a JSON profile document, else a 422 that says so
    (the caller chose the artifact; nothing in the store is corrupt)."""
    from mlops.jsonbody import parse_json

    try:
        doc = parse_json(data)
    except BadRequestError as exc:
        raise UnprocessableError(
            f"reference_profile_sha256 {sha256[:12]}... names an artifact that is not a JSON "
            f"reference profile ({exc.message})",
            code="invalid_profile",
        ) from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("features"), Mapping):
        raise UnprocessableError(
            f"reference_profile_sha256 {sha256[:12]}... names an artifact that is not a "
            "reference profile (a JSON object with 'features')",
            code="invalid_profile",
        )
    return dict(doc)


def check_model_fits(model: Any, names: list[str]) -> None:
    """A fitted estimator must take exactly the training frame's columns."""
    if model is None:
        return
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and int(n_in) != len(names):
        raise UnprocessableError(
            f"the model takes {n_in} features but the training data has {len(names)} columns",
            code="feature_count_mismatch",
        )
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None and [str(x) for x in fitted] != list(names):
        raise UnprocessableError(
            f"the model was fitted on columns {[str(x) for x in fitted][:10]} but the training "
            f"data has {names[:10]}",
            code="feature_names_mismatch",
        )
