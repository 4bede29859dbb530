"""Seeded prediction/feedback record streams of a simulated endpoint, in the inference function's format."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 22, 17, 0, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cohort_of(principal: str, weight_bp: int) -> str:
    """The authorizer's rule: a hash bucket 0..9999 of the principal against the weight."""
    bucket = int.from_bytes(hashlib.sha256(principal.encode()).digest()[:8], "big") % 10000
    return "canary" if bucket < weight_bp else "stable"


@dataclass
class Experiment:
    """Knobs of one simulated experiment; ``records()`` returns the shuffled record stream."""

    n_requests: int = 4000
    n_principals: int | None = 1000  # None: every request comes from a new caller
    weight_bp: int = 2000
    acc_stable: float = 0.80
    acc_canary: float = 0.80
    shadow_share: float = 0.0  # share of stable requests also scored by the candidate
    acc_shadow: float = 0.80
    shadow_agreement: float = 0.7  # P(shadow correctness copies stable's) on a shadowed request
    coverage: float = 0.9  # share of predictions that get feedback
    duplicate_feedback: float = 0.0  # share of labelled predictions whose feedback is sent twice
    drop_canary_principals: float = 0.0  # share of canary callers whose records vanish (an SRM)
    error_rate_canary: float = 0.0
    stable_version: int = 3
    candidate_version: int = 4
    endpoint: str = "churn"
    seed: int = 0
    noise_lines: int = 0  # function log lines mixed in

    def records(self) -> list[Any]:
        rng = random.Random(self.seed)
        principals = [f"{rng.getrandbits(64):016x}" for _ in range(self.n_principals or 0)]
        vanished = {
            p
            for p in principals
            if cohort_of(p, self.weight_bp) == "canary" and rng.random() < self.drop_canary_principals
        }
        out: list[Any] = []
        for i in range(self.n_requests):
            principal = rng.choice(principals) if principals else f"{rng.getrandbits(64):016x}"
            cohort = cohort_of(principal, self.weight_bp)
            ts = T0 + timedelta(milliseconds=250 * i)
            pid = f"{rng.getrandbits(128):032x}"
            actual = rng.randrange(2)
            acc = self.acc_canary if cohort == "canary" else self.acc_stable
            u = rng.random()
            correct = u < acc
            error = cohort == "canary" and rng.random() < self.error_rate_canary
            rec = {
                "kind": "prediction",
                "ts": iso(ts),
                "prediction_id": pid,
                "request_id": f"r{i}",
                "endpoint": self.endpoint,
                "model": self.endpoint,
                "version": self.candidate_version if cohort == "canary" else self.stable_version,
                "variant": cohort,
                "cohort": cohort,
                "principal": principal,
                "latency_ms": round(rng.lognormvariate(-0.5, 0.4), 4),
                "prediction": None if error else (actual if correct else 1 - actual),
                "confidence": None if error else round(rng.uniform(0.5, 1.0), 3),
            }
            if error:
                rec["error"] = {"code": "internal_error"}
                rec["status"] = 500
            if principal in vanished:
                continue
            out.append(rec)
            if cohort == "stable" and rng.random() < self.shadow_share:
                u2 = u if rng.random() < self.shadow_agreement else rng.random()
                sh_correct = u2 < self.acc_shadow
                out.append(
                    {
                        **rec,
                        "variant": "shadow",
                        "version": self.candidate_version,
                        "latency_ms": round(rng.lognormvariate(-0.3, 0.4), 4),
                        "prediction": actual if sh_correct else 1 - actual,
                    }
                )
            if not error and rng.random() < self.coverage:
                fb = {
                    "kind": "feedback",
                    "ts": iso(ts + timedelta(minutes=5)),
                    "prediction_id": pid,
                    "endpoint": self.endpoint,
                    "actual": actual,
                }
                out.append(fb)
                if rng.random() < self.duplicate_feedback:
                    out.append(dict(fb))
        out.extend(f"fdk: handled request {k}" for k in range(self.noise_lines))
        rng.shuffle(out)
        return out

    def ndjson(self) -> bytes:
        return b"".join(
            (json.dumps(r) if isinstance(r, dict) else r).encode() + b"\n" for r in self.records()
        )
