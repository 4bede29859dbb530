"""Fixtures of the infra tier: stack settings built in memory and plans run under Pulumi mocks.

Every plan runs in a fresh ``contextvars.Context`` (``mlops_infra.preview.run_program``), so no
Pulumi state leaks between tests; the plans used by many tests are computed once per module.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "infra") not in sys.path:
    sys.path.insert(0, str(ROOT / "infra"))

from mlops.settings import StackSettings, settings_from_config  # noqa: E402

COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaatestcompartment"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaatesttenancy"

# Distinctive secret values: a leak is a plain substring search away.
SECRET_VALUES = {
    "api_keys": '{"keys": [{"key": "sk-live-TOPSECRET-4242", "principal": "app", "scopes": ["mlops:predict"]}]}',
    "slack_webhook": "https://hooks.slack.com/services/T000/B000/SLACKSECRET9999",
    "pagerduty": "https://events.pagerduty.com/integration/PDSECRET7777/enqueue",
    "audit_anchor": "ANCHORSECRET5555-0123456789abcdef0123456789abcdef",
}

BASE: dict[str, Any] = {
    "mlops:environment": "cloud",
    "mlops:oci": {"region": "eu-frankfurt-1", "tenancy_id": TENANCY, "compartment_id": COMPARTMENT},
    "mlops:endpoints": [
        {"name": "churn", "model": "churn"},
        {"name": "fraud", "model": "fraud", "memory_mb": 1024},
    ],
    "mlops:store": {"backend": "oci", "bucket": "mlops-test-registry", "region": "eu-frankfurt-1"},
    "mlops:function_overrides": {
        "authorizer": {"provisioned_concurrency": 20},
        "inference": {"image": "fra.ocir.io/ns/mlops/inference:1.2.3", "image_digest": "sha256:" + "a" * 64},
    },
    "mlops:auth": {"api_keys_secret": "mlops-test-api-keys"},
    "mlops:notifications": {
        "email": ["oncall@example.com"],
        "slack_webhook_secret": "mlops-test-slack",
        "pagerduty_secret": "mlops-test-pagerduty",
        "https_endpoints": ["https://hooks.example.com/mlops"],
    },
}


def make_settings(stack: str = "test", **sections: Any) -> StackSettings:
    """Cloud settings of a two-endpoint stack; ``sections`` replace whole ``mlops:<section>`` values."""
    config = copy.deepcopy(BASE)
    for key, value in sections.items():
        config[f"mlops:{key}"] = value
    return settings_from_config(config, stack=stack, project_dir=ROOT)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
