"""Registered feature groups: each changed definition is a new group version, created exclusively.

Layout in the stack's object store (every feature-store object lives under ``features/``)::

    features/groups/<group>/versions/<n>.json      the definition of version n (create-exclusive)

A group reference is ``<group>`` (its latest version) or ``<group>@<n>``. Registering a definition equal
to the latest version's (same canonical JSON) returns that version; a changed one gets latest + 1, by the
same create-exclusive loop as model versions (``mlops.storage.cas.retry_lost_races``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops.errors import ConflictError, NotFoundError
from mlops.features.definition import FeatureGroup, parse_definition
from mlops.names import validate_name, validate_version
from mlops.storage import cas
from mlops.storage.base import ObjectStore

ROOT = "features"
MAX_VERSION_ATTEMPTS = 1000
_VERSION_KEY = re.compile(r"/versions/([0-9]+)\.json\Z")


def versions_prefix(group: str) -> str:
    return f"{ROOT}/groups/{validate_name(group, 'feature group')}/versions/"


def version_key(group: str, version: int) -> str:
    return f"{versions_prefix(group)}{version}.json"


@dataclass(frozen=True)
class GroupVersion:
    """A registered group version: its number, definition and registration metadata."""

    group: FeatureGroup
    version: int
    created_at: str
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.group.name}@{self.version}"

    def to_doc(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "definition": self.group.to_doc(),
        }


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``name`` or ``name@n`` -> (name, n or None)."""
    name, sep, version = ref.partition("@")
    validate_name(name, "feature group")
    return name, (validate_version(version) if sep else None)


def version_numbers(store: ObjectStore, group: str) -> list[int]:
    nums = []
    for key in store.list(versions_prefix(group)):
        m = _VERSION_KEY.search(key)
        if m:
            nums.append(int(m.group(1)))
    return sorted(nums)


def _load(store: ObjectStore, group: str, version: int) -> GroupVersion | None:
    key = version_key(group, version)
    doc = cas.read(store, key)
    if doc is None:
        return None
    data = doc.data
    return GroupVersion(
        group=parse_definition(data.get("definition"), f"{store.url}/{key}"),
        version=int(data["version"]),
        created_at=str(data.get("created_at", "")),
        created_by=str(data.get("created_by", "")),
    )


def get_group(store: ObjectStore, ref: str) -> GroupVersion:
    """The group version a reference names; ``NotFoundError`` if it is not registered."""
    name, version = parse_ref(ref)
    if version is None:
        nums = version_numbers(store, name)
        if not nums:
            raise NotFoundError(f"feature group {name!r} is not registered", code="feature_group_not_found")
        version = nums[-1]
    found = _load(store, name, version)
    if found is None:
        raise NotFoundError(
            f"feature group {name}@{version} is not registered", code="feature_group_not_found"
        )
    return found


def list_groups(store: ObjectStore) -> list[GroupVersion]:
    """The latest version of every registered group, by name."""
    names = sorted({k.split("/")[2] for k in store.list(f"{ROOT}/groups/") if k.count("/") >= 4})
    return [get_group(store, name) for name in names]


def register_group(
    store: ObjectStore, group: FeatureGroup, *, now: Callable[[], str], actor: str
) -> tuple[GroupVersion, bool]:
    """Register ``group``; returns (the group version, whether it was created now)."""
    nums = version_numbers(store, group.name)
    latest = _load(store, group.name, nums[-1]) if nums else None
    if latest is not None and latest.group.to_doc() == group.to_doc():
        if group.version not in (None, latest.version):
            raise _stale(group, latest.version)
        return latest, False
    n = (nums[-1] if nums else 0) + 1
    if group.version is not None and group.version != n:
        raise _stale(group, n - 1)
    created_at = now()
    record: dict[str, Any] = {"definition": group.to_doc(), "created_at": created_at, "created_by": actor}

    def once(_attempt: int) -> int:
        nonlocal n
        record["version"] = n
        record.pop("write_id", None)
        try:
            cas.put_or_lose(lambda: cas.create(store, version_key(group.name, n), record))
        except cas.LostRace:
            if group.version is not None:  # the file pins its version: someone else took it
                raise _stale(group, n) from None
            n += 1
            raise
        return n

    version = cas.retry_lost_races(
        once,
        attempts=MAX_VERSION_ATTEMPTS,
        exhausted=lambda: ConflictError(
            f"could not allocate a version of feature group {group.name!r}", code="too_much_contention"
        ),
    )
    return GroupVersion(group, version, created_at, actor), True


def _stale(group: FeatureGroup, latest: int) -> ConflictError:
    return ConflictError(
        f"feature group {group.name}: the definition says version {group.version}, but the latest "
        f"registered version is {latest} and this definition "
        + ("differs from it" if group.version == latest else "would be a new version")
        + "; update the file's version",
        code="stale_definition",
    )
