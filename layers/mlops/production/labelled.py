"""The labelled production dataset: feedback labels joined to the features logged with their predictions.

Rules (the numbers depend on them, so they are written down):

- **Point in time by construction**: a row's features are the ones the inference function logged in the
  prediction record, i.e. exactly what the model saw; nothing is looked up later.
- **Windowed by prediction time**: predictions with ``start <= ts < end`` (read from the partitions of the
  days ``start - 1`` .. ``end + 1``: a partition is the day its log object was rolled).
- **Horizon**: a label counts when it was logged at most ``horizon_days`` (default 30, the prediction-log
  retention) after its prediction. Feedback partitions are read up to the day ``end + horizon_days + 1``;
  labels found there but later than ``prediction ts + horizon`` are counted (``feedback_beyond_horizon``),
  not used, and partitions after that are not read at all. So a dataset built again once the horizon has
  passed gives the same rows.
- **One row per labelled prediction**: duplicated prediction records (a re-delivered log object) keep the
  first one read; several labels for one prediction: the latest ``ts`` wins, equal times the last one read
  (compaction order). Shadow records (another model's answer to the same row) are not rows.
- **Nothing silently dropped**: labelled predictions whose record carries no features (not sampled and not
  retained, see ``retain_features``) are counted (``labelled_without_features``) and left out; feedback whose
  prediction is not in the window (an unknown id, or a prediction of another window) is counted
  (``feedback_unmatched``).

Columns: ``prediction_id``, ``prediction_ts`` (the event time), ``label_ts``, ``model``, ``version``,
``variant``, ``prediction``, ``label`` (typed from their JSON: numbers, strings or booleans), then one column
per feature under its own name. The window's predictions are held in memory as Arrow columns (about 100
bytes a row plus the features).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlops.errors import BadRequestError, IntegrityError, UnprocessableError
from mlops.production.compact import manifests, partition_prefix
from mlops.production.rows import FEATURE_PREFIX, unify
from mlops.storage.base import ObjectStore

DEFAULT_HORIZON_DAYS = 30
META_COLUMNS = (
    "prediction_id",
    "prediction_ts",
    "label_ts",
    "model",
    "version",
    "variant",
    "prediction",
    "label",
)


@dataclass
class LabelledStats:
    predictions: int = 0  # in the window (not shadow, of ``model`` if given), after de-duplication
    duplicate_predictions: int = 0
    labelled: int = 0  # predictions with a label within the horizon
    labelled_without_features: int = 0  # ... but no features logged: counted, not rows
    rows: int = 0
    feedback_read: int = 0
    feedback_unmatched: int = 0  # no prediction of the window has that id
    feedback_superseded: int = 0  # an older label of a prediction that has a later one
    feedback_beyond_horizon: int = 0


@dataclass
class Labelled:
    table: pa.Table
    stats: LabelledStats
    sources: list[str] = field(default_factory=list)  # the compaction manifests read


def to_utc(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise BadRequestError(f"{what} {value!r} is not an ISO-8601 time", code="invalid_time") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def read_partitions(
    store: ObjectStore, endpoint: str, days: list[date], kind: str
) -> tuple[pa.Table | None, list[str]]:
    """Every file of ``kind`` the manifests of ``days`` name (sha256 checked), in batch order, and the manifests."""
    tables, sources = [], []
    for d in days:
        for m in manifests(store, endpoint, d):
            sources.append(f"{partition_prefix(endpoint, d)}batch-{m['batch']:06d}.json")
            for f in m["files"]:
                if f["kind"] != kind:
                    continue
                data = store.get(f["key"]).data
                if hashlib.sha256(data).hexdigest() != f["sha256"]:
                    raise IntegrityError(f"{f['key']} does not match its sha256 in the compaction manifest")
                tables.append(pq.read_table(pa.BufferReader(data)))
    return unify(tables), sources


def _first_per_id(t: pa.Table) -> pa.Table:
    """One row per ``prediction_id``: the first one read."""
    t = t.append_column("_row", pa.array(range(t.num_rows), type=pa.int64()))
    firsts = t.group_by("prediction_id", use_threads=False).aggregate([("_row", "min")])
    rows = firsts.column("_row_min").combine_chunks().sort()
    return t.take(rows).drop_columns(["_row"])


def _latest_labels(fb: pa.Table) -> pa.Table:
    """One label per ``prediction_id``: the latest ``ts``, equal times the last one read."""
    fb = fb.append_column("_row", pa.array(range(fb.num_rows), type=pa.int64()))
    fb = fb.sort_by([("ts", "ascending"), ("_row", "ascending")])
    return fb.group_by("prediction_id", use_threads=False).aggregate([("ts", "last"), ("actual", "last")])


def typed_json(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """JSON text -> its values, typed by pyarrow (int, float, string, bool); mixed types stay text. Each
    distinct text is decoded once (labels and classes repeat), then spread back by index."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    uniq = pc.unique(arr)
    values = [None if v is None else json.loads(v) for v in uniq.to_pylist()]
    try:
        typed = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        typed = pa.array([None if v is None else json.dumps(v) for v in values], type=pa.string())
    return typed.take(pc.index_in(arr, value_set=uniq))


def _predictions(
    store: ObjectStore, endpoint: str, start: datetime, end: datetime, model: str | None, stats: LabelledStats
) -> tuple[pa.Table | None, list[str]]:
    preds, sources = read_partitions(
        store,
        endpoint,
        _days(start.date() - timedelta(days=1), end.date() + timedelta(days=1)),
        "predictions",
    )
    if preds is None:
        return None, sources
    ts = preds.column("ts")
    keep = pc.and_(
        pc.and_(
            pc.greater_equal(ts, pa.scalar(start, pa.timestamp("ms", tz="UTC"))),
            pc.less(ts, pa.scalar(end, pa.timestamp("ms", tz="UTC"))),
        ),
        pc.not_equal(pc.fill_null(preds.column("variant"), ""), "shadow"),
    )
    if model is not None:
        keep = pc.and_(keep, pc.equal(pc.fill_null(preds.column("model"), ""), model))
    preds = preds.filter(keep)
    unique = _first_per_id(preds)
    stats.duplicate_predictions = preds.num_rows - unique.num_rows
    stats.predictions = unique.num_rows
    return unique, sources


def _labels(
    store: ObjectStore,
    endpoint: str,
    start: datetime,
    end: datetime,
    horizon_days: int,
    preds: pa.Table,
    stats: LabelledStats,
) -> tuple[pa.Table, list[str]]:
    days = _days(start.date() - timedelta(days=1), end.date() + timedelta(days=horizon_days + 1))
    fb, sources = read_partitions(store, endpoint, days, "feedback")
    if fb is None:
        return pa.table({"prediction_id": pa.array([], pa.string())}), sources
    stats.feedback_read = fb.num_rows
    matched = fb.filter(pc.is_in(fb.column("prediction_id"), value_set=preds.column("prediction_id")))
    stats.feedback_unmatched = fb.num_rows - matched.num_rows
    pts = preds.select(["prediction_id", "ts"]).rename_columns(["prediction_id", "pred_ts"])
    matched = matched.join(pts, "prediction_id", join_type="inner", use_threads=False)
    limit = pc.add(matched.column("pred_ts"), pa.scalar(timedelta(days=horizon_days)))
    in_time = matched.filter(pc.less_equal(matched.column("ts"), limit))
    stats.feedback_beyond_horizon = matched.num_rows - in_time.num_rows
    latest = _latest_labels(in_time.drop_columns(["pred_ts"]))
    stats.feedback_superseded = in_time.num_rows - latest.num_rows
    return latest, sources


def _shape(joined: pa.Table) -> pa.Table:
    """The output columns (see the module doc), sorted by prediction time then id."""
    features = [n for n in joined.column_names if n.startswith(FEATURE_PREFIX)]
    out: dict[str, Any] = {
        "prediction_id": joined.column("prediction_id"),
        "prediction_ts": joined.column("ts"),
        "label_ts": joined.column("ts_last"),
        "model": joined.column("model"),
        "version": joined.column("version"),
        "variant": joined.column("variant"),
        "prediction": typed_json(joined.column("prediction")),
        "label": typed_json(joined.column("actual_last")),
    }
    for n in features:
        col = joined.column(n)
        name = n[len(FEATURE_PREFIX) :]
        if col.null_count == len(col) and len(col):
            continue  # a feature of another model version, absent from every row here
        if name in out:
            raise UnprocessableError(
                f"feature {name!r} has the name of a labelled-dataset column", code="feature_name_clash"
            )
        out[name] = col
    table = pa.table(out)
    return table.sort_by([("prediction_ts", "ascending"), ("prediction_id", "ascending")])


def build(
    store: ObjectStore,
    endpoint: str,
    start: Any,
    end: Any,
    *,
    model: str | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> Labelled:
    """The labelled production dataset of ``endpoint`` for predictions in ``[start, end)`` (module doc)."""
    s, e = to_utc(start, "start"), to_utc(end, "end")
    if e <= s:
        raise BadRequestError("the window is empty: end must be after start", code="invalid_window")
    if horizon_days < 0:
        raise BadRequestError("horizon_days must be >= 0", code="invalid_horizon")
    stats = LabelledStats()
    preds, psrc = _predictions(store, endpoint, s, e, model, stats)
    if preds is None or preds.num_rows == 0:
        empty = pa.table({c: pa.array([], pa.string()) for c in ("prediction_id",)})
        return Labelled(_empty_like(empty), stats, sorted(set(psrc)))
    labels, fsrc = _labels(store, endpoint, s, e, horizon_days, preds, stats)
    joined = preds.join(labels, "prediction_id", join_type="inner", use_threads=False)
    stats.labelled = joined.num_rows
    with_features = joined.filter(joined.column("has_features"))
    stats.labelled_without_features = joined.num_rows - with_features.num_rows
    table = _shape(with_features) if with_features.num_rows else _empty_like(joined)
    stats.rows = table.num_rows
    return Labelled(table, stats, sorted(set(psrc) | set(fsrc)))


def _empty_like(_t: pa.Table) -> pa.Table:
    ts = pa.timestamp("ms", tz="UTC")
    return pa.table(
        {
            "prediction_id": pa.array([], pa.string()),
            "prediction_ts": pa.array([], ts),
            "label_ts": pa.array([], ts),
            "model": pa.array([], pa.string()),
            "version": pa.array([], pa.int64()),
            "variant": pa.array([], pa.string()),
            "prediction": pa.array([], pa.null()),
            "label": pa.array([], pa.null()),
        }
    )


def build_labelled(
    store: ObjectStore, endpoint: str, start: Any, end: Any, *, model: str | None = None, **options: Any
) -> pa.Table:
    """``build(...).table``: one row per labelled prediction with its logged features."""
    return build(store, endpoint, start, end, model=model, **options).table
