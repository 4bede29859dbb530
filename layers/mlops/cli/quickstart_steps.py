"""The quickstart's lifecycle, step by step (``STEPS``): each step a function of the run's shared state.

start the local runtime -> train v1 -> register -> approve -> deploy -> traffic -> train v2
-> validate -> canary at 10% -> traffic with feedback (A/B) -> inject drift -> drift report
-> alarm -> notification -> guardian rolls the canary back -> model cards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlops.cli.quickstart_traffic import Traffic, wait_for
from mlops.errors import MlopsError, UnavailableError

if TYPE_CHECKING:
    from mlops.settings import StackSettings

MODEL = "breast-cancer"
ENDPOINT = "diagnosis"
ENTRYPOINT = "pipelines/train/train.py"


class Notes(Protocol):
    """Where a step writes what it did (the progress line of the step)."""

    def note(self, text: str) -> None: ...


def file_of(store, key: str) -> str:
    """Where a key of the local file store lives on disk (the summary points at real files)."""
    path_of = getattr(store, "path_of", None)  # only the local file store has files to point at
    return str(path_of(key)) if path_of else key


@dataclass
class Run:
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


def _start(run: Run, s: Notes) -> None:
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


def _train(run: Run, s: Notes, params: dict[str, str], description: str) -> int:
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


def _train_v1(run: Run, s: Notes) -> None:
    run.v1 = _train(
        run,
        s,
        {"n_estimators": "15", "max_depth": "1", "learning_rate": "0.05"},
        "quickstart v1: a small first model",
    )


def _register_v1(run: Run, s: Notes) -> None:
    rec = run.ds.get_version(MODEL, run.v1)
    s.note(
        f"{len(rec['signature']['inputs'])} features, data {rec['training_data']['digest'][:19]}..., "
        f"artifact sha256 {rec['artifact']['sha256'][:12]}..."
    )


def _approve_v1(run: Run, s: Notes) -> None:
    run.ds.request_approval(MODEL, run.v1, comment="first model for the diagnosis endpoint")
    run.approver.decide_approval(MODEL, run.v1, "approve", comment="holdout metrics reviewed")
    s.note("approved by 'approver'; the production alias is governed")


def _deploy_v1(run: Run, s: Notes) -> None:
    from mlops.cards import write_card

    ops, v1 = run.ops, run.v1
    ops.deployments().set_stable(ENDPOINT, MODEL, v1, reason="quickstart first deploy")
    run.summary["cards"] = [write_card(ops, MODEL, v1, endpoint=ENDPOINT)]
    s.note(f"model card written: {file_of(run.store, run.summary['cards'][-1]['html'])}")


def _traffic(run: Run, s: Notes) -> None:
    from mlops.local.setup import add_api_keys

    assert run.state is not None
    args, X, v1 = run.args, run.X, run.v1
    tokens = add_api_keys(run.settings, [(f"app-{i:04d}", ["mlops:predict"]) for i in range(args.callers)])
    run.traffic = traffic = Traffic(run.state["url"], tokens, ENDPOINT)
    got = wait_for(lambda: traffic.send(X, n=50, seed=99)["versions"].get("stable") == [v1], 20)
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


def _train_v2(run: Run, s: Notes) -> None:
    run.v2 = _train(run, s, {"n_estimators": "150", "max_depth": "3"}, "quickstart v2: the candidate")


def _validate_v2(run: Run, s: Notes) -> None:
    from mlops.runs.gate import validate_candidate

    ds, v2 = run.ds, run.v2
    gate = validate_candidate(ds, run.runs, MODEL, v2, against="production", metric="f1", min_delta=0.0)
    s.note(gate.reason)
    if not gate.passed:
        raise MlopsError(f"validation gate refused v{v2}: {gate.reason}", code="validation_failed")
    ds.request_approval(MODEL, v2, comment="passed the validation gate")
    run.approver.decide_approval(MODEL, v2, "approve", comment="gate passed")


def _canary_v2(run: Run, s: Notes) -> None:
    dep = run.ops.deployments().start_canary(ENDPOINT, run.v2, 1000, reason="quickstart canary")
    s.note(
        f"deployment generation {dep['generation']}: stable v{dep['stable_version']}, "
        f"canary v{dep['canary_version']} at {dep['canary_weight_bp'] / 100:g}%"
    )


def _traffic_with_feedback(run: Run, s: Notes) -> None:
    traffic, X = run.traffic, run.X
    assert traffic is not None
    wait_for(lambda: "canary" in traffic.send(X, n=100, seed=98)["by_variant"], 20)
    t = traffic.send(X, run.y, n=run.args.requests, seed=2)
    s.note(
        f"{sum(t['by_variant'].values())} predictions + feedback: {t['by_variant']} "
        f"(versions {t['versions']})"
    )
    run.summary["traffic"] = t


def _ab_analysis(run: Run, s: Notes) -> None:
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


def _inject_drift(run: Run, s: Notes) -> None:
    import numpy as np

    assert run.traffic is not None
    X, n = run.X, run.args.requests
    Xd = X * np.where(np.arange(X.shape[1]) % 2 == 0, 1.8, 1.0)  # every other feature scaled
    t = run.traffic.send(Xd, n=n, seed=3)
    t2 = run.traffic.send(Xd, n=n, seed=4)
    s.note(f"{sum(t['by_variant'].values()) + sum(t2['by_variant'].values())} drifted requests")


def _drift_report(run: Run, s: Notes) -> None:
    store = run.store

    def drifted_reports():
        keys = [k for k in store.list(f"reports/drift/{ENDPOINT}/") if k.endswith(".json")]
        docs = [(k, json.loads(store.get(k).data)) for k in keys]
        return [(k, d) for k, d in docs if d["dataset"]["drifted"]]

    found = wait_for(drifted_reports, run.args.timeout / 3)
    if not found:
        raise UnavailableError("no drift report appeared; see `mlops local logs drift`", code="no_report")
    key, doc = found[-1]
    s.note(
        f"{len(found)} report(s); latest: drifted={doc['dataset']['drifted']}, "
        f"share {doc['dataset'].get('share'):.2f}, persistence {doc.get('persistence', {}).get('history')}"
    )
    run.summary["drift_report"] = file_of(store, key[:-5] + ".html")


def _alarm_fires(run: Run, s: Notes) -> None:
    from mlops.monitoring.notify import read_ndjson_messages

    notes_file = run.notes_file
    alarms = wait_for(
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


def _notification(run: Run, s: Notes) -> None:
    from mlops.monitoring.notify import read_ndjson_messages

    s.note(f"{len(read_ndjson_messages(run.notes_file))} message(s) in {run.notes_file}")


def _rollback(run: Run, s: Notes) -> None:
    ops, store = run.ops, run.store
    dep = wait_for(
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


def _audit_and_cards(run: Run, s: Notes) -> None:
    from mlops.cards import write_card

    verdict = run.ops.audit.verify()
    write_card(run.ops, MODEL, run.v1, endpoint=ENDPOINT)  # rewritten: now it tells the canary and rollback
    run.summary["cards"].append(write_card(run.ops, MODEL, run.v2))
    s.note(f"audit log: {verdict.get('entries', verdict.get('checked'))} entries, ok={verdict.get('ok')}")


# The lifecycle, step by step: (title, with {run.v1}/{run.v2} filled in when the step starts; function).
STEPS: tuple[tuple[str, Callable[[Run, Notes], None]], ...] = (
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
