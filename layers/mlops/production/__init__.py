"""Production -> labelled dataset: compact the prediction logs into Parquet, join feedback labels to the
features logged at prediction time (``compact``, ``labelled``). See README "Learning from production"."""

from __future__ import annotations

from mlops.production.compact import CompactResult, compact, compact_all, manifests
from mlops.production.labelled import Labelled, LabelledStats, build, build_labelled

__all__ = [
    "CompactResult",
    "Labelled",
    "LabelledStats",
    "build",
    "build_labelled",
    "compact",
    "compact_all",
    "manifests",
]
