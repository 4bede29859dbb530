"""From the plain data of a stack file to settings objects, with every error naming its key.

``load(cls, data, where)`` converts with msgspec and turns msgspec's terse errors
(``Expected `int` <= 300 - at `$.functions.timeout_s```) into the project's form:
``Pulumi.dev.yaml: mlops:functions.timeout_s: must be 1..300, got 301``. Before converting, a
small pass keeps the loader's historical leniency (numbers where text is expected, ``"True"``)
and hands the ``store`` section to ``StoreConfig.from_dict``, storage's own validator.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from mlops.errors import ConfigError
from mlops.settings.base import SettingError, field_metas
from mlops.storage.config import StoreConfig

T = TypeVar("T")
Path = list[str | int]  # keys and list indexes below the root
HIDDEN = ("stack", "project_dir")  # filled in by the loader, not settings a user writes

_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def render(where: str, sep: str, path: Path) -> str:
    """``where`` plus a key path: ``Pulumi.t.yaml: mlops`` + ``:endpoints[1].max_batch``."""
    out = where
    for i, step in enumerate(path):
        out += f"[{step}]" if isinstance(step, int) else f"{sep if i == 0 else '.'}{step}"
    return out


def parse_path(text: str) -> Path:
    """``.endpoints[1].name`` -> ``["endpoints", 1, "name"]``."""
    return [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(text)]


def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else tp
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _step_type(tp: Any, step: str | int) -> Any:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        return (typing.get_args(tp) or (Any,))[0]
    if origin is dict:
        return (typing.get_args(tp) or (str, Any))[1]
    if _is_struct(tp) or tp is StoreConfig:
        return _hints(tp).get(str(step), Any)
    return Any


def _step_value(value: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return value[step] if isinstance(value, list) and step < len(value) else None
    return value.get(step) if isinstance(value, Mapping) else getattr(value, step, None)


def prepare(value: Any, tp: Any, where: str, sep: str, path: Path) -> Any:
    """The loader's leniency before msgspec converts ``value`` to ``tp``; the store validates itself."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if value is None:
        return None
    if tp is StoreConfig and isinstance(value, Mapping):
        return StoreConfig.from_dict(value, where=render(where, sep, path))
    if _is_struct(tp) and isinstance(value, Mapping):
        hints = _hints(tp)
        return {
            k: prepare(v, hints[k], where, sep, [*path, k]) if k in hints else v for k, v in value.items()
        }
    if origin is list and isinstance(value, (list, tuple)):
        item = (typing.get_args(tp) or (Any,))[0]
        return [prepare(v, item, where, sep, [*path, i]) for i, v in enumerate(value)]
    if origin is dict and isinstance(value, Mapping):
        v_tp = (typing.get_args(tp) or (str, Any))[1]
        # msgspec names a bad dict entry `$.d[...]`: convert entries one by one to keep the key in errors
        return {
            str(k): v if v_tp is Any else load_at(v, v_tp, where, sep, [*path, str(k)])
            for k, v in value.items()
        }
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if tp is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def load(cls: type[T], data: Mapping[str, Any], where: str, sep: str = ".") -> T:
    """Build ``cls`` from ``data``; unknown, missing, ill-typed or out-of-range keys fail naming the key.

    ``sep`` joins ``where`` and a top-level key: ``:`` at the top of a stack file (``mlops:store``).
    """
    return load_at(data, cls, where, sep, [])


def load_at(data: Any, tp: Any, where: str, sep: str, path: Path) -> Any:
    prepared = prepare(data, tp, where, sep, path)
    try:
        return msgspec.convert(prepared, tp, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(explain(exc, tp, prepared, where, sep, path)) from None


def explain(exc: msgspec.ValidationError, root: Any, data: Any, where: str, sep: str, base: Path) -> str:
    """msgspec's error as ``<where><key path>: <what is wrong>``."""
    m = _AT.match(str(exc))
    assert m is not None  # the pattern matches any text
    msg, rel = m.group("msg"), parse_path(m.group("path") or "")
    tp, value = root, data
    for step in rel:
        tp, value = _step_type(tp, step), _step_value(value, step)
    cause = exc.__cause__
    if isinstance(cause, SettingError):
        return f"{render(where, sep, [*base, *rel, *parse_path('.' + cause.key)])}: {cause.message}"
    field = re.match(r"Object (contains unknown|missing required) field `(.*)`$", msg)
    if field:
        key = render(where, sep, [*base, *rel, field.group(2)])
        if field.group(1) == "missing required":
            return f"{key}: required setting is missing"
        known = sorted(n for n in getattr(_unwrap(tp), "__struct_fields__", ()) if n not in HIDDEN)
        return f"{key}: unknown setting (known: {', '.join(known)})"
    key = render(where, sep, [*base, *rel])
    if re.match(r"Expected `\w+` [<>]=? ", msg):
        return f"{key}: must be {_bounds(tp)}, got {value!r}"
    if msg.startswith("Expected `"):
        return f"{key}: {_expected(tp, value)}"
    return f"{key}: {msg}"


def _bounds(tp: Any) -> str:
    """``1..300``, ``>= 1``, ``> 0 and <= 1`` from a field's ``Meta``."""
    for meta in field_metas(tp):
        if meta.ge is not None and meta.le is not None:
            return f"{meta.ge}..{meta.le}"
        parts = [
            f"{op} {v}"
            for op, v in ((">=", meta.ge), (">", meta.gt), ("<=", meta.le), ("<", meta.lt))
            if v is not None
        ]
        if parts:
            return " and ".join(parts)
    return "in range"


def _expected(tp: Any, value: Any) -> str:
    """``expected an integer, got 'many'``: a scalar shows its value, a container its type."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return f"expected a list, got {type(value).__name__}"
    if origin is dict or _is_struct(tp) or tp is StoreConfig:
        return f"expected a mapping, got {type(value).__name__}"
    if tp is str:
        return f"expected a string, got {type(value).__name__}"
    names = {bool: "true or false", int: "an integer", float: "a number"}
    return f"expected {names.get(tp, str(tp))}, got {value!r}"
