"""How the registry function builds the console in the cloud (no project directory: the settings the gateway's
routes depend on travel in the function config) and locally (the stack file)."""

from __future__ import annotations

from mlops.console.app import gateway_spec, sources_from_config, stack_settings
from mlops.console.openapi import openapi_document
from mlops.fnconfig.registry import RegistryConfig
from mlops.monitoring.reader import OciMetricsReader
from mlops.registry import Registry
from mlops.storage import FileStore


def _cloud_config() -> RegistryConfig:
    return RegistryConfig.from_env(
        {
            "MLOPS_STORE_BACKEND": "file",
            "MLOPS_STORE_PATH": "/tmp/unused",
            "MLOPS_STACK": "prod",
            "MLOPS_ENVIRONMENT": "cloud",
            "MLOPS_REGION": "eu-frankfurt-1",
            "MLOPS_COMPARTMENT_ID": "ocid1.compartment.oc1..c",
            "MLOPS_ENDPOINTS": "churn,fraud",
            "MLOPS_PIN_SCOPE": "team:pin",
            "MLOPS_AUTH_HEADER": "X-Api-Key",
        }
    )


def test_the_cloud_function_rebuilds_the_gateway_routes_from_its_config(tmp_path):
    cfg = _cloud_config()
    assert cfg.project_dir is None and cfg.endpoints == ("churn", "fraud")
    spec = gateway_spec(stack_settings(cfg))
    paths = {r["path"]: r for r in spec["routes"]}
    pinned = paths["/v1/endpoints/fraud/variants/{variant}/predict"]["request_policies"]["authorization"]
    assert pinned["allowed_scopes"] == ["team:pin"]
    assert spec["request_policies"]["authentication"]["parameters"]["token"] == "request.headers[X-Api-Key]"
    doc = openapi_document(spec, [], auth_header=cfg.auth_header)
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "Bearer <key>",
    }


def test_the_cloud_console_reads_oci_monitoring_and_builds_its_client_on_first_use(tmp_path):
    cfg = _cloud_config()
    reg = Registry(FileStore(tmp_path / "store"), actor="fn:registry")
    src = sources_from_config(cfg, reg, stack_settings(cfg))
    assert isinstance(src.metrics, OciMetricsReader)
    assert callable(src.metrics._client) and not hasattr(src.metrics._client, "summarize_metrics_data")
    assert src.alarm_rules == [] and src.alarm_state_path is None and src.notify_file is None
    assert src.application == "mlops-prod-app" and src.endpoints == ("churn", "fraud")


def test_the_lazy_client_is_built_once():
    made = []

    class Client:
        def summarize_metrics_data(self, *a, **k):  # pragma: no cover - not called here
            raise AssertionError

    def make():
        made.append(1)
        return Client()

    reader = OciMetricsReader(make, "c")
    assert made == []
    assert reader.client is reader.client and made == [1]
