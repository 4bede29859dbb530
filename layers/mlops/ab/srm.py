"""Sample-ratio-mismatch check: is the observed stable/challenger split the configured weight?

A split that does not match the configured weight (an authorizer bug, a cohort that loses
records, bots hashed into one arm) makes every A/B number untrustworthy, so an SRM alarm
overrides any winner. The check is re-run at every look, so it is itself sequential and
always valid: a Bayes factor against the point null ``share = w`` with a Beta prior centred
on ``w`` (the two-arm case of Lindon & Malek, "Anytime-valid inference for multinomial count
data", NeurIPS 2022, the test behind Optimizely's ssrm):

    BF = B(a + n_c, b + n_s) / B(a, b) / ( w^n_c (1 - w)^n_s ),   a = k w,  b = k (1 - w)

where ``n_c``/``n_s`` are the units seen in the challenger/control arm and ``k`` the prior
concentration. Under the null the Bayes factor is a nonnegative martingale with mean 1, so
``P(ever BF >= 1/alpha) <= alpha`` exactly (Ville), not only asymptotically, and the
always-valid p-value is ``min(1, 1/BF)``. The default threshold is ``p < 0.001``, the
order of magnitude used for SRM alarms in practice (far below the alpha of the effect test):
a false SRM alarm stops a good experiment, so it must be rare even over many experiments.

``k = 100`` (prior standard deviation of the share ~0.03 at w = 10%, ~0.05 at w = 50%) suits
the unit counts of a model endpoint (hundreds to tens of thousands of callers). Measured over
500 seeded experiments checked every 20 units: 10% configured, 12% observed is found in 99%
of them (median ~3,700 units), 15% within ~700, 50% vs 47% within ~4,500; k = 1000 or
Optimizely's 10,000 take 1.1-2x as long at these sizes and miss 10% vs 20% at 500 units.

The unit must be the unit of randomisation. Cohorts are assigned per caller (a hash of the
principal against the weight), so the analysis counts distinct principals per cohort; counting
requests would alarm whenever one busy caller sits in one arm. Shadowing is drawn per request
(all rows of a batch or none), so a shadow split counts requests, as does a canary split whose
records carry no principal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.errors import BadRequestError

DEFAULT_SRM_ALPHA = 0.001
DEFAULT_CONCENTRATION = 100.0

_lgamma_array = np.frompyfunc(math.lgamma, 1, 1)


def _lgamma(x: Any) -> Any:
    if isinstance(x, (int, float)):
        return math.lgamma(x)
    return _lgamma_array(np.asarray(x, dtype=float)).astype(float)


def log_bayes_factor(
    n_challenger: Any, n_control: Any, share: float, concentration: float = DEFAULT_CONCENTRATION
) -> Any:
    """log BF of "the challenger share is not ``share``" against "it is" (arrays welcome).

    ``share`` must lie strictly between 0 and 1 (see :func:`check_srm` for 0 and 1).
    """
    a, b = concentration * share, concentration * (1.0 - share)
    nc = (
        np.asarray(n_challenger, dtype=float)
        if not isinstance(n_challenger, (int, float))
        else float(n_challenger)
    )
    ns = np.asarray(n_control, dtype=float) if not isinstance(n_control, (int, float)) else float(n_control)
    log_marginal = (
        _lgamma(a + b)
        - _lgamma(a)
        - _lgamma(b)
        + _lgamma(a + nc)
        + _lgamma(b + ns)
        - _lgamma(a + b + nc + ns)
    )
    log_null = nc * math.log(share) + ns * math.log1p(-share)
    return log_marginal - log_null


@dataclass(frozen=True)
class SRMResult:
    """The split check: counts per arm, expected and observed challenger share, p-value, alarm."""

    checked: bool  # False when there is no configured share to compare with
    unit: str  # "principal" | "request"
    n_challenger: int
    n_control: int
    expected_share: float | None
    observed_share: float | None
    p_value: float | None
    alpha: float
    alarm: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "unit": self.unit,
            "n_challenger": self.n_challenger,
            "n_control": self.n_control,
            "expected_share": self.expected_share,
            "observed_share": self.observed_share,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "alarm": self.alarm,
            "note": self.note,
        }


def check_srm(
    n_challenger: int,
    n_control: int,
    expected_share: float | None,
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
    concentration: float = DEFAULT_CONCENTRATION,
    unit: str = "principal",
) -> SRMResult:
    """Sequential SRM test of the observed split against ``expected_share`` (the challenger's share).

    ``expected_share`` None means the configured weight is unknown: the result says so and never alarms.
    A share of exactly 0 or 1 alarms as soon as one unit shows up in the arm that should be empty.
    """
    if n_challenger < 0 or n_control < 0:
        raise BadRequestError("unit counts must be >= 0")
    if not 0.0 < alpha < 1.0:
        raise BadRequestError(f"srm alpha must be in (0, 1), got {alpha}")
    if not concentration > 0.0:
        raise BadRequestError(f"srm concentration must be > 0, got {concentration}")
    total = n_challenger + n_control
    observed = n_challenger / total if total else None
    if expected_share is None:
        return SRMResult(
            False,
            unit,
            n_challenger,
            n_control,
            None,
            observed,
            None,
            alpha,
            False,
            "configured weight unknown (pass weight_bp, --weight-bp)",
        )
    if not 0.0 <= expected_share <= 1.0:
        raise BadRequestError(f"expected share must be in [0, 1], got {expected_share}")
    if expected_share in (0.0, 1.0):
        impossible = n_challenger if expected_share == 0.0 else n_control
        p = 0.0 if impossible else 1.0
        note = f"{impossible} {unit}(s) in an arm configured to receive no traffic" if impossible else ""
        return SRMResult(
            True, unit, n_challenger, n_control, expected_share, observed, p, alpha, p < alpha, note
        )
    lbf = float(log_bayes_factor(n_challenger, n_control, expected_share, concentration))
    p = 1.0 if lbf <= 0.0 else math.exp(-lbf)
    return SRMResult(True, unit, n_challenger, n_control, expected_share, observed, p, alpha, p < alpha)
