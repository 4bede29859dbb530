"""The split check of an experiment: count the units each arm got in the joined records and test the share.

:mod:`mlops.ab.srm` holds the statistic; this module decides what is counted. A canary split is
counted in callers (``principal``, the unit the authorizer randomises) or in requests; a shadow
split in stable requests that have a shadow twin. Disagreements between cohort routing and
serving, and callers seen in both cohorts, become warnings.
"""

from __future__ import annotations

from mlops.ab.join import Joined, Prediction
from mlops.ab.srm import DEFAULT_CONCENTRATION, SRMResult, check_srm


def split_check(
    joined: Joined,
    challenger: str | None,
    weight_bp: int | None,
    shadow_bp: int | None,
    srm_alpha: float,
    srm_unit: str,
) -> tuple[SRMResult, list[str]]:
    """The sample-ratio check of ``challenger``'s split against the configured share, and warnings on
    what the records show about the assignment."""
    warnings: list[str] = []
    if challenger == "shadow":
        return _shadow_split(joined, shadow_bp, srm_alpha), warnings
    preds = list(joined.by_variant["stable"].values()) + list(joined.by_variant["canary"].values())
    with_principal = sum(1 for p in preds if p.principal)
    unit = srm_unit
    if unit == "auto":
        unit = "principal" if preds and with_principal >= 0.95 * len(preds) else "request"
    mismatched = sum(1 for p in preds if p.cohort in ("stable", "canary") and p.cohort != p.variant)
    if mismatched:
        warnings.append(
            f"{mismatched} prediction(s) served by a variant other than their cohort "
            "(cohort routing and serving disagree)"
        )
    if unit == "principal":
        n_c, n_s = _count_callers(preds, warnings)
    else:
        n_c, n_s = _count_requests(preds)
    share = None if weight_bp is None else weight_bp / 10000.0
    if challenger is None and not preds:
        return SRMResult(False, unit, 0, 0, share, None, None, srm_alpha, False, "no predictions"), warnings
    srm = check_srm(n_c, n_s, share, alpha=srm_alpha, concentration=DEFAULT_CONCENTRATION, unit=unit)
    return srm, warnings


def _shadow_split(joined: Joined, shadow_bp: int | None, srm_alpha: float) -> SRMResult:
    # The inference function shadows whole requests (every row of a batch or none), so the unit
    # is the request: a stable request counts as shadowed when any of its rows has a shadow twin.
    shadow = joined.by_variant["shadow"]
    shadowed: dict[str, bool] = {}
    for pid, p in joined.by_variant["stable"].items():
        key = p.request_id or pid
        shadowed[key] = shadowed.get(key, False) or pid in shadow
    with_twin = sum(shadowed.values())
    share = None if shadow_bp is None else shadow_bp / 10000.0
    res = check_srm(with_twin, len(shadowed) - with_twin, share, alpha=srm_alpha, unit="request")
    if shadow_bp is None:
        return SRMResult(
            False,
            "request",
            res.n_challenger,
            res.n_control,
            None,
            res.observed_share,
            None,
            srm_alpha,
            False,
            "shadow share unknown (pass shadow_bp, --shadow-bp)",
        )
    return res


def _count_callers(preds: list[Prediction], warnings: list[str]) -> tuple[int, int]:
    """Callers in the canary and in the stable cohort; a caller in both is a warning."""
    units: dict[str, set[str]] = {}
    for p in preds:
        if p.principal:
            cohort = p.cohort if p.cohort in ("stable", "canary") else p.variant
            units.setdefault(cohort, set()).add(p.principal)
    n_c, n_s = len(units.get("canary", ())), len(units.get("stable", ()))
    both = len(units.get("canary", set()) & units.get("stable", set()))
    if both:
        warnings.append(
            f"{both} caller(s) appear in both cohorts: the weight changed inside the window? "
            "start the window after the last weight change"
        )
    return n_c, n_s


def _count_requests(preds: list[Prediction]) -> tuple[int, int]:
    """Requests in the canary and in the stable cohort (no caller identity: all rows of a batch share
    its request's cohort)."""
    cohorts: dict[str, str] = {}
    for p in preds:
        cohorts.setdefault(
            p.request_id or p.prediction_id, p.cohort if p.cohort in ("stable", "canary") else p.variant
        )
    n_c = sum(1 for c in cohorts.values() if c == "canary")
    return n_c, len(cohorts) - n_c
