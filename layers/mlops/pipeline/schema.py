"""A small declarative checker for parsed YAML: each error names its YAML path, all are reported at once.

A mapping is described by the keys it may hold and a tuple of ``Field`` s, checked in order;
each field names a check (a function from a value to an error message, or None when the value
is good). ``check_mapping`` reports a value that is not a mapping, unknown keys and every bad
field, and returns the good values by key, so a parser only writes what is particular to it.
Messages read ``steps[2].timeoutInSeconds: expected a positive integer, got -5``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops.pipeline.specfile import SpecError

Check = Callable[[Any], str | None]  # a value -> what is wrong with it, or None


class Problems:
    """Collects every problem of one file so the user fixes them in one go."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}" if where else message)

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(
                f"{self.source}: " + "; ".join(self.items),
                details={"source": self.source, "errors": list(self.items)},
            )


def at(where: str, key: str | int) -> str:
    """The YAML path of ``key`` under ``where`` (``steps[2]`` + ``name`` -> ``steps[2].name``)."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def describe(v: Any) -> str:
    """A value as quoted in a message: its repr, cut to 60 characters; ``nothing`` for a missing one."""
    if v is None:
        return "nothing"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def scalar_text(v: Any) -> str | None:
    """YAML scalars as the shell would see them (true -> 'true'); None for non-scalars."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (str, int, float)):
        return str(v)
    return None


# --------------------------------------------------------------------------- checks of one value


def positive_int(v: Any) -> str | None:
    return None if is_int(v) and v > 0 else f"expected a positive integer, got {describe(v)}"


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"expected true or false, got {describe(v)}"


def text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else f"expected a non-empty string, got {describe(v)}"


def choice(choices: tuple[Any, ...], expected: str) -> Check:
    """The value must be one of ``choices``; the message says ``expected <expected>, got ...``."""

    def check(v: Any) -> str | None:
        return None if v in choices else f"expected {expected}, got {describe(v)}"

    return check


def one_of(choices: tuple[str, ...]) -> Check:
    return choice(choices, "one of " + ", ".join(choices))


def equal_to(value: Any) -> Check:
    return choice((value,), str(value))


# --------------------------------------------------------------------------- containers

_SKIP = object()


@dataclass(frozen=True)
class Field:
    """One key of a mapping and its check.

    A missing key is fine unless ``missing`` gives the message for it (``is required``), or
    ``default`` gives the value it reads as (checked like a written one).
    """

    key: str
    check: Check
    missing: str | None = None
    default: Any = _SKIP


def mapping(obj: Any, where: str, p: Problems, what: str = "a mapping") -> Mapping[Any, Any] | None:
    """``obj`` if it is a mapping; else None and the problem ``<where>: expected <what>, got ...``."""
    if isinstance(obj, Mapping):
        return obj
    p.add(where, f"expected {what}, got {describe(obj)}")
    return None


def sequence(obj: Any, where: str, p: Problems, what: str = "a list") -> list[Any] | None:
    """``obj`` if it is a list; else None and the problem ``<where>: expected <what>, got ...``."""
    if isinstance(obj, list):
        return obj
    p.add(where, f"expected {what}, got {describe(obj)}")
    return None


def unknown_keys(obj: Mapping[Any, Any], allowed: tuple[str, ...], where: str, p: Problems) -> None:
    unknown = [str(k) for k in obj if k not in allowed]
    if unknown:
        prefix = f"{where}." if where else ""
        names = ", ".join(f"{prefix}{k}" for k in unknown)
        what = "key" if len(unknown) == 1 else "keys"
        scope = "top-level " if not where else ""
        p.add("", f"unknown {scope}{what} {names} (allowed: {', '.join(allowed)})")


def check_fields(
    obj: Mapping[Any, Any], where: str, fields: tuple[Field, ...], p: Problems
) -> dict[str, Any]:
    """Check ``fields`` of ``obj`` in order; the good values (written or default) by key."""
    good: dict[str, Any] = {}
    for f in fields:
        if f.key in obj:
            value = obj[f.key]
        elif f.missing is not None:
            p.add(at(where, f.key), f.missing)
            continue
        elif f.default is not _SKIP:
            value = f.default
        else:
            continue
        problem = f.check(value)
        if problem is None:
            good[f.key] = value
        else:
            p.add(at(where, f.key), problem)
    return good


def check_mapping(
    obj: Any, where: str, allowed: tuple[str, ...], fields: tuple[Field, ...], p: Problems
) -> dict[str, Any] | None:
    """A mapping with only ``allowed`` keys and good ``fields``: its good values, None if not a mapping."""
    m = mapping(obj, where, p)
    if m is None:
        return None
    unknown_keys(m, allowed, where, p)
    return check_fields(m, where, fields, p)


def required(key: str, check: Check = text) -> Field:
    """A field that must be there (``is required``); a non-empty string unless told otherwise."""
    return Field(key, check, missing="is required")
