"""Guardian function: subscribed to the alarm topic; rolls back bad canaries, requests retraining, acts on A/B."""

import os

from mlops import envvars as ev
from mlops.function import fdk_handler
from mlops.guardian import DevOpsRetrainer, Guardian, StoreRetrainer
from mlops.http import Request, Response
from mlops.monitoring.fromenv import notifier_from_env
from mlops.registry import Registry
from mlops.registry.anchor import anchor_from_env
from mlops.registry.audit import audit_store_from_env
from mlops.secrets import secrets_from_env
from mlops.storage import StoreConfig, open_store

_env = os.environ
_store_config = StoreConfig.from_env(_env)      # first: a missing store variable is the error to report
_secrets = secrets_from_env(_env)
_store = open_store(_store_config, _secrets)
_registry = Registry(_store, actor="guardian", anchor=anchor_from_env(_env, _secrets),
                     audit_store=audit_store_from_env(_env, _store_config, _secrets))
_pipeline = ev.get(_env, ev.BUILD_PIPELINE_ID)
if _pipeline:
    import oci
    from mlops.monitoring.oci import resource_principal_signer
    _retrainer = DevOpsRetrainer(oci.devops.DevopsClient({}, signer=resource_principal_signer()), _pipeline)
elif ev.get(_env, ev.PROJECT_DIR) and ev.get(_env, ev.RETRAIN_ENTRYPOINT):
    from mlops.guardian import local_training_starter
    _retrainer = StoreRetrainer(_store, start=local_training_starter(_env))
else:
    _retrainer = StoreRetrainer(_store)


_guardian = Guardian(_registry, notifier_from_env(_env), _retrainer,
                     auto_rollback=ev.get(_env, ev.AUTO_ROLLBACK, "1") == "1",
                     auto_retrain=ev.get(_env, ev.AUTO_RETRAIN, "1") == "1",
                     rollback_on_drift=ev.get(_env, ev.ROLLBACK_ON_DRIFT, "1") == "1")


def _run(request: Request) -> Response:
    return Response(body=_guardian.handle(request.body))


handler = fdk_handler(_run)
