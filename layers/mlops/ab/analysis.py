"""Analyse an endpoint's A/B experiment: per-variant table, effect with an always-valid interval, decision.

``analyze(records, weight_bp=...)`` joins prediction and feedback records
(:mod:`mlops.ab.join`), checks the split (:mod:`mlops.ab.srm`), compares the challenger with
stable with the mixture SPRT (:mod:`mlops.ab.sequential`) and returns an :class:`ABReport`
whose ``decision`` is one of

- ``srm_alarm``: the observed split does not match the configured weight; overrides everything;
- ``canary_wins`` / ``shadow_wins``: the challenger is significantly better (the confidence
  sequence excludes 0) and the estimated effect reaches the MDE;
- ``stable_wins``: the same for stable;
- ``no_difference``: the confidence sequence lies within +-MDE (no meaningful difference);
- ``continue``: not enough evidence yet (or fewer than ``min_samples`` outcomes per arm).

Two designs are compared the same way:

- canary (``challenger="canary"``): independent arms, the callers hashed into the canary
  cohort against those in stable; effect = canary outcome rate - stable outcome rate.
- shadow (``challenger="shadow"``): the candidate also scores a share of the stable requests;
  the comparison is paired on the requests both scored and labelled (a feedback record labels
  both), effect = mean(shadow outcome - stable outcome). Pairing removes the between-request
  variance, so it needs far fewer outcomes than a split.

Cohorts are sticky per caller, so outcomes of one caller are correlated; each arm's variance
is the larger of the independent-outcome one and the cluster-robust one over callers
(``principal``), so a busy caller cannot make the interval look tighter than it is.

The window (``since``/``until``, on prediction time) should start after the last weight change:
the split check compares with one configured weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlops.ab.arms import ArmStats, two_arm_variance
from mlops.ab.compare import MIN_CALLERS_PER_ARM, Comparison, compare
from mlops.ab.decision import decide
from mlops.ab.join import Joined, JoinStats, Outcome, VariantMetrics, join, metrics, resolve_outcome
from mlops.ab.sequential import SequentialTest
from mlops.ab.split import split_check
from mlops.ab.srm import DEFAULT_SRM_ALPHA, SRMResult
from mlops.errors import BadRequestError

__all__ = [
    "DECISIONS",
    "MIN_CALLERS_PER_ARM",
    "ABReport",
    "ArmStats",
    "Comparison",
    "analyze",
    "check_bp",
    "two_arm_variance",
]

DECISIONS = ("continue", "canary_wins", "shadow_wins", "stable_wins", "no_difference", "srm_alarm")


@dataclass
class ABReport:
    """Everything ``mlops ab status`` shows and the guardian's policy decides on."""

    endpoint: str | None
    challenger: str | None
    outcome: str
    higher_is_better: bool
    weight_bp: int | None
    shadow_bp: int | None
    alpha: float
    mde: float
    min_samples: int
    variants: list[VariantMetrics]
    comparison: Comparison | None
    srm: SRMResult
    decision: str
    winner: str | None
    reason: str
    warnings: list[str] = field(default_factory=list)
    join: JoinStats = field(default_factory=JoinStats)
    since: float | None = None
    until: float | None = None

    def variant(self, name: str) -> VariantMetrics | None:
        return next((v for v in self.variants if v.variant == name), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (no NaN or infinity)."""
        return _finite(
            {
                "endpoint": self.endpoint,
                "challenger": self.challenger,
                "outcome": self.outcome,
                "higher_is_better": self.higher_is_better,
                "weight_bp": self.weight_bp,
                "shadow_bp": self.shadow_bp,
                "alpha": self.alpha,
                "mde": self.mde,
                "min_samples": self.min_samples,
                "variants": [v.to_dict() for v in self.variants],
                "comparison": self.comparison.to_dict() if self.comparison else None,
                "srm": self.srm.to_dict(),
                "decision": self.decision,
                "winner": self.winner,
                "reason": self.reason,
                "warnings": list(self.warnings),
                "join": self.join.to_dict(),
                "since": self.since,
                "until": self.until,
            }
        )


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- analyze


def check_bp(value: int | None, name: str) -> int | None:
    """``value`` if it is None or an integer number of basis points 0..10000, else a 400."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10000:
        raise BadRequestError(f"{name} must be an integer number of basis points 0..10000, got {value!r}")
    return value


def _check_options(
    weight_bp: int | None, shadow_bp: int | None, challenger: str | None, srm_unit: str
) -> tuple[int | None, int | None]:
    """The checked basis points; a 400 for a bad challenger or split unit."""
    weight_bp = check_bp(weight_bp, "weight_bp")
    shadow_bp = check_bp(shadow_bp, "shadow_bp")
    if challenger not in (None, "canary", "shadow"):
        raise BadRequestError(f"challenger must be 'canary' or 'shadow', got {challenger!r}")
    if srm_unit not in ("auto", "principal", "request"):
        raise BadRequestError(f"srm_unit must be auto, principal or request, got {srm_unit!r}")
    return weight_bp, shadow_bp


def _joined(records: Any, endpoint: str | None, since: Any, until: Any) -> Joined:
    """``records`` joined over the window, unless they already are."""
    return (
        records if isinstance(records, Joined) else join(records, endpoint=endpoint, since=since, until=until)
    )


def _default_challenger(joined: Joined) -> str | None:
    """canary if the window holds canary predictions, else shadow if it holds shadow ones, else None."""
    return "canary" if joined.by_variant["canary"] else ("shadow" if joined.by_variant["shadow"] else None)


def analyze(
    records: Any,
    *,
    weight_bp: int | None,
    alpha: float = 0.05,
    mde: float = 0.02,
    min_samples: int = 100,
    tau: float | None = None,
    challenger: str | None = None,
    outcome: str | Outcome = "accuracy",
    higher_is_better: bool = True,
    endpoint: str | None = None,
    since: Any = None,
    until: Any = None,
    shadow_bp: int | None = None,
    srm_alpha: float = DEFAULT_SRM_ALPHA,
    srm_unit: str = "auto",
) -> ABReport:
    """Analyse one endpoint's experiment.

    ``records``: prediction/feedback records (dicts, NDJSON bytes, an iterable of either) or a
    :class:`~mlops.ab.join.Joined`. ``weight_bp``: the configured canary weight in basis points
    (None = unknown, the split is then not checked). ``mde``: minimum detectable effect in
    outcome-rate units (0.02 = two accuracy points). ``min_samples``: labelled outcomes per arm
    before any decision. ``challenger``: "canary", "shadow" or None (canary if there are canary
    records, else shadow). ``shadow_bp``: the configured share of stable requests that are
    shadowed, for the split check of a shadow comparison. ``srm_unit``: what the split check
    counts: "principal" (callers, the unit the authorizer randomises), "request", or "auto"
    (principal when at least 95% of the records carry one).
    """
    weight_bp, shadow_bp = _check_options(weight_bp, shadow_bp, challenger, srm_unit)
    test = SequentialTest(alpha=alpha, mde=mde, min_samples=min_samples, tau=tau)
    outcome_name, fn = resolve_outcome(outcome)
    joined = _joined(records, endpoint, since, until)
    table = metrics(joined, fn)
    challenger = challenger or _default_challenger(joined)
    srm, warnings = split_check(joined, challenger, weight_bp, shadow_bp, srm_alpha, srm_unit)
    comparison, caveats = compare(joined, challenger, fn, test, higher_is_better, table)
    decision, winner, reason = decide(test, challenger, comparison, srm, table, outcome_name)
    return ABReport(
        endpoint=endpoint,
        challenger=challenger,
        outcome=outcome_name,
        higher_is_better=higher_is_better,
        weight_bp=weight_bp,
        shadow_bp=shadow_bp,
        alpha=alpha,
        mde=mde,
        min_samples=min_samples,
        variants=list(table.values()),
        comparison=comparison,
        srm=srm,
        decision=decision,
        winner=winner,
        reason=reason,
        warnings=warnings + caveats,
        join=joined.stats,
        since=joined.since,
        until=joined.until,
    )
