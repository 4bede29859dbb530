"""Reading dataset version manifests: get, list, resolve ``NAME[:VERSION]`` references. No pyarrow here.

The registry imports this module to check the dataset references of a model version at registration
(``resolve_references``); the rest of the package (writing and reading Parquet) imports pyarrow lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.datasets import keys
from mlops.errors import BadRequestError, IntegrityError, NotFoundError, UnprocessableError
from mlops.names import validate_name
from mlops.storage import cas
from mlops.storage.base import ObjectStore

MANIFEST_SCHEMA = 1
MAX_REFERENCES = 20


def version_numbers(store: ObjectStore, name: str) -> list[int]:
    """The committed versions of dataset ``name``, ascending (empty if it has none)."""
    nums = (keys.version_of_key(name, k) for k in store.list(keys.versions_prefix(name)))
    return sorted(n for n in nums if n is not None)


def latest_version(store: ObjectStore, name: str) -> int | None:
    nums = version_numbers(store, name)
    return nums[-1] if nums else None


def dataset_names(store: ObjectStore) -> list[str]:
    """Every dataset name with a committed version, sorted.

    One listing call per name: after the first key of ``datasets/<name>/`` the listing resumes after
    ``datasets/<name>0`` ('0' follows '/' in code-point order, so the rest of that name is skipped)."""
    out: list[str] = []
    after: str | None = None
    while True:
        key = next(iter(store.list(keys.DATASETS_PREFIX, start_after=after)), None)
        name = None if key is None else keys.name_of_key(key)
        if key is None or name is None:
            return sorted(out)
        rest = key[len(keys.DATASETS_PREFIX) + len(name) :]
        if rest.startswith("/versions/"):
            out.append(name)
            after = f"{keys.DATASETS_PREFIX}{name}0"
        elif rest.startswith("/") and rest < "/versions/":  # parts only so far: look at its versions
            after = keys.versions_prefix(name)[:-1]
        else:  # a name with parts but no committed version (a crashed first writer): not a dataset
            after = f"{keys.DATASETS_PREFIX}{name}0"


def check_manifest(key: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest must name its digest, parts and schema; anything else is corrupt (not a 500 KeyError)."""
    ok = (
        isinstance(doc.get("digest"), str)
        and isinstance(doc.get("parts"), list)
        and isinstance(doc.get("columns"), list)
        and isinstance(doc.get("rows"), int)
        and all(isinstance(p, Mapping) and isinstance(p.get("sha256"), str) for p in doc["parts"])
    )
    if not ok:
        raise IntegrityError(
            f"metadata object {key} is corrupt (not a dataset manifest)",
            code="corrupt_metadata",
            details={"key": key},
        )
    return {k: v for k, v in doc.items() if k != "write_id"}


def get(store: ObjectStore, name: str, version: int | str | None = None) -> dict[str, Any]:
    """The manifest of ``name`` at ``version`` (a number, ``"latest"`` or None for the newest)."""
    keys.dataset_name(name)
    if version is None or version == "latest":
        latest = latest_version(store, name)
        if latest is None:
            raise NotFoundError(f"dataset {name!r} has no versions", code="dataset_not_found")
        version = latest
    _, number = keys.parse_ref(f"{name}:{version}")
    assert number is not None
    key = keys.version_key(name, number)
    doc = cas.read(store, key)
    if doc is None:
        raise NotFoundError(f"dataset version {name}:{number} does not exist", code="dataset_not_found")
    return check_manifest(key, doc.data)


def get_ref(store: ObjectStore, ref: str) -> dict[str, Any]:
    """The manifest a ``NAME[:VERSION]`` reference names."""
    name, version = keys.parse_ref(ref)
    return get(store, name, version)


def list_versions(store: ObjectStore, name: str) -> list[dict[str, Any]]:
    """Every committed version's manifest, ascending."""
    return [get(store, name, n) for n in version_numbers(store, name)]


def reference_of(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What a model version stores about a dataset version it was trained or validated on."""
    time_range = manifest.get("time_range") or {}
    return {
        "name": manifest["name"],
        "version": manifest["version"],
        "ref": keys.format_ref(manifest["name"], manifest["version"]),
        "digest": manifest["digest"],
        "rows": manifest["rows"],
        "time_range": {"min": time_range.get("min"), "max": time_range.get("max")},
    }


def resolve_references(store: ObjectStore, refs: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{"train": "churn-train:3", ...}`` checked against the store: role -> ``reference_of`` its manifest.

    A role is a name (``train``, ``holdout``, ...); ``NAME`` or ``NAME:latest`` pins the newest version now.
    A dataset version that does not exist is the caller's mistake: ``UnprocessableError`` (422) naming it.
    """
    if refs is None:
        return {}
    if not isinstance(refs, Mapping):
        raise BadRequestError(
            'datasets must be an object of role -> "NAME:VERSION"', code="invalid_dataset_ref"
        )
    if len(refs) > MAX_REFERENCES:
        raise BadRequestError(f"at most {MAX_REFERENCES} dataset references", code="invalid_dataset_ref")
    out: dict[str, dict[str, Any]] = {}
    for role, ref in refs.items():
        validate_name(role, "dataset role")
        name, version = keys.parse_ref(ref, what=f"datasets[{role!r}]")
        try:
            manifest = get(store, name, version)
        except NotFoundError as exc:
            raise UnprocessableError(
                f"datasets[{role!r}]: {exc.message}", code="dataset_not_found", details={"role": role}
            ) from None
        out[role] = reference_of(manifest)
    return out
