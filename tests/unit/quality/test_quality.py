"""Data-quality expectations: inference on realistic data, each kind of failure caught, clean data passing,
row-level reasons, the YAML round trip and the diff of two suites."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from mlops.quality import (
    DATASET,
    InvalidSuite,
    check,
    diff,
    dumps,
    infer,
    loads,
    render_diff,
    row_masks,
    row_reasons,
)
from mlops.quality.suite import Suite

NOW = 1_796_000_000.0  # a fixed "now" for freshness (injected clock)
N = 5000


def make(rng: np.random.Generator, n: int = N, *, newest: float = NOW - 3600) -> pa.Table:
    """Customers: an id key, an age with 2% NaN, an income, a plan category with a few nulls, a free-text
    note, a flag and an event time ending an hour before NOW."""
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.02] = np.nan
    plan = rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]).astype(object)
    plan[rng.random(n) < 0.005] = None
    times = (newest - np.arange(n)[::-1] * 60.0) * 1e6
    return pa.table(
        {
            "customer_id": pa.array([f"c-{i}" for i in range(n)]),
            "age": pa.array(age, from_pandas=True),
            "income": rng.lognormal(10, 0.5, n),
            "plan": pa.array(plan, type=pa.string()),
            "note": pa.array([f"free text {i}" for i in range(n)]),
            "active": rng.random(n) < 0.7,
            "ts": pa.array(times.astype("int64"), type=pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.fixture
def train() -> pa.Table:
    return make(np.random.default_rng(1))


@pytest.fixture
def suite(train) -> Suite:
    return infer(train, entity_keys=["customer_id"], event_time="ts", clock=lambda: NOW)


def replace(table: pa.Table, name: str, values) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, name, pa.array(values, type=table.schema.field(name).type, from_pandas=True))


def test_infer_describes_types_nulls_ranges_categories_keys_and_freshness(train, suite):
    col = {c.name: c for c in suite.columns}
    assert [c.name for c in suite.columns] == train.column_names
    assert {n: c.type for n, c in col.items()} == {
        "customer_id": "string",
        "age": "float",
        "income": "float",
        "plan": "string",
        "note": "string",
        "active": "bool",
        "ts": "timestamp",
    }
    observed = col["age"].observed["null_rate"]
    assert 0.01 < observed < 0.03 and col["age"].max_null_rate == pytest.approx(observed * 1.5, abs=1e-4)
    assert col["income"].max_null_rate == 0.01, "never null in training: up to 1% allowed"
    ages = train.column("age").to_numpy()
    assert col["age"].min == pytest.approx(np.nanmin(ages)) and col["age"].max == pytest.approx(
        np.nanmax(ages)
    )
    assert col["age"].range_tolerance == 0.1 and col["age"].max_out_of_range == 0.001
    assert col["plan"].categories == ("basic", "pro", "team") and col["plan"].max_unseen == 0.01
    assert col["note"].categories is None and col["customer_id"].categories is None, "high cardinality"
    assert suite.unique_keys == ("customer_id",)
    assert suite.freshness == {"column": "ts", "max_age_s": 86400.0}


def test_clean_data_from_the_same_population_passes(suite):
    fresh = make(np.random.default_rng(2), 3000)
    report = check(suite, fresh, clock=lambda: NOW)
    assert report.ok, report.to_text()
    assert report.to_text() == "all expectations met (3000 rows)"
    assert row_masks(suite, fresh) == {} and set(row_reasons(suite, fresh)) == {None}


def test_a_null_rate_jump_is_caught_though_every_value_present_is_in_range(train, suite):
    age = train.column("age").to_numpy(zero_copy_only=False).copy()
    age[: N // 4] = np.nan  # a broken join: a quarter of the rows lost their age; the rest look normal
    report = check(suite, replace(train, "age", age), clock=lambda: NOW)
    [failure] = report.failures
    assert (failure.column, failure.check) == ("age", "null_rate")
    assert failure.rows == int(np.isnan(age).sum()) and failure.observed > 0.25
    assert failure.message.startswith("null rate 2")


def test_out_of_range_values_are_counted_against_the_widened_range(train, suite):
    income = train.column("income").to_numpy().copy()
    hi = float(income.max())
    income[:10] = hi * 1.05  # inside the 10% tolerance: fine
    income[10:30] = hi * 3  # outside: 20 rows, 0.4% > 0.1%
    report = check(suite, replace(train, "income", income), clock=lambda: NOW)
    [failure] = report.failures
    assert (failure.column, failure.check, failure.rows) == ("income", "range", 20)
    assert failure.observed["max"] == pytest.approx(hi * 3)
    masks = row_masks(suite, replace(train, "income", income))
    assert np.flatnonzero(masks["income: out of range"]).tolist() == list(range(10, 30))


def test_a_few_out_of_range_rows_within_the_allowed_share_pass(train, suite):
    income = train.column("income").to_numpy().copy()
    income[:3] = -1e9  # 3 of 5000 = 0.06% <= 0.1%
    assert check(suite, replace(train, "income", income), clock=lambda: NOW).ok


def test_unseen_categories_are_caught_and_named(train, suite):
    plan = train.column("plan").to_pylist()
    plan[:100] = ["enterprise"] * 100
    table = replace(train, "plan", plan)
    report = check(suite, table, clock=lambda: NOW)
    [failure] = report.failures
    assert (failure.column, failure.check, failure.rows) == ("plan", "categories", 100)
    assert failure.observed["unseen"] == ["enterprise"] and "'enterprise'" in failure.message
    reasons = row_reasons(suite, table)
    assert reasons[:100] == ["plan: unseen category"] * 100
    assert all(r is None for r in reasons[100:]), "a null plan is not an unseen category"


def test_duplicate_entity_keys_are_caught_and_the_repeats_marked(train, suite):
    ids = train.column("customer_id").to_pylist()
    ids[10] = ids[3]
    ids[11] = ids[3]
    ids[20] = ids[19]
    table = replace(train, "customer_id", ids)
    report = check(suite, table, clock=lambda: NOW)
    [failure] = report.failures
    assert (failure.column, failure.check, failure.rows) == (DATASET, "unique_keys", 3)
    mask = row_masks(suite, table)["customer_id: repeated key"]
    assert np.flatnonzero(mask).tolist() == [10, 11, 20], "the first occurrence stays good"


def test_stale_data_fails_freshness(train, suite):
    report = check(suite, train, clock=lambda: NOW + 2 * 86400)
    [failure] = report.failures
    assert (failure.column, failure.check) == (DATASET, "freshness")
    assert failure.observed["age_s"] == pytest.approx(2 * 86400 + 3600)


def test_wrong_type_and_missing_columns_are_reported_per_column(train, suite):
    table = train.drop_columns(["note"]).set_column(1, "age", pa.array([str(i) for i in range(N)]))
    report = check(suite, table, clock=lambda: NOW)
    got = {(f.column, f.check) for f in report.failures}
    assert got == {("age", "type"), ("note", "missing_column")}
    assert "age: type string (string), expected float" in report.to_text()
    assert json.loads(report.to_json())["ok"] is False


def test_infer_takes_registration_columns_and_ints_pass_as_floats():
    cols = {
        "x": np.array([1.0, 2.0, np.nan, 4.0] * 10),
        "k": np.array(["a", "b", None, "a"] * 10, dtype=object),
    }
    suite = infer(cols)
    assert suite.column("x").type == "float" and suite.column("x").observed["null_rate"] == 0.25
    assert suite.column("k").categories == ("a", "b")
    assert check(suite, {"x": np.arange(40) % 4 + 1, "k": ["a"] * 40}).ok


def test_entity_keys_that_repeat_join_the_event_time_or_are_refused():
    table = pa.table({"e": ["a", "a", "b"], "t": [1.0, 2.0, 1.0], "v": [1.0, 2.0, 3.0]})
    assert infer(table, entity_keys=["e"], event_time="t", clock=lambda: 10.0).unique_keys == ("e", "t")
    with pytest.raises(Exception, match="repeat"):
        infer(table, entity_keys=["e"])


def test_yaml_round_trip_is_stable_and_comments_do_not_change_the_digest(suite):
    text = dumps(suite)
    assert text.startswith("# Data-quality expectations")
    again = loads(text)
    assert again == suite and dumps(again) == text and again.digest() == suite.digest()
    edited = text.replace("max_unseen: 0.01", "max_unseen: 0.01  # allow new plans rarely")
    assert loads(edited).digest() == suite.digest()


def test_a_bad_suite_is_refused_with_the_reason():
    with pytest.raises(InvalidSuite, match="format"):
        loads("columns: {}")
    with pytest.raises(InvalidSuite, match="unknown keys"):
        loads("format: mlops-expectations/v1\ncolumns:\n  x: {type: float, maximum: 3}\n")
    with pytest.raises(InvalidSuite, match="must be a number"):
        loads("format: mlops-expectations/v1\ncolumns:\n  x: {type: float, max: high}\n")


def test_diff_names_each_changed_setting(suite):
    text = dumps(suite).replace("max_unseen: 0.01", "max_unseen: 0.05")
    other = loads(text)
    other = Suite(columns=other.columns[:-1], min_rows=100, unique_keys=other.unique_keys, freshness=None)
    changes = diff(suite, other)
    paths = [c["path"] for c in changes]
    assert paths == ["dataset.min_rows", "dataset.freshness", "columns.plan.max_unseen", "columns.ts"]
    rendered = render_diff(changes).splitlines()
    assert rendered[0] == "~ dataset.min_rows: 1 -> 100"
    assert rendered[2] == "~ columns.plan.max_unseen: 0.01 -> 0.05"
    assert rendered[3].startswith("- columns.ts: ")
    assert diff(suite, loads(dumps(suite))) == []


def test_integer_keys_take_the_numpy_path_and_agree_with_the_group_by():
    rng = np.random.default_rng(4)
    ids = rng.permutation(1000).astype(np.int64)
    suite = infer({"id": ids}, entity_keys=["id"])
    assert check(suite, {"id": ids}).ok and check(suite, {"id": np.sort(ids)}).ok
    broken = ids.copy()
    broken[[5, 700, 900]] = broken[[1, 2, 2]]
    [failure] = check(suite, {"id": broken}).failures
    assert (failure.check, failure.rows) == ("unique_keys", 3)
    with_nulls = pa.array(np.append(broken, [1, 1]).tolist() + [None], type=pa.int64())  # the group-by path
    [failure] = [f for f in check(suite, {"id": with_nulls}).failures if f.check == "unique_keys"]
    assert failure.rows == 5


def test_reading_and_storing_suites_does_not_import_pyarrow():
    """The registry function stores and serves suites; only checking and inferring need pyarrow."""
    import subprocess
    import sys

    code = (
        "import sys, mlops.registry, mlops.runs.recorder, mlops.registry.expectations\n"
        "from mlops.quality import loads, dumps, diff\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyarrow'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
