"""The drift function's config, with the drift job's thresholds (``DriftJobConfig``) nested."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops import envvars as ev
from mlops.fnconfig.base import (
    BOOL,
    FLOAT,
    INT,
    LIST,
    OPT,
    STR,
    AuditedFunctionConfig,
    EnvConfig,
    bad_value,
    env_field,
)


@dataclass(frozen=True)
class DriftJobConfig(EnvConfig):
    """How the drift job decides (see ``mlops.drift.detector`` and the settings' ``Drift``).

    ``persistence_k`` / ``persistence_n`` travel as one variable, ``MLOPS_DRIFT_PERSISTENCE=k/n``;
    ``namespace`` is the metrics namespace, which the function config carries (``DriftConfig.job``)."""

    alpha: float = env_field(ev.DRIFT_ALPHA, FLOAT, 0.05)
    effect_threshold: float = env_field(ev.DRIFT_EFFECT_THRESHOLD, FLOAT, 0.1)
    share_threshold: float = env_field(ev.DRIFT_SHARE_THRESHOLD, FLOAT, 0.3)
    dataset_rule: str = env_field(ev.DRIFT_DATASET_RULE, STR, "strong_or_count")  # |any|count|share
    count_threshold: int = env_field(ev.DRIFT_COUNT_THRESHOLD, INT, 2)
    strong_threshold: float = env_field(ev.DRIFT_STRONG_THRESHOLD, FLOAT, 0.25)
    persistence_k: int = 2
    persistence_n: int = 3
    min_rows: int = env_field(ev.DRIFT_MIN_ROWS, INT, 100)
    namespace: str = "mlops"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **explicit: Any) -> DriftJobConfig:
        """As ``EnvConfig.from_env``, and ``persistence_k`` / ``persistence_n`` from ``k/n``."""
        cfg = super().from_env(environ, **explicit)
        raw = environ.get(ev.DRIFT_PERSISTENCE)
        if raw in (None, ""):
            return cfg
        k, n = parse_persistence(str(raw))
        if explicit.get("persistence_k") is not None:
            k = cfg.persistence_k
        if explicit.get("persistence_n") is not None:
            n = cfg.persistence_n
        return dataclasses.replace(cfg, persistence_k=k, persistence_n=n)

    def to_env(self) -> dict[str, str]:
        """As ``EnvConfig.to_env``, and ``MLOPS_DRIFT_PERSISTENCE=k/n``."""
        out = super().to_env()
        out[ev.DRIFT_PERSISTENCE] = f"{self.persistence_k}/{self.persistence_n}"
        return out


def parse_persistence(raw: str) -> tuple[int, int]:
    """``"k/n"`` (or ``"k"``, meaning k of k) as two whole numbers; a ``ConfigError`` otherwise."""
    k, _, n = raw.partition("/")
    try:
        return int(k), int(n or k)
    except ValueError:
        raise bad_value(ev.DRIFT_PERSISTENCE, raw, "k/n (two whole numbers)") from None


def _job() -> Any:
    return field(default_factory=DriftJobConfig)


@dataclass(frozen=True, kw_only=True)
class DriftConfig(AuditedFunctionConfig):
    """The drift function: the job's thresholds, the endpoints, whether it acts on A/B verdicts."""

    function: str = env_field(ev.FUNCTION, STR, "drift")
    drift: DriftJobConfig = _job()
    endpoints: tuple[str, ...] = env_field(ev.ENDPOINTS, LIST, ())
    ab_auto_promote: bool = env_field(ev.AB_AUTO_PROMOTE, BOOL, False)
    notify_file: str | None = env_field(ev.NOTIFY_FILE, OPT)  # local: A/B verdicts go there too
    notify_topic_id: str | None = env_field(ev.NOTIFY_TOPIC_ID, OPT)  # cloud: added at deploy time

    @property
    def job(self) -> DriftJobConfig:
        """The drift job's config, posting its metrics under this function's namespace."""
        return dataclasses.replace(self.drift, namespace=self.metrics_namespace)
