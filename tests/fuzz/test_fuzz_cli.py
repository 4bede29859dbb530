"""Issue 13 C: ~400 bad invocations of every ``mlops`` command. Each either works or fails with a non-zero exit and
a message on stderr; never a traceback, never "internal error". Run in-process through ``mlops.cli.main`` (fast),
plus a few real subprocesses (what a user's shell runs)."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from mlops.cli import main
from mlops.local.assemble import open_stack_store
from mlops.registry import Registry
from mlops.settings import load_stack
from sklearn.linear_model import LogisticRegression

from tests.fuzz.cases import BAD_FILES, BAD_NUMBERS, BAD_TEXT, BAD_TIMES, SEED
from tests.fuzz.conftest import make_bad_files
from tests.projects import make_project

T, N, W, F, D = "text", "number", "time", "file", "data"
KINDS = {T: BAD_TEXT, N: BAD_NUMBERS, W: BAD_TIMES, F: BAD_FILES, D: BAD_FILES}

# Every command with a plausible baseline; (kind, default) slots are replaced one at a time by bad values.
# Commands that start long-running things with valid arguments (local up, quickstart, train, pipeline run,
# logs --follow) only get slots that argparse or an early check refuses.
COMMANDS: list[list] = [
    ["local", "status"],
    ["local", "logs", (T, "registry"), "-n", (N, "5")],
    ["local", "down"],
    ["local", "up", "--port", "not-a-port"],
    ["invoke", (T, "registry"), "--data", (T, "{}"), "--path", (T, "/v1/models"), "--method", (T, "GET")],
    ["keys", "new", (T, "fuzz-app"), "--scope", (T, "mlops:predict")],
    ["keys", "list"],
    ["keys", "revoke", (T, "k_missing")],
    [
        "models",
        "register",
        (T, "churn"),
        "--artifact",
        (F, "model.joblib"),
        "--data",
        (D, "train.csv"),
        "--target",
        (T, "y"),
        "--code-commit",
        "none",
        "--param",
        (T, "a=1"),
        "--metric",
        (T, "auc=0.5"),
    ],
    [
        "models",
        "register",
        (T, "churn"),
        "--artifact",
        (F, "model.joblib"),
        "--data",
        (D, "train.npy"),
        "--feature-names",
        (T, "a,b,c"),
        "--code-commit",
        "none",
    ],
    ["models", "register", (T, "churn"), "--mlflow", (F, "dir"), "--code-commit", "none"],
    ["models", "list"],
    ["models", "show", (T, "churn"), "--version", (T, "1")],
    ["models", "versions", (T, "churn")],
    [
        "models",
        "create",
        (T, "fuzz-model"),
        "--governed",
        (T, "production"),
        "--require",
        (T, "code_commit"),
        "--tag",
        (T, "owner=x"),
    ],
    ["models", "policy", (T, "churn")],
    [
        "models",
        "alias",
        (T, "churn"),
        (T, "staging"),
        (T, "1"),
        "--expect",
        (T, "none"),
        "--reason",
        (T, "r"),
    ],
    ["models", "request-approval", (T, "churn"), (T, "1"), "--comment", (T, "c")],
    ["models", "approve", (T, "churn"), (T, "1"), "--as", (T, "reviewer")],
    ["features", "register", (F, "features.yaml")],
    ["features", "ingest", (T, "cust"), (D, "feature_events.csv"), "--future-tolerance", (N, "300")],
    ["features", "list"],
    ["features", "show", (T, "cust")],
    ["features", "training-set", (D, "labels.parquet"), (T, "cust"), "-o", "out.parquet"],
    [
        "datasets",
        "create",
        (T, "events"),
        (D, "events.csv"),
        "--entity-key",
        (T, "id"),
        "--event-time",
        (T, "ts"),
        "--parent",
        (T, "events"),
    ],
    ["datasets", "list", (T, "events")],
    ["datasets", "show", (T, "events:1")],
    ["datasets", "diff", (T, "events:1"), (T, "events:latest")],
    ["datasets", "gc", (T, "events"), "--grace-hours", (N, "24")],
    ["audit", "verify"],
    [
        "audit",
        "history",
        "--model",
        (T, "churn"),
        "--since",
        (W, "2026-01-01T00:00:00Z"),
        "--until",
        (W, "2099-01-01T00:00:00Z"),
        "--limit",
        (N, "5"),
        "--action",
        (T, "alias.set"),
    ],
    ["audit", "history", "--endpoint", (T, "churn"), "--subject", (T, "model:churn")],
    [
        "audit",
        "at",
        "--model",
        (T, "churn"),
        "--alias",
        (T, "production"),
        "--time",
        (W, "2026-01-01T00:00:00Z"),
    ],
    ["audit", "at", "--endpoint", (T, "churn"), "--time", (W, "1795000000")],
    ["deploy", "stable", (T, "churn"), "--version", (T, "1"), "--reason", (T, "r"), "--model", (T, "churn")],
    ["deploy", "canary", (T, "churn"), "--version", (T, "1"), "--weight", (N, "10")],
    ["deploy", "canary", (T, "churn"), "--version", (T, "1"), "--weight-bp", (N, "1000")],
    ["deploy", "weight", (T, "churn"), "--weight", (N, "0")],
    ["deploy", "promote", (T, "churn")],
    ["deploy", "rollback", (T, "churn"), "--reason", (T, "r")],
    ["deploy", "shadow", (T, "churn"), "--version", (T, "1"), "--rate", (N, "0.5")],
    ["deploy", "status", (T, "churn")],
    ["deploy", "history", (T, "churn"), "--limit", (N, "5")],
    ["drift", "reports", (T, "churn"), "--limit", (N, "5")],
    ["drift", "show", (T, "drift/reports/x.json")],
    ["alarms", "list", "--endpoint", (T, "churn"), "--namespace", (T, "mlops")],
    ["alarms", "eval", "--endpoint", (T, "churn"), "--now", (N, "1795000000"), "--db", (F, "missing.db")],
    ["pipeline", "run", (F, "garbage.yaml"), "--var", (T, "A=1")],
    ["pipeline", "validate", (F, "garbage.yaml")],
    ["train", "missing-entrypoint.py", "--model", (T, "churn"), "--param", (T, "a=1"), "--no-register"],
    ["runs", "list", "--model", (T, "churn"), "--limit", (N, "5")],
    ["runs", "show", (T, "20260101T000000000000Z-deadbeef")],
    ["runs", "compare", (T, "a"), (T, "b")],
    [
        "validate",
        (T, "churn"),
        "--candidate",
        (T, "1"),
        "--against",
        (T, "production"),
        "--min-delta",
        (N, "0"),
    ],
    [
        "ab",
        "status",
        (T, "churn"),
        "--since",
        (W, "24h"),
        "--until",
        (W, "1h"),
        "--alpha",
        (N, "0.05"),
        "--mde",
        (N, "0.02"),
        "--min-samples",
        (N, "10"),
        "--tau",
        (N, "1"),
        "--weight-bp",
        (N, "100"),
    ],
    ["ab", "status", (T, "churn"), "--records", (F, "garbage.csv")],
    ["infra", "plan", "--stack", (T, "missing")],
    ["quickstart", "--callers", "not-a-number"],
]


def _plain(template: list) -> list[str]:
    return [a[1] if isinstance(a, tuple) else a for a in template]


def cli_cases(n: int = 400) -> list[tuple[str, list[str]]]:
    rng = random.Random(SEED)
    cases: list[tuple[str, list[str]]] = []
    for template in COMMANDS:
        cases.append((" ".join(_plain(template))[:60], _plain(template)))
        cases.append(
            (" ".join(_plain(template))[:40] + " --no-such-flag", _plain(template) + ["--no-such-flag"])
        )
        for i, slot in enumerate(template):
            if not isinstance(slot, tuple):
                continue
            for bad in KINDS[slot[0]]:
                argv = _plain(template)
                argv[i] = bad
                cases.append((f"{' '.join(_plain(template[:2]))} slot{i}={bad[:24]!r}", argv))
    head = cases[: 2 * len(COMMANDS)]  # every command, plain and with an unknown flag
    rest = cases[2 * len(COMMANDS) :]
    rng.shuffle(rest)
    return head + rest[: max(0, n - len(head))]


@pytest.fixture(scope="module")
def cli_project(tmp_path_factory):
    """A project with a store holding model churn v1 (approved, stable on endpoint churn), a model file, training
    data and the bad files; no runtime is running for it."""
    root = tmp_path_factory.mktemp("fuzzcli")
    project = make_project(root / "project")
    make_bad_files(project)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    import joblib

    joblib.dump(model, project / "model.joblib")
    np.save(project / "train.npy", X)
    (project / "events.csv").write_text("id,ts\na,2026-01-01T00:00:00Z\nb,2026-01-02T00:00:00Z\n")
    (project / "train.csv").write_text(
        "a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(X, y, strict=True))
    )
    (project / "features.yaml").write_text(
        "name: cust\nentity_keys: [{name: customer_id, type: string}]\nevent_time: event_ts\n"
        "features: [{name: value, type: float64}]\n"
    )
    (project / "feature_events.csv").write_text(
        "customer_id,event_ts,value\nc1,2024-01-01T00:00:00Z,1.5\n,bad,x\n"
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {"customer_id": ["c1"], "event_timestamp": pa.array([1704153600000000], pa.timestamp("us"))}
        ),
        project / "labels.parquet",
    )
    settings = load_stack("e2e", project)
    reg = Registry(
        open_stack_store(settings, create=True), actor="fuzz"
    )  # set-up makes the store (issue 13 F)
    v = reg.register_version("churn", model, X, y, feature_names=["a", "b", "c"])["version"]
    reg.request_approval("churn", v)
    reg.with_actor("approver").decide_approval("churn", v, "approve", comment="fuzz")
    reg.deployments().set_stable("churn", "churn", v, reason="fuzz")
    return project


def run_cli(project, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(["--stack", "e2e", "--project-dir", str(project), *argv])
        except SystemExit as exc:  # argparse: usage + one "error:" line, exit 2
            code = exc.code if isinstance(exc.code, int) else 1
    return int(code or 0), out.getvalue(), err.getvalue()


def problem_of(code: int, err: str) -> str | None:
    if "Traceback" in err:
        return "traceback: " + err[-300:]
    if "internal error" in err:
        return err.strip()[:300]
    if code != 0:
        if not err.strip():
            return f"exit {code} with nothing on stderr"
        if err.startswith("mlops: error") and err.strip().count("\n") != 0:
            return "a multi-line error: " + err[:300]
    return None


def test_no_command_answers_bad_input_with_a_traceback(cli_project, monkeypatch):
    monkeypatch.chdir(cli_project)
    monkeypatch.setenv("MLOPS_ACTOR", "fuzz")
    monkeypatch.delenv("MLOPS_STORE_BACKEND", raising=False)
    monkeypatch.delenv("MLOPS_DEBUG", raising=False)
    cases = cli_cases(400)
    assert len(cases) >= 400
    failures, exits = [], {}
    for name, argv in cases:
        code, out, err = run_cli(cli_project, argv)
        exits[code] = exits.get(code, 0) + 1
        if argv[:2] == ["local", "status"] and code == 3 and "not running" in out:
            continue  # LSB status convention: 3 = not running, said on stdout
        problem = problem_of(code, err)
        if problem:
            failures.append(f"{name}: exit {code}: {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} runs failed:\n" + "\n".join(failures[:40])
    assert sum(n for c, n in exits.items() if c != 0) > len(cases) // 2, exits


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "at", "--model", "churn", "--alias", "production", "--time", "1e400"],
        ["models", "register", "churn", "--artifact", "text.joblib", "--data", "train.csv", "--target", "y"],
        ["models", "register", "churn", "--artifact", "model.joblib", "--data", "garbage.npy"],
    ],
)
def test_real_processes_fail_in_one_line(cli_project, argv):
    """The same through a real interpreter and a real argv (bytes from the OS, no in-process shortcuts)."""
    r = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "--stack", "e2e", "--project-dir", str(cli_project), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cli_project,
    )
    assert r.returncode != 0
    assert r.stderr.startswith("mlops: error") and r.stderr.strip().count("\n") == 0, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
