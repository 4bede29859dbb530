"""Expectations at training: ``mlops train`` checks the training set against the project's suite.

The suite is ``--expectations FILE``, else ``expectations.yaml`` beside the training entrypoint, else
there is none (nothing is checked; registration then infers one from the training data). With ``infer``
the suite is written (to that same path) from the current training data instead of checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlops.errors import UnprocessableError
from mlops.quality.suite import Suite, dumps, loads

DEFAULT_FILE = "expectations.yaml"
REPORT_LINES = 20


class ExpectationsFailed(UnprocessableError):
    """The training set violates the model's expectations; the message is the per-column report."""

    code = "expectations_failed"


def suite_path(project_dir: Path, given: str | Path | None) -> Path:
    return Path(given) if given is not None else Path(project_dir) / DEFAULT_FILE


def training_suite(
    project_dir: Path,
    columns: Mapping[str, Any],
    *,
    path: str | Path | None = None,
    infer_suite: bool = False,
    clock: Callable[[], float] = time.time,
) -> Suite | None:
    """The suite the training columns met (or were just described by, with ``infer_suite``), or None when
    the project has none. Raises ``ExpectationsFailed`` with the report when the columns violate it."""
    from mlops.quality.checks import check  # pyarrow, imported when a suite is used
    from mlops.quality.inference import infer

    where = suite_path(project_dir, path)
    if infer_suite:
        suite = infer(columns, clock=clock)
        where.write_text(dumps(suite))
        return suite
    if not where.is_file():
        if path is not None:
            raise UnprocessableError(f"expectations file {where} does not exist", code="missing_expectations")
        return None
    suite = loads(where.read_bytes())
    report = check(suite, columns, clock=clock)
    if not report.ok:
        raise ExpectationsFailed(
            f"training data violates {where.name} ({len(report.failures)} failed, {report.rows} rows):\n  "
            + report.to_text(limit=REPORT_LINES).replace("\n", "\n  ")
        )
    return suite
