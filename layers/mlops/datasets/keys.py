"""Where datasets live in the object store, and how a dataset version is named (``NAME:VERSION``).

::

    datasets/<name>/versions/<n:010d>.json     version manifest, immutable (create-exclusive: the commit point)
    datasets/<name>/parts/<sha256>.parquet     the data, one Parquet object per part, named by its content

Version numbers are zero-padded so that a listing is in version order. Names follow the model-name rules
(``mlops.names.validate_name``: no '/', no '..'), so a name can never escape its prefix.
"""

from __future__ import annotations

import re

from mlops.errors import BadRequestError
from mlops.names import validate_name, validate_version

DATASETS_PREFIX = "datasets/"
_VERSION_FILE = re.compile(r"^(\d{10})\.json\Z")
_PART_FILE = re.compile(r"^([0-9a-f]{64})\.parquet\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


def dataset_name(name: object) -> str:
    return validate_name(name, "dataset")


def versions_prefix(name: str) -> str:
    return f"{DATASETS_PREFIX}{dataset_name(name)}/versions/"


def version_key(name: str, version: int) -> str:
    return f"{versions_prefix(name)}{int(version):010d}.json"


def version_of_key(name: str, key: str) -> int | None:
    m = _VERSION_FILE.match(key[len(versions_prefix(name)) :])
    return int(m.group(1)) if m else None


def parts_prefix(name: str) -> str:
    return f"{DATASETS_PREFIX}{dataset_name(name)}/parts/"


def part_key(name: str, sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise BadRequestError(f"part sha256 {str(sha256)[:80]!r} is not 64 hex digits", code="invalid_sha256")
    return f"{parts_prefix(name)}{sha256}.parquet"


def part_of_key(name: str, key: str) -> str | None:
    m = _PART_FILE.match(key[len(parts_prefix(name)) :])
    return m.group(1) if m else None


def name_of_key(key: str) -> str | None:
    """The dataset a key under ``datasets/`` belongs to, or None."""
    if not key.startswith(DATASETS_PREFIX):
        return None
    name = key[len(DATASETS_PREFIX) :].split("/", 1)[0]
    return name or None


def dataset_subject(name: str) -> str:
    """The audit-log subject of a dataset's entries."""
    return f"dataset:{name}"


def parse_ref(ref: object, *, what: str = "dataset reference") -> tuple[str, int | None]:
    """``"name:3"`` -> ("name", 3); ``"name"`` or ``"name:latest"`` -> ("name", None) (the newest version)."""
    if not isinstance(ref, str) or not ref:
        raise BadRequestError(f"{what} must be a string NAME[:VERSION]", code="invalid_dataset_ref")
    name, sep, version = ref.partition(":")
    dataset_name(name)
    if not sep or version == "latest":
        return name, None
    try:
        return name, validate_version(version)
    except BadRequestError:
        raise BadRequestError(
            f"{what} {ref[:80]!r}: the version after ':' must be a positive integer or 'latest'",
            code="invalid_dataset_ref",
        ) from None


def format_ref(name: str, version: int) -> str:
    return f"{name}:{version}"
