"""``mlops ab status``: from an NDJSON file, from an object store (explicit URL or the stack's), JSON and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from mlops.ab.source import iter_log_objects
from mlops.cli import main
from mlops.cli.ab import parse_when
from mlops.storage import FileStore

from .factory import Experiment


@pytest.fixture(scope="module")
def winning() -> Experiment:
    return Experiment(
        n_requests=8000, weight_bp=3000, acc_stable=0.80, acc_canary=0.88, seed=1, noise_lines=10
    )


def write_logs(store: FileStore, exp: Experiment, endpoint: str = "churn", per_object: int = 500) -> int:
    """Roll the records into prediction-log objects, as log shipping does."""
    lines = exp.ndjson().splitlines()
    n = 0
    for i in range(0, len(lines), per_object):
        store.put(
            f"prediction-logs/{endpoint}/2026/11/22/17{i // per_object:04d}-{i:06d}.ndjson",
            b"\n".join(lines[i : i + per_object]) + b"\n",
        )
        n += 1
    return n


def test_status_from_a_records_file_prints_table_effect_and_decision(tmp_path, capsys, winning):
    path = tmp_path / "records.ndjson"
    path.write_bytes(winning.ndjson())
    assert (
        main(["ab", "status", "churn", "--records", str(path), "--weight-bp", "3000", "--min-samples", "200"])
        == 0
    )
    out = capsys.readouterr().out
    assert "VARIANT" in out and "ACCURACY" in out and "P99_MS" in out
    assert "effect    canary - stable = +0.0" in out and "always-valid CI" in out
    assert "split     canary" in out and "principals, configured 30.00%" in out
    assert "decision  canary_wins" in out and "reason    canary v4 beats stable v3" in out


def test_status_json_is_the_report(tmp_path, capsys, winning):
    path = tmp_path / "records.ndjson"
    path.write_bytes(winning.ndjson())
    assert main(["ab", "status", "churn", "--records", str(path), "--weight-bp", "1000", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["decision"] == "srm_alarm" and doc["srm"]["alarm"] is True  # 30% observed, 10% configured
    assert doc["comparison"]["test_decision"] == "challenger_wins"
    assert doc["join"]["lines_ignored"] == 10


def test_status_reads_the_endpoint_prefix_of_a_store(tmp_path, capsys, winning):
    store = FileStore(tmp_path / "store")
    write_logs(store, winning)
    write_logs(store, Experiment(n_requests=500, endpoint="fraud", acc_canary=0.2, seed=2), endpoint="fraud")
    assert (
        main(
            [
                "ab",
                "status",
                "churn",
                "--store",
                str(tmp_path / "store"),
                "--weight-bp",
                "3000",
                "--min-samples",
                "200",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["decision"] == "canary_wins" and doc["join"]["other_endpoint"] == 0
    assert sum(v["predictions"] for v in doc["variants"]) == 8000


def test_status_uses_the_stacks_store_by_default(tmp_path, capsys, winning):
    (tmp_path / "Pulumi.yaml").write_text("name: mlops\nruntime: python\n")
    (tmp_path / "Pulumi.local.yaml").write_text(
        "config:\n  mlops:store:\n    backend: file\n    path: data/store\n"
    )
    write_logs(FileStore(tmp_path / "data" / "store"), winning)
    assert main(["--project-dir", str(tmp_path), "ab", "status", "churn", "--weight-bp", "3000"]) == 0
    assert "decision  canary_wins" in capsys.readouterr().out


def test_a_window_skips_whole_days_of_log_objects(tmp_path):
    store = FileStore(tmp_path / "store")
    for day in ("2026/11/10", "2026/11/21", "2026/11/22", "2026/11/23", "2026/11/25"):
        store.put(f"prediction-logs/churn/{day}/120000-0001.ndjson", b"{}\n")
    store.put("prediction-logs/churny/2026/11/22/120000-0001.ndjson", b"{}\n")

    class Recording:
        def __init__(self, inner):
            self.inner, self.read = inner, []

        def list(self, prefix="", *, start_after=None):
            return self.inner.list(prefix, start_after=start_after)

        def get(self, key):
            self.read.append(key.split("/")[2:5])
            return self.inner.get(key)

    rec = Recording(store)
    list(iter_log_objects(rec, "churn", since="2026-11-22T10:00:00Z", until="2026-11-22T18:00:00Z"))
    assert rec.read == [["2026", "11", "21"], ["2026", "11", "22"], ["2026", "11", "23"]]
    rec.read.clear()
    assert len(list(iter_log_objects(rec, "churn"))) == 5


def test_user_errors_are_one_line_and_non_zero(tmp_path, capsys):
    assert main(["ab", "status", "Not_An_Endpoint", "--records", "x"]) == 1
    assert "mlops: error:" in capsys.readouterr().err
    assert main(["ab", "status", "churn", "--records", str(tmp_path / "missing.ndjson")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["ab", "status", "churn", "--records", str(tmp_path / "x"), "--since", "last tuesday"]) == 1
    assert main(["ab", "status", "churn", "--records", "-", "--weight-bp", "20000"]) == 1


def test_parse_when_accepts_durations_and_iso_times():
    now = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    assert parse_when("90m", now) == "2026-11-22T15:30:00+00:00"
    assert parse_when("7d", now).startswith("2026-11-15T17:00")
    assert parse_when("2026-11-22T17:00:00Z") == "2026-11-22T17:00:00Z"
    assert parse_when(None) is None


def test_the_configured_split_defaults_to_the_deployment_record(tmp_path, capsys, winning):
    from mlops.registry import records
    from mlops.registry.keys import deployment_key

    store = FileStore(tmp_path / "store")
    write_logs(store, winning)
    records.create(
        store,
        deployment_key("churn"),
        {
            "endpoint": "churn",
            "model": "churn",
            "stable_version": 3,
            "canary_version": 4,
            "canary_weight_bp": 1000,
            "shadow_version": None,
            "shadow_rate": 0.0,
            "updated_at": "2026-11-22T16:59:00Z",
            "generation": 2,
        },
    )
    args = ["ab", "status", "churn", "--store", str(tmp_path / "store")]
    assert main(args) == 0
    out = capsys.readouterr().out
    # The record says 10% while 30% of the callers were hashed into the canary: that is an SRM.
    assert "configured 10.00%" in out and "decision  srm_alarm" in out
    assert "canary weight from the deployment record (changed 2026-11-22T16:59:00Z)" in out
    assert main([*args, "--weight-bp", "3000", "--min-samples", "200", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["weight_bp"] == 3000 and doc["decision"] == "canary_wins" and doc["shadow_bp"] is None
    assert doc["split_source"] is None
