"""The decision rule of an A/B experiment: the verdict, the winner and the sentence that explains them.

A split alarm overrides everything; then too few labelled outcomes mean ``continue``; then the
sequential test's verdict (:mod:`mlops.ab.sequential`) names the winner, no difference, or
``continue`` while the interval is not conclusive.
"""

from __future__ import annotations

from mlops.ab.compare import Comparison
from mlops.ab.join import VariantMetrics
from mlops.ab.sequential import CHALLENGER_WINS, CONTROL_WINS, DECISION_NAMES, NO_DIFFERENCE, SequentialTest
from mlops.ab.srm import SRMResult

Verdict = tuple[str, str | None, str]  # (decision, winner, reason)


def decide(
    test: SequentialTest,
    challenger: str | None,
    comparison: Comparison | None,
    srm: SRMResult,
    table: dict[str, VariantMetrics],
    outcome: str,
) -> Verdict:
    """The decision, the winner (or None) and the reason, from the split check and the comparison."""
    if srm.alarm:
        return _srm_alarm(challenger, srm)
    if challenger is None or comparison is None:
        return "continue", None, "no canary or shadow predictions in the window: nothing to compare"
    r = comparison.result
    if not r.ready:
        return "continue", None, _collecting(test, challenger, comparison, table)
    return _verdict(test, challenger, comparison, table, outcome)


def _srm_alarm(challenger: str | None, srm: SRMResult) -> Verdict:
    what = (
        f"{challenger or 'canary'} share" if challenger != "shadow" else "shadowed share of stable requests"
    )
    return (
        "srm_alarm",
        None,
        f"sample ratio mismatch: the {what} is {srm.observed_share:.2%} of {srm.n_challenger + srm.n_control} "
        f"{srm.unit}s, configured {srm.expected_share:.2%} (always-valid p = {srm.p_value:.2g} < {srm.alpha:g}); "
        "assignment or logging is broken, so no winner can be trusted"
        + (f" ({srm.note})" if srm.note else ""),
    )


def _collecting(
    test: SequentialTest, challenger: str, comparison: Comparison, table: dict[str, VariantMetrics]
) -> str:
    """Why no decision yet: the labelled outcomes still needed, and the feedback coverage."""
    r = comparison.result
    vc, vs = table.get(challenger), table.get("stable")
    if comparison.method == "two_sample":
        need = f"{r.n_challenger}/{test.min_samples} {challenger} and {r.n_control}/{test.min_samples} stable"
    else:
        need = f"{r.n_challenger}/{test.min_samples} paired"
    cov = ""
    if vc and vc.coverage is not None:
        cov = f"; feedback coverage {challenger} {vc.coverage:.0%}"
        if vs and vs.coverage is not None:
            cov += f", stable {vs.coverage:.0%}"
    return f"collecting: {need} labelled outcomes needed before any decision{cov}"


def _verdict(
    test: SequentialTest,
    challenger: str,
    comparison: Comparison,
    table: dict[str, VariantMetrics],
    outcome: str,
) -> Verdict:
    """The sequential test's verdict on a comparison with enough outcomes, with its evidence."""
    r = comparison.result
    vc, vs = table.get(challenger), table.get("stable")
    tag_c, tag_s = f"{challenger}{_versions(vc)}", f"stable{_versions(vs)}"
    code = {v: k for k, v in DECISION_NAMES.items()}[r.decision]
    common = _evidence(test, challenger, comparison, outcome)
    if code == CHALLENGER_WINS:
        return (
            f"{challenger}_wins",
            challenger,
            f"{tag_c} beats {tag_s}: {common}; the interval excludes 0 and the effect reaches the MDE",
        )
    if code == CONTROL_WINS:
        return (
            "stable_wins",
            "stable",
            f"{tag_s} beats {tag_c}: {common}; the interval excludes 0 and the effect reaches the MDE",
        )
    if code == NO_DIFFERENCE:
        return (
            "no_difference",
            None,
            f"no meaningful difference between {tag_c} and {tag_s}: {common}; "
            f"the interval lies within +-{test.mde:g}",
        )
    if r.ci_low > 0 or r.ci_high < 0:
        why = f"significant but the effect is below the MDE {test.mde:g}"
    else:
        why = "the interval still includes 0"
    return "continue", None, f"continue: {why}; {common}"


def _evidence(test: SequentialTest, challenger: str, comparison: Comparison, outcome: str) -> str:
    """The rates, effect, interval, p-value, counts and MDE a verdict rests on."""
    r = comparison.result
    ci = f"{1 - test.alpha:.0%} always-valid CI [{r.ci_low:+.4f}, {r.ci_high:+.4f}]"
    counts = (
        f"{r.n_challenger} {challenger} / {r.n_control} stable labelled outcomes"
        if comparison.method == "two_sample"
        else f"{r.n_challenger} requests scored by both and labelled"
    )
    rates = (
        f"{comparison.challenger_rate:.4f} vs {comparison.control_rate:.4f}"
        if comparison.challenger_rate is not None and comparison.control_rate is not None
        else "n/a"
    )
    return (
        f"{outcome} {rates}, effect {r.estimate:+.4f}, {ci}, p = {r.p_value:.3g}, {counts}, MDE {test.mde:g}"
    )


def _versions(vm: VariantMetrics | None) -> str:
    """`` v1,v2``: the model versions a variant served, or nothing."""
    if vm is None or not vm.versions:
        return ""
    return " " + ",".join(f"v{v}" for v in vm.versions)
