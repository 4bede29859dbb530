"""Where the console reads from: one object the routes share, built once per function instance."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.monitoring.reader import MetricsReader
from mlops.names import inference_function_name
from mlops.registry.service import Registry


@dataclass
class ConsoleSources:
    """The registry (records, deployments, audit log) and the optional monitoring sources.

    ``metrics``: a :class:`~mlops.monitoring.reader.MetricsReader` (None: the metric fields are null).
    ``application``: the Functions application's display name; a variant's ``oci_faas`` metrics are
    found by ``resourceDisplayName = "<application>:inference-<endpoint>-<variant>"``.
    ``alarm_rules``: the stack's ``AlarmRule`` list; ``alarm_state_path``: the local evaluator's state
    file; ``notify_file``: the local NDJSON notifications. ``clock``: epoch seconds (tests inject one).
    """

    registry: Registry
    metrics: MetricsReader | None = None
    namespace: str = "mlops"
    application: str = "mlops-local-app"
    alarm_rules: Sequence[Any] = ()
    alarm_state_path: Path | None = None
    notify_file: Path | None = None
    clock: Callable[[], float] = time.time
    endpoints: Sequence[str] = field(default_factory=tuple)  # configured endpoints (listed even undeployed)
    kept: dict[str, Any] = field(default_factory=dict, repr=False)  # results a view keeps (audit verify)

    @property
    def store(self) -> Any:
        return self.registry.store

    def display_name(self, endpoint: str, variant: str) -> str:
        return f"{self.application}:{inference_function_name(endpoint, variant)}"
