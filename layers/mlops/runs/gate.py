"""The validation gate: is a candidate version at least as good as the one an alias points to?

Both models are scored on the same data: the holdout recorded by the candidate's training
run (``mlops train`` stores it with the run), with the same metric code used at training
time. The gate passes when ``improvement(metric) >= min_delta`` (improvement is
candidate - baseline, or baseline - candidate for error metrics such as rmse). When the
alias is not set yet there is nothing to beat and the gate passes, saying so. Models whose
input features differ cannot be compared on one holdout: the gate fails, naming them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import BadRequestError, NotFoundError, UnprocessableError
from mlops.registry import Registry
from mlops.runs.evaluation import LOWER_IS_BETTER, evaluate, improvement
from mlops.runs.store import RunStore

TOLERANCE = 1e-12


@dataclass
class GateResult:
    """The verdict of one validation, with everything needed to explain it."""

    model: str
    metric: str
    min_delta: float
    candidate: int
    baseline: int | None
    against: str
    passed: bool
    reason: str
    delta: float | None = None
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    holdout_run: str | None = None
    holdout_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _inputs(rec: dict[str, Any]) -> list[str]:
    return [f["name"] for f in (rec.get("signature") or {}).get("inputs", [])]


def candidate_run(registry: Registry, runs: RunStore, model: str, version: int) -> dict[str, Any]:
    """The training run that registered ``model`` ``version`` (by its run_id tag, else by search)."""
    rec = registry.get_version(model, version)
    run_id = (rec.get("tags") or {}).get("run_id") or (rec.get("source") or {}).get("run_id")
    run = runs.get(run_id) if run_id else runs.find_by_version(model, version)
    if run is None:
        raise UnprocessableError(
            f"{model} v{version} has no recorded training run with a holdout; "
            "register candidates with `mlops train` so the gate can score them",
            code="no_holdout",
        )
    return run


def validate_candidate(
    registry: Registry,
    runs: RunStore,
    model: str,
    candidate: int | str,
    *,
    against: str = "production",
    metric: str = "f1",
    min_delta: float = 0.0,
    record: bool = True,
) -> GateResult:
    """Score the candidate and the ``against`` version on the candidate's holdout; see module doc.

    With ``record`` the verdict is appended to the registry's audit trail
    (``validation.passed`` / ``validation.failed`` on ``model:<name>``).
    """
    result = _judge(registry, runs, model, candidate, against=against, metric=metric, min_delta=min_delta)
    if record:
        details = {k: v for k, v in result.to_dict().items() if k != "model"}
        registry.audit_event(
            None, "validation.passed" if result.passed else "validation.failed", f"model:{model}", details
        )
    return result


def _judge(
    registry: Registry,
    runs: RunStore,
    model: str,
    candidate: int | str,
    *,
    against: str,
    metric: str,
    min_delta: float,
) -> GateResult:
    if not math.isfinite(min_delta):
        raise BadRequestError("--min-delta must be a finite number")
    cand_v = registry.resolve(model, candidate)
    cand_rec = registry.get_version(model, cand_v)
    base = GateResult(model, metric, min_delta, cand_v, None, against, False, "")
    try:
        base_v = registry.resolve(model, against)
    except NotFoundError as exc:
        if getattr(exc, "code", "") not in ("alias_not_found", "version_not_found"):
            raise
        base.passed = True
        base.reason = (
            f"{model} has no {against!r} version yet: nothing to compare against, "
            f"so candidate v{cand_v} passes as the first one"
        )
        return base
    base.baseline = base_v
    if base_v == cand_v:
        base.passed = True
        base.reason = f"candidate v{cand_v} already is {against!r}"
        return base
    return _score_on_holdout(registry, runs, base, cand_rec, base_v)


def _score_on_holdout(
    registry: Registry, runs: RunStore, base: GateResult, cand_rec: dict[str, Any], base_v: int
) -> GateResult:
    """Fill ``base`` (candidate and baseline ``base_v`` resolved, different) with both models' scores on
    the candidate run's holdout and the verdict."""
    model, metric, against = base.model, base.metric, base.against
    cand_v = base.candidate
    run = candidate_run(registry, runs, model, cand_v)
    X, y = runs.holdout(run)
    base.holdout_run, base.holdout_rows = run["run_id"], int(len(y))
    base_model, base_rec = registry.load_model(model, base_v)
    cand_model, _ = registry.load_model(model, cand_v)
    c_names, b_names = _inputs(cand_rec), _inputs(base_rec)
    if c_names != b_names:
        only_c = [n for n in c_names if n not in b_names][:5]
        only_b = [n for n in b_names if n not in c_names][:5]
        base.reason = (
            f"cannot compare v{cand_v} with {against} v{base_v} on one holdout: their input features "
            f"differ (only in the candidate: {only_c or '-'}; only in {against}: {only_b or '-'}; "
            "or a different order)"
        )
        return base
    base.candidate_metrics = evaluate(cand_model, X, y)
    base.baseline_metrics = evaluate(base_model, X, y)
    if metric not in base.candidate_metrics or metric not in base.baseline_metrics:
        available = ", ".join(sorted(set(base.candidate_metrics) & set(base.baseline_metrics)))
        raise BadRequestError(f"metric {metric!r} is not available for {model}; available: {available}")
    c, b = base.candidate_metrics[metric], base.baseline_metrics[metric]
    base.delta = improvement(metric, c, b)
    base.passed = base.delta >= base.min_delta - TOLERANCE
    direction = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
    facts = (
        f"{metric} {c:.4f} for candidate v{cand_v} vs {b:.4f} for {against} v{base_v} "
        f"({direction}; improvement {base.delta:+.4f}, required {base.min_delta:+.4f}) "
        f"on the {len(y)}-row holdout of run {run['run_id']}"
    )
    if base.passed:
        base.reason = f"candidate passes: {facts}"
    elif base.delta < 0:
        base.reason = f"candidate is worse than {against}: {facts}"
    else:
        base.reason = f"candidate does not improve enough on {against}: {facts}"
    return base
