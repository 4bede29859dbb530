"""analyze(): decisions on simulated endpoints (canary and shadow), SRM override, clustering, report shape."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.ab import ArmStats, analyze, join, two_arm_variance
from mlops.ab.sequential import SequentialTest, two_sample_variance
from mlops.errors import BadRequestError

from .factory import Experiment
from .test_sequential import lower_bound, upper_bound


def test_a_better_canary_wins_with_numbers_in_the_reason():
    exp = Experiment(n_requests=8000, weight_bp=3000, acc_stable=0.80, acc_canary=0.88, seed=1)
    r = analyze(exp.records(), weight_bp=3000, endpoint="churn", mde=0.02, min_samples=200)
    assert r.decision == "canary_wins" and r.winner == "canary" and r.challenger == "canary"
    c = r.comparison
    assert c.method == "two_sample" and c.result.ci_low > 0 and c.result.estimate >= 0.02
    assert c.challenger_rate == pytest.approx(r.variant("canary").outcome_rate)
    assert "canary v4 beats stable v3" in r.reason and f"{c.result.estimate:+.4f}" in r.reason
    assert not r.srm.alarm and r.srm.unit == "principal" and r.srm.checked


def test_a_worse_canary_loses():
    exp = Experiment(n_requests=8000, weight_bp=3000, acc_stable=0.85, acc_canary=0.75, seed=2)
    r = analyze(exp.records(), weight_bp=3000, mde=0.02, min_samples=200)
    assert r.decision == "stable_wins" and r.winner == "stable"
    assert r.comparison.result.ci_high < 0 and "stable v3 beats canary v4" in r.reason


@pytest.mark.parametrize("seed", range(5))
def test_no_true_difference_names_no_winner(seed):
    exp = Experiment(n_requests=5000, weight_bp=2000, acc_stable=0.8, acc_canary=0.8, seed=100 + seed)
    r = analyze(exp.records(), weight_bp=2000, mde=0.02, min_samples=200)
    assert r.decision in ("continue", "no_difference") and r.winner is None
    assert r.comparison.result.ci_low < 0 < r.comparison.result.ci_high


def test_too_few_outcomes_means_collecting_whatever_the_effect():
    exp = Experiment(n_requests=600, weight_bp=2000, acc_stable=0.5, acc_canary=1.0, seed=3)
    r = analyze(exp.records(), weight_bp=2000, min_samples=200)
    assert r.decision == "continue" and r.reason.startswith("collecting:")
    assert not r.comparison.result.ready


def test_srm_overrides_a_winner():
    exp = Experiment(
        n_requests=8000,
        n_principals=2000,
        weight_bp=3000,
        acc_stable=0.80,
        acc_canary=0.90,
        drop_canary_principals=0.4,
        seed=4,
    )
    r = analyze(exp.records(), weight_bp=3000, mde=0.02, min_samples=200)
    assert r.comparison.result.decision == "challenger_wins"  # the bare test would have promoted it
    assert r.decision == "srm_alarm" and r.winner is None
    assert r.srm.alarm and r.srm.observed_share < 0.25 and "sample ratio mismatch" in r.reason


def test_wrong_configured_weight_is_an_srm_and_unknown_weight_is_not_checked():
    exp = Experiment(n_requests=4000, n_principals=1500, weight_bp=2000, seed=5)
    recs = exp.records()
    assert analyze(recs, weight_bp=1000).decision == "srm_alarm"
    r = analyze(recs, weight_bp=None)
    assert not r.srm.checked and r.decision != "srm_alarm"


def test_shadow_is_compared_paired_on_the_requests_both_scored():
    exp = Experiment(n_requests=6000, weight_bp=0, shadow_share=0.5, acc_stable=0.80, acc_shadow=0.88, seed=6)
    recs = exp.records()
    r = analyze(recs, weight_bp=0, shadow_bp=5000, mde=0.02, min_samples=200)
    assert r.challenger == "shadow" and r.comparison.method == "paired"
    assert r.decision == "shadow_wins" and r.winner == "shadow"
    assert not r.srm.alarm and r.srm.unit == "request"
    assert "requests scored by both" in r.reason
    skewed = analyze(recs, weight_bp=0, shadow_bp=2000, mde=0.02, min_samples=200)
    assert skewed.decision == "srm_alarm"
    unknown = analyze(recs, weight_bp=0, mde=0.02, min_samples=200)
    assert not unknown.srm.checked and unknown.decision == "shadow_wins"


def test_pairing_is_more_sensitive_than_a_split_of_the_same_size():
    exp = Experiment(
        n_requests=3000,
        weight_bp=0,
        shadow_share=1.0,
        acc_stable=0.80,
        acc_shadow=0.84,
        shadow_agreement=0.9,
        seed=7,
    )
    r = analyze(exp.records(), weight_bp=0, shadow_bp=10000, mde=0.02, min_samples=100)
    n = r.comparison.result.n_challenger
    unpaired_var = float(two_sample_variance(n, 0.84 * n, 0.84 * n, n, 0.8 * n, 0.8 * n))
    assert r.comparison.result.variance < unpaired_var / 3


def test_split_units_are_requests_when_batches_are_shadowed_or_callers_unknown():
    recs = []
    for r in range(400):  # 400 requests of 5 rows; every 4th request shadowed whole
        for row in range(5):
            pid = f"{r}-{row}"
            base = {
                "kind": "prediction",
                "prediction_id": pid,
                "request_id": f"req{r}",
                "cohort": "stable",
                "principal": None,
                "prediction": 1,
            }
            recs.append({**base, "variant": "stable"})
            if r % 4 == 0:
                recs.append({**base, "variant": "shadow"})
    r = analyze(recs, weight_bp=0, shadow_bp=2500)
    assert (r.srm.unit, r.srm.n_challenger, r.srm.n_control) == ("request", 100, 300) and not r.srm.alarm
    canary = [
        {
            "kind": "prediction",
            "prediction_id": f"{q}-{k}",
            "request_id": f"q{q}",
            "variant": "canary" if q % 5 == 0 else "stable",
            "prediction": 1,
        }
        for q in range(500)
        for k in range(3)
    ]
    c = analyze(canary, weight_bp=2000)
    assert (c.srm.unit, c.srm.n_challenger, c.srm.n_control) == ("request", 100, 400) and not c.srm.alarm


def test_canary_and_shadow_in_one_window_default_to_canary_and_either_can_be_asked_for():
    exp = Experiment(n_requests=3000, weight_bp=2000, shadow_share=0.3, seed=8)
    recs = exp.records()
    assert analyze(recs, weight_bp=2000).challenger == "canary"
    assert analyze(recs, weight_bp=2000, challenger="shadow").challenger == "shadow"


def test_analyze_matches_the_bare_test_when_every_caller_sends_one_request():
    exp = Experiment(n_requests=3000, n_principals=None, weight_bp=5000, acc_canary=0.84, seed=9)
    recs = exp.records()
    r = analyze(recs, weight_bp=5000, mde=0.02, min_samples=100)
    c, s = r.variant("canary"), r.variant("stable")
    bare = SequentialTest(mde=0.02, min_samples=100).evaluate_proportions(
        int(c.successes), c.labelled, int(s.successes), s.labelled
    )
    assert r.comparison.result.estimate == pytest.approx(bare.estimate)
    assert r.comparison.result.variance == pytest.approx(bare.variance, rel=0.01)
    assert r.comparison.result.decision == bare.decision


def test_callers_with_correlated_outcomes_widen_the_interval_and_are_warned_about():
    recs = []
    # three canary callers with very different accuracy (0.95, 0.55, 0.95), 300 requests each
    for k, acc in enumerate((0.95, 0.55, 0.95)):
        for i in range(300):
            pid = f"c{k}-{i}"
            ok = (i % 100) < acc * 100
            recs += [
                {
                    "kind": "prediction",
                    "prediction_id": pid,
                    "variant": "canary",
                    "cohort": "canary",
                    "principal": f"canary-{k}",
                    "prediction": 1 if ok else 0,
                    "version": 4,
                },
                {"kind": "feedback", "prediction_id": pid, "actual": 1},
            ]
    for i in range(900):
        pid = f"s-{i}"
        recs += [
            {
                "kind": "prediction",
                "prediction_id": pid,
                "variant": "stable",
                "cohort": "stable",
                "principal": f"stable-{i}",
                "prediction": 1 if i % 10 < 8 else 0,
                "version": 3,
            },
            {"kind": "feedback", "prediction_id": pid, "actual": 1},
        ]
    r = analyze(recs, weight_bp=None, mde=0.02, min_samples=100)
    iid = float(two_sample_variance(900, 735, 735, 900, 720, 720))
    assert r.comparison.result.variance > 3 * iid
    assert any("fewer than 10 callers" in w for w in r.warnings)


def test_lower_is_better_flips_the_winner_not_the_effect():
    recs = []
    for i in range(4000):
        variant = "canary" if i % 2 else "stable"
        bad = (i // 2) % 10 < (1 if variant == "canary" else 3)  # canary churns 10%, stable 30%
        recs += [
            {
                "kind": "prediction",
                "prediction_id": f"p{i}",
                "variant": variant,
                "cohort": variant,
                "principal": f"u{i}",
                "prediction": 0,
            },
            {"kind": "feedback", "prediction_id": f"p{i}", "actual": 1 if bad else 0},
        ]
    r = analyze(recs, weight_bp=5000, outcome="actual", higher_is_better=False, mde=0.05, min_samples=100)
    assert r.comparison.result.estimate == pytest.approx(-0.2)
    assert r.comparison.result.ci_high < 0 and r.decision == "canary_wins"
    assert (
        analyze(recs, weight_bp=5000, outcome="actual", mde=0.05, min_samples=100).decision == "stable_wins"
    )


def test_callers_in_both_cohorts_and_cohort_variant_disagreement_are_warned_about():
    recs = [
        {
            "kind": "prediction",
            "prediction_id": "a",
            "variant": "stable",
            "cohort": "stable",
            "principal": "u1",
        },
        {
            "kind": "prediction",
            "prediction_id": "b",
            "variant": "canary",
            "cohort": "canary",
            "principal": "u1",
        },
        {
            "kind": "prediction",
            "prediction_id": "c",
            "variant": "stable",
            "cohort": "canary",
            "principal": "u2",
        },
    ]
    r = analyze(recs, weight_bp=5000)
    assert any("both cohorts" in w for w in r.warnings)
    assert any("other than their cohort" in w for w in r.warnings)


def test_a_failing_canary_is_warned_about():
    exp = Experiment(n_requests=3000, weight_bp=3000, error_rate_canary=0.2, seed=10)
    r = analyze(exp.records(), weight_bp=3000)
    assert r.variant("canary").error_rate > 0.1 and any("error rate" in w for w in r.warnings)


def test_report_is_json_serialisable_and_complete():
    exp = Experiment(n_requests=2000, shadow_share=0.2, noise_lines=5, duplicate_feedback=0.05, seed=11)
    r = analyze(exp.ndjson(), weight_bp=2000, endpoint="churn", since="2026-11-22T17:00:00Z")
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["decision"] in (
        "continue",
        "canary_wins",
        "shadow_wins",
        "stable_wins",
        "no_difference",
        "srm_alarm",
    )
    assert {v["variant"] for v in d["variants"]} == {"stable", "canary", "shadow"}
    assert d["comparison"]["test_decision"] in (
        "continue",
        "challenger_wins",
        "control_wins",
        "no_difference",
    )
    assert d["join"]["lines_ignored"] == 5 and d["join"]["duplicate_feedback"] > 0
    assert d["since"] is not None and d["srm"]["unit"] == "principal"


def test_nothing_to_compare_and_a_joined_input():
    only_stable = [{"kind": "prediction", "prediction_id": "a", "variant": "stable", "principal": "u"}]
    r = analyze(join(only_stable), weight_bp=0)
    assert r.challenger is None and r.comparison is None and r.decision == "continue"
    assert analyze([], weight_bp=None).decision == "continue"


def test_bad_parameters_are_400s():
    for kwargs in (
        {"weight_bp": 10001},
        {"weight_bp": True},
        {"weight_bp": 10, "challenger": "blue"},
        {"weight_bp": 10, "outcome": "f1"},
        {"weight_bp": 10, "mde": 0},
        {"weight_bp": 10, "srm_unit": "session"},
    ):
        with pytest.raises(BadRequestError):
            analyze([], **kwargs)


def test_caller_randomisation_needs_the_clustered_variance_under_continuous_monitoring():
    """A/A with heterogeneous, unevenly busy callers hashed into cohorts: the arms differ by chance in
    which callers they hold. Outcome-level variance alone calls that a winner; the clustered one does not."""
    rng = np.random.default_rng(17)
    experiments, callers, looks, per_look = 200, 80, 20, 300
    test = SequentialTest(mde=0.02, min_samples=100)
    hits = {"clustered": 0, "outcome-level": 0}
    for _ in range(experiments):
        accuracy = rng.beta(4, 1, size=callers)  # callers differ; both models equal
        canary = rng.random(callers) < 0.3
        busy = rng.pareto(1.5, size=callers) + 1
        arms = {True: ArmStats(), False: ArmStats()}
        seen = {k: False for k in hits}
        for _look in range(looks):
            counts = rng.multinomial(per_look, busy / busy.sum())
            correct = rng.binomial(counts, accuracy)
            for j in np.flatnonzero(counts):
                arms[bool(canary[j])].add_counts(int(j), int(counts[j]), float(correct[j]), float(correct[j]))
            c, s = arms[True], arms[False]
            if not (c.n and s.n):
                continue
            est = c.mean - s.mean
            iid = float(two_sample_variance(c.n, c.total, c.total_sq, s.n, s.total, s.total_sq))
            for name, var in (("clustered", two_arm_variance(c, s)), ("outcome-level", iid)):
                r = test.evaluate(est, var, c.n, s.n)
                seen[name] |= r.ready and (r.ci_low > 0 or r.ci_high < 0)
        for k in hits:
            hits[k] += seen[k]
    print(
        f"A/A, {callers} heterogeneous callers, {looks} looks: false positives "
        + ", ".join(f"{k} {v / experiments:.3f}" for k, v in hits.items())
    )
    assert upper_bound(hits["clustered"], experiments) <= 0.05
    assert lower_bound(hits["outcome-level"], experiments) > 0.05
