"""A feature group's definition: the small YAML file in the repository (``features/<group>.yaml``) that says
what the group's rows are, parsed into frozen dataclasses with errors that name the file and the field.

Example::

    name: customer_activity
    description: Rolling activity of a customer
    owner: growth-team
    entity_keys:
      - {name: customer_id, type: string}
    event_time: event_ts
    ttl: 30d
    source: ingest            # or a file / URI the group is loaded from
    features:
      - {name: orders_7d, type: int64, description: orders in the last 7 days}
      - {name: spend_7d, type: float64, nullable: true}
      - {name: is_vip, type: bool}

``version`` is optional: when given, registration must land on exactly that group version (a stale file
is refused instead of silently becoming a new version). Types: int64, float64, bool, string, timestamp
(entity keys: int64 or string). ``ttl`` is a count and a unit (us, ms, s, m, h, d, w) or ``none``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.errors import BadRequestError
from mlops.names import validate_name

FEATURE_TYPES = ("int64", "float64", "bool", "string", "timestamp")
KEY_TYPES = ("int64", "string")
_TTL = re.compile(r"^([0-9]{1,12})(us|ms|s|m|h|d|w)\Z")
_UNIT_US = {"us": 1, "ms": 1000, "s": 10**6, "m": 60 * 10**6, "h": 3600 * 10**6, "d": 86400 * 10**6}
_UNIT_US["w"] = 7 * _UNIT_US["d"]
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_TOP_FIELDS = {
    "name",
    "description",
    "owner",
    "entity_keys",
    "event_time",
    "ttl",
    "source",
    "features",
    "version",
}
_FEATURE_FIELDS = {"name", "type", "description", "nullable"}
RESERVED_PREFIX = "_"  # columns the store adds (_seq, _reason) start with an underscore


class DefinitionError(BadRequestError):
    code = "invalid_definition"


@dataclass(frozen=True)
class EntityKey:
    name: str
    type: str


@dataclass(frozen=True)
class Feature:
    name: str
    type: str
    description: str = ""
    nullable: bool = True


@dataclass(frozen=True)
class FeatureGroup:
    """One feature group definition (what the file says; the registered version number is separate)."""

    name: str
    entity_keys: tuple[EntityKey, ...]
    event_time: str
    features: tuple[Feature, ...]
    ttl: str = "none"
    source: str = "ingest"
    owner: str = ""
    description: str = ""
    version: int | None = None

    @property
    def ttl_us(self) -> int | None:
        """The TTL in microseconds, or None for no limit."""
        return ttl_microseconds(self.ttl)

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.entity_keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def to_doc(self) -> dict[str, Any]:
        """The canonical JSON form stored with a group version (without ``version``)."""
        return {
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "entity_keys": [{"name": k.name, "type": k.type} for k in self.entity_keys],
            "event_time": self.event_time,
            "ttl": self.ttl,
            "source": self.source,
            "features": [
                {"name": f.name, "type": f.type, "description": f.description, "nullable": f.nullable}
                for f in self.features
            ],
        }


def ttl_microseconds(text: str) -> int | None:
    if text == "none":
        return None
    m = _TTL.match(text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)) * _UNIT_US[m.group(2)]


def _fail(where: str, field: str, why: str) -> DefinitionError:
    return DefinitionError(f"{where}: {field}: {why}", details={"file": where, "field": field})


def _text(doc: dict[str, Any], key: str, where: str, *, required: bool = False, default: str = "") -> str:
    value = doc.get(key, None)
    if value is None:
        if required:
            raise _fail(where, key, "required")
        return default
    if not isinstance(value, str):
        raise _fail(where, key, f"must be a string, got {type(value).__name__}")
    return value


def _column(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not _COLUMN.match(value):
        raise _fail(where, field, f"{str(value)[:60]!r} is not a column name (letters, digits, '_')")
    if value.startswith(RESERVED_PREFIX):
        raise _fail(where, field, f"{value!r}: names starting with '_' are reserved for the store")
    return value


def _unknown(doc: dict[str, Any], allowed: set[str], where: str, field: str) -> None:
    extra = sorted(set(doc) - allowed)
    if extra:
        raise _fail(
            where, field or extra[0], f"unknown field {extra[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _keys(doc: dict[str, Any], where: str) -> tuple[EntityKey, ...]:
    raw = doc.get("entity_keys")
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "entity_keys", "required: a non-empty list of {name, type}")
    out = []
    for i, item in enumerate(raw):
        field = f"entity_keys[{i}]"
        if not isinstance(item, dict):
            raise _fail(where, field, "must be a mapping {name, type}")
        _unknown(item, {"name", "type"}, where, "")
        name = _column(item.get("name"), where, f"{field}.name")
        typ = item.get("type")
        if typ not in KEY_TYPES:
            raise _fail(where, f"{field}.type", f"{typ!r} is not one of {', '.join(KEY_TYPES)}")
        out.append(EntityKey(name, typ))
    return tuple(out)


def _features(doc: dict[str, Any], where: str) -> tuple[Feature, ...]:
    raw = doc.get("features")
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "features", "required: a non-empty list of {name, type}")
    out = []
    for i, item in enumerate(raw):
        field = f"features[{i}]"
        if not isinstance(item, dict):
            raise _fail(where, field, "must be a mapping {name, type, description, nullable}")
        _unknown(item, _FEATURE_FIELDS, where, "")
        name = _column(item.get("name"), where, f"{field}.name")
        typ = item.get("type")
        if typ not in FEATURE_TYPES:
            raise _fail(where, f"{field}.type", f"{typ!r} is not one of {', '.join(FEATURE_TYPES)}")
        nullable = item.get("nullable", True)
        if not isinstance(nullable, bool):
            raise _fail(where, f"{field}.nullable", "must be true or false")
        out.append(Feature(name, typ, _text(item, "description", where), nullable))
    return tuple(out)


def parse_definition(doc: Any, where: str) -> FeatureGroup:
    """A ``FeatureGroup`` from a parsed YAML/JSON mapping; ``DefinitionError`` names ``where`` and the field."""
    if not isinstance(doc, dict):
        raise _fail(where, "(top)", "must be a mapping")
    _unknown(doc, _TOP_FIELDS, where, "")
    try:
        name = validate_name(doc.get("name"), "name")
    except BadRequestError as exc:
        raise _fail(where, "name", exc.message) from None
    keys, features = _keys(doc, where), _features(doc, where)
    event_time = _column(doc.get("event_time"), where, "event_time")
    names = [k.name for k in keys] + [event_time] + [f.name for f in features]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _fail(where, "features", f"column {dup!r} appears more than once (keys, event time, features)")
    ttl = str(doc.get("ttl", "none")).strip()
    try:
        ttl_microseconds(ttl)
    except ValueError:
        raise _fail(where, "ttl", f"{ttl[:40]!r} is not a duration like 30d, 12h, 500ms or none") from None
    version = doc.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        raise _fail(where, "version", "must be a positive integer")
    return FeatureGroup(
        name=name,
        entity_keys=keys,
        event_time=event_time,
        features=features,
        ttl=ttl,
        source=_text(doc, "source", where, default="ingest") or "ingest",
        owner=_text(doc, "owner", where),
        description=_text(doc, "description", where),
        version=version,
    )


def load_definition(path: str | Path) -> FeatureGroup:
    """Read and parse a definition file (YAML or JSON)."""
    import yaml

    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(where, "(file)", "is not UTF-8 text") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(where, "(file)", f"is not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise _fail(where, "(file)", "is nested too deeply to be a definition") from None
    return parse_definition(doc, where)
