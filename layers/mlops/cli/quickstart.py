"""``mlops quickstart``: the whole model lifecycle on this machine, in one command, with real parts.

Every run gets a fresh project directory under ``.mlops/quickstart/`` (stack file, store,
state, secrets), so it never disturbs the ``local`` stack and always starts from zero:
start the local runtime -> train v1 -> register -> approve -> deploy -> traffic -> train v2
-> validate -> canary at 10% -> traffic with feedback (A/B) -> inject drift -> drift report
-> alarm -> notification -> guardian rolls the canary back -> model cards -> summary.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops.cli.quickstart_steps import ENDPOINT, ENTRYPOINT, MODEL, STEPS, Run, file_of
from mlops.cli.quickstart_traffic import Traffic as Traffic  # defined here before
from mlops.errors import MlopsError, UnavailableError

STACK = "quickstart"
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

    def __enter__(self) -> _Step:
        self.t = time.perf_counter()
        self.p.out.write(f"[{self.p.n:2d}/{self.p.total}] {self.title} ")
        self.p.out.flush()
        self.notes: list[str] = []
        return self

    def note(self, text: str) -> None:
        self.notes.append(text)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: object) -> None:
        dt = time.perf_counter() - self.t
        status = "ok" if et is None else "FAILED"
        self.p.out.write("." * max(2, 44 - len(self.title)) + f" {status} ({dt:.1f}s)\n")
        for n in self.notes:
            self.p.out.write(f"         {n}\n")
        self.p.out.flush()


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


def _new_run(args) -> Run:
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
    return Run(args=args, project=project, settings=load_stack(STACK, project))


def _print_summary(run: Run) -> None:
    settings, project, store = run.settings, run.project, run.store
    root = settings.path(STORE_DIR)
    print("\nDone. What happened is on disk:")
    print(f"  drift report      {run.summary.get('drift_report')}")
    for c in run.summary.get("cards", []):
        print(f"  model card        {file_of(store, c['html'])}   (and .md)")
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
