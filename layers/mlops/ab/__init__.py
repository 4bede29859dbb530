"""A/B analysis of model variants: join predictions with feedback, sequential tests, SRM, promotion policy.

The public surface (see each module for the statistics and the rules it documents)::

    from mlops.ab import analyze, decide_action, ABPolicy
    report = analyze(records, weight_bp=1000, mde=0.02, min_samples=200)
    action = decide_action(report, ABPolicy(auto_promote=True, auto_rollback=True))
"""

from __future__ import annotations

from mlops.ab.analysis import DECISIONS, ABReport, ArmStats, Comparison, analyze, two_arm_variance
from mlops.ab.join import (
    OUTCOMES,
    VARIANTS,
    Joined,
    Joiner,
    JoinStats,
    Prediction,
    VariantMetrics,
    iter_records,
    join,
    metrics,
    window_metrics,
)
from mlops.ab.policy import ACTIONS, ABPolicy, Action, decide_action
from mlops.ab.sequential import SequentialResult, SequentialTest
from mlops.ab.source import iter_log_objects, log_prefix
from mlops.ab.srm import SRMResult, check_srm

__all__ = [
    "ACTIONS",
    "DECISIONS",
    "OUTCOMES",
    "VARIANTS",
    "ABPolicy",
    "ABReport",
    "Action",
    "ArmStats",
    "Comparison",
    "JoinStats",
    "Joined",
    "Joiner",
    "Prediction",
    "SRMResult",
    "SequentialResult",
    "SequentialTest",
    "VariantMetrics",
    "analyze",
    "check_srm",
    "decide_action",
    "iter_log_objects",
    "iter_records",
    "join",
    "log_prefix",
    "metrics",
    "two_arm_variance",
    "window_metrics",
]
