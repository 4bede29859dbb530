"""The sequential SRM check: valid under repeated looks, finds a skewed split, quiet on a correct one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlops.ab.srm import DEFAULT_SRM_ALPHA, check_srm, log_bayes_factor
from mlops.errors import BadRequestError
from scipy import stats

N_EXPERIMENTS = 500


def monitored(
    true_share: float,
    expected: float,
    *,
    batch: int = 20,
    looks: int = 250,
    seed: int = 0,
    alpha: float = DEFAULT_SRM_ALPHA,
    experiments: int = N_EXPERIMENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each experiment ever alarms when checked after every batch, and the units seen at the alarm."""
    rng = np.random.default_rng(seed)
    n_c = np.cumsum(rng.binomial(batch, true_share, size=(experiments, looks)), axis=1)
    n = np.arange(1, looks + 1) * batch
    hit = log_bayes_factor(n_c, n - n_c, expected) >= math.log(1 / alpha)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), looks - 1)
    return hit.any(axis=1), n[first]


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_false_alarm_rate_under_continuous_monitoring_stays_below_alpha(share):
    n = 2000  # the bound is exact (Ville), so use enough experiments for the binomial bound to show it
    alarms, _ = monitored(share, share, alpha=0.05, seed=int(share * 10), experiments=n)
    k = int(alarms.sum())
    bound = float(stats.beta.ppf(0.95, k + 1, n - k))
    print(
        f"correct split {share}: alarms in {k}/{n} = {k / n:.3f} of experiments at alpha 0.05 "
        "(5000 units, 250 looks)"
    )
    assert bound <= 0.05


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_a_correct_split_is_not_flagged_at_the_default_threshold(share):
    alarms, _ = monitored(share, share, seed=3 + int(share * 10))
    print(f"correct split {share}: {int(alarms.sum())}/{N_EXPERIMENTS} false SRM alarms at p < 0.001")
    assert alarms.sum() <= 2  # Bin(500, 0.001) exceeds 2 with probability 1.4%
    assert not check_srm(1010, 8990, 0.1).alarm


@pytest.mark.parametrize(("true_share", "expected"), [(0.13, 0.10), (0.07, 0.10), (0.45, 0.50), (0.25, 0.5)])
def test_a_skewed_split_is_detected(true_share, expected):
    alarms, at = monitored(true_share, expected, seed=7)
    print(
        f"configured {expected}, observed {true_share}: detected in {alarms.mean():.3f} "
        f"(median {int(np.median(at[alarms]))} units)"
    )
    assert alarms.mean() >= 0.9


def test_check_srm_reports_shares_and_an_always_valid_p_value():
    ok = check_srm(205, 795, 0.2)
    assert ok.checked and not ok.alarm and ok.p_value > 0.1
    assert ok.observed_share == pytest.approx(0.205) and ok.expected_share == 0.2
    bad = check_srm(300, 700, 0.2)
    assert bad.alarm and bad.p_value < 1e-6
    assert bad.to_dict()["alarm"] is True


def test_zero_and_full_weight_alarm_on_any_unit_in_the_empty_arm():
    assert not check_srm(0, 500, 0.0).alarm
    r = check_srm(1, 500, 0.0)
    assert r.alarm and "no traffic" in r.note
    assert check_srm(10, 1, 1.0).alarm and not check_srm(10, 0, 1.0).alarm


def test_unknown_weight_is_reported_not_guessed():
    r = check_srm(30, 70, None)
    assert not r.checked and not r.alarm and r.p_value is None and "unknown" in r.note


def test_bad_inputs():
    with pytest.raises(BadRequestError):
        check_srm(-1, 5, 0.5)
    with pytest.raises(BadRequestError):
        check_srm(1, 5, 1.5)
    with pytest.raises(BadRequestError):
        check_srm(1, 5, 0.5, alpha=0)


def test_scalar_and_array_bayes_factor_agree():
    arr = log_bayes_factor(np.array([10, 250]), np.array([90, 750]), 0.2)
    assert float(arr[0]) == pytest.approx(log_bayes_factor(10, 90, 0.2))
    assert float(arr[1]) == pytest.approx(log_bayes_factor(250, 750, 0.2))
