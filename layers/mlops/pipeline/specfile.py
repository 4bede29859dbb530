"""Spec files as read from disk: the ``SpecError`` they raise and strict YAML parsing.

Strict means: a duplicate mapping key is an error (PyYAML silently keeps the last one), a
document nested too deeply is refused before PyYAML recurses, and every error names the
file (and the line, for a syntax error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlops.errors import UnprocessableError
from mlops.jsonbody import depth_exceeds


class SpecError(UnprocessableError):
    """A build spec or deploy pipeline file that cannot be used; the message names each bad field."""

    code = "invalid_spec"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str | Path) -> Any:
    """Parse one YAML file strictly (duplicate keys are errors); errors name the file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: cannot be read: {exc}") from None
    return parse_yaml_text(text, str(p))


def parse_yaml_text(text: str, source: str = "<spec>") -> Any:
    """Parse YAML text strictly; a syntax error names the source and line."""
    if depth_exceeds(
        text.encode("utf-8", "surrogatepass"), 200
    ):  # flow style: refused before PyYAML recurses
        raise SpecError(f"{source}: invalid YAML: nested too deeply")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{source}: invalid YAML{where}: {problem}") from None
    except RecursionError:  # PyYAML composes nested nodes recursively: a local file, refused in one line
        raise SpecError(f"{source}: invalid YAML: nested too deeply") from None
