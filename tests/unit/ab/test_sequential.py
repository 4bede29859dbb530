"""The mSPRT under continuous monitoring: error rate <= alpha under the null, power under an effect,
and a naive peeking z-test that does exceed alpha in the same simulations (so the check can fail)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlops.ab.sequential import (
    CHALLENGER_WINS,
    CONTINUE,
    CONTROL_WINS,
    NO_DIFFERENCE,
    SequentialTest,
    default_tau,
    log_mixture_lr,
    paired_variance,
    two_sample_variance,
    variance_of_mean,
)
from mlops.errors import BadRequestError
from scipy import stats

ALPHA = 0.05
N_EXPERIMENTS = 500


def upper_bound(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a binomial proportion."""
    return 1.0 if k >= n else float(stats.beta.ppf(conf, k + 1, n - k))


def lower_bound(k: int, n: int, conf: float = 0.95) -> float:
    return 0.0 if k <= 0 else float(stats.beta.ppf(1 - conf, k, n - k + 1))


def simulate(
    p_challenger: float,
    p_control: float,
    share: float,
    *,
    batch: int = 20,
    looks: int = 500,
    seed: int = 0,
    mde: float = 0.02,
    min_samples: int = 100,
    experiments: int = N_EXPERIMENTS,
) -> dict[str, np.ndarray]:
    """E experiments x L looks of two Bernoulli arms, cumulative counts, one look after every batch."""
    rng = np.random.default_rng(seed)
    n_c = rng.binomial(batch, share, size=(experiments, looks))
    n_s = batch - n_c
    s_c, s_s = rng.binomial(n_c, p_challenger), rng.binomial(n_s, p_control)
    n_c, n_s, s_c, s_s = (np.cumsum(a, axis=1) for a in (n_c, n_s, s_c, s_s))
    est = s_c / np.maximum(n_c, 1) - s_s / np.maximum(n_s, 1)
    var = two_sample_variance(n_c, s_c, s_c, n_s, s_s, s_s)
    test = SequentialTest(alpha=ALPHA, mde=mde, min_samples=min_samples)
    out = test.evaluate_many(est, var, n_c, n_s)
    out.update(n_c=n_c, n_s=n_s, s_c=s_c, s_s=s_s)
    return out


def first_decisions(decision: np.ndarray) -> np.ndarray:
    """The first non-continue decision of each experiment (what a guardian acts on), else CONTINUE."""
    decided = decision != CONTINUE
    first = decided.argmax(axis=1)
    return np.where(decided.any(axis=1), decision[np.arange(decision.shape[0]), first], CONTINUE)


@pytest.mark.parametrize(
    ("rate", "share", "batch"),
    [
        (0.5, 0.5, 20),
        (0.8, 0.5, 20),
        (0.95, 0.5, 20),
        (0.5, 0.1, 20),
        (0.8, 0.1, 20),
        (0.95, 0.1, 20),
        # a small canary at an extreme rate: without the pooled-variance floor this regime reached 8%
        (0.98, 0.05, 50),
        (0.95, 0.02, 50),
    ],
)
def test_false_positive_rate_under_continuous_monitoring_stays_below_alpha(rate, share, batch):
    out = simulate(rate, rate, share, batch=batch, seed=int(rate * 100) + int(share * 100))
    # The bare test: the confidence sequence excludes 0 at any look after min_samples.
    rejected = (out["ready"] & ((out["ci_low"] > 0) | (out["ci_high"] < 0))).any(axis=1)
    k = int(rejected.sum())
    # What a guardian would act on: a first decision that names a winner.
    first = first_decisions(out["decision"])
    wrong = int(np.isin(first, (CHALLENGER_WINS, CONTROL_WINS)).sum())
    print(
        f"null rate={rate} share={share} batch={batch}: test rejects in {k}/{N_EXPERIMENTS} = {k / N_EXPERIMENTS:.3f}, "
        f"a winner is declared in {wrong / N_EXPERIMENTS:.3f} (500 looks each)"
    )
    # Honest: with 95% confidence the true false-positive rate is at most alpha.
    assert upper_bound(k, N_EXPERIMENTS) <= ALPHA
    assert upper_bound(wrong, N_EXPERIMENTS) <= ALPHA


def naive_z(out: dict[str, np.ndarray]) -> np.ndarray:
    """The fixed-horizon pooled two-proportion z statistic at every look."""
    n_c, n_s, s_c, s_s = out["n_c"], out["n_s"], out["s_c"], out["s_s"]
    pooled = (s_c + s_s) / (n_c + n_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_s))
        return np.nan_to_num((s_c / n_c - s_s / n_s) / se)


def test_naive_z_test_with_peeking_exceeds_alpha_on_the_same_data():
    out = simulate(0.8, 0.8, 0.5, seed=11)
    z, critical = naive_z(out), stats.norm.ppf(1 - ALPHA / 2)
    naive = ((np.abs(z) > critical) & (out["n_c"] >= 100) & (out["n_s"] >= 100)).any(axis=1)
    msprt = (out["ready"] & ((out["ci_low"] > 0) | (out["ci_high"] < 0))).any(axis=1)
    k_naive, k_msprt = int(naive.sum()), int(msprt.sum())
    print(
        f"peeking after every batch of 20: naive z-test FPR {k_naive / N_EXPERIMENTS:.3f}, "
        f"mSPRT FPR {k_msprt / N_EXPERIMENTS:.3f} (alpha {ALPHA})"
    )
    assert lower_bound(k_naive, N_EXPERIMENTS) > ALPHA  # the naive test is provably invalid here
    assert upper_bound(k_msprt, N_EXPERIMENTS) <= ALPHA
    # ... while the same z-test looked at once, at the end, rejects at about alpha: the simulation
    # is not rigged (4000 experiments, so that the binomial interval is narrow).
    many = simulate(0.8, 0.8, 0.5, seed=12, experiments=4000, batch=200, looks=50)  # same 10,000 outcomes
    k_final = int((np.abs(naive_z(many)[:, -1]) > critical).sum())
    print(f"the same z-test looked at once, at the end: {k_final / 4000:.3f}")
    assert lower_bound(k_final, 4000, 0.99) <= ALPHA <= upper_bound(k_final, 4000, 0.99)


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_a_real_difference_is_found_and_the_right_winner_picked(share):
    better = simulate(0.85, 0.80, share, batch=40, seed=21)
    worse = simulate(0.80, 0.85, share, batch=40, seed=22)
    fb, fw = first_decisions(better["decision"]), first_decisions(worse["decision"])
    looks = better["decision"].shape[1]
    stop = np.where(
        (better["decision"] != CONTINUE).any(1), (better["decision"] != CONTINUE).argmax(1), looks
    )
    print(
        f"share={share}: canary +5pt -> canary wins in {np.mean(fb == CHALLENGER_WINS):.3f} "
        f"(median stop after {int(np.median(stop + 1) * 40)} outcomes); "
        f"canary -5pt -> stable wins in {np.mean(fw == CONTROL_WINS):.3f}"
    )
    assert np.mean(fb == CHALLENGER_WINS) >= 0.9
    assert np.mean(fw == CONTROL_WINS) >= 0.9
    assert not np.any(fb == CONTROL_WINS) and not np.any(fw == CHALLENGER_WINS)


def test_confidence_sequence_covers_a_nonzero_effect_at_every_look():
    out = simulate(0.85, 0.80, 0.3, seed=31)
    missed = ((out["ci_low"] > 0.05) | (out["ci_high"] < 0.05)) & out["ready"]
    k = int(missed.any(axis=1).sum())
    print(f"true effect 0.05: the sequence ever misses it in {k / N_EXPERIMENTS:.3f} of experiments")
    assert upper_bound(k, N_EXPERIMENTS) <= ALPHA


def test_an_effect_below_the_mde_ends_mostly_in_no_difference_and_never_in_the_wrong_winner():
    out = simulate(0.81, 0.80, 0.5, batch=200, looks=400, seed=41, mde=0.03)
    first = first_decisions(out["decision"])
    print(
        f"effect +0.01 with MDE 0.03: no_difference {np.mean(first == NO_DIFFERENCE):.3f}, "
        f"canary wins {np.mean(first == CHALLENGER_WINS):.3f}, stable wins {np.mean(first == CONTROL_WINS):.3f}"
    )
    assert np.mean(first == NO_DIFFERENCE) >= 0.8
    # An early over-estimate can still call the (truly better) canary a winner; the wrong direction is bounded.
    assert np.mean(first == CHALLENGER_WINS) <= 0.15
    assert upper_bound(int(np.sum(first == CONTROL_WINS)), N_EXPERIMENTS) <= ALPHA
    assert np.all(first != CONTINUE)


@pytest.mark.parametrize("discordant", [0.005, 0.05, 0.2])
def test_paired_comparison_is_valid_and_powerful(discordant):
    rng = np.random.default_rng(int(discordant * 1000))
    looks, batch = 500, 20

    def run(q_up, q_down):
        k = rng.multinomial(batch, [q_up, q_down, 1 - q_up - q_down], size=(N_EXPERIMENTS, looks))
        up, down = np.cumsum(k[..., 0], 1), np.cumsum(k[..., 1], 1)
        n = np.arange(1, looks + 1) * batch
        total, total_sq = up - down, up + down
        return SequentialTest(alpha=ALPHA, mde=0.02).evaluate_many(
            total / n, paired_variance(n, total, total_sq), n, n
        )

    null = run(discordant / 2, discordant / 2)
    k = int((null["ready"] & ((null["ci_low"] > 0) | (null["ci_high"] < 0))).any(1).sum())
    alt = run(discordant / 2 + 0.04, discordant / 2)
    wins = float(np.mean(first_decisions(alt["decision"]) == CHALLENGER_WINS))
    print(
        f"paired, discordant {discordant}: null FPR {k / N_EXPERIMENTS:.3f}; +4pt (2 MDE) found in {wins:.3f}"
    )
    assert upper_bound(k, N_EXPERIMENTS) <= ALPHA
    assert wins >= 0.9


def test_min_samples_gates_every_decision():
    test = SequentialTest(alpha=ALPHA, mde=0.02, min_samples=200)
    early = test.evaluate_proportions(95, 100, 10, 100)  # overwhelming, but only 100 per arm
    assert early.decision == "continue" and not early.ready
    assert early.ci_low > 0  # the interval itself already excludes 0
    late = test.evaluate_proportions(190, 200, 20, 200)
    assert late.decision == "challenger_wins" and late.ready


def test_formula_matches_johari_two_stream_form_for_equal_arms():
    # sqrt(2s^2/(2s^2+n tau^2)) exp(n^2 tau^2 D^2 / (4 s^2 (2 s^2 + n tau^2)))
    s2, n, tau2, d = 0.16, 400, 0.0004, 0.03
    johari = 0.5 * math.log(2 * s2 / (2 * s2 + n * tau2)) + n * n * tau2 * d * d / (
        4 * s2 * (2 * s2 + n * tau2)
    )
    assert float(log_mixture_lr(d, 2 * s2 / n, tau2)) == pytest.approx(johari, rel=1e-12)


def test_default_tau_minimises_the_width_where_the_mde_is_detectable():
    mde, alpha = 0.02, 0.05
    tau = default_tau(mde, alpha)
    assert 0.9 * mde < tau < mde
    # At the variance where the half-width equals the MDE, no other tau gives a narrower sequence.
    from mlops.ab.sequential import half_width

    v = np.logspace(-7, -3, 4000)
    w = half_width(v, tau * tau, alpha)
    v_star = v[np.argmin(np.abs(w - mde))]
    taus = np.linspace(0.3 * mde, 3 * mde, 301)
    widths = [float(half_width(v_star, t * t, alpha)) for t in taus]
    assert abs(taus[int(np.argmin(widths))] - tau) < 0.02 * mde


def test_variance_is_positive_at_extreme_rates_and_never_below_the_null_variance():
    assert float(variance_of_mean(50, 50, 50)) > 0
    v = float(two_sample_variance(100, 100, 100, 900, 720, 720))
    pooled = (821 / 1002) * (1 - 821 / 1002) * (1 / 100 + 1 / 900)
    assert v >= pooled * 0.99


def test_bad_parameters_are_rejected():
    for kwargs in ({"alpha": 0}, {"alpha": 1.5}, {"mde": 0}, {"min_samples": 0}, {"tau": -1.0}):
        with pytest.raises(BadRequestError):
            SequentialTest(**kwargs)
    with pytest.raises(BadRequestError):
        SequentialTest().evaluate_proportions(11, 10, 0, 10)
