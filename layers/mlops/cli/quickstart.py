"""``mlops quickstart``: the whole model lifecycle on this machine, in one command, with real parts.

Every run gets a fresh project directory under ``.mlops/quickstart/`` (stack file, store,
state, secrets), so it never disturbs the ``local`` stack and always starts from zero:
start the local runtime -> train v1 -> register -> approve -> deploy -> traffic -> train v2
-> validate -> canary at 10% -> traffic with feedback (A/B) -> inject drift -> drift report
-> alarm -> notification -> guardian rolls the canary back -> model cards -> summary.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import MlopsError, UnavailableError

if TYPE_CHECKING:
    from mlops.settings import StackSettings

STACK = "quickstart"
MODEL = "breast-cancer"
ENDPOINT = "diagnosis"
ENTRYPOINT = "pipelines/train/train.py"
STORE_DIR = "store"  # the run's file store, in its project directory


def register(sub) -> None:
    p = sub.add_parser(
        "quickstart", help="run the whole lifecycle locally: train, deploy, canary, drift, rollback"
    )
    p.add_argument("--keep", action="store_true", help="leave the local runtime running at the end")
    p.add_argument("--callers", type=int, default=300, help="distinct API-key holders sending traffic")
    p.add_argument("--requests", type=int, default=1500, help="requests per traffic phase")
    p.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for drift -> alarm -> rollback"
    )
    p.add_argument("--dir", default=None, help="where to put the run (default .mlops/quickstart/run-<time>)")
    p.set_defaults(func=cmd_quickstart)


@dataclass
class Progress:
    total: int
    n: int = 0
    t0: float = field(default_factory=time.perf_counter)
    out: Any = sys.stdout

    def step(self, title: str):
        self.n += 1
        return _Step(self, title)


class _Step:
    def __init__(self, p: Progress, title: str) -> None:
        self.p, self.title = p, title

    def __enter__(self):
        self.t = time.perf_counter()
        self.p.out.write(f"[{self.p.n:2d}/{self.p.total}] {self.title} ")
        self.p.out.flush()
        self.notes: list[str] = []
        return self

    def note(self, text: str) -> None:
        self.notes.append(text)

    def __exit__(self, et, ev, tb):
        dt = time.perf_counter() - self.t
        status = "ok" if et is None else "FAILED"
        self.p.out.write("." * max(2, 44 - len(self.title)) + f" {status} ({dt:.1f}s)\n")
        for n in self.notes:
            self.p.out.write(f"         {n}\n")
        self.p.out.flush()
        return False


def _make_project(repo: Path, run_dir: Path) -> Path:
    """A project dir for this run: the local stack's settings, with its own store, state and port."""
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "Pulumi.yaml", run_dir / "Pulumi.yaml")
    for name in ("functions", "pipelines"):
        os.symlink(repo / name, run_dir / name)
    doc = yaml.safe_load((repo / "Pulumi.local.yaml").read_text())
    cfg = doc["config"]
    cfg["mlops:store"] = {"backend": "file", "path": STORE_DIR}
    cfg["mlops:local"] = {
        **(cfg.get("mlops:local") or {}),
        "port": 0,
        "state_dir": "state",
        "secrets_file": "secrets.json",
    }
    cfg["mlops:endpoints"] = [
        {
            "name": ENDPOINT,
            "model": MODEL,
            "feature_sample_rate": 1.0,
            "model_refresh_s": 0.5,
            "shadow": False,
        }
    ]
    cfg["mlops:gateway"] = {**(cfg.get("mlops:gateway") or {}), "auth_cache_ttl_s": 1}
    cfg["mlops:auth"] = {**(cfg.get("mlops:auth") or {}), "weight_cache_ttl_s": 0.3}
    cfg["mlops:log_shipping"] = {"max_bytes": 400_000, "max_age_s": 2}
    cfg["mlops:monitoring"] = {**(cfg.get("mlops:monitoring") or {}), "evaluation_interval_s": 1}
    (run_dir / f"Pulumi.{STACK}.yaml").write_text(
        "# written by `mlops quickstart` for this run only\n" + yaml.safe_dump(doc, sort_keys=False)
    )
    return run_dir


def _dataset():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    return d.data, d.target


class Traffic:
    """Callers with their own API keys sending predictions (and feedback) through the gateway."""

    def __init__(self, url: str, tokens: list[str]) -> None:
        from urllib.parse import urlsplit

        self.parts = urlsplit(url)
        self.host = self.parts.hostname or "127.0.0.1"
        self.tokens = tokens

    def send(self, X, y=None, *, n: int, threads: int = 8, seed: int = 0) -> dict[str, Any]:
        import numpy as np

        rng = np.random.default_rng(seed)
        rows = rng.integers(0, len(X), size=n)
        callers = rng.integers(0, len(self.tokens), size=n)
        by_variant: dict[str, int] = {}
        versions: dict[str, set] = {}
        errors = 0

        def run(idx: list[int]) -> list[tuple[str, int, int]]:
            conn = http.client.HTTPConnection(self.host, self.parts.port, timeout=30)
            out = []
            try:
                for i in idx:
                    auth = {
                        "Authorization": f"Bearer {self.tokens[callers[i]]}",
                        "Content-Type": "application/json",
                    }
                    body = json.dumps({"instances": [X[rows[i]].tolist()]})
                    conn.request("POST", f"/v1/endpoints/{ENDPOINT}/predict", body=body, headers=auth)
                    r = conn.getresponse()
                    data = json.loads(r.read())
                    if r.status != 200:
                        out.append(("error", 0, r.status))
                        continue
                    out.append((data["variant"], data["version"], 200))
                    if y is not None:
                        fb = json.dumps({"prediction_id": data["prediction_id"], "actual": int(y[rows[i]])})
                        conn.request("POST", f"/v1/endpoints/{ENDPOINT}/feedback", body=fb, headers=auth)
                        conn.getresponse().read()
            finally:
                conn.close()
            return out

        chunks = [list(range(k, n, threads)) for k in range(threads)]
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            for res in ex.map(run, chunks):
                for variant, version, status in res:
                    if status != 200:
                        errors += 1
                        continue
                    by_variant[variant] = by_variant.get(variant, 0) + 1
                    versions.setdefault(variant, set()).add(version)
        return {
            "by_variant": by_variant,
            "versions": {k: sorted(v) for k, v in versions.items()},
            "errors": errors,
        }


def _wait(pred, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(every)
    return pred()


def _file_of(store, key: str) -> str:
    """Where a key of the local file store lives on disk (the summary points at real files)."""
    path_of = getattr(store, "path_of", None)  # only the local file store has files to point at
    return str(path_of(key)) if path_of else key


@dataclass
class _Run:
    """What the steps share: the run's project and settings, the data, the registry acting as three people."""

    args: Any
    project: Path
    settings: StackSettings
    X: Any = None
    y: Any = None
    state: dict[str, Any] | None = None
    store: Any = None
    ds: Any = None  # the registry acting as the data scientist (it signs the audit log)
    approver: Any = None
    ops: Any = None  # ... and as the ML engineer who deploys
    runs: Any = None
    traffic: Traffic | None = None
    v1: int = 0
    v2: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def notes_file(self) -> Path:
        return self.settings.state_dir / self.settings.notifications.local_file


def _start(run: _Run, s: _Step) -> None:
    from mlops.cli.local import start_runtime
    from mlops.local.assemble import open_stack_store
    from mlops.local.setup import local_api_key, local_audit_anchor
    from mlops.registry import Registry
    from mlops.runs import RunStore

    local_api_key(run.settings)
    run.state = state = start_runtime(run.settings, port=0)
    s.note(f"gateway {state['url']}; functions: {', '.join(state['functions'])}")
    run.store = open_stack_store(run.settings)
    run.ds = Registry(run.store, actor="data-scientist", anchor=local_audit_anchor(run.settings))
    run.approver = run.ds.with_actor("approver")
    run.ops = run.ds.with_actor("ml-engineer")
    run.runs = RunStore(run.store)


def _train(run: _Run, s: _Step, params: dict[str, str], description: str) -> int:
    from mlops.runs.recorder import train_and_register

    r = train_and_register(
        run.project / ENTRYPOINT,
        MODEL,
        registry=run.ds,
        runs=run.runs,
        params=params,
        description=description,
    )
    s.note(f"run {r['run_id']}: holdout f1 {r['metrics'].get('f1', float('nan')):.4f}")
    return r["version"]


def _train_v1(run: _Run, s: _Step) -> None:
    run.v1 = _train(
        run,
        s,
        {"n_estimators": "15", "max_depth": "1", "learning_rate": "0.05"},
        "quickstart v1: a small first model",
    )


def _register_v1(run: _Run, s: _Step) -> None:
    rec = run.ds.get_version(MODEL, run.v1)
    s.note(
        f"{len(rec['signature']['inputs'])} features, data {rec['training_data']['digest'][:19]}..., "
        f"artifact sha256 {rec['artifact']['sha256'][:12]}..."
    )


def _approve_v1(run: _Run, s: _Step) -> None:
    run.ds.request_approval(MODEL, run.v1, comment="first model for the diagnosis endpoint")
    run.approver.decide_approval(MODEL, run.v1, "approve", comment="holdout metrics reviewed")
    s.note("approved by 'approver'; the production alias is governed")


def _deploy_v1(run: _Run, s: _Step) -> None:
    from mlops.cards import write_card

    ops, v1 = run.ops, run.v1
    ops.deployments().set_stable(ENDPOINT, MODEL, v1, reason="quickstart first deploy")
    run.summary["cards"] = [write_card(ops, MODEL, v1, endpoint=ENDPOINT)]
    s.note(f"model card written: {_file_of(run.store, run.summary['cards'][-1]['html'])}")


def _traffic(run: _Run, s: _Step) -> None:
    from mlops.local.setup import add_api_keys

    assert run.state is not None
    args, X, v1 = run.args, run.X, run.v1
    tokens = add_api_keys(run.settings, [(f"app-{i:04d}", ["mlops:predict"]) for i in range(args.callers)])
    run.traffic = traffic = Traffic(run.state["url"], tokens)
    got = _wait(lambda: traffic.send(X, n=50, seed=99)["versions"].get("stable") == [v1], 20)
    t = traffic.send(X, n=args.requests, seed=1)
    s.note(
        f"{sum(t['by_variant'].values())} predictions by {args.callers} callers: {t['by_variant']}, "
        f"errors {t['errors']}"
    )
    if not got:
        raise UnavailableError(
            f"the stable function did not serve v{v1} within 20 s; see "
            "`mlops local logs inference-diagnosis-stable`",
            code="not_serving",
        )


def _train_v2(run: _Run, s: _Step) -> None:
    run.v2 = _train(run, s, {"n_estimators": "150", "max_depth": "3"}, "quickstart v2: the candidate")


def _validate_v2(run: _Run, s: _Step) -> None:
    from mlops.runs.gate import validate_candidate

    ds, v2 = run.ds, run.v2
    gate = validate_candidate(ds, run.runs, MODEL, v2, against="production", metric="f1", min_delta=0.0)
    s.note(gate.reason)
    if not gate.passed:
        raise MlopsError(f"validation gate refused v{v2}: {gate.reason}", code="validation_failed")
    ds.request_approval(MODEL, v2, comment="passed the validation gate")
    run.approver.decide_approval(MODEL, v2, "approve", comment="gate passed")


def _canary_v2(run: _Run, s: _Step) -> None:
    dep = run.ops.deployments().start_canary(ENDPOINT, run.v2, 1000, reason="quickstart canary")
    s.note(
        f"deployment generation {dep['generation']}: stable v{dep['stable_version']}, "
        f"canary v{dep['canary_version']} at {dep['canary_weight_bp'] / 100:g}%"
    )


def _traffic_with_feedback(run: _Run, s: _Step) -> None:
    traffic, X = run.traffic, run.X
    assert traffic is not None
    _wait(lambda: "canary" in traffic.send(X, n=100, seed=98)["by_variant"], 20)
    t = traffic.send(X, run.y, n=run.args.requests, seed=2)
    s.note(
        f"{sum(t['by_variant'].values())} predictions + feedback: {t['by_variant']} "
        f"(versions {t['versions']})"
    )
    run.summary["traffic"] = t


def _ab_analysis(run: _Run, s: _Step) -> None:
    from mlops.ab import analyze, iter_log_objects

    time.sleep(run.settings.log_shipping.max_age_s + 1.5)
    dep = run.ops.deployments().get(ENDPOINT)
    report = analyze(
        iter_log_objects(run.store, ENDPOINT, since=dep.get("updated_at")),
        weight_bp=dep["canary_weight_bp"],
        endpoint=ENDPOINT,
        since=dep.get("updated_at"),
        challenger="canary",
    )
    run.summary["ab"] = report.to_dict()
    s.note(f"decision: {report.decision} - {report.reason}")


def _inject_drift(run: _Run, s: _Step) -> None:
    import numpy as np

    assert run.traffic is not None
    X, n = run.X, run.args.requests
    Xd = X * np.where(np.arange(X.shape[1]) % 2 == 0, 1.8, 1.0)  # every other feature scaled
    t = run.traffic.send(Xd, n=n, seed=3)
    t2 = run.traffic.send(Xd, n=n, seed=4)
    s.note(f"{sum(t['by_variant'].values()) + sum(t2['by_variant'].values())} drifted requests")


def _drift_report(run: _Run, s: _Step) -> None:
    store = run.store

    def drifted_reports():
        keys = [k for k in store.list(f"reports/drift/{ENDPOINT}/") if k.endswith(".json")]
        docs = [(k, json.loads(store.get(k).data)) for k in keys]
        return [(k, d) for k, d in docs if d["dataset"]["drifted"]]

    found = _wait(drifted_reports, run.args.timeout / 3)
    if not found:
        raise UnavailableError("no drift report appeared; see `mlops local logs drift`", code="no_report")
    key, doc = found[-1]
    s.note(
        f"{len(found)} report(s); latest: drifted={doc['dataset']['drifted']}, "
        f"share {doc['dataset'].get('share'):.2f}, persistence {doc.get('persistence', {}).get('history')}"
    )
    run.summary["drift_report"] = _file_of(store, key[:-5] + ".html")


def _alarm_fires(run: _Run, s: _Step) -> None:
    from mlops.monitoring.notify import read_ndjson_messages

    notes_file = run.notes_file
    alarms = _wait(
        lambda: [
            m
            for m in (read_ndjson_messages(notes_file) if notes_file.exists() else [])
            if (m.get("body") or {}).get("type") == "OK_TO_FIRING"
        ],
        run.args.timeout / 3,
    )
    if not alarms:
        raise UnavailableError("no alarm fired; see `mlops alarms eval`", code="no_alarm")
    s.note(f"{alarms[0]['title']}")


def _notification(run: _Run, s: _Step) -> None:
    from mlops.monitoring.notify import read_ndjson_messages

    s.note(f"{len(read_ndjson_messages(run.notes_file))} message(s) in {run.notes_file}")


def _rollback(run: _Run, s: _Step) -> None:
    ops, store = run.ops, run.store
    dep = _wait(
        lambda: (lambda d: d if not d.get("canary_version") else None)(ops.deployments().get(ENDPOINT)),
        run.args.timeout / 3,
    )
    if not dep:
        raise UnavailableError(
            "the guardian did not roll the canary back; see `mlops local logs guardian`", code="no_rollback"
        )
    s.note(f"by {dep['updated_by']}: {dep.get('reason')}")
    requests = sorted(store.list("retrain-requests/"))
    if requests:
        req = json.loads(store.get(requests[-1]).data)
        s.note(f"retraining {req.get('status')}: {req.get('run') or req.get('reason')}")


def _audit_and_cards(run: _Run, s: _Step) -> None:
    from mlops.cards import write_card

    verdict = run.ops.audit.verify()
    run.summary["cards"].append(write_card(run.ops, MODEL, run.v2))
    s.note(f"audit log: {verdict.get('entries', verdict.get('checked'))} entries, ok={verdict.get('ok')}")


# The lifecycle, step by step: (title, with {run.v1}/{run.v2} filled in when the step starts; function).
STEPS: tuple[tuple[str, Callable[[_Run, _Step], None]], ...] = (
    ("start the local runtime (fdk functions + gateway)", _start),
    ("train v1 (GradientBoosting, breast-cancer data)", _train_v1),
    (f"register {MODEL} v{{run.v1}} with signature, lineage, drift profile", _register_v1),
    ("approve v{run.v1} (four-eyes: requester != approver)", _approve_v1),
    (f"deploy v{{run.v1}} as stable of endpoint {ENDPOINT}", _deploy_v1),
    ("send traffic through the gateway", _traffic),
    ("train v2 (more trees, deeper)", _train_v2),
    ("validate v{run.v2} against production (f1, min delta 0)", _validate_v2),
    ("canary v{run.v2} at 10% of callers", _canary_v2),
    ("send traffic with ground-truth feedback (A/B)", _traffic_with_feedback),
    ("A/B analysis (always-valid sequential test, SRM check)", _ab_analysis),
    ("inject drift: production inputs shift", _inject_drift),
    ("drift report (KS/PSI/chi2 + BH + effect size)", _drift_report),
    ("alarm fires (drift rule, same MQL as OCI)", _alarm_fires),
    ("notification delivered (local sink, guardian subscription)", _notification),
    ("guardian rolls the canary back", _rollback),
    ("audit trail verified, model cards written", _audit_and_cards),
)


def _new_run(args) -> _Run:
    """A fresh project directory for this run, and its settings (refuses to reuse a directory)."""
    from mlops.settings import find_project_dir, load_stack

    repo = find_project_dir(args.project_dir)
    if not (repo / ENTRYPOINT).is_file() or not (repo / "Pulumi.local.yaml").is_file():
        raise UnavailableError(
            f"run the quickstart from the oci-mlops checkout (no {ENTRYPOINT} in {repo})",
            code="not_a_checkout",
        )
    run_dir = (
        Path(args.dir).resolve()
        if args.dir
        else repo / ".mlops" / "quickstart" / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    )
    if run_dir.exists():
        raise MlopsError(f"{run_dir} exists already; pick another --dir", code="run_dir_exists")
    project = _make_project(repo, run_dir)
    return _Run(args=args, project=project, settings=load_stack(STACK, project))


def _print_summary(run: _Run) -> None:
    settings, project, store = run.settings, run.project, run.store
    root = settings.path(STORE_DIR)
    print("\nDone. What happened is on disk:")
    print(f"  drift report      {run.summary.get('drift_report')}")
    for c in run.summary.get("cards", []):
        print(f"  model card        {_file_of(store, c['html'])}   (and .md)")
    print(f"  notifications     {run.notes_file}")
    print(f"  function logs     {settings.state_dir / 'logs'}/")
    print(f"  metrics (SQLite)  {settings.state_dir / 'metrics.sqlite'}")
    print(f"  registry store    {root}/  (audit/, models/, deployments/, prediction-logs/)")
    print(f"\nExplore it:  mlops --project-dir {project} --stack {STACK} deploy history {ENDPOINT}")
    print(f"             mlops --project-dir {project} --stack {STACK} audit verify")
    print(f"             mlops --project-dir {project} --stack {STACK} ab status {ENDPOINT}")
    if run.args.keep:
        assert run.state is not None
        print(
            f"  the runtime is still up at {run.state['url']}; stop it with "
            f"mlops --project-dir {project} --stack {STACK} local down"
        )


def cmd_quickstart(args) -> int:
    from mlops.cli.local import stop_runtime

    run = _new_run(args)
    prog = Progress(total=len(STEPS))
    print(f"oci-mlops quickstart: the whole lifecycle on this machine (run directory {run.project})\n")
    run.X, run.y = _dataset()
    try:
        for title, step in STEPS:
            with prog.step(title.format(run=run)) as s:
                step(run, s)
    finally:
        if run.state is not None and not args.keep:
            stop_runtime(run.settings)
    _print_summary(run)
    return 0
