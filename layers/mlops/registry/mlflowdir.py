"""Importing an MLflow model directory of the sklearn flavor, as ``mlflow.sklearn.save_model`` writes it,
without mlflow: ``MLmodel``, the model file in any of MLflow's serialization formats (``skops``, the
default since MLflow 3, loaded through ``mlops.registry.skopsfile``'s allow-list; ``cloudpickle`` and
``pickle``, read by ``pickle``), the column signature, the input example and ``requirements.txt``.

The model file is the user's own local file: it is loaded here, on their machine, only to re-serialize
and inspect it; what the registry stores and serves is the joblib artifact verified by sha256.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from mlops.errors import BadRequestError
from mlops.registry.artifacts import MAX_MODEL_FILE_BYTES, check_model_object, sha256_hex

SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")
# what is copied into the version's ``source`` (its lineage) verbatim, when not larger than this
MAX_INPUT_EXAMPLE_CHARS = 16_384
MAX_REQUIREMENTS_CHARS = 8_192

# MLflow column types -> our dtypes (mlflow/types/schema.py DataType names).
_MLFLOW_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "str",
}


def read_mlflow_sklearn_dir(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load an MLflow sklearn-flavor model directory: (model object, facts from the directory).

    Facts: ``signature`` (ours, from MLmodel's column-based input schema, when present) and ``source``
    (``kind: "mlflow"``, ``run_id``, ``model_uuid``, ``mlflow_version``, ``sklearn_version``,
    ``python_version``, ``serialization_format``, ``model_file`` and its ``model_file_sha256``, and when
    the directory has them ``input_example`` (its JSON text) and ``requirements`` (requirements.txt)).
    """
    root = Path(path)
    mlmodel = root / "MLmodel"
    meta, flavor = _read_mlmodel(root, mlmodel)
    fmt = str(flavor.get("serialization_format", "cloudpickle"))
    model_file = _inside(root, mlmodel, "pickled_model", flavor.get("pickled_model", "model.pkl"))
    if model_file is None:
        raise BadRequestError(
            f"{mlmodel}: pickled_model {flavor.get('pickled_model')!r} is not a file "
            "inside the model directory",
            code="not_mlflow_model",
        )
    data = _read_file(model_file)
    if fmt == "skops":
        from mlops.registry.skopsfile import load_skops

        model = load_skops(data, str(model_file))
    else:
        model = _unpickle(data, model_file)
    check_model_object(model, str(model_file))
    pyfunc = (meta.get("flavors") or {}).get("python_function") or {}
    source: dict[str, Any] = {
        "kind": "mlflow",
        "run_id": meta.get("run_id"),
        "model_uuid": meta.get("model_uuid"),
        "mlflow_version": meta.get("mlflow_version"),
        "sklearn_version": flavor.get("sklearn_version"),
        "python_version": pyfunc.get("python_version") if isinstance(pyfunc, dict) else None,
        "serialization_format": fmt,
        "model_file": model_file.name,
        "model_file_sha256": sha256_hex(data),
    }
    source.update(_example_and_requirements(root, mlmodel, meta))
    facts: dict[str, Any] = {"source": {k: _scalar(v) for k, v in source.items()}}
    signature = _mlflow_signature(meta.get("signature") or {})
    if signature is not None:
        facts["signature"] = signature
    return model, facts


def _read_mlmodel(root: Path, mlmodel: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the ``MLmodel`` document, its sklearn flavor section), refusing other flavors and serializations."""
    import yaml

    if not mlmodel.is_file():
        raise BadRequestError(
            f"{root} is not an MLflow model directory (no MLmodel file)", code="not_mlflow_model"
        )
    try:
        meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadRequestError(
            f"{mlmodel}: not valid YAML: {str(exc)[:200]}", code="not_mlflow_model"
        ) from None
    if not isinstance(meta, dict):
        raise BadRequestError(f"{mlmodel}: expected a YAML mapping", code="not_mlflow_model")
    flavor = (meta.get("flavors") or {}).get("sklearn")
    if not isinstance(flavor, dict):
        raise BadRequestError(
            f"{mlmodel}: only the sklearn flavor can be imported "
            f"(found {', '.join(meta.get('flavors') or {}) or 'none'})",
            code="unsupported_flavor",
        )
    fmt = flavor.get("serialization_format", "cloudpickle")
    if fmt not in SERIALIZATION_FORMATS:
        raise BadRequestError(
            f"{mlmodel}: serialization_format {fmt!r} is not supported ({', '.join(SERIALIZATION_FORMATS)})",
            code="unsupported_flavor",
        )
    return meta, flavor


def _inside(root: Path, mlmodel: Path, field: str, name: Any) -> Path | None:
    """``root / name`` resolved, when that is a file inside ``root`` (no escape by ``..`` or a link), else
    None; a name that is not a string is refused."""
    if not isinstance(name, str) or not name:
        raise BadRequestError(f"{mlmodel}: {field} must be a file name", code="not_mlflow_model")
    p = (root / name).resolve()
    if not p.is_relative_to(root.resolve()) or not p.is_file():
        return None
    return p


def _read_file(p: Path, limit: int = MAX_MODEL_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (read once: what is hashed is what loads)."""
    try:
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode):
            raise BadRequestError(f"{p} is not a regular file", code="not_mlflow_model")
        if st.st_size > limit:
            raise BadRequestError(
                f"{p} is {st.st_size} bytes; at most {limit} are accepted", code="not_mlflow_model"
            )
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read(limit + 1)
    except OSError as exc:
        raise BadRequestError(f"{p}: {exc.strerror or exc}", code="not_mlflow_model") from None


def _unpickle(data: bytes, where: Path) -> Any:
    """The user's own pickled model (pickle or cloudpickle: a fitted sklearn model cloudpickled refers to
    its classes by name, so plain pickle reads it), loaded on their machine; a clear 400 for one that will
    not load."""
    import pickle

    try:
        return pickle.loads(data)  # noqa: S301 - the user's own model file, imported on their machine
    except ModuleNotFoundError as exc:
        raise BadRequestError(
            f"{where}: cannot unpickle, module {exc.name!r} is not installed", code="unsupported_flavor"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt pickle raises nearly anything
        raise BadRequestError(
            f"{where}: not a loadable pickle ({type(exc).__name__}: {str(exc)[:120]})",
            code="not_mlflow_model",
        ) from None


def _example_and_requirements(root: Path, mlmodel: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """``input_example`` (the saved example's JSON, compact) and ``requirements`` (requirements.txt without
    comments), each only when the directory has it and it is small enough to keep in a version record."""
    out: dict[str, Any] = {}
    info = meta.get("saved_input_example_info")
    if isinstance(info, dict):
        example = _inside(root, mlmodel, "saved_input_example_info", info.get("artifact_path"))
        if example is not None:
            try:
                text = json.dumps(
                    json.loads(_read_file(example, 4 * MAX_INPUT_EXAMPLE_CHARS)), separators=(",", ":")
                )
            except ValueError:
                raise BadRequestError(f"{example}: not valid JSON", code="not_mlflow_model") from None
            if len(text) <= MAX_INPUT_EXAMPLE_CHARS:
                out["input_example"] = text
                out["input_example_type"] = info.get("type")
    reqs = _inside(root, mlmodel, "requirements", "requirements.txt")
    if reqs is not None:
        lines = _read_file(reqs, 4 * MAX_REQUIREMENTS_CHARS).decode("utf-8", "replace").splitlines()
        text = "\n".join(s for s in (line.strip() for line in lines) if s and not s.startswith("#"))
        if text and len(text) <= MAX_REQUIREMENTS_CHARS:
            out["requirements"] = text
    return out


def _scalar(v: Any) -> str | int | float | bool | None:
    """A value for the version's ``source`` (strings, numbers, booleans, null): anything else as text."""
    return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)


def _mlflow_signature(sig: dict[str, Any]) -> dict[str, Any] | None:
    """Our signature from MLmodel's column-based input schema, or None when it has none."""
    inputs = sig.get("inputs")
    if not isinstance(inputs, str):
        return None
    try:
        cols = json.loads(inputs)
    except ValueError:
        return None
    if not (isinstance(cols, list) and cols and all(isinstance(c, dict) and c.get("name") for c in cols)):
        return None
    feats = []
    for c in cols:
        dtype = _MLFLOW_TYPES.get(str(c.get("type")), "str")
        feats.append(
            {
                "name": str(c["name"]),
                "dtype": dtype,
                "kind": "categorical" if dtype in ("str", "bool") else "numeric",
            }
        )
    return {"inputs": feats, "target": None, "classes": None}
