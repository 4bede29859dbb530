"""Point-in-time correct training sets: adversarial cases one by one, then random data against a brute-force
reference (plain Python loops) with several groups, multi-column entity keys, late batches and ties."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from mlops.errors import BadRequestError, NotFoundError
from mlops.features.ingest import ingest
from mlops.features.pit import training_set

from tests.unit.features.conftest import NOW_S, T0, register, ts

US = 1
S = 1_000_000
DAY = 86_400 * S


def _feed(store, group, rows):
    """Ingest rows [(customer_id, event_us, value)] as one batch."""
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "event_ts": ts([r[1] for r in rows]),
            "value": pa.array([r[2] for r in rows], pa.float64()),
        }
    )
    res = ingest(store, group, table, now=lambda: NOW_S)
    assert res.rows_quarantined == 0
    return res


def _labels(rows):
    return pa.table({"customer_id": [r[0] for r in rows], "event_timestamp": ts([r[1] for r in rows])})


def _values(store, labels, group="g", **kw):
    return training_set(store, labels, [group], **kw)["value"].to_pylist()


def test_a_value_written_one_microsecond_after_the_event_is_never_used(store):
    register(store, "g")
    _feed(store, "g", [("c1", T0, 1.0), ("c1", T0 + 1 * US, 2.0)])
    assert _values(store, _labels([("c1", T0), ("c1", T0 + 1 * US), ("c1", T0 - 1 * US)])) == [1.0, 2.0, None]


def test_late_arriving_rows_count_by_event_time_not_by_ingestion(store):
    register(store, "g")
    _feed(store, "g", [("c1", T0 + 10 * S, 10.0)])
    _feed(store, "g", [("c1", T0 + 5 * S, 5.0)])  # a later batch, an earlier event
    got = _values(store, _labels([("c1", T0 + 7 * S), ("c1", T0 + 12 * S), ("c1", T0 + 4 * S)]))
    assert got == [5.0, 10.0, None]


def test_duplicates_at_equal_timestamps_the_later_ingested_row_wins(store):
    register(store, "g")
    _feed(store, "g", [("c1", T0, 1.0), ("c1", T0, 2.0)])  # same batch: the later row wins
    assert _values(store, _labels([("c1", T0)])) == [2.0]
    _feed(store, "g", [("c1", T0, 3.0), ("c2", T0, 9.0)])  # a later batch wins over both
    _feed(store, "g", [("c2", T0 - S, 8.0)])  # a later batch with an earlier time does not
    assert _values(store, _labels([("c1", T0), ("c2", T0 + S)])) == [3.0, 9.0]


def test_missing_entities_get_nulls_and_the_input_order_is_kept(store):
    register(store, "g")
    _feed(store, "g", [("c1", T0, 1.0), ("c3", T0, 3.0)])
    labels = _labels([("c3", T0 + S), ("zz", T0 + S), ("c1", T0 + S), ("c3", T0 - S)])
    out = training_set(store, labels, ["g"])
    assert out["customer_id"].to_pylist() == ["c3", "zz", "c1", "c3"]
    assert out["value"].to_pylist() == [3.0, None, 1.0, None]
    assert out.column_names == ["customer_id", "event_timestamp", "value"]


def test_ttl_boundary_exactly_at_ttl_is_in_one_microsecond_beyond_is_out(store):
    register(store, "g", ttl="1d")
    _feed(store, "g", [("c1", T0, 1.0)])
    labels = _labels([("c1", T0 + DAY), ("c1", T0 + DAY + 1 * US), ("c1", T0)])
    assert _values(store, labels) == [1.0, None, 1.0]


def test_ttl_does_not_fall_back_to_an_older_row_and_a_null_value_is_the_latest_value(store):
    register(store, "g", ttl="10s")
    _feed(store, "g", [("c1", T0, 1.0), ("c1", T0 + 5 * S, None)])
    assert _values(store, _labels([("c1", T0 + 6 * S), ("c1", T0 + 30 * S), ("c1", T0 + 1 * S)])) == [
        None,
        None,
        1.0,
    ]


def test_naive_label_times_mean_utc_and_groups_without_data_give_nulls(store):
    register(store, "g")
    register(store, "empty", features=(("other", "int64"),))
    _feed(store, "g", [("c1", T0, 1.0)])
    labels = pa.table({"customer_id": ["c1"], "event_timestamp": pa.array([T0], pa.timestamp("us"))})
    out = training_set(store, labels, ["g", "empty"])
    assert out["value"].to_pylist() == [1.0] and out["other"].to_pylist() == [None]
    assert out.schema.field("other").type == pa.int64()


def test_bad_requests_name_the_problem(store):
    register(store, "g")
    register(store, "h")  # also has a feature called 'value'
    with pytest.raises(BadRequestError, match="clashes"):
        training_set(store, _labels([("c1", T0)]), ["g", "h"])
    both = training_set(store, _labels([("c1", T0)]), ["g", "h"], full_feature_names=True)
    assert both.column_names[-2:] == ["g__value", "h__value"]
    with pytest.raises(BadRequestError, match="entity key 'customer_id'"):
        training_set(store, pa.table({"event_timestamp": ts([T0])}), ["g"])
    with pytest.raises(BadRequestError, match="null timestamps"):
        training_set(store, pa.table({"customer_id": ["c"], "event_timestamp": ts([None])}), ["g"])
    with pytest.raises(NotFoundError):
        training_set(store, _labels([("c1", T0)]), ["nope"])


# ----------------------------------------------------------------------------- brute force on random data

GROUPS = {
    # name: (entity keys, features, ttl in µs or None)
    "orders": (
        (("region", "int64"), ("customer_id", "string")),
        (("n", "int64"), ("amount", "float64")),
        40 * S,
    ),
    "profile": ((("customer_id", "string"),), (("vip", "bool"), ("tier", "string")), None),
    # a single integer key: dense ids (a lookup table) and sparse ones (a hash lookup)
    "regional": ((("region", "int64"),), (("load", "float64"),), 15 * S),
    "accounts": ((("account", "int64"),), (("balance", "int64"),), None),
}
TTL_TEXT = {40 * S: "40s", 15 * S: "15s", None: "none"}
SPARSE = 10**12  # account ids are multiples of this, some negative


def _key(rnd, name, spread=0):
    if name == "account":
        return (rnd.randrange(4 + spread) - 2) * SPARSE
    if name == "region":
        return rnd.randrange(3 + spread)
    return f"c{rnd.randrange(25 + spread)}"


def _random_rows(rnd, keys, feats, n):
    rows = []
    for _ in range(n):
        key = tuple(_key(rnd, name) for name, _ in keys)
        t = T0 + rnd.randrange(120) * S + rnd.choice((0, 0, 0, 1, -1))  # a coarse grid: many ties
        vals = []
        for _, kind in feats:
            if rnd.random() < 0.1:
                vals.append(None)
            else:
                vals.append(
                    {"int64": rnd.randrange(1000), "float64": rnd.random(), "bool": rnd.random() < 0.5}.get(
                        kind, f"t{rnd.randrange(5)}"
                    )
                )
        rows.append((key, t, vals))
    return rows


def _table(keys, feats, rows):
    cols = {k: [r[0][i] for r in rows] for i, (k, _) in enumerate(keys)}
    cols["event_ts"] = ts([r[1] for r in rows])
    for j, (f, _) in enumerate(feats):
        cols[f] = [r[2][j] for r in rows]
    return pa.table(cols)


def _reference(history, label_key, label_t, ttl):
    """The winner by plain loops: same key, lo <= t <= T, greatest (t, batch, row). ``history`` maps an
    entity key to its rows (only to keep the loops short; every row of that key is looked at)."""
    best = None
    for t, vals, order in history.get(label_key, ()):
        if t <= label_t and (ttl is None or t >= label_t - ttl):
            if best is None or (t, order) > (best[0], best[1]):
                best = (t, order, vals)
    return None if best is None else best[2]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_data_matches_the_brute_force_reference(store, seed):
    rnd = random.Random(seed)
    history: dict[str, dict] = {}
    for name, (keys, feats, ttl) in GROUPS.items():
        register(store, name, keys=keys, features=feats, ttl=TTL_TEXT[ttl])
        history[name] = {}
        for batch in range(1, 4):  # three batches, each spanning the whole time range: late rows abound
            rows = _random_rows(rnd, keys, feats, 700)
            assert ingest(store, name, _table(keys, feats, rows), now=lambda: NOW_S).batch == batch
            for i, (k, t, v) in enumerate(rows):
                history[name].setdefault(k, []).append((t, v, (batch, i)))
    n = 3000
    labels = pa.table(
        {
            # keys beyond the features' (c25, c26, region 3, -1, a fifth account) never have features
            "customer_id": [_key(rnd, "customer_id", 2) for _ in range(n)],
            "region": [_key(rnd, "region", 1) - (rnd.random() < 0.05) for _ in range(n)],
            "account": [_key(rnd, "account", 1) for _ in range(n)],
            "event_timestamp": ts(
                [T0 + rnd.randrange(-5, 170) * S + rnd.choice((0, 0, 1, -1)) for _ in range(n)]
            ),
            "label": [rnd.random() for _ in range(n)],
        }
    )
    out = training_set(store, labels, list(GROUPS))
    got = out.to_pylist()
    times = labels["event_timestamp"].cast(pa.int64()).to_pylist()
    for i, row in enumerate(got):
        for name, (keys, feats, ttl) in GROUPS.items():
            key = tuple(row[k] for k, _ in keys)
            t = times[i]
            want = _reference(history[name], key, t, ttl) or [None] * len(feats)
            assert [row[f] for f, _ in feats] == want, (seed, i, name, key, t)
    assert out["label"].to_pylist() == labels["label"].to_pylist()
    matched = sum(r["n"] is not None for r in got)
    assert n * 0.2 < matched < n  # the test exercises both hits and misses
