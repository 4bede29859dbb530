"""Stack variants, failures that must name their cause, state isolation and ``mlops infra plan``."""

from __future__ import annotations

import json
import runpy

import pulumi
import pulumi_oci as oci
import pytest
from mlops.blueprint.functions import FunctionSpec
from mlops.cli import main as cli_main
from mlops.errors import ConfigError
from mlops.settings import load_stack, settings_from_config
from mlops_infra.devops import Delivery, DeliveryArgs
from mlops_infra.functions import checked_config, provisioned_concurrency
from mlops_infra.preview import placeholder_secrets, plan_stack, run_program
from mlops_infra.stack import deploy, endpoint_pipelines, load_pipeline_files

from .conftest import SECRET_VALUES, make_settings

SUBNETS = {
    "existing_public_subnet_id": "ocid1.subnet.oc1..pub",
    "existing_private_subnet_id": "ocid1.subnet.oc1..priv",
}


def test_existing_subnets_create_no_network_and_are_used(root):
    settings = make_settings(
        network=SUBNETS, gateway={"endpoint_type": "PRIVATE"}, notifications={"email": []}
    )
    plan = plan_stack(settings, root)
    assert not [r for r in plan.custom if r.type.startswith("oci:Core/")]
    assert plan.by_type("oci:Functions/application:Application")[0].inputs["subnetIds"] == [
        "ocid1.subnet.oc1..priv"
    ]
    gateway = plan.by_type("oci:ApiGateway/gateway:Gateway")[0].inputs
    assert gateway["subnetId"] == "ocid1.subnet.oc1..priv" and gateway["endpointType"] == "PRIVATE"
    # no Slack / PagerDuty / email configured: only the guardian listens to the alarm topic
    assert [s.inputs["protocol"] for s in plan.by_type("oci:Ons/subscription:Subscription")] == [
        "ORACLE_FUNCTIONS"
    ]


def test_external_github_repository_uses_a_connection_with_the_token_from_vault(root):
    settings = make_settings(
        devops={
            "external_repository_url": "https://github.com/acme/oci-mlops.git",
            "github_token_secret": "mlops-test-github-token",
            "require_manual_approval": False,
        }
    )
    plan = plan_stack(settings, root, secret_values={"git_token": "ghp_GITSECRET123"})
    assert not plan.by_type("oci:DevOps/repository:Repository")
    conn = plan.by_type("oci:DevOps/connection:Connection")[0].inputs
    token = next(
        s
        for s in plan.by_type("oci:Vault/secret:Secret")
        if s.inputs["secretName"] == "mlops-test-github-token"
    )
    assert conn["connectionType"] == "GITHUB_ACCESS_TOKEN" and conn["accessToken"] == token.id
    trigger = plan.by_type("oci:DevOps/trigger:Trigger")[0].inputs
    assert trigger["triggerSource"] == "GITHUB"
    assert trigger["actions"][0]["filter"]["include"] == {
        "headRef": "main",
        "repositoryName": "acme/oci-mlops",
    }
    devops_policy = next(p for p in plan.by_type("oci:Identity/policy:Policy") if p.name == "iam-devops")
    assert any(token.id in st and "secret-bundles" in st for st in devops_policy.inputs["statements"])
    # the git token is for the pipelines only: no function reads it
    fn_policy = next(p for p in plan.by_type("oci:Identity/policy:Policy") if p.name == "iam-functions")
    assert not any(token.id in st for st in fn_policy.inputs["statements"])
    # require_manual_approval: false drops the approval stage; promote then follows the bake
    stages = {
        r.inputs["displayName"]: r
        for r in plan.by_type("oci:DevOps/deployStage:DeployStage")
        if r.name.startswith("delivery-churn-")
    }
    assert "approve" not in stages
    bake = stages["bake"]
    assert stages["promote"].inputs["deployStagePredecessorCollection"]["items"] == [{"id": bake.id}]


def test_one_deploy_pipeline_per_endpoint_targets_that_endpoints_canary(root):
    settings = make_settings()
    plan = plan_stack(settings, root, secret_values=SECRET_VALUES)
    fns = {r.id: r.inputs["displayName"] for r in plan.by_type("oci:Functions/function:Function")}
    envs = {
        r.name: fns[r.inputs["functionId"]]
        for r in plan.by_type("oci:DevOps/deployEnvironment:DeployEnvironment")
    }
    assert envs == {
        "delivery-churn-env-inference-canary": "inference-churn-canary",
        "delivery-fraud-env-inference-canary": "inference-fraud-canary",
        "delivery-churn-env-inference-stable": "inference-churn-stable",
        "delivery-fraud-env-inference-stable": "inference-fraud-stable",
    }
    pipelines = {r.name: r for r in plan.by_type("oci:DevOps/deployPipeline:DeployPipeline")}
    params = {
        q["name"]: q.get("defaultValue")
        for q in pipelines["delivery-fraud-pipeline"].inputs["deployPipelineParameters"]["items"]
    }
    assert (
        params["ENDPOINT"] == "fraud" and params["MODEL_NAME"] == "fraud" and params["MLOPS_STACK"] == "test"
    )
    assert params["OCIR_REPO"] == "eu-frankfurt-1.ocir.io/mocknamespace/mlops-test"
    assert params["ARTIFACT_REGISTRY_ID"] == plan.by_type("oci:Artifacts/repository:Repository")[0].id
    # the stage chain of the definition, first stage after the pipeline itself
    _, template = load_pipeline_files(root)
    stages = {
        r.inputs["displayName"]: r
        for r in plan.by_type("oci:DevOps/deployStage:DeployStage")
        if r.name.startswith("delivery-fraud-")
    }
    assert sorted(stages) == sorted(s["name"] for s in template["stages"])
    first = template["stages"][0]["name"]
    assert stages[first].inputs["deployStagePredecessorCollection"]["items"] == [
        {"id": pipelines["delivery-fraud-pipeline"].id}
    ]
    # the build delivers every image and the deploy bundle, then triggers both pipelines
    build_stages = {
        r.inputs["buildPipelineStageType"]: []
        for r in plan.by_type("oci:DevOps/buildPipelineStage:BuildPipelineStage")
    }
    for r in plan.by_type("oci:DevOps/buildPipelineStage:BuildPipelineStage"):
        build_stages[r.inputs["buildPipelineStageType"]].append(r)
    assert len(build_stages["TRIGGER_DEPLOYMENT_PIPELINE"]) == 2
    delivered = build_stages["DELIVER_ARTIFACT"][0].inputs["deliverArtifactCollection"]["items"]
    assert sorted(i["artifactName"] for i in delivered) == sorted(
        [
            "inference_image",
            "registry_image",
            "drift_image",
            "authorizer_image",
            "guardian_image",
            "deploy_bundle",
        ]
    )
    assert build_stages["BUILD"][0].inputs["buildSpecFile"] == "pipelines/build_spec.yaml"


def test_an_environment_naming_no_function_of_the_stack_is_a_config_error(root):
    settings = make_settings()
    _, template = load_pipeline_files(root)
    template = dict(template, environments={"inference-canary": {"type": "FUNCTION", "function": "scorer"}})
    pipelines = endpoint_pipelines(template, settings, {})

    def program():
        Delivery(
            "delivery",
            DeliveryArgs(
                "p",
                "project",
                "build",
                "stage",
                pipelines,
                {"inference-churn-canary": "ocid1.fnfunc.oc1..x"},
                {"private": "s"},
            ),
        )
        return {}

    with pytest.raises(
        ConfigError, match=r"environments\.inference-canary\.function: 'scorer' is not a function"
    ):
        run_program(program, stack="t", region="eu-frankfurt-1")


def test_plans_do_not_leak_state_into_each_other(root):
    one = make_settings(stack="one", endpoints=[{"name": "churn", "model": "churn"}])
    two = make_settings(stack="two")
    first = plan_stack(one, root, secret_values=SECRET_VALUES)
    second = plan_stack(two, root, secret_values=SECRET_VALUES)
    again = plan_stack(one, root, secret_values=SECRET_VALUES)
    assert first.counts()["functions.Function"] == 6 and second.counts()["functions.Function"] == 8
    assert all("::one::" not in r.urn and r.urn.startswith("urn:pulumi:two::") for r in second.resources)

    def graph(plan):  # registration order is up to the event loop; the graph is not
        return sorted(
            (r.type, r.name, json.dumps(r.inputs, sort_keys=True), r.parent or "") for r in plan.resources
        )

    assert graph(again) == graph(first)


def test_a_local_stack_is_refused(root):
    local = settings_from_config({"mlops:environment": "local"}, stack="local", project_dir=root)
    with pytest.raises(ConfigError, match="mlops local up"):
        plan_stack(local, root)


def test_missing_tenancy_names_the_key(root):
    settings = make_settings(oci={"region": "eu-frankfurt-1", "compartment_id": "ocid1.compartment.oc1..c"})
    with pytest.raises(ConfigError, match=r"mlops:oci\.tenancy_id"):
        plan_stack(settings, root)


def test_a_missing_secret_names_the_command_that_sets_it(root):
    settings = make_settings()
    with pytest.raises(ConfigError, match=r"pulumi config set --secret mlops-secrets:api_keys"):
        run_program(lambda: deploy(settings, root), stack="test", region="eu-frankfurt-1")


def test_provisioned_concurrency_follows_oci_steps():
    spec = FunctionSpec("f", "f", 128, 30, 1, 20)
    with pytest.raises(ConfigError, match="multiple of 40 for 128 MB"):
        provisioned_concurrency(spec)
    assert provisioned_concurrency(FunctionSpec("f", "f", 512, 30, 1, 30)) == {
        "strategy": "CONSTANT",
        "count": 30,
    }
    assert provisioned_concurrency(FunctionSpec("f", "f", 512, 30, 1, 0)) is None


def test_the_leak_check_catches_a_secret_in_a_function_config():
    # the same ground truth the program tests rely on: a config fed from a secret is visible as such
    def leaky():
        value = pulumi.Config("mlops-secrets").require_secret("api_keys")
        fn = oci.functions.Function(
            "fn",
            application_id="app",
            display_name="x",
            memory_in_mbs="128",
            config={"MLOPS_API_KEYS": value},
        )
        return {"id": fn.id}

    plan = run_program(
        leaky,
        stack="t",
        region="eu-frankfurt-1",
        config={"mlops-secrets:api_keys": SECRET_VALUES["api_keys"]},
        secret_keys=["mlops-secrets:api_keys"],
    )
    from .test_program import _leaks, _strings

    hits = [(p, s) for p, t, s in _strings(plan.resources[0].inputs) if _leaks(t)]
    assert hits == [(".config.MLOPS_API_KEYS", True)]


def test_cli_plan_prints_a_table_and_json(root, capsys):
    assert cli_main(["--project-dir", str(root), "infra", "plan", "--stack", "dev"]) == 0
    text = capsys.readouterr().out
    assert "would create" in text and "functions.Function" in text and "counts by type" in text
    assert "[secret]" in text  # the Slack webhook of Pulumi.dev.yaml, never its value
    assert cli_main(["--project-dir", str(root), "infra", "plan", "--stack", "dev", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stack"] == "dev" and data["counts"]["functions.Function"] == 8
    assert data["total"] == sum(data["counts"].values()) == len(data["resources"])
    assert data["outputs"]["gateway_url"].startswith("https://")
    assert cli_main(["--project-dir", str(root), "infra", "plan", "--stack", "local"]) == 1
    assert "mlops local up" in capsys.readouterr().err


@pytest.mark.parametrize("cwd", [".", "infra"])
def test_main_runs_the_way_pulumi_runs_it(root, monkeypatch, cwd):
    # Pulumi runs infra/__main__.py from the project root or from infra/: paths must not depend on it
    monkeypatch.chdir(root / cwd)
    secrets = placeholder_secrets(load_stack("dev", root))
    plan = run_program(
        lambda: runpy.run_path(str(root / "infra"), run_name="__main__") and None,
        stack="dev",
        region="eu-frankfurt-1",
        config={f"mlops-secrets:{k}": v for k, v in secrets.items()},
        secret_keys=[f"mlops-secrets:{k}" for k in secrets],
    )
    assert plan.counts()["functions.Function"] == 8
    assert plan.outputs["gateway_url"].startswith("https://")
    assert set(plan.outputs["function_ids"]) >= {"authorizer", "registry", "drift", "guardian"}


def test_function_config_is_checked_with_room_for_ocids_not_known_yet():
    static = {"MLOPS_BIG": "v" * 3200}

    def program():
        checked_config("f", dict(static))  # fits
        ocids = {f"MLOPS_ID_{i}": pulumi.Output.from_input("short") for i in range(4)}
        checked_config("f", {**static, **ocids})  # 3200 + 4 x 255 > 4096: refused up front
        return {}

    with pytest.raises(ConfigError, match=r"function f: config is \d+ bytes, over OCI's 4096-byte limit"):
        run_program(program, stack="t", region="eu-frankfurt-1")


def test_provider_region_must_match_the_settings(root):
    settings = make_settings()
    config = {f"mlops-secrets:{k}": v for k, v in SECRET_VALUES.items()}
    config["oci:region"] = "us-ashburn-1"
    with pytest.raises(
        ConfigError, match="oci:region is us-ashburn-1 but mlops:oci.region is eu-frankfurt-1"
    ):
        run_program(
            lambda: deploy(settings, root),
            stack="test",
            region="eu-frankfurt-1",
            config=config,
            secret_keys=[k for k in config if k.startswith("mlops-secrets:")],
        )
