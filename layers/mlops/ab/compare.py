"""The comparison of the challenger with stable: the sequential test on the arms' outcomes, and its caveats.

A canary is compared two-sample (independent arms), a shadow paired on the requests both scored
(:mod:`mlops.ab.arms`); the effect is challenger minus stable, its interval always valid
(:mod:`mlops.ab.sequential`). Warnings say what limits the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops.ab.arms import ArmStats, paired_arms, two_sample_arms
from mlops.ab.join import Joined, Outcome, VariantMetrics
from mlops.ab.sequential import SequentialResult, SequentialTest, default_tau

MIN_CALLERS_PER_ARM = 10  # below this a caller-clustered variance is unreliable: say so


@dataclass
class Comparison:
    """The challenger-vs-stable effect: estimate, always-valid interval and p-value, and the rates compared."""

    method: str  # two_sample | paired
    challenger: str
    control: str
    challenger_rate: float | None  # outcome rate of the challenger on the compared outcomes
    control_rate: float | None
    result: SequentialResult
    tau: float

    def to_dict(self) -> dict[str, Any]:
        d = {
            "method": self.method,
            "challenger": self.challenger,
            "control": self.control,
            "challenger_rate": self.challenger_rate,
            "control_rate": self.control_rate,
            "tau": self.tau,
        }
        r = self.result.to_dict()
        r["test_decision"] = r.pop("decision")  # the bare test's verdict, before the split check
        d.update(r)
        return d


def compare(
    joined: Joined,
    challenger: str | None,
    fn: Outcome,
    test: SequentialTest,
    higher_is_better: bool,
    table: dict[str, VariantMetrics],
) -> tuple[Comparison | None, list[str]]:
    """The comparison of ``challenger`` with stable (None when there is no challenger) and the
    warnings on what limits it."""
    if challenger is None:
        return None, []
    comparison, arms = _sequential(joined, challenger, fn, test, higher_is_better)
    return comparison, _caveats(challenger, arms, table)


def _sequential(
    joined: Joined, challenger: str, fn: Outcome, test: SequentialTest, higher_is_better: bool
) -> tuple[Comparison, tuple[ArmStats, ...]]:
    """The sequential comparison of the challenger with stable (two-sample for a canary, paired for a
    shadow) and the arms it was computed from."""
    arms: tuple[ArmStats, ...]
    if challenger == "canary":
        c, s, est, var = two_sample_arms(joined, "canary", fn)
        n_c, n_s, rate_c, rate_s, method = c.n, s.n, c.mean, s.mean, "two_sample"
        arms = (c, s)
    else:
        d, c, s, est, var = paired_arms(joined, fn)
        n_c = n_s = d.n
        rate_c, rate_s, method = c.mean, s.mean, "paired"
        arms = (d,)
    sign = 1.0 if higher_is_better else -1.0
    r = test.evaluate(sign * est, var, n_c, n_s)
    lo, hi = (r.ci_low, r.ci_high) if sign > 0 else (-r.ci_high, -r.ci_low)
    result = SequentialResult(
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        p_value=r.p_value,
        variance=var,
        n_challenger=n_c,
        n_control=n_s,
        decision=r.decision,
        ready=r.ready,
    )
    comparison = Comparison(
        method,
        challenger,
        "stable",
        rate_c,
        rate_s,
        result,
        test.tau if test.tau is not None else default_tau(test.mde, test.alpha),
    )
    return comparison, arms


def _caveats(challenger: str, arms: tuple[ArmStats, ...], table: dict[str, VariantMetrics]) -> list[str]:
    """What limits a comparison: too few callers in an arm, or challenger errors the outcome cannot see."""
    warnings: list[str] = []
    few = [
        a
        for a in arms
        if a.n and len(a.clusters) < MIN_CALLERS_PER_ARM and any(not isinstance(k, tuple) for k in a.clusters)
    ]
    if few:
        warnings.append(
            f"outcomes come from fewer than {MIN_CALLERS_PER_ARM} callers in an arm: outcomes of "
            "one caller are correlated, so the interval is only as good as the callers are many"
        )
    vc, vs = table.get(challenger), table.get("stable")
    if (
        vc
        and vs
        and vc.error_rate is not None
        and vs.error_rate is not None
        and vc.errors >= 5
        and vc.error_rate > vs.error_rate + 0.01
    ):
        warnings.append(
            f"{challenger} error rate {vc.error_rate:.2%} exceeds stable's {vs.error_rate:.2%}; "
            "errors are not labelled, so the outcome comparison cannot see them"
        )
    return warnings
