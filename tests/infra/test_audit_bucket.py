"""Issue 13 E in the cloud: the audit entries' own bucket under a retention rule (WORM), the anchor key in Vault.

Retention rules apply to a whole bucket (never a prefix) and need versioning off (doc "Object Storage Data
Retention Rules"), so the entries get a bucket of their own while the tip stays in the registry bucket.
The rule's arguments are checked against pulumi-oci's own ``BucketRetentionRuleArgs`` and the oci SDK's
``Duration`` model; the IAM statements against the permission names of the Object Storage policy reference.
"""

from __future__ import annotations

import re

import oci
import pulumi_oci
import pytest
import yaml
from mlops.errors import ConfigError
from mlops_infra.iam import AUDIT_OBJECT_PERMISSIONS
from mlops_infra.preview import plan_stack, unwrap
from mlops_infra.storage import audit_retention_rules

from .conftest import SECRET_VALUES, make_settings

BUCKET = "oci:ObjectStorage/bucket:Bucket"
FUNCTION = "oci:Functions/function:Function"
POLICY = "oci:Identity/policy:Policy"


@pytest.fixture(scope="module")
def plan(root):
    return plan_stack(make_settings(), root, secret_values=SECRET_VALUES)


def test_the_retention_rule_is_what_pulumi_oci_and_the_sdk_accept():
    """issue 13 E: the rule dicts build pulumi-oci 5.5.0's Args and the oci SDK's Duration (time_unit enum)."""
    assert audit_retention_rules(0) == []
    for days, locked in ((365, None), (2555, "2030-01-01T00:00:00Z")):
        (rule,) = audit_retention_rules(days, locked)
        args = pulumi_oci.objectstorage.BucketRetentionRuleArgs(
            display_name=rule["display_name"],
            duration=pulumi_oci.objectstorage.BucketRetentionRuleDurationArgs(**rule["duration"]),
            time_rule_locked=rule.get("time_rule_locked"),
        )
        assert args.time_rule_locked == locked and rule["duration"]["time_amount"] == str(days)
        duration = oci.object_storage.models.Duration(**rule["duration"])
        assert duration.time_unit == "DAYS"  # the SDK turns a value outside its enum into UNKNOWN_ENUM_VALUE
        details = oci.object_storage.models.CreateRetentionRuleDetails(
            display_name=rule["display_name"], duration=duration
        )
        assert details.duration.time_amount == str(days)  # a string, as the Args want it


def test_the_stack_has_a_worm_audit_bucket_and_functions_write_their_entries_there(plan):
    """issue 13 E: versioning off (a retention rule needs it), 365 days by default, every writer configured."""
    buckets = {r.inputs["name"]: r.inputs for r in plan.by_type(BUCKET)}
    audit = buckets["mlops-test-audit"]
    assert audit["versioning"] == "Disabled" and audit["accessType"] == "NoPublicAccess"
    assert audit["retentionRules"] == [
        {"displayName": "mlops-audit-worm", "duration": {"timeAmount": "365", "timeUnit": "DAYS"}}
    ]
    assert buckets["mlops-test-registry"].get("retentionRules") in (None, [])
    anchor = next(
        s for s in plan.by_type("oci:Vault/secret:Secret") if s.inputs["secretName"] == "mlops-audit-anchor"
    )
    for fn in plan.by_type(FUNCTION):
        config = unwrap(fn.inputs["config"])
        if fn.inputs["displayName"] == "authorizer":
            assert "MLOPS_AUDIT_BUCKET" not in config and "MLOPS_AUDIT_ANCHOR_SECRET" not in config
        else:
            assert config["MLOPS_AUDIT_BUCKET"] == "mlops-test-audit"
            assert config["MLOPS_AUDIT_ANCHOR_SECRET"] == anchor.id  # the OCID, never the key
    pipelines = plan.by_type("oci:DevOps/deployPipeline:DeployPipeline")
    assert pipelines
    for p in pipelines:
        params = {q["name"]: q.get("defaultValue") for q in p.inputs["deployPipelineParameters"]["items"]}
        assert params["AUDIT_ANCHOR_SECRET_ID"] == anchor.id


def test_nobody_may_delete_an_audit_entry(plan):
    """issue 13 E: the functions and the pipelines may create and read audit entries; no statement lets
    anyone delete one (OBJECT_DELETE) - and the retention rule refuses it even to administrators."""
    statements = [st for p in plan.by_type(POLICY) for st in p.inputs["statements"]]
    on_audit = [st for st in statements if "'mlops-test-audit'" in st]
    writes = [st for st in on_audit if " to manage objects " in st]
    assert len(writes) == 2 and {st.split()[2] for st in writes} == {
        "mlops-test-functions",
        "mlops-test-devops",
    }
    for st in writes:
        perms = set(re.findall(r"request\.permission = '([A-Z_]+)'", st))
        assert perms == set(AUDIT_OBJECT_PERMISSIONS) and "OBJECT_DELETE" not in perms
        assert (
            st.startswith("Allow dynamic-group ")
            and "where all {target.bucket.name = 'mlops-test-audit', any {" in st
        )
    assert all("OBJECT_DELETE" not in st for st in statements)
    broad = [
        st
        for st in statements
        if "manage objects" in st and "'mlops-test-audit'" not in st and "permission" not in st
    ]
    assert all("mlops-test-audit" not in st for st in broad)


def test_retention_settings_are_validated_and_reach_the_bucket(root):
    with pytest.raises(ConfigError, match=r"audit\.retention_locked_at"):
        make_settings(audit={"retention_days": 0, "retention_locked_at": "2030-01-01T00:00:00Z"})
    with pytest.raises(ConfigError, match=r"audit\.retention_days"):
        make_settings(audit={"retention_days": -1})
    plan = plan_stack(
        make_settings(audit={"retention_days": 2555, "retention_locked_at": "2030-01-01T00:00:00Z"}),
        root,
        secret_values=SECRET_VALUES,
    )
    (audit,) = [r.inputs for r in plan.by_type(BUCKET) if r.inputs["name"] == "mlops-test-audit"]
    assert audit["retentionRules"][0]["timeRuleLocked"] == "2030-01-01T00:00:00Z"
    assert audit["retentionRules"][0]["duration"]["timeAmount"] == "2555"


def test_the_deploy_pipeline_signs_its_cli_changes(root):
    """The deploy pipeline's CLI steps (start canary, promote) append audit entries: they read the key too."""
    doc = yaml.safe_load((root / "pipelines" / "deploy_pipeline.yaml").read_text())
    assert {"name": "AUDIT_ANCHOR_SECRET_ID", "defaultValue": "none"}.items() <= next(
        p for p in doc["parameters"] if p["name"] == "AUDIT_ANCHOR_SECRET_ID"
    ).items()
    text = (root / "pipelines" / "deploy_pipeline.yaml").read_text()
    assert (
        text.count('export MLOPS_AUDIT_ANCHOR_SECRET="${AUDIT_ANCHOR_SECRET_ID}" MLOPS_SECRETS_BACKEND=vault')
        == 2
    )
