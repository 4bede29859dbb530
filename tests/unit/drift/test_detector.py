"""DriftDetector decisions: null, shifts, false-positive rate, huge samples, edge cases, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops.drift import DriftDetector, DriftMonitor, build_reference_profile, persistent_alarm
from mlops.errors import BadRequestError
from scipy import stats as sps

N_FEATURES = 20


def _reference(seed: int = 0, n: int = 20_000, numeric: int = N_FEATURES, categorical: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    cols: dict = {f"x{i}": rng.normal(size=n) for i in range(numeric)}
    cols.update(
        {
            f"c{i}": rng.choice(np.array(["a", "b", "c", "d"]), size=n, p=[0.4, 0.3, 0.2, 0.1])
            for i in range(categorical)
        }
    )
    kinds = {k: "numeric" if k.startswith("x") else "categorical" for k in cols}
    return build_reference_profile(cols, kinds)


def _window(rng: np.random.Generator, n: int, numeric: int = N_FEATURES, categorical: int = 0) -> dict:
    cols: dict = {f"x{i}": rng.normal(size=n) for i in range(numeric)}
    cols.update(
        {
            f"c{i}": rng.choice(np.array(["a", "b", "c", "d"]), size=n, p=[0.4, 0.3, 0.2, 0.1])
            for i in range(categorical)
        }
    )
    return cols


@pytest.fixture(scope="module")
def profile() -> dict:
    return _reference(categorical=2)


def test_same_distribution_gives_no_drift(profile):
    det = DriftDetector(profile)
    result = det.compare(_window(np.random.default_rng(1), 5_000, categorical=2))
    assert not result.drifted and result.drifted_features == []
    assert result.dataset["n_tested"] == N_FEATURES + 2


@pytest.mark.parametrize("change", ["mean", "scale", "mix"])
def test_real_shifts_drift(profile, change):
    rng = np.random.default_rng(2)
    cur = _window(rng, 5_000, categorical=2)
    if change == "mean":
        cur["x3"] = cur["x3"] + 0.5
    elif change == "scale":
        cur["x3"] = cur["x3"] * 2.0
    else:
        cur["c1"] = rng.choice(np.array(["a", "b", "c", "d"]), size=5_000, p=[0.1, 0.2, 0.3, 0.4])
    result = DriftDetector(profile, dataset_rule="any").compare(cur)
    name = "c1" if change == "mix" else "x3"
    assert result.drifted_features == [name]
    f = result.features[name]
    assert f.drifted and f.reasons == ("distribution",) and f.p_adjusted <= 0.05 and f.effect_size >= 0.1
    # share rule: one feature out of 22 is not half of them; the default rule: one strong feature is enough
    assert not DriftDetector(profile, dataset_rule="share").compare(cur).drifted
    assert DriftDetector(profile).compare(cur).drifted


def test_mean_shift_effect_size_is_in_standard_deviations(profile):
    cur = _window(np.random.default_rng(3), 20_000)
    cur["x0"] = cur["x0"] + 0.7
    f = DriftDetector(profile).compare(cur).features["x0"]
    assert f.effect_size == pytest.approx(0.7, abs=0.03)
    assert f.psi > 0.2


def test_false_positive_rate_over_200_null_windows():
    """Dataset-level ("any" feature), 20 numeric features, BH at alpha: null windows rarely alarm."""
    profile = _reference(seed=10)
    rng = np.random.default_rng(11)
    alpha = 0.05
    detector = DriftDetector(profile, alpha=alpha, dataset_rule="any")
    alarms = sum(detector.compare(_window(rng, 5_000)).drifted for _ in range(200))
    assert alarms / 200 <= alpha


def test_statistical_part_alone_is_calibrated_on_200_null_windows():
    """Without the effect gate (small windows, where it cannot help) BH keeps the family-wise rate at alpha."""
    profile = _reference(seed=10)
    rng = np.random.default_rng(11)
    alpha = 0.05
    bare = DriftDetector(profile, alpha=alpha, dataset_rule="any", effect_threshold=0.0, psi_threshold=None)
    alarms = raw_rejections = 0
    for _ in range(200):
        result = bare.compare(_window(rng, 500))
        alarms += result.drifted
        raw_rejections += sum(f.p_value <= alpha for f in result.features.values())
    # BH over 20 true nulls controls the family-wise rate at alpha; 200 windows leave binomial noise
    # of sqrt(.05 * .95 / 200) = 0.0154, so allow two of those above alpha.
    assert alarms / 200 <= alpha + 2 * 0.0154
    # and the per-feature p-values are calibrated, not merely conservative
    assert 0.03 <= raw_rejections / (200 * N_FEATURES) <= 0.07


def test_tiny_but_significant_shift_at_a_million_rows_stays_quiet():
    rng = np.random.default_rng(4)
    n = 1_000_000
    ref = {"x": rng.normal(size=n), "c": rng.choice(np.array(["a", "b"]), size=n, p=[0.5, 0.5])}
    profile = build_reference_profile(ref, {"x": "numeric", "c": "categorical"}, max_sample=n)
    cur = {"x": rng.normal(0.02, 1.0, size=n), "c": rng.choice(np.array(["a", "b"]), size=n, p=[0.51, 0.49])}
    result = DriftDetector(profile, dataset_rule="any").compare(cur)
    x, c = result.features["x"], result.features["c"]
    # the shifts are real and the tests see them ...
    assert x.p_adjusted < 1e-10 and c.p_adjusted < 1e-10
    # ... but they are small: 0.02 sd and 1% of the mass
    assert x.effect_size < 0.05 and c.effect_size < 0.02 and x.psi < 0.01
    assert not x.drifted and not c.drifted and not result.drifted


def test_unseen_category_drifts_and_is_named(profile):
    rng = np.random.default_rng(5)
    cur = _window(rng, 5_000, categorical=2)
    cur["c0"] = cur["c0"].astype(object)
    cur["c0"][:1_000] = "brand-new"
    f = DriftDetector(profile).compare(cur).features["c0"]
    assert f.drifted and f.unseen == ("brand-new",) and f.effect_size == pytest.approx(0.2, abs=0.02)
    assert all(np.isfinite([f.statistic, f.p_value, f.p_adjusted, f.effect_size, f.psi]))


def test_category_missing_from_window_is_handled(profile):
    cur = _window(np.random.default_rng(6), 5_000, categorical=2)
    cur["c0"] = np.array(["a"] * 5_000)  # b, c, d vanished
    f = DriftDetector(profile).compare(cur).features["c0"]
    assert f.drifted and f.effect_size == pytest.approx(0.6, abs=0.02)


def test_constant_categorical_column_is_defined_not_nan():
    n = 5_000
    profile = build_reference_profile({"c": np.array(["same"] * n)}, {"c": "categorical"})
    det = DriftDetector(profile, dataset_rule="any")
    same = det.compare({"c": np.array(["same"] * 800)})
    f = same.features["c"]
    assert (f.statistic, f.p_value, f.p_adjusted, f.effect_size, f.drifted) == (0.0, 1.0, 1.0, 0.0, False)
    assert same.dataset["share"] == 0.0
    other = det.compare({"c": np.array(["other"] * 800)}).features["c"]
    assert other.drifted and other.effect_size == 1.0


def test_empty_window_is_defined():
    profile = _reference(categorical=1, numeric=2)
    result = DriftDetector(profile).compare({"x0": np.array([]), "x1": np.array([]), "c0": np.array([])})
    assert not result.drifted
    assert result.dataset == {
        "drifted": False,
        "rule": "strong_or_count",
        "share": 0.0,
        "n_drifted": 0,
        "n_tested": 0,
        "n_features": 3,
        "drifted_features": [],
        "strong_features": [],
    }
    assert {f.note for f in result.features.values()} == {"too_few_rows"}
    json.dumps(result.to_dict(), allow_nan=False)


def test_all_nan_numeric_column_drifts_on_missing_values():
    profile = _reference(numeric=3)
    cur = _window(np.random.default_rng(7), 2_000, numeric=3)
    cur["x1"] = np.full(2_000, np.nan)
    result = DriftDetector(profile, dataset_rule="any").compare(cur)
    f = result.features["x1"]
    assert f.note == "all_missing" and f.n_cur == 0 and f.p_value == 1.0 and f.statistic == 0.0
    assert f.drifted and f.reasons == ("missing",) and f.missing["cur_share"] == 1.0
    assert result.drifted_features == ["x1"]
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_few_missing_values_do_not_drift():
    profile = _reference(numeric=3)
    cur = _window(np.random.default_rng(8), 5_000, numeric=3)
    cur["x2"][:10] = np.nan
    cur["x2"][10:15] = np.inf
    cur["x2"][15:20] = -np.inf
    f = DriftDetector(profile, dataset_rule="any").compare(cur).features["x2"]
    assert not f.drifted and f.missing["p_value"] is not None and f.n_cur == 4_980
    finite = np.sort(cur["x2"][20:])
    assert f.statistic == sps.ks_2samp(np.asarray(profile["features"]["x2"]["sample"]), finite).statistic


def test_absent_column_counts_as_all_missing():
    profile = _reference(numeric=2)
    result = DriftDetector(profile, dataset_rule="any").compare(
        {"x0": np.random.default_rng(9).normal(size=500)}
    )
    assert result.features["x1"].note == "absent" and result.features["x1"].drifted


def test_columns_must_have_equal_lengths(profile):
    with pytest.raises(BadRequestError):
        DriftDetector(profile).compare({"x0": np.zeros(3), "x1": np.zeros(4)})


def test_result_shape_is_strict_json(profile):
    cur = _window(np.random.default_rng(12), 3_000, categorical=2)
    cur["x0"] = cur["x0"] + 1.0
    d = DriftDetector(profile).compare(cur, window={"endpoint": "churn", "version": 3}).to_dict()
    d = json.loads(json.dumps(d, allow_nan=False))
    assert d["format"] == "mlops-drift-result/1"
    assert set(d["dataset"]) == {
        "drifted",
        "rule",
        "share",
        "n_drifted",
        "n_tested",
        "n_features",
        "drifted_features",
        "strong_features",
    }
    assert {
        "kind",
        "statistic",
        "p_value",
        "p_adjusted",
        "effect_size",
        "psi",
        "drifted",
        "n_ref",
        "n_cur",
    } <= set(d["features"]["x0"])
    assert d["window"] == {"n_rows": 3_000, "endpoint": "churn", "version": 3}
    assert d["config"]["alpha"] == 0.05


@pytest.mark.parametrize(
    ("rule", "kwargs", "expected"),
    [
        ("any", {}, True),
        ("count", {"count_threshold": 2}, True),
        ("count", {"count_threshold": 3}, False),
        ("share", {"share_threshold": 0.09}, True),
        ("share", {"share_threshold": 0.5}, False),
    ],
)
def test_dataset_rules(profile, rule, kwargs, expected):
    cur = _window(np.random.default_rng(13), 3_000, categorical=2)
    cur["x0"] = cur["x0"] + 1.0
    cur["x1"] = cur["x1"] - 1.0
    result = DriftDetector(profile, dataset_rule=rule, **kwargs).compare(cur)
    assert result.dataset["n_drifted"] == 2 and result.drifted is expected


def test_bad_configuration_is_rejected(profile):
    for kwargs in ({"alpha": 0}, {"dataset_rule": "most"}, {"share_threshold": 0}, {"min_rows": 0}):
        with pytest.raises(BadRequestError):
            DriftDetector(profile, **kwargs)


def test_persistence_needs_k_of_n_windows():
    assert not persistent_alarm([True, False, True, False], k=3, n=5)
    assert persistent_alarm([True, False, True, False, True], k=3, n=5)
    assert not persistent_alarm([True, True, True, False, False, False, False], k=3, n=5)
    monitor = DriftMonitor(k=2, n=3)
    states = [monitor.observe(d) for d in (True, False, False, True, True, False, False)]
    assert states == [False, False, False, False, True, True, False]
    again = DriftMonitor.from_dict(json.loads(json.dumps(monitor.to_dict())))
    assert list(again.history) == list(monitor.history) and again.alarm == monitor.alarm
    with pytest.raises(BadRequestError):
        DriftMonitor(k=4, n=3)


def test_monitor_accepts_results(profile):
    det = DriftDetector(profile, dataset_rule="any")
    rng = np.random.default_rng(14)
    monitor = DriftMonitor(k=2, n=2)
    null = det.compare(_window(rng, 2_000, categorical=2))
    shifted = _window(rng, 2_000, categorical=2)
    shifted["x0"] = shifted["x0"] + 2
    assert not monitor.observe(det.compare(shifted))
    assert monitor.observe(det.compare(shifted))
    assert not monitor.observe(null)
