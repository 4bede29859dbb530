"""The JSON Schema of a stack file (``Pulumi.<stack>.yaml``), generated from the settings model.

``stack_schema()`` builds it; ``stack_schema.json`` next to this module is the committed copy
(``tests/unit/settings`` fails when the two differ), for editors and for ``mlops settings schema``.
Only the ``mlops:*`` keys of ``config:`` are described; other namespaces (``oci:region``) are
Pulumi's and pass. ``stack`` and ``project_dir`` are filled in by the loader, not written by users.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from mlops.settings.base import PROJECT
from mlops.settings.convert import HIDDEN
from mlops.settings.sections import StackSettings
from mlops.storage.config import BACKENDS, StoreConfig

SCHEMA_FILE = Path(__file__).with_name("stack_schema.json")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _section_defs() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the ``StackSettings`` object schema, the other definitions) as msgspec generates them."""
    defs = dict(msgspec.json.schema(StackSettings)["$defs"])
    store = defs[StoreConfig.__name__]
    store["additionalProperties"] = False  # StoreConfig.from_dict refuses unknown keys, as the Structs do
    store["properties"]["backend"]["enum"] = list(BACKENDS)
    return defs.pop(StackSettings.__name__), defs


def stack_schema() -> dict[str, Any]:
    """The schema of a whole stack file; its ``config`` holds ``mlops:<section>`` keys."""
    top, defs = _section_defs()
    props = {f"{PROJECT}:{name}": sub for name, sub in top["properties"].items() if name not in HIDDEN}
    config = {
        "type": "object",
        "description": f"Pulumi config; the {PROJECT}:* keys are the stack's settings (mlops.settings).",
        "properties": props,
        "propertyNames": {
            "pattern": "^[^:]+:.+$",
            "anyOf": [{"enum": sorted(props)}, {"not": {"pattern": f"^{PROJECT}:"}}],
        },
    }
    return {
        "$schema": DIALECT,
        "title": "Pulumi.<stack>.yaml of an oci-mlops project",
        "type": "object",
        "properties": {"config": config},
        "$defs": dict(sorted(defs.items())),
    }


def render_stack_schema() -> str:
    """The text of ``stack_schema.json``."""
    return json.dumps(stack_schema(), indent=2) + "\n"


def write_stack_schema(path: Path = SCHEMA_FILE) -> Path:
    path.write_text(render_stack_schema(), encoding="utf-8")
    return path
