"""Guardian function: subscribed to the alarm topic; rolls back bad canaries, requests retraining, acts on A/B."""

import os

from mlops.fnconfig.guardian import GuardianConfig
from mlops.function import fdk_handler
from mlops.guardian import DevOpsRetrainer, Guardian, Retrainer, StoreRetrainer
from mlops.http import Request, Response
from mlops.monitoring.fromenv import notifier_from_env
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
from mlops.registry.audit import audit_store_from_env
from mlops.secrets import secrets_from_env
from mlops.storage import open_store

_env = os.environ
_cfg = GuardianConfig.from_env(_env)  # first: a missing or bad variable is the error to report
_secrets = secrets_from_env(_env)
_store = open_store(_cfg.store, _secrets)
_registry = Registry(
    _store,
    actor="guardian",
    anchor=anchor_from_env(_env, _secrets),
    audit_store=audit_store_from_env(_env, _cfg.store, _secrets),
)
_retrainer: Retrainer
if _cfg.build_pipeline_id:
    import oci
    from mlops.monitoring.oci import resource_principal_signer

    _retrainer = DevOpsRetrainer(
        oci.devops.DevopsClient({}, signer=resource_principal_signer()), _cfg.build_pipeline_id
    )
elif _cfg.project_dir and _cfg.retrain_entrypoint:
    from mlops.guardian import local_training_starter

    _retrainer = StoreRetrainer(_store, start=local_training_starter(_cfg))
else:
    _retrainer = StoreRetrainer(_store)


_guardian = Guardian(
    _registry,
    notifier_from_env(_env),
    _retrainer,
    auto_rollback=_cfg.auto_rollback,
    auto_retrain=_cfg.auto_retrain,
    rollback_on_drift=_cfg.rollback_on_drift,
)


def _run(request: Request) -> Response:
    return Response(body=_guardian.handle(request.body))


handler = fdk_handler(_run)
