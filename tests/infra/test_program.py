"""The Pulumi program under mocks: the graph of a two-endpoint stack and the properties it must keep."""

from __future__ import annotations

import base64
import json
import re

import pytest
from mlops.blueprint.functions import MAX_CONFIG_BYTES, application_name, function_specs
from mlops.monitoring.defaults import rules_for_settings
from mlops.names import inference_function_name
from mlops_infra.iam import IamContext, policy_statements
from mlops_infra.preview import is_secret_value, plan_stack, unwrap

from .conftest import COMPARTMENT, SECRET_VALUES, make_settings

FUNCTION = "oci:Functions/function:Function"
APPLICATION = "oci:Functions/application:Application"
DEPLOYMENT = "oci:ApiGateway/deployment:Deployment"
ALARM = "oci:Monitoring/alarm:Alarm"
TOPIC = "oci:Ons/notificationTopic:NotificationTopic"
POLICY = "oci:Identity/policy:Policy"


@pytest.fixture(scope="module")
def settings():
    return make_settings()


@pytest.fixture(scope="module")
def plan(settings, root):
    return plan_stack(settings, root, secret_values=SECRET_VALUES)


def _one(plan, type_token):
    found = plan.by_type(type_token)
    assert len(found) == 1, f"{type_token}: {len(found)}"
    return found[0]


# --------------------------------------------------------------------------- graph


def test_graph_of_a_two_endpoint_stack(plan, settings):
    components = {r.name: r.type for r in plan.resources if not r.custom}
    assert components == {
        "network": "mlops:network:Network",
        "vault": "mlops:vault:Vault",
        "alerts": "mlops:notifications:Notifications",
        "ci": "mlops:devops:Ci",
        "iam": "mlops:iam:Iam",
        "storage": "mlops:storage:Storage",
        "functions": "mlops:functions:Functions",
        "api": "mlops:gateway:ApiGateway",
        "observability": "mlops:observability:Observability",
        "delivery": "mlops:devops:Delivery",
    }
    by_urn = {r.urn: r for r in plan.resources}
    for r in plan.custom:
        # every cloud resource is the child of one component and named after it
        assert r.parent in by_urn, f"{r.name} has no component parent"
        parent = by_urn[r.parent]
        assert not parent.custom and r.name.startswith(f"{parent.name}-"), r.name

    fns = {r.inputs["displayName"]: r for r in plan.by_type(FUNCTION)}
    assert sorted(fns) == sorted(s.name for s in function_specs(settings))
    assert {inference_function_name(e, v) for e in ("churn", "fraud") for v in ("stable", "canary")} <= set(
        fns
    )
    counts = plan.counts()
    assert counts["functions.Function"] == 8
    assert counts["apigateway.Deployment"] == 1 and counts["apigateway.Gateway"] == 1
    assert (
        counts["objectstorage.Bucket"] == 4 and counts["kms.Key"] == 1
    )  # 4th: the audit bucket (issue 13 E)
    assert counts["devops.DeployPipeline"] == 2  # one canary pipeline per endpoint
    assert counts["monitoring.Alarm"] == len(rules_for_settings(settings))

    # edges the order of creation depends on
    deployment = _one(plan, DEPLOYMENT)
    served = {r.urn for r in plan.by_type(FUNCTION) if r.inputs["displayName"] not in ("drift", "guardian")}
    assert served <= set(deployment.dependencies)
    key = _one(plan, "oci:Kms/key:Key")
    for bucket in plan.by_type("oci:ObjectStorage/bucket:Bucket"):
        assert key.urn in bucket.dependencies
    guardian = fns["guardian"]
    assert _one(plan, "oci:DevOps/buildPipeline:BuildPipeline").urn in guardian.dependencies  # retraining
    assert {t.urn for t in plan.by_type(TOPIC) if t.name == "alerts-topic"} <= set(guardian.dependencies)


def test_buckets_are_private_versioned_encrypted_with_events_and_lifecycle(plan, settings):
    buckets = {r.inputs["name"]: r.inputs for r in plan.by_type("oci:ObjectStorage/bucket:Bucket")}
    key_id = _one(plan, "oci:Kms/key:Key").id
    assert set(buckets) == {
        "mlops-test-registry",
        "mlops-test-prediction-logs",
        "mlops-test-reports",
        "mlops-test-audit",
    }
    assert all(b["kmsKeyId"] == key_id and b["accessType"] == "NoPublicAccess" for b in buckets.values())
    assert buckets["mlops-test-registry"]["versioning"] == "Enabled"
    assert buckets["mlops-test-prediction-logs"]["objectEventsEnabled"] is True
    rule = _one(plan, "oci:ObjectStorage/objectLifecyclePolicy:ObjectLifecyclePolicy").inputs
    assert rule["bucket"] == "mlops-test-prediction-logs" and rule["rules"][0]["action"] == "DELETE"


def test_functions_take_sizes_images_and_concurrency_from_the_spec(plan, settings):
    specs = {s.name: s for s in function_specs(settings)}
    for r in plan.by_type(FUNCTION):
        spec = specs[r.inputs["displayName"]]
        assert r.inputs["memoryInMbs"] == str(spec.memory_mb)  # a string, as pulumi-oci wants
        assert r.inputs["timeoutInSeconds"] == spec.timeout_s
        assert r.inputs["traceConfig"] == {"isEnabled": True}
        src = r.inputs["sourceDetails"]
        assert src["sourceType"] == "CONTAINER_IMAGE"
        if spec.source == "inference":  # function_overrides.inference pins every inference function
            assert src == {
                "sourceType": "CONTAINER_IMAGE",
                "image": "fra.ocir.io/ns/mlops/inference:1.2.3",
                "imageDigest": "sha256:" + "a" * 64,
            }
        else:
            assert src["image"].endswith(f"/mlops-test/mlops-{spec.source}:latest")
        pc = r.inputs.get("provisionedConcurrencyConfig")
        assert (pc == {"strategy": "CONSTANT", "count": 20}) if spec.name == "authorizer" else pc is None
    app = _one(plan, APPLICATION)
    assert app.inputs["traceConfig"]["isEnabled"] is True
    assert app.inputs["traceConfig"]["domainId"] == _one(plan, "oci:Apm/apmDomain:ApmDomain").id


def test_pulumi_up_leaves_the_image_of_pipeline_deployed_functions_alone(plan, settings):
    """issue 13 G: the deploy pipeline owns the image of every inference function (it deploys new
    images to them), so `pulumi up` must not re-apply the declared image over a pipeline deploy; the
    other functions keep the image Pulumi declares."""
    specs = {s.name: s for s in function_specs(settings)}
    for r in plan.by_type(FUNCTION):
        spec = specs[r.inputs["displayName"]]
        if spec.source == "inference":
            # the names the engine compares: top-level (deprecated) and the source_details ones in use
            assert set(r.ignore_changes) == {
                "image",
                "imageDigest",
                "sourceDetails.image",
                "sourceDetails.imageDigest",
            }, r.name
            for path in r.ignore_changes:  # each path names an input the program really sets
                if path.startswith("sourceDetails."):
                    assert path.split(".", 1)[1] in r.inputs["sourceDetails"], path
        else:
            assert r.ignore_changes == [], r.name


# --------------------------------------------------------------------------- routes and alarms


def _function_ids(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "functionId":
                out.append(v)
            _function_ids(v, out)
    elif isinstance(node, list):
        for v in node:
            _function_ids(v, out)
    return out


def test_every_route_targets_a_function_of_the_application(plan):
    app_id = _one(plan, APPLICATION).id
    fn_ids = {r.id for r in plan.by_type(FUNCTION) if r.inputs["applicationId"] == app_id}
    spec = _one(plan, DEPLOYMENT).inputs["specification"]
    assert spec["requestPolicies"]["authentication"]["functionId"] in fn_ids
    for route in spec["routes"]:
        targets = _function_ids(route["backend"], [])
        if route["backend"]["type"] == "STOCK_RESPONSE_BACKEND":
            assert targets == []
            continue
        assert targets, f"route {route['path']} has no function"
        assert set(targets) <= fn_ids, route["path"]
    predict = {r["path"]: r for r in spec["routes"]}["/v1/endpoints/churn/predict"]
    by_key = {b["key"]["name"]: b["backend"]["functionId"] for b in predict["backend"]["routingBackends"]}
    fn_by_name = {r.inputs["displayName"]: r.id for r in plan.by_type(FUNCTION)}
    assert by_key == {
        "canary": fn_by_name["inference-churn-canary"],
        "stable": fn_by_name["inference-churn-stable"],
    }


def test_every_alarm_has_a_destination(plan, settings):
    topics = {r.id for r in plan.by_type(TOPIC)}
    alarms = plan.by_type(ALARM)
    assert {a.inputs["displayName"] for a in alarms} == {
        f"mlops-test-{r.name}" for r in rules_for_settings(settings)
    }
    for a in alarms:
        dest = a.inputs["destinations"]
        assert len(dest) == 1 and dest[0] in topics, a.name
        assert a.inputs["metricCompartmentId"] == COMPARTMENT and a.inputs["query"]
    guardian = next(r for r in plan.by_type(FUNCTION) if r.inputs["displayName"] == "guardian")
    subs = {
        (s.inputs["protocol"], str(s.inputs["endpoint"]))
        for s in plan.by_type("oci:Ons/subscription:Subscription")
    }
    assert ("ORACLE_FUNCTIONS", guardian.id) in subs
    assert ("EMAIL", "oncall@example.com") in subs and (
        "CUSTOM_HTTPS",
        "https://hooks.example.com/mlops",
    ) in subs


def test_each_function_alarm_filters_on_the_ocid_of_the_function_it_watches(plan, settings):
    """issue 13 G: OCI sets resourceDisplayName to "<application>:<function>", so a filter on the bare
    function name never matches; each oci_faas alarm names the OCID of its function (resourceId)."""
    fn_ids = {r.inputs["displayName"]: r.id for r in plan.by_type(FUNCTION)}
    rules = {r.name: r for r in rules_for_settings(settings)}
    faas = [a for a in plan.by_type(ALARM) if a.inputs["namespace"] == "oci_faas"]
    assert len(faas) == len([r for r in rules.values() if r.namespace == "oci_faas"]) > 0
    for a in faas:
        rule = rules[a.inputs["freeformTags"]["mlops-rule"]]
        ocid = fn_ids[rule.function]
        assert ocid.startswith("ocid1.fnfunc.")
        assert f'{{resourceId = "{ocid}"' in a.inputs["query"], a.inputs["query"]
        assert "resourceDisplayName" not in a.inputs["query"] and "local:fn:" not in a.inputs["query"]
        assert "local:fn:" not in a.inputs["body"]
        others = [i for n, i in fn_ids.items() if n != rule.function]
        assert not any(i in a.inputs["query"] for i in others)
    app = _one(plan, APPLICATION)
    assert app.inputs["displayName"] == application_name(settings)  # resourceDisplayName's first half


def test_drift_function_is_invoked_on_new_prediction_logs(plan):
    rule = _one(plan, "oci:Events/rule:Rule").inputs
    cond = json.loads(rule["condition"])
    assert cond == {
        "eventType": ["com.oraclecloud.objectstorage.createobject"],
        "data": {"additionalDetails": {"bucketName": ["mlops-test-prediction-logs"]}},
    }
    drift = next(r for r in plan.by_type(FUNCTION) if r.inputs["displayName"] == "drift")
    assert rule["actions"]["actions"] == [
        {"actionType": "FAAS", "functionId": drift.id, "isEnabled": True, "description": "drift window"}
    ]
    connector = _one(plan, "oci:Sch/connector:Connector").inputs
    log = _one(plan, "oci:Logging/log:Log")
    assert connector["source"]["logSources"][0]["logId"] == log.id
    assert connector["target"]["kind"] == "objectStorage"
    assert connector["target"]["bucket"] == "mlops-test-prediction-logs"
    assert log.inputs["configuration"]["source"]["resource"] == _one(plan, APPLICATION).id


# --------------------------------------------------------------------------- secrets and config


def _strings(node, path="", secret=False):
    """Every string leaf with its path and whether it sits under a Pulumi secret marker."""
    if is_secret_value(node):
        yield from _strings(node["value"], path, True)
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{path}.{k}", secret)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path}[{i}]", secret)
    elif isinstance(node, str):
        yield path, node, secret


def _leaks(text):
    needles = []
    for value in SECRET_VALUES.values():
        needles += [value, base64.b64encode(value.encode()).decode()]
    needles += ["TOPSECRET-4242", "SLACKSECRET9999", "PDSECRET7777", "ANCHORSECRET5555"]
    return [n for n in needles if n in text]


def test_no_secret_value_in_any_function_config_input_or_output(plan):
    for r in plan.resources:
        for path, text, secret in _strings(r.inputs):
            if _leaks(text):
                # only Vault secret contents and ONS webhook endpoints may hold a value, marked secret
                assert secret, f"{r.type} {r.name}{path} holds a secret value in plain text"
                assert r.type in ("oci:Vault/secret:Secret", "oci:Ons/subscription:Subscription"), (
                    r.type,
                    path,
                )
    for fn in plan.by_type(FUNCTION):
        assert not _leaks(json.dumps(unwrap(fn.inputs["config"]))), fn.name
    assert not _leaks(json.dumps(plan.outputs, default=str))
    assert not _leaks(json.dumps(plan.to_dict(), default=str))
    # ... and the values did reach Vault and ONS
    secret = _api_keys_secret(plan)
    assert is_secret_value(secret.inputs["secretContent"])
    assert (
        unwrap(secret.inputs["secretContent"])["content"]
        == base64.b64encode(SECRET_VALUES["api_keys"].encode()).decode()
    )
    slack = next(
        s for s in plan.by_type("oci:Ons/subscription:Subscription") if s.inputs["protocol"] == "SLACK"
    )
    assert is_secret_value(slack.inputs["endpoint"])


def _api_keys_secret(plan):
    """The API key ring's Vault secret (the stack also has the audit anchor's, issue 13 E)."""
    found = [
        r for r in plan.by_type("oci:Vault/secret:Secret") if r.inputs["secretName"] == "mlops-test-api-keys"
    ]
    assert len(found) == 1
    return found[0]


def test_function_config_carries_secret_ocids_and_stays_under_4_kb(plan):
    secret = _api_keys_secret(plan)
    vault = _one(plan, "oci:Kms/vault:Vault")
    for fn in plan.by_type(FUNCTION):
        config = fn.inputs["config"]
        size = sum(len(k.encode()) + len(v.encode()) for k, v in config.items())
        assert size <= MAX_CONFIG_BYTES, (fn.name, size)
        assert all(re.fullmatch(r"[A-Za-z0-9_]+", k) for k in config)
        assert config["MLOPS_VAULT_ID"] == vault.id
        assert config["MLOPS_STORE_NAMESPACE"] == "mocknamespace"
    authorizer = next(r for r in plan.by_type(FUNCTION) if r.inputs["displayName"] == "authorizer")
    assert authorizer.inputs["config"]["MLOPS_API_KEYS_SECRET"] == secret.id
    assert secret.inputs["secretName"] == "mlops-test-api-keys"


# --------------------------------------------------------------------------- IAM

_STATEMENT = re.compile(
    r"^Allow (?P<subject>dynamic-group \S+|any-user|service \S+) to (?P<verb>inspect|read|use|manage) "
    r"(?P<resource>[a-z-]+) in compartment id (?P<cmp>\S+)(?: where (?P<where>.+))?$"
)

# What each policy may grant: (subject kind, verb, resource type). Anything else is broader than needed.
NEEDS = {
    "functions": {
        ("dynamic-group", "read", "secret-bundles"),
        ("dynamic-group", "manage", "objects"),
        ("dynamic-group", "read", "objects"),
        ("dynamic-group", "read", "buckets"),
        ("dynamic-group", "use", "metrics"),
        ("dynamic-group", "read", "metrics"),  # issue 17: the console charts the oci_faas metrics
        ("dynamic-group", "use", "ons-topics"),
        ("dynamic-group", "manage", "devops-build-run"),
    },
    "services": {
        ("service", "use", "virtual-network-family"),
        ("service", "read", "repos"),
        ("service", "use", "keys"),
        ("service", "manage", "object-family"),
        ("service", "use", "functions-family"),
        ("any-user", "read", "log-content"),
        ("any-user", "manage", "objects"),
    },
    "gateway": {("any-user", "use", "functions-family")},
    "devops": {
        ("dynamic-group", "use", "ons-topics"),
        ("dynamic-group", "read", "devops-family"),
        ("dynamic-group", "manage", "devops-deployment"),
        ("dynamic-group", "manage", "repos"),
        ("dynamic-group", "read", "fn-app"),
        ("dynamic-group", "use", "fn-function"),
        ("dynamic-group", "use", "fn-invocation"),
        ("dynamic-group", "use", "subnets"),
        ("dynamic-group", "use", "vnics"),
        ("dynamic-group", "manage", "objects"),
        ("dynamic-group", "read", "secret-bundles"),
    },
}
# A manage grant without a condition is allowed only on these single resource types.
UNCONDITIONED_MANAGE = {"devops-build-run", "devops-deployment"}


def test_no_iam_statement_is_broader_than_its_component_needs(plan):
    buckets = {b.inputs["name"] for b in plan.by_type("oci:ObjectStorage/bucket:Bucket")}
    secrets = {s.id for s in plan.by_type("oci:Vault/secret:Secret")}
    policies = {p.name.removeprefix("iam-"): p.inputs for p in plan.by_type(POLICY)}
    assert set(policies) == set(NEEDS)
    for role, policy in policies.items():
        assert policy["compartmentId"] == COMPARTMENT
        for st in policy["statements"]:
            assert "all-resources" not in st and " tenancy" not in st, st
            m = _STATEMENT.match(st)
            assert m, f"unexpected statement shape: {st}"
            assert m["cmp"] == COMPARTMENT, st
            kind = m["subject"].split()[0]
            assert (kind, m["verb"], m["resource"]) in NEEDS[role], f"{role}: {st}"
            if m["verb"] == "manage" and m["resource"] not in UNCONDITIONED_MANAGE:
                assert m["where"], f"manage without a condition: {st}"
            if m["resource"] in ("objects", "buckets", "object-family"):
                named = set(re.findall(r"target\.bucket\.name = '([^']+)'", m["where"] or ""))
                assert named and named <= buckets, st
            if m["resource"] == "secret-bundles":
                named = set(re.findall(r"target\.secret\.id = '([^']+)'", m["where"] or ""))
                assert named and named <= secrets, st
            if m["resource"] == "metrics":  # its own namespace; the free function metrics read-only
                assert m["where"] == {"use": "target.metrics.namespace = 'mlops'"}.get(
                    m["verb"], "target.metrics.namespace = 'oci_faas'"
                ), st
    groups = {g.name: g.inputs for g in plan.by_type("oci:Identity/dynamicGroup:DynamicGroup")}
    assert all(COMPARTMENT in g["matchingRule"] for g in groups.values())
    assert "resource.type = 'fnfunc'" in groups["iam-functions"]["matchingRule"]


def test_policy_statements_grow_only_with_what_the_stack_uses():
    ctx = IamContext(
        compartment_id="ocid1.compartment.oc1..c",
        region="eu-frankfurt-1",
        functions_group="fg",
        devops_group="dg",
        buckets={"registry": "r", "prediction_logs": "p", "reports": "x"},
        metrics_namespace="mlops",
        alarm_topic_id="t1",
        devops_topic_id="t2",
        key_id="k",
    )
    bare = policy_statements(ctx)
    assert not any("secret-bundles" in s for s in bare["functions"] + bare["devops"])
    # issue 17: the console reads the oci_faas metrics, and only reads them
    faas = (
        "Allow dynamic-group fg to read metrics in compartment id ocid1.compartment.oc1..c where "
        "target.metrics.namespace = 'oci_faas'"
    )
    assert faas in bare["functions"]
    with_secret = policy_statements(IamContext(**{**ctx.__dict__, "function_secret_ids": ["s1", "s2"]}))
    assert with_secret["functions"][0].endswith(
        "where any {target.secret.id = 's1', target.secret.id = 's2'}"
    )


def test_build_stage_runs_on_the_documented_ol8_runner_image(plan):
    """issue 13 G: "Build Runner Runtime Details" documents the OL8 image (Python 3.11, Podman), which
    build_spec.yaml relies on; it must be one of the values the oci SDK allows for BuildStage.image."""
    import inspect

    from oci.devops.models import build_stage

    [stage] = [
        s
        for s in plan.by_type("oci:DevOps/buildPipelineStage:BuildPipelineStage")
        if s.inputs["buildPipelineStageType"] == "BUILD"
    ]
    assert stage.inputs["image"] == "OL8_X86_64_STANDARD_10"
    assert '"OL8_X86_64_STANDARD_10"' in inspect.getsource(build_stage.BuildStage.image.fget)
