"""Resolving MLflow model registry URIs (``models:/name/version``, ``models:/name/latest``,
``models:/name@alias``) to a model directory, against an MLflow file store as a tracking server or
``mlflow`` with a ``file:`` tracking URI writes it, without mlflow:

    <store>/models/<name>/meta.yaml                  the registered model (``aliases: {alias: "version"}``)
    <store>/models/<name>/aliases/<alias>            the alias' version number (MLflow 3)
    <store>/models/<name>/version-<n>/meta.yaml      ``storage_location`` (MLflow 3), ``source``, ``model_id``
    <store>/<experiment>/models/<model_id>/artifacts the logged model (MLflow 3)
    <store>/<experiment>/<run_id>/artifacts/<path>   a run's model (MLflow 2, ``runs:/<run_id>/<path>``)

The store is ``MLFLOW_REGISTRY_URI``, else ``MLFLOW_TRACKING_URI`` (a ``file:`` URI or a path), else
``./mlruns``, as for mlflow itself. Stages (``models:/name/Production``) are refused: use an alias.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlops.errors import BadRequestError, NotFoundError

SCHEME = "models:/"
_NAME = re.compile(r"[^/\\]+")
_VERSION = re.compile(r"[1-9][0-9]{0,9}")


def is_models_uri(text: str) -> bool:
    return str(text).startswith(SCHEME)


def store_root(environ: Mapping[str, str] | None = None) -> Path:
    """The MLflow file store ``models:/`` URIs are resolved against (see the module docstring)."""
    env = os.environ if environ is None else environ
    uri = env.get("MLFLOW_REGISTRY_URI") or env.get("MLFLOW_TRACKING_URI") or "mlruns"
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise BadRequestError(
            f"models:/ URIs are resolved against an MLflow file store; the tracking URI {uri!r} is not one "
            "(export the model with `mlflow artifacts download` and give its directory)",
            code="not_mlflow_model",
        )
    return Path(uri)


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, version or ``latest`` or None, alias or None) of ``models:/name/version|latest`` or
    ``models:/name@alias``; a 400 for anything else (stages included)."""
    rest = uri[len(SCHEME) :] if is_models_uri(uri) else ""
    name, sep, alias = rest.partition("@")
    if sep:
        if _NAME.fullmatch(name) and _NAME.fullmatch(alias) and name not in (".", ".."):
            return name, None, alias
    else:
        name, _, version = rest.partition("/")
        if _NAME.fullmatch(name) and name not in (".", "..") and version:
            if version == "latest" or _VERSION.fullmatch(version):
                return name, version, None
            raise BadRequestError(
                f"{uri}: {version!r} is not a version number; stages are not supported, use "
                "models:/name@alias",
                code="invalid_model_uri",
            )
    raise BadRequestError(
        f"{uri!r} is not a model URI (models:/name/version, models:/name/latest or models:/name@alias)",
        code="invalid_model_uri",
    )


def resolve_models_uri(uri: str, root: Path) -> tuple[Path, dict[str, Any]]:
    """(the model directory ``uri`` names in the file store at ``root``, facts for the version's source:
    ``model_uri``, ``registered_model``, ``registered_version``)."""
    name, version, alias = parse_models_uri(uri)
    mdir = root / "models" / name
    meta = _yaml(mdir / "meta.yaml")
    if meta is None:
        raise NotFoundError(
            f"{uri}: no registered model {name!r} in the MLflow store {root}", code="model_not_found"
        )
    if alias is not None:
        version = _alias_version(mdir, meta, alias, uri)
    elif version == "latest":
        nums = [int(p.name[8:]) for p in mdir.glob("version-*") if p.name[8:].isdigit()]
        if not nums:
            raise NotFoundError(f"{uri}: {name!r} has no versions in {root}", code="version_not_found")
        version = str(max(nums))
    vmeta = _yaml(mdir / f"version-{version}" / "meta.yaml")
    if vmeta is None:
        raise NotFoundError(f"{uri}: {name!r} has no version {version} in {root}", code="version_not_found")
    found = _model_dir(root, vmeta)
    if found is None:
        raise NotFoundError(
            f"{uri}: the files of {name!r} version {version} are not in {root} "
            f"(storage_location {vmeta.get('storage_location')!r}, source {vmeta.get('source')!r})",
            code="artifact_missing",
        )
    return found, {"model_uri": uri, "registered_model": name, "registered_version": int(version or 0)}


def _alias_version(mdir: Path, meta: dict[str, Any], alias: str, uri: str) -> str:
    aliases = meta.get("aliases") if isinstance(meta.get("aliases"), dict) else {}
    version = (aliases or {}).get(alias)
    alias_file = mdir / "aliases" / alias
    if version is None and alias_file.is_file():
        version = alias_file.read_text(encoding="utf-8").strip()
    if version is None or not _VERSION.fullmatch(str(version)):
        raise NotFoundError(f"{uri}: {mdir.name!r} has no alias {alias!r}", code="alias_not_found")
    return str(version)


def _model_dir(root: Path, vmeta: dict[str, Any]) -> Path | None:
    """The version's model directory: its ``storage_location`` or ``source`` path when present there,
    else where its logged model (``model_id``) or run (``runs:/``) lies in this store (one copied
    from elsewhere keeps absolute paths that no longer exist)."""
    candidates: list[Path] = []
    for key in ("storage_location", "source"):
        value = vmeta.get(key)
        if isinstance(value, str) and (value.startswith("file:") or value.startswith("/")):
            candidates.append(Path(unquote(urlparse(value).path)))
    source = str(vmeta.get("source") or "")
    model_id = vmeta.get("model_id") or (source[len(SCHEME) :] if source.startswith(SCHEME + "m-") else None)
    if isinstance(model_id, str) and _NAME.fullmatch(model_id):
        candidates.extend(sorted(root.glob(f"*/models/{glob.escape(model_id)}/artifacts")))
    run_id, sub = vmeta.get("run_id"), None
    if source.startswith("runs:/"):
        run_id, _, sub = source[len("runs:/") :].partition("/")
    elif "/artifacts/" in source:
        sub = source.rsplit("/artifacts/", 1)[1]
    if isinstance(run_id, str) and _NAME.fullmatch(run_id) and sub and ".." not in Path(sub).parts:
        candidates.extend(sorted(root.glob(f"*/{glob.escape(run_id)}/artifacts/{glob.escape(sub)}")))
    return next((c for c in candidates if (c / "MLmodel").is_file()), None)


def _yaml(path: Path) -> dict[str, Any] | None:
    import yaml

    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"{path}: not valid YAML: {str(exc)[:200]}", code="not_mlflow_model") from None
    return doc if isinstance(doc, dict) else None
