"""The guardian's config: its automatic actions and how a retraining request starts."""

from __future__ import annotations

from dataclasses import dataclass

from mlops import envvars as ev
from mlops.fnconfig.base import BOOL, LIST, OPT, STR, AuditedFunctionConfig, env_field


@dataclass(frozen=True, kw_only=True)
class GuardianConfig(AuditedFunctionConfig):
    """The guardian: which automatic actions it takes and how a retraining request is started."""

    function: str = env_field(ev.FUNCTION, STR, "guardian")
    auto_rollback: bool = env_field(ev.AUTO_ROLLBACK, BOOL, True)
    auto_retrain: bool = env_field(ev.AUTO_RETRAIN, BOOL, True)
    ab_auto_promote: bool = env_field(ev.AB_AUTO_PROMOTE, BOOL, False)
    rollback_on_drift: bool = env_field(ev.ROLLBACK_ON_DRIFT, BOOL, True)
    endpoints: tuple[str, ...] = env_field(ev.ENDPOINTS, LIST, ())
    notify_file: str | None = env_field(ev.NOTIFY_FILE, OPT)  # local
    notify_topic_id: str | None = env_field(ev.NOTIFY_TOPIC_ID, OPT)  # cloud: added at deploy time
    retrain_entrypoint: str | None = env_field(ev.RETRAIN_ENTRYPOINT, OPT)  # local: the training script
    build_pipeline_id: str | None = env_field(ev.BUILD_PIPELINE_ID, OPT)  # cloud: added at deploy time
