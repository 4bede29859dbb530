"""The guardian: acts on alarms (roll a bad canary back, ask for retraining) and on A/B verdicts.

It is subscribed to the alarm topic (an ``ORACLE_FUNCTIONS`` subscription in the cloud,
a function subscription locally), so it receives OCI's alarm message JSON. A/B verdicts
(``ab_verdict``) are checked by the drift function on every new prediction-log window,
which already holds the records; ``Guardian.ab_check`` accepts object-created events too
for deployments that route them here. Every action is audited by the registry and
announced through the notifier, saying what happened, where, why, and what was done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlops.errors import BadRequestError, ConfigError, MlopsError
from mlops.fnconfig.guardian import GuardianConfig
from mlops.jsonbody import parse_json
from mlops.monitoring.alarms import ACTION_RETRAIN, ACTION_ROLLBACK
from mlops.monitoring.notify import Notifier, format_action_message, parse_alarm_message


class Retrainer(Protocol):
    def request(
        self, *, endpoint: str, model: str | None, version: str | None, reason: str
    ) -> dict[str, Any]: ...


@dataclass
class StoreRetrainer:
    """Record a retraining request in the store (and, when given, start a runner for it)."""

    store: Any
    start: Callable[[dict[str, Any]], str | None] | None = None
    clock: Callable[[], float] = time.time

    def request(
        self, *, endpoint: str, model: str | None, version: str | None, reason: str
    ) -> dict[str, Any]:
        ts = self.clock()
        doc = {
            "endpoint": endpoint,
            "model": model,
            "version": version,
            "reason": reason,
            "requested_at": ts,
            "requested_by": "guardian",
            "status": "requested",
        }
        if self.start is not None:
            try:
                doc["run"] = self.start(doc)
                doc["status"] = "started"
            except Exception as exc:  # the request stays recorded for a person to pick up
                doc["status"] = f"start failed: {type(exc).__name__}: {exc}"
        key = f"retrain-requests/{endpoint}/{int(ts * 1000):015d}.json"
        from mlops.storage.base import put_once

        put_once(
            self.store, key, json.dumps(doc).encode(), if_none_match=True, content_type="application/json"
        )
        doc["key"] = key
        return doc


@dataclass
class DevOpsRetrainer:
    """Cloud: start a DevOps build run of the training pipeline through the oci SDK."""

    client: Any  # oci.devops.DevopsClient
    build_pipeline_id: str

    def request(
        self, *, endpoint: str, model: str | None, version: str | None, reason: str
    ) -> dict[str, Any]:
        import oci

        args = [
            oci.devops.models.BuildRunArgument(name="MLOPS_RETRAIN_ENDPOINT", value=endpoint),
            oci.devops.models.BuildRunArgument(name="MLOPS_RETRAIN_REASON", value=reason[:250]),
        ]
        details = oci.devops.models.CreateBuildRunDetails(
            build_pipeline_id=self.build_pipeline_id,
            display_name=f"retrain-{endpoint}-{int(time.time())}",
            build_run_arguments=oci.devops.models.BuildRunArgumentCollection(items=args),
        )
        run = self.client.create_build_run(details).data
        return {"endpoint": endpoint, "status": "started", "run": run.id, "reason": reason}


@dataclass
class Guardian:
    registry: Any  # mlops.registry.Registry
    notifier: Notifier
    retrainer: Retrainer | None = None
    auto_rollback: bool = True
    auto_retrain: bool = True
    rollback_on_drift: bool = True
    ab_check: Callable[[str], dict[str, Any] | None] | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ entry point
    def handle(self, payload: bytes | dict) -> dict[str, Any]:
        """Route one message: an alarm (OCI's JSON) or an object-created event."""
        doc = payload
        if isinstance(payload, (bytes, bytearray)):
            try:
                doc = parse_json(payload)  # the limits every route shares (depth, numbers, UTF-8)
            except BadRequestError as exc:
                if exc.code != "invalid_json":
                    raise
                raise BadRequestError(
                    "the guardian takes an alarm message or an Events CloudEvent (JSON)",
                    code="invalid_message",
                ) from None
        if isinstance(doc, dict) and str(doc.get("eventType", "")).startswith(
            "com.oraclecloud.objectstorage."
        ):
            return self.on_object_created(doc)
        if isinstance(doc, dict) and doc.get("kind") == "action":
            # our own announcements travel on the same topic the guardian is subscribed to
            return {"ignored": "action notice", "actions": []}
        return self.on_alarm(doc)

    # ------------------------------------------------------------------ alarms
    def on_alarm(self, doc: Any) -> dict[str, Any]:
        notice = parse_alarm_message(doc)
        done: list[dict[str, Any]] = []
        if not notice.firing:
            return {"alarm": notice.rule, "type": notice.type, "actions": done}
        endpoint = notice.actions.get(ACTION_ROLLBACK)
        if endpoint and self.auto_rollback:
            done.append(
                self._rollback(endpoint, f"alarm {notice.rule} is firing ({notice.severity})", notice.rule)
            )
        target = notice.actions.get(ACTION_RETRAIN)
        if target and self.rollback_on_drift and self.auto_rollback and target != endpoint:
            done.append(
                self._rollback(
                    target,
                    f"alarm {notice.rule}: the endpoint's inputs drifted while a canary "
                    "ran, so its evidence no longer applies",
                    notice.rule,
                )
            )
        if target and self.auto_retrain and self.retrainer is not None:
            dims = notice.dimensions()[0] if notice.dimensions() else {}
            done.append(
                self._retrain(
                    target,
                    dims.get("model"),
                    dims.get("version"),
                    f"alarm {notice.rule} is firing: the production model's inputs drifted",
                )
            )
        return {"alarm": notice.rule, "type": notice.type, "actions": done}

    def _rollback(self, endpoint: str, reason: str, rule: str | None = None) -> dict[str, Any]:
        try:
            dep = self.registry.deployments().get(endpoint)
        except MlopsError:
            dep = None
        canary = (dep or {}).get("canary_version")
        if not canary:
            return {"action": "rollback", "endpoint": endpoint, "result": "no canary to roll back"}
        try:
            self.registry.deployments(actor="guardian").rollback(endpoint, reason=reason)
        except MlopsError as exc:
            return {"action": "rollback", "endpoint": endpoint, "result": f"failed: {exc.message}"}
        what = f"rolled back canary v{canary} of endpoint {endpoint}: weight 0, stable keeps serving"
        self._announce(what, endpoint, rule, reason)
        return {
            "action": "rollback",
            "endpoint": endpoint,
            "version": canary,
            "result": "done",
            "reason": reason,
        }

    def _retrain(self, endpoint: str, model: str | None, version: str | None, reason: str) -> dict[str, Any]:
        if self.retrainer is None:  # the caller checks; a guardian without a retrainer never retrains
            return {"action": "retrain", "endpoint": endpoint, "result": "no retrainer"}
        req = self.retrainer.request(endpoint=endpoint, model=model, version=version, reason=reason)
        self.registry.audit_event(
            "guardian",
            "retrain.requested",
            f"endpoint:{endpoint}",
            {"model": model, "version": version, "reason": reason, "status": req.get("status")},
        )
        self._announce(
            f"requested retraining for endpoint {endpoint} ({req.get('status')})", endpoint, None, reason
        )
        return {
            "action": "retrain",
            "endpoint": endpoint,
            "result": req.get("status"),
            "request": req.get("key"),
        }

    # ------------------------------------------------------------------ A/B verdicts
    def on_object_created(self, event: dict[str, Any]) -> dict[str, Any]:
        name = str((event.get("data") or {}).get("resourceName") or "")
        parts = name.split("/")
        if len(parts) < 3 or parts[0] != "prediction-logs" or self.ab_check is None:
            return {"object": name, "actions": []}
        verdict = self.ab_check(parts[1])
        return {"object": name, "actions": [verdict] if verdict else []}

    def _announce(self, what: str, endpoint: str, rule: str | None, reason: str) -> None:
        title, body = format_action_message(what, endpoint=endpoint, rule=rule, details={"reason": reason})
        self.actions.append({"what": what, "endpoint": endpoint, "rule": rule, "reason": reason})
        try:
            self.notifier.publish(title, body)
        except MlopsError:
            pass  # the action is done and audited; a failed page must not undo it


def ab_verdict(
    registry: Any,
    store: Any,
    endpoint: str,
    notifier: Notifier | None = None,
    *,
    policy: Any = None,
    alpha: float = 0.05,
    mde: float = 0.02,
    min_samples: int = 100,
) -> dict[str, Any] | None:
    """Analyze the running canary of ``endpoint`` and act on the verdict under ``policy``.

    The window starts when the deployment last changed (the split check compares against one
    configured weight); promote and rollback go through the registry, so they are audited with
    the analysis' own sentence as the reason.
    """
    from mlops.ab import ABPolicy, analyze, decide_action, iter_log_objects

    try:
        dep = registry.deployments().get(endpoint)
    except MlopsError:
        return None
    if not dep or not dep.get("canary_version"):
        return None
    policy = policy or ABPolicy(auto_promote=True, auto_rollback=True)
    report = analyze(
        iter_log_objects(store, endpoint, since=dep.get("updated_at")),
        weight_bp=int(dep.get("canary_weight_bp") or 0),
        endpoint=endpoint,
        since=dep.get("updated_at"),
        challenger="canary",
        alpha=alpha,
        mde=mde,
        min_samples=min_samples,
    )
    action = decide_action(report, policy)
    out = {"action": action.kind, "endpoint": endpoint, "decision": report.decision, "reason": action.reason}
    if action.kind == "promote":
        registry.deployments(actor="guardian").promote(
            endpoint, reason=action.reason, expected_generation=dep.get("generation")
        )
    elif action.kind == "rollback":
        registry.deployments(actor="guardian").rollback(
            endpoint, reason=action.reason, expected_generation=dep.get("generation")
        )
    if action.kind != "none" and notifier is not None:
        title, body = format_action_message(
            action.reason,
            endpoint=endpoint,
            rule="ab",
            details={"decision": report.decision, "action": action.kind},
        )
        try:
            notifier.publish(title, body)
        except MlopsError:
            pass
    return out


def local_training_starter(config: GuardianConfig) -> Callable[[dict[str, Any]], str]:
    """Local only: a retraining request starts ``mlops train`` on the stack's training project.

    The run goes on in the background (its output in ``<state>/retrain-<ts>.log``); the
    request object in the store says it was started and where to look.
    """
    import os
    import subprocess
    import sys

    from mlops import envvars as ev

    if not config.project_dir or not config.retrain_entrypoint:
        missing = ev.PROJECT_DIR if not config.project_dir else ev.RETRAIN_ENTRYPOINT
        raise ConfigError(f"function config {missing} is not set; set it in the stack settings")
    project, entrypoint, stack = config.project_dir, config.retrain_entrypoint, config.stack
    log_dir = os.path.dirname(config.notify_file or os.path.join(project, ".mlops"))

    def start(request: dict[str, Any]) -> str:
        model = request.get("model")
        if not model:
            raise ValueError("the alarm named no model to retrain")
        log_path = os.path.join(log_dir, f"retrain-{int(time.time() * 1000)}.log")
        cmd = [
            sys.executable,
            "-m",
            "mlops.cli",
            "--stack",
            stack,
            "--project-dir",
            project,
            "train",
            entrypoint,
            "--model",
            model,
        ]
        with open(log_path, "ab") as log:
            subprocess.Popen(
                cmd,
                cwd=project,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=False,
            )
        return f"mlops train {entrypoint} --model {model} (log: {log_path})"

    return start
