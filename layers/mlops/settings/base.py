"""The building blocks of the settings model: a ``Section`` (a msgspec Struct that refuses unknown keys),
``one_of`` for a setting with a fixed set of values, and ``SettingError`` for a rule a section breaks.

Types and ranges are declared on the fields (``Annotated[int, Meta(ge=1, le=64)]``) so that the
validator (``mlops.settings.convert``) and the published JSON Schema (``mlops.settings.schema``)
read the same declaration; ``Section.check`` holds the few rules that span fields.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

PROJECT = "mlops"  # the Pulumi project namespace of the settings' keys: mlops:<section>


class SettingError(ValueError):
    """A section's rule is broken: ``key`` is the setting below the section ('' for the section itself)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


def one_of(*values: Any) -> msgspec.Meta:
    """The allowed values of a setting, checked by ``Section`` and published as the schema's ``enum``."""
    return msgspec.Meta(extra_json_schema={"enum": list(values)})


def alternatives(values: tuple[Any, ...] | list[Any]) -> str:
    """``A or B`` for two values, ``one of a, b, c`` for more."""
    if len(values) == 2:
        return f"{values[0]} or {values[1]}"
    return "one of " + ", ".join(str(v) for v in values)


def field_metas(tp: Any) -> list[msgspec.Meta]:
    """The ``msgspec.Meta`` annotations of a field type (``Annotated[int, Meta(...)]``), else []."""
    if typing.get_origin(tp) is typing.Annotated:
        return [m for m in typing.get_args(tp)[1:] if isinstance(m, msgspec.Meta)]
    return []


def choices_of(tp: Any) -> list[Any] | None:
    """The values ``one_of`` allows for a field type, or None."""
    for meta in field_metas(tp):
        enum = (meta.extra_json_schema or {}).get("enum")
        if enum is not None:
            return list(enum)
    return None


_CHOICES: dict[type, list[tuple[str, list[Any]]]] = {}


def _choice_fields(cls: type) -> list[tuple[str, list[Any]]]:
    if cls not in _CHOICES:
        hints = typing.get_type_hints(cls, include_extras=True)
        found = [(name, choices_of(hints[name])) for name in getattr(cls, "__struct_fields__", ())]
        _CHOICES[cls] = [(name, c) for name, c in found if c is not None]
    return _CHOICES[cls]


class Section(msgspec.Struct, forbid_unknown_fields=True):
    """One ``mlops:<section>`` of a stack file; an unknown key is an error, not ignored."""

    def __post_init__(self) -> None:
        for name, choices in _choice_fields(type(self)):
            value = getattr(self, name)
            if value is not None and value not in choices:
                raise SettingError(name, f"must be {alternatives(choices)}, got {value!r}")
        self.check()

    def check(self) -> None:
        """Rules beyond one field's type, range and choices; raise ``SettingError`` naming the key."""
