"""What a local build run produced: per-step and per-artifact results, the build's outcome, its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops.pipeline.variables import Masker
from mlops.texttable import table

SUCCEEDED, FAILED, TIMED_OUT, SKIPPED, NOT_RUN = "SUCCEEDED", "FAILED", "TIMED_OUT", "SKIPPED", "NOT_RUN"


@dataclass
class StepResult:
    """What happened to one step (or onFailure command)."""

    name: str
    where: str
    status: str
    duration_s: float = 0.0
    exit_code: int | None = None
    reason: str = ""
    tail: list[str] = field(default_factory=list)  # last output lines, masked
    on_failure: list[StepResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "where": self.where,
            "status": self.status,
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code,
            "reason": self.reason,
            "tail": list(self.tail),
            "on_failure": [r.to_dict() for r in self.on_failure],
        }


@dataclass
class ArtifactResult:
    name: str
    type: str
    location: str
    status: str  # SUCCEEDED | FAILED | SKIPPED | NOT_RUN
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "location": self.location,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass
class BuildResult:
    """The outcome of a build run: per-step results, exported variables, output artifacts."""

    build_run_id: str
    status: str
    steps: list[StepResult]
    exported: dict[str, str]
    artifacts: list[ArtifactResult]
    failed_step: str | None = None
    reason: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED

    def to_dict(self, masker: Masker | None = None) -> dict[str, Any]:
        m = masker.mask if masker else (lambda s: s)
        return {
            "build_run_id": self.build_run_id,
            "status": self.status,
            "failed_step": self.failed_step,
            "reason": m(self.reason),
            "duration_s": round(self.duration_s, 3),
            "steps": [s.to_dict() for s in self.steps],
            "exported_variables": {k: m(v) for k, v in self.exported.items()},
            "output_artifacts": [a.to_dict() for a in self.artifacts],
        }


def format_report(result: BuildResult, masker: Masker | None = None) -> str:
    """The step-by-step summary printed after a build: status, duration, reason per step."""
    m = masker.mask if masker else (lambda s: s)
    rows = []
    for i, s in enumerate(result.steps, 1):
        rows.append(
            {
                "#": str(i),
                "step": s.name,
                "status": s.status,
                "duration": f"{s.duration_s:.1f}s",
                "detail": m(s.reason),
            }
        )
        for h in s.on_failure:
            rows.append(
                {
                    "#": "",
                    "step": f"  -> {h.name}",
                    "status": h.status,
                    "duration": f"{h.duration_s:.1f}s",
                    "detail": m(h.reason),
                }
            )
    lines = ["", table(rows, ["#", "step", "status", "duration", "detail"])]
    if result.exported:
        lines += ["", "exported variables:"]
        lines += [f"  {k}={m(v)}" for k, v in result.exported.items()]
    if result.artifacts:
        lines += ["", "output artifacts:"]
        lines += [
            f"  {a.name} ({a.type}) {m(a.location)}: {a.status}" + (f" - {m(a.detail)}" if a.detail else "")
            for a in result.artifacts
        ]
    lines.append("")
    if result.ok:
        lines.append(f"build {result.build_run_id} SUCCEEDED in {result.duration_s:.1f} s")
    else:
        lines.append(f"build {result.build_run_id} FAILED in {result.duration_s:.1f} s: {m(result.reason)}")
    return "\n".join(lines)
