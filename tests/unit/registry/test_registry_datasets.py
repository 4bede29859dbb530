"""Model versions name the dataset versions they were trained and validated on: checked to exist when the
version is registered (Python, HTTP), stored in the record and its audit entry, required by governance
when a model asks for it, and shown by the model card."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from mlops.cards import card_facts, render_html, render_markdown
from mlops.datasets import DatasetStore
from mlops.errors import BadRequestError, InvalidNameError, UnprocessableError
from mlops.function import dispatch
from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER, Request
from mlops.registry.api import build_router

SIG = {"inputs": [{"name": "age", "dtype": "float64"}, {"name": "plan", "dtype": "str"}], "classes": [0, 1]}


@pytest.fixture
def datasets(reg) -> DatasetStore:
    ds = DatasetStore.for_registry(reg)
    ts = pa.array([dt.datetime(2026, 1, d) for d in (1, 2, 3)], pa.timestamp("us"))
    for rows in (3, 2):
        ds.create("churn-train", pa.table({"id": ["a", "b", "c"][:rows], "ts": ts[:rows]}), event_time="ts")
    ds.create("churn-holdout", pa.table({"id": ["z"], "ts": ts[:1]}), event_time="ts")
    return ds


def test_register_stores_references_and_audits_them(reg, datasets, training):
    X, y, names, model = training
    rec = reg.register_version(
        "churn",
        model,
        X,
        y,
        feature_names=names,
        datasets={"train": "churn-train:1", "holdout": "churn-holdout"},
    )
    assert rec["datasets"] == {
        "train": {
            "name": "churn-train",
            "version": 1,
            "ref": "churn-train:1",
            "digest": datasets.get("churn-train", 1).digest,
            "rows": 3,
            "time_range": {"min": "2026-01-01T00:00:00.000000", "max": "2026-01-03T00:00:00.000000"},
        },
        "holdout": {**rec["datasets"]["holdout"], "ref": "churn-holdout:1", "rows": 1},  # newest pinned
    }
    assert reg.get_version("churn", 1)["datasets"] == rec["datasets"]
    entry = [e for e in reg.audit.entries() if e["action"] == "version.register"][-1]
    assert entry["details"]["datasets"] == {"train": "churn-train:1", "holdout": "churn-holdout:1"}
    plain = reg.register_version("churn", model, X, y, feature_names=names)
    assert plain["datasets"] is None


def test_missing_or_malformed_references_are_refused_before_any_write(reg, datasets, training, store):
    X, y, names, model = training
    before = sorted(store.list("models/")) + sorted(store.list("artifacts/"))
    with pytest.raises(UnprocessableError) as exc:
        reg.register_version("churn", model, X, y, feature_names=names, datasets={"train": "churn-train:9"})
    assert exc.value.code == "dataset_not_found" and "churn-train:9" in exc.value.message
    with pytest.raises(UnprocessableError):
        reg.register_version("churn", model, X, y, feature_names=names, datasets={"train": "nothing"})
    for bad, error in (
        ({"train": "churn-train:0"}, BadRequestError),
        ({"train": "../x:1"}, InvalidNameError),
        ({"bad role": "churn-train:1"}, InvalidNameError),
        ({"train": 3}, BadRequestError),
        (["churn-train:1"], BadRequestError),
    ):
        with pytest.raises(error):
            reg.register_version("churn", model, X, y, feature_names=names, datasets=bad)
    assert sorted(store.list("models/")) + sorted(store.list("artifacts/")) == before


def test_http_register_with_datasets(reg, datasets):
    router = build_router(reg)
    sha = reg.upload_artifact(b"model bytes uploaded out of band")["sha256"]

    def register(refs):
        body = json.dumps({"artifact_sha256": sha, "signature": SIG, "datasets": refs}).encode()
        headers = {PRINCIPAL_HEADER: "alice", SCOPES_HEADER: "mlops:read mlops:write"}
        resp = dispatch(router, Request.from_url("POST", "/v1/models/churn/versions", headers, body))
        return resp.status, json.loads(resp.encode())

    status, body = register({"train": "churn-train:5"})
    assert status == 422 and body["error"]["code"] == "dataset_not_found" and body["error"]["request_id"]
    status, body = register({"train": "churn-train:one"})
    assert status == 400 and body["error"]["code"] == "invalid_dataset_ref"
    status, body = register({"train": "churn-train:2"})
    assert status == 201 and body["datasets"]["train"]["rows"] == 2


def test_governance_can_require_a_training_dataset(reg, datasets, training):
    X, y, names, model = training
    reg.create_model("churn", required_metadata=["datasets.train"])
    with pytest.raises(UnprocessableError) as exc:
        reg.register_version(
            "churn", model, X, y, feature_names=names, datasets={"holdout": "churn-holdout:1"}
        )
    assert exc.value.code == "missing_required_metadata" and "datasets.train" in exc.value.message
    assert reg.register_version("churn", model, X, y, feature_names=names, datasets={"train": "churn-train"})


def test_card_shows_the_datasets(reg, datasets, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y, feature_names=names, datasets={"train": "churn-train:2"})
    md = render_markdown(card_facts(reg, "churn", 1))
    digest = datasets.get("churn-train", 2).digest
    assert f"- Datasets: train `churn-train:2` (2 rows, `{digest[:19]}`)" in md
    assert "<code>churn-train:2</code>" in render_html(card_facts(reg, "churn", 1))
    reg.register_version("churn", model, X, y, feature_names=names)
    assert "- Datasets: -" in render_markdown(card_facts(reg, "churn", 2))
