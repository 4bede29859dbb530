"""Data-quality expectations (issue 15, section 3): a suite per table, inferred from training data, kept as
a small YAML file people edit and diff, and checked with pyarrow.compute (no validation framework: the
drift and inference functions import this cheaply, see the README).

Enforced today at training (``mlops.quality.training``, used by ``mlops train``) and kept with each
registered version (``mlops.registry.expectations``). Hooks for the other stages: ingestion can quarantine
with ``row_reasons``; the gate, inference and drift function can load a version's suite with
``mlops.registry.expectations.load_expectations`` and call ``check`` / ``row_masks`` on their window.

The names below load their module on first use: reading, writing and diffing suites (``mlops.quality.suite``)
never imports pyarrow, so the registry function can store and serve suites without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops.quality.checks import DATASET, Failure, Report, check, row_masks, row_reasons
    from mlops.quality.inference import infer
    from mlops.quality.suite import (
        FORMAT,
        ColumnExpectation,
        InvalidSuite,
        Suite,
        diff,
        dumps,
        loads,
        render_diff,
    )
    from mlops.quality.tables import as_table, read_file

_WHERE = {
    **dict.fromkeys(("DATASET", "Failure", "Report", "check", "row_masks", "row_reasons"), "checks"),
    "infer": "inference",
    **dict.fromkeys(
        ("FORMAT", "ColumnExpectation", "InvalidSuite", "Suite", "diff", "dumps", "loads", "render_diff"),
        "suite",
    ),
    **dict.fromkeys(("as_table", "read_file"), "tables"),
}

__all__ = [
    "DATASET",
    "FORMAT",
    "ColumnExpectation",
    "Failure",
    "InvalidSuite",
    "Report",
    "Suite",
    "as_table",
    "check",
    "diff",
    "dumps",
    "infer",
    "loads",
    "read_file",
    "render_diff",
    "row_masks",
    "row_reasons",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mlops.quality' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mlops.quality.{module}"), name)
    globals()[name] = value
    return value
