"""``mlops alarms list|eval`` through the CLI frame."""

from __future__ import annotations

import json

from mlops.cli import main
from mlops.monitoring.metrics import invocation_points
from mlops.monitoring.mql import parse_alarm
from mlops.monitoring.notify import parse_alarm_message, read_ndjson_messages
from mlops.monitoring.sqlite import SqliteMetrics

T0 = 1_800_000_000.0


def test_list_json_with_endpoints(capsys):
    assert main(["alarms", "list", "--endpoint", "churn", "--function", "registry", "--json"]) == 0
    rules = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rules}
    assert {"drift-churn", "canary-errors-churn", "errors-registry"} <= names
    for r in rules:
        parse_alarm(r["query"])
        assert r["destinations"]


def test_list_table_from_the_stack_file(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: mlops\nruntime: python\n")
    (tmp_path / "Pulumi.local.yaml").write_text(
        "config:\n  mlops:endpoints:\n    - name: fraud\n      model: fraud\n"
        "  mlops:monitoring:\n    alarms:\n      drift:\n        severity: CRITICAL\n"
    )
    assert main(["--project-dir", str(tmp_path), "alarms", "list"]) == 0
    out = capsys.readouterr().out
    assert "drift-fraud" in out and "CRITICAL" in out and 'drift_detected[15m]{endpoint = "fraud"}' in out


def test_list_without_a_stack_file_says_what_to_do(tmp_path, capsys):
    assert main(["--project-dir", str(tmp_path), "alarms", "list"]) == 1
    assert "--endpoint" in capsys.readouterr().err


def test_eval_prints_transitions_and_writes_notifications(tmp_path, capsys):
    db = tmp_path / "metrics.sqlite"
    with SqliteMetrics(db) as store:
        store.put(
            [p for i in range(5) for p in invocation_points("inference-churn-canary", 504, 9.0, T0 - i)]
        )
    notify = tmp_path / "notifications.ndjson"
    state = tmp_path / "alarms.json"
    argv = [
        "alarms",
        "eval",
        "--endpoint",
        "churn",
        "--db",
        str(db),
        "--now",
        str(T0),
        "--state",
        str(state),
        "--notify-file",
        str(notify),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "canary-errors-churn" in out and "OK_TO_FIRING" in out
    [msg] = read_ndjson_messages(notify)
    assert parse_alarm_message(msg["body"]).actions == {"rollback_canary": "churn"}
    assert main(argv) == 0  # with the state file, the second run is no transition
    assert "no transitions" in capsys.readouterr().out


def test_eval_needs_a_store(tmp_path, capsys):
    assert main(["alarms", "eval", "--endpoint", "churn", "--db", str(tmp_path / "none.sqlite")]) == 1
    assert "no metrics store" in capsys.readouterr().err
