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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops.errors import MlopsError, UnavailableError

STACK = "quickstart"
MODEL = "breast-cancer"
ENDPOINT = "diagnosis"
ENTRYPOINT = "pipelines/train/train.py"


def register(sub) -> None:
    p = sub.add_parser("quickstart", help="run the whole lifecycle locally: train, deploy, canary, drift, rollback")
    p.add_argument("--keep", action="store_true", help="leave the local runtime running at the end")
    p.add_argument("--callers", type=int, default=300, help="distinct API-key holders sending traffic")
    p.add_argument("--requests", type=int, default=1500, help="requests per traffic phase")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for drift -> alarm -> rollback")
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
    cfg["mlops:store"] = {"backend": "file", "path": "store"}
    cfg["mlops:local"] = {**(cfg.get("mlops:local") or {}), "port": 0, "state_dir": "state",
                          "secrets_file": "secrets.json"}
    cfg["mlops:endpoints"] = [{"name": ENDPOINT, "model": MODEL, "feature_sample_rate": 1.0,
                               "model_refresh_s": 0.5, "shadow": False}]
    cfg["mlops:gateway"] = {**(cfg.get("mlops:gateway") or {}), "auth_cache_ttl_s": 1}
    cfg["mlops:auth"] = {**(cfg.get("mlops:auth") or {}), "weight_cache_ttl_s": 0.3}
    cfg["mlops:log_shipping"] = {"max_bytes": 400_000, "max_age_s": 2}
    cfg["mlops:monitoring"] = {**(cfg.get("mlops:monitoring") or {}), "evaluation_interval_s": 1}
    (run_dir / f"Pulumi.{STACK}.yaml").write_text(
        "# written by `mlops quickstart` for this run only\n" + yaml.safe_dump(doc, sort_keys=False))
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
            conn = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=30)
            out = []
            try:
                for i in idx:
                    auth = {"Authorization": f"Bearer {self.tokens[callers[i]]}", "Content-Type": "application/json"}
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
        return {"by_variant": by_variant, "versions": {k: sorted(v) for k, v in versions.items()}, "errors": errors}


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
    path_of = getattr(store, "path_of", None)      # only the local file store has files to point at
    return str(path_of(key)) if path_of else key


def cmd_quickstart(args) -> int:
    from mlops.ab import analyze, iter_log_objects
    from mlops.cards import write_card
    from mlops.cli.local import start_runtime, stop_runtime
    from mlops.local.assemble import open_stack_store
    from mlops.local.setup import add_api_keys, local_api_key, local_audit_anchor
    from mlops.monitoring.notify import read_ndjson_messages
    from mlops.registry import Registry
    from mlops.runs import RunStore
    from mlops.runs.gate import validate_candidate
    from mlops.runs.recorder import train_and_register
    from mlops.settings import find_project_dir, load_stack

    repo = find_project_dir(args.project_dir)
    if not (repo / ENTRYPOINT).is_file() or not (repo / "Pulumi.local.yaml").is_file():
        raise UnavailableError(f"run the quickstart from the oci-mlops checkout (no {ENTRYPOINT} in {repo})",
                               code="not_a_checkout")
    run_dir = Path(args.dir).resolve() if args.dir else \
        repo / ".mlops" / "quickstart" / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    if run_dir.exists():
        raise MlopsError(f"{run_dir} exists already; pick another --dir", code="run_dir_exists")
    project = _make_project(repo, run_dir)
    settings = load_stack(STACK, project)
    prog = Progress(total=17)
    print(f"oci-mlops quickstart: the whole lifecycle on this machine (run directory {run_dir})\n")
    X, y = _dataset()
    state = None
    summary: dict[str, Any] = {}
    try:
        with prog.step("start the local runtime (fdk functions + gateway)") as s:
            local_api_key(settings)
            state = start_runtime(settings, port=0)
            s.note(f"gateway {state['url']}; functions: {', '.join(state['functions'])}")
        store = open_stack_store(settings)
        ds = Registry(store, actor="data-scientist", anchor=local_audit_anchor(settings))  # signs the audit log
        approver = ds.with_actor("approver")
        ops = ds.with_actor("ml-engineer")
        runs = RunStore(store)

        with prog.step("train v1 (GradientBoosting, breast-cancer data)") as s:
            r1 = train_and_register(project / ENTRYPOINT, MODEL, registry=ds, runs=runs,
                                    params={"n_estimators": "15", "max_depth": "1", "learning_rate": "0.05"},
                                    description="quickstart v1: a small first model")
            v1 = r1["version"]
            s.note(f"run {r1['run_id']}: holdout f1 {r1['metrics'].get('f1', float('nan')):.4f}")
        with prog.step(f"register {MODEL} v{v1} with signature, lineage, drift profile") as s:
            rec = ds.get_version(MODEL, v1)
            s.note(f"{len(rec['signature']['inputs'])} features, data {rec['training_data']['digest'][:19]}..., "
                   f"artifact sha256 {rec['artifact']['sha256'][:12]}...")
        with prog.step(f"approve v{v1} (four-eyes: requester != approver)") as s:
            ds.request_approval(MODEL, v1, comment="first model for the diagnosis endpoint")
            approver.decide_approval(MODEL, v1, "approve", comment="holdout metrics reviewed")
            s.note("approved by 'approver'; the production alias is governed")
        with prog.step(f"deploy v{v1} as stable of endpoint {ENDPOINT}") as s:
            ops.set_stable(ENDPOINT, MODEL, v1, reason="quickstart first deploy")
            summary["cards"] = [write_card(ops, MODEL, v1, endpoint=ENDPOINT)]
            s.note(f"model card written: {_file_of(store, summary['cards'][-1]['html'])}")
        tokens = add_api_keys(settings, [(f"app-{i:04d}", ["mlops:predict"]) for i in range(args.callers)])
        traffic = Traffic(state["url"], tokens)
        with prog.step("send traffic through the gateway") as s:
            got = _wait(lambda: traffic.send(X, n=50, seed=99)["versions"].get("stable") == [v1], 20)
            t = traffic.send(X, n=args.requests, seed=1)
            s.note(f"{sum(t['by_variant'].values())} predictions by {args.callers} callers: {t['by_variant']}, "
                   f"errors {t['errors']}")
            if not got:
                raise UnavailableError(f"the stable function did not serve v{v1} within 20 s; see "
                                       "`mlops local logs inference-diagnosis-stable`", code="not_serving")
        with prog.step("train v2 (more trees, deeper)") as s:
            r2 = train_and_register(project / ENTRYPOINT, MODEL, registry=ds, runs=runs,
                                    params={"n_estimators": "150", "max_depth": "3"},
                                    description="quickstart v2: the candidate")
            v2 = r2["version"]
            s.note(f"run {r2['run_id']}: holdout f1 {r2['metrics'].get('f1', float('nan')):.4f}")
        with prog.step(f"validate v{v2} against production (f1, min delta 0)") as s:
            gate = validate_candidate(ds, runs, MODEL, v2, against="production", metric="f1", min_delta=0.0)
            s.note(gate.reason)
            if not gate.passed:
                raise MlopsError(f"validation gate refused v{v2}: {gate.reason}", code="validation_failed")
            ds.request_approval(MODEL, v2, comment="passed the validation gate")
            approver.decide_approval(MODEL, v2, "approve", comment="gate passed")
        with prog.step(f"canary v{v2} at 10% of callers") as s:
            dep = ops.start_canary(ENDPOINT, v2, 1000, reason="quickstart canary")
            s.note(f"deployment generation {dep['generation']}: stable v{dep['stable_version']}, "
                   f"canary v{dep['canary_version']} at {dep['canary_weight_bp'] / 100:g}%")
        with prog.step("send traffic with ground-truth feedback (A/B)") as s:
            _wait(lambda: "canary" in traffic.send(X, n=100, seed=98)["by_variant"], 20)
            t = traffic.send(X, y, n=args.requests, seed=2)
            s.note(f"{sum(t['by_variant'].values())} predictions + feedback: {t['by_variant']} "
                   f"(versions {t['versions']})")
            summary["traffic"] = t
        with prog.step("A/B analysis (always-valid sequential test, SRM check)") as s:
            time.sleep(settings.log_shipping.max_age_s + 1.5)
            dep = ops.get_deployment(ENDPOINT)
            report = analyze(iter_log_objects(store, ENDPOINT, since=dep.get("updated_at")),
                             weight_bp=dep["canary_weight_bp"], endpoint=ENDPOINT, since=dep.get("updated_at"),
                             challenger="canary")
            summary["ab"] = report.to_dict()
            s.note(f"decision: {report.decision} - {report.reason}")
        with prog.step("inject drift: production inputs shift") as s:
            import numpy as np

            Xd = X * np.where(np.arange(X.shape[1]) % 2 == 0, 1.8, 1.0)     # every other feature scaled
            t = traffic.send(Xd, n=args.requests, seed=3)
            t2 = traffic.send(Xd, n=args.requests, seed=4)
            s.note(f"{sum(t['by_variant'].values()) + sum(t2['by_variant'].values())} drifted requests")
        with prog.step("drift report (KS/PSI/chi2 + BH + effect size)") as s:
            def drifted_reports():
                keys = [k for k in store.list(f"reports/drift/{ENDPOINT}/") if k.endswith(".json")]
                docs = [(k, json.loads(store.get(k).data)) for k in keys]
                return [(k, d) for k, d in docs if d["dataset"]["drifted"]]

            found = _wait(drifted_reports, args.timeout / 3)
            if not found:
                raise UnavailableError("no drift report appeared; see `mlops local logs drift`", code="no_report")
            key, doc = found[-1]
            s.note(f"{len(found)} report(s); latest: drifted={doc['dataset']['drifted']}, "
                   f"share {doc['dataset'].get('share'):.2f}, persistence {doc.get('persistence', {}).get('history')}")
            summary["drift_report"] = _file_of(store, key[:-5] + ".html")
        notes_file = settings.state_dir / settings.notifications.local_file
        with prog.step("alarm fires (drift rule, same MQL as OCI)") as s:
            alarms = _wait(lambda: [m for m in (read_ndjson_messages(notes_file) if notes_file.exists() else [])
                                    if (m.get("body") or {}).get("type") == "OK_TO_FIRING"], args.timeout / 3)
            if not alarms:
                raise UnavailableError("no alarm fired; see `mlops alarms eval`", code="no_alarm")
            s.note(f"{alarms[0]['title']}")
        with prog.step("notification delivered (local sink, guardian subscription)") as s:
            s.note(f"{len(read_ndjson_messages(notes_file))} message(s) in {notes_file}")
        with prog.step("guardian rolls the canary back") as s:
            dep = _wait(lambda: (lambda d: d if not d.get("canary_version") else None)(ops.get_deployment(ENDPOINT)),
                        args.timeout / 3)
            if not dep:
                raise UnavailableError("the guardian did not roll the canary back; see `mlops local logs guardian`",
                                       code="no_rollback")
            s.note(f"by {dep['updated_by']}: {dep.get('reason')}")
            requests = sorted(store.list("retrain-requests/"))
            if requests:
                req = json.loads(store.get(requests[-1]).data)
                s.note(f"retraining {req.get('status')}: {req.get('run') or req.get('reason')}")
        with prog.step("audit trail verified, model cards written") as s:
            verdict = ops.audit.verify()
            summary["cards"].append(write_card(ops, MODEL, v2))
            s.note(f"audit log: {verdict.get('entries', verdict.get('checked'))} entries, "
                   f"ok={verdict.get('ok')}")
    finally:
        if state is not None and not args.keep:
            stop_runtime(settings)

    root = settings.path(settings.store.path)
    print("\nDone. What happened is on disk:")
    print(f"  drift report      {summary.get('drift_report')}")
    for c in summary.get("cards", []):
        print(f"  model card        {_file_of(store, c['html'])}   (and .md)")
    print(f"  notifications     {notes_file}")
    print(f"  function logs     {settings.state_dir / 'logs'}/")
    print(f"  metrics (SQLite)  {settings.state_dir / 'metrics.sqlite'}")
    print(f"  registry store    {root}/  (audit/, models/, deployments/, prediction-logs/)")
    print(f"\nExplore it:  mlops --project-dir {project} --stack {STACK} deploy history {ENDPOINT}")
    print(f"             mlops --project-dir {project} --stack {STACK} audit verify")
    print(f"             mlops --project-dir {project} --stack {STACK} ab status {ENDPOINT}")
    if args.keep:
        print(f"  the runtime is still up at {state['url']}; stop it with "
              f"mlops --project-dir {project} --stack {STACK} local down")
    return 0
