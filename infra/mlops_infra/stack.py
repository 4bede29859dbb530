"""The whole environment of one stack: settings in, components wired in dependency order, outputs out.

Order (each arrow an input the next one needs):
network, vault (key, secrets), alarm topic, DevOps CI (project, build pipeline: the guardian's
config names it) -> IAM (names the key, secrets, topics, buckets) -> storage (the key policy must
exist first) -> functions -> gateway, observability (alarms, drift trigger, guardian subscription),
delivery (deploy pipelines target the functions).
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_oci as oci
from mlops.blueprint.functions import application_name, function_specs
from mlops.errors import ConfigError
from mlops.names import inference_function_name
from mlops.settings import StackSettings

from .devops import Ci, CiArgs, Delivered, Delivery, DeliveryArgs
from .functions import (
    DeployIds,
    Functions,
    FunctionsArgs,
    image_for,
    ocir_path,
    ocir_repositories,
    registry_host,
)
from .gateway import ApiGateway, GatewayArgs
from .iam import Iam, IamArgs
from .naming import bucket_names, prefix
from .network import Network, NetworkArgs
from .notifications import Notifications, NotificationsArgs
from .observability import Observability, ObservabilityArgs
from .secrets import read_secrets, secret_specs
from .storage import Storage, StorageArgs
from .vault import Vault, VaultArgs

BUILD_SPEC = "pipelines/build_spec.yaml"
DEPLOY_PIPELINE = "pipelines/deploy_pipeline.yaml"
_VARIANT_FUNCTION = re.compile(r"^inference-(stable|canary)$")


def check_cloud(settings: StackSettings) -> None:
    """A stack ``pulumi up`` can deploy: cloud, with a region, compartment, tenancy and a bucket store."""
    if settings.environment != "cloud":
        raise ConfigError(
            f"stack {settings.stack!r} is a local stack (mlops:environment: local); run it with "
            "`mlops local up`. Pulumi deploys cloud stacks only"
        )
    for key in ("region", "compartment_id", "tenancy_id"):
        if not getattr(settings.oci, key):
            raise ConfigError(f"mlops:oci.{key}: required to deploy stack {settings.stack!r}")
    if settings.store.backend not in ("oci", "s3") or not settings.store.bucket:
        raise ConfigError(
            "mlops:store: a cloud stack keeps its registry in a bucket (backend: oci, bucket: <name>)"
        )
    if not settings.endpoints:
        raise ConfigError("mlops:endpoints: a cloud stack needs at least one endpoint")
    provider_region = pulumi.Config("oci").get("region")
    if provider_region and provider_region != settings.oci.region:
        raise ConfigError(
            f"oci:region is {provider_region} but mlops:oci.region is {settings.oci.region}; "
            "the provider would deploy where the functions do not look"
        )


def load_pipeline_files(project_dir: Path) -> tuple[Any, dict]:
    """The build spec and the deploy pipeline definition of the project, validated."""
    from mlops.pipeline import load_build_spec, load_deploy_pipeline

    for rel in (BUILD_SPEC, DEPLOY_PIPELINE):
        if not (project_dir / rel).is_file():
            raise ConfigError(f"{rel} is missing in {project_dir}; the devops component deploys it")
    return load_build_spec(project_dir / BUILD_SPEC), load_deploy_pipeline(project_dir / DEPLOY_PIPELINE)


def endpoint_pipelines(
    template: Mapping[str, Any], settings: StackSettings, parameters: Mapping[str, pulumi.Input[str]]
) -> dict[str, dict]:
    """One deploy pipeline per endpoint from the definition (settings applied).

    An environment whose function is ``inference-canary`` / ``inference-stable`` targets that
    variant of each endpoint; parameter defaults become the endpoint's (``ENDPOINT``, ``MODEL_NAME``)
    and the deploy-time values in ``parameters`` (``OCIR_REPO``, ``ARTIFACT_REGISTRY_ID``, ...).
    """
    from mlops.pipeline import apply_devops_settings

    base = apply_devops_settings(template, settings.devops)
    out: dict[str, dict] = {}
    for ep in settings.endpoints:
        pl = copy.deepcopy(base)
        pl["displayName"] = f"{base['displayName']}-{ep.name}"
        for env in pl.get("environments", {}).values():
            m = _VARIANT_FUNCTION.match(env["function"])
            if m:
                env["function"] = inference_function_name(ep.name, m.group(1))
        defaults: dict[str, pulumi.Input[str]] = {"ENDPOINT": ep.name, "MODEL_NAME": ep.model, **parameters}
        for q in pl.get("parameters", []):
            if q["name"] in defaults:
                q["defaultValue"] = defaults[q["name"]]
        out[ep.name] = pl
    return out


def delivered_outputs(
    build_spec: Any, ocir_repo: pulumi.Input[str], artifact_repository_id: pulumi.Input[str]
) -> list[Delivered]:
    """What the DELIVER_ARTIFACT stage pushes: each DOCKER_IMAGE output to ``${OCIR_REPO}/<location>``,
    each BINARY output to the generic repository at version ``${IMAGE_TAG}``."""
    out: list[Delivered] = []
    for a in build_spec.output_artifacts:
        if a.type == "DOCKER_IMAGE":
            out.append(
                Delivered(
                    a.name,
                    "DOCKER_IMAGE",
                    {"deploy_artifact_source_type": "OCIR", "image_uri": f"${{OCIR_REPO}}/{a.location}"},
                )
            )
        else:
            out.append(
                Delivered(
                    a.name,
                    "GENERIC_FILE",
                    {
                        "deploy_artifact_source_type": "GENERIC_ARTIFACT",
                        "repository_id": artifact_repository_id,
                        "deploy_artifact_path": posixpath.basename(a.location),
                        "deploy_artifact_version": "${IMAGE_TAG}",
                    },
                )
            )
    return out


def deploy(settings: StackSettings, project_dir: str | Path) -> dict[str, Any]:
    """Create every component of the stack; the values ``__main__`` exports (OCIDs and URLs only)."""
    check_cloud(settings)
    project_dir = Path(project_dir)
    build_spec, deploy_template = load_pipeline_files(project_dir)
    cmp, region = str(settings.oci.compartment_id), str(settings.oci.region)
    p = prefix(settings)
    specs = function_specs(settings)
    secrets = secret_specs(settings)
    values = read_secrets(secrets)
    namespace = oci.objectstorage.get_namespace_output(compartment_id=cmp).namespace
    buckets = bucket_names(settings)
    repos = ocir_repositories(settings, specs)
    ocir_repo = pulumi.Output.concat(registry_host(settings), "/", namespace, "/", ocir_path(settings))

    network = Network(
        "network",
        NetworkArgs(cmp, settings.network, p, gateway_public=settings.gateway.endpoint_type == "PUBLIC"),
    )
    vault = Vault("vault", VaultArgs(cmp, p, secrets, values))
    alerts = Notifications(
        "alerts",
        NotificationsArgs(
            cmp,
            settings.stack,
            settings.notifications,
            {s.key: values[s.key] for s in secrets if not s.in_vault},
        ),
    )
    git_token = next((vault.secret_ids[s.name] for s in secrets if s.key == "git_token"), None)
    ci = Ci(
        "ci",
        CiArgs(
            cmp,
            p,
            settings.devops,
            repos,
            build_spec_file=BUILD_SPEC,
            build_timeout_s=build_spec.timeout_s,
            git_token_secret_id=git_token,
            parameters={
                "MLOPS_STACK": settings.stack,
                "OCIR_REPO": ocir_repo,
                "OCIR_PREFIX": settings.devops.ocir_repository_prefix,
            },
        ),
    )
    # the deploy pipeline's CLI steps sign their audit entries with the anchor key too
    anchor_secret = next((vault.secret_ids[s.name] for s in secrets if s.key == "audit_anchor"), None) or (
        settings.audit.anchor_secret if str(settings.audit.anchor_secret or "").startswith("ocid1.") else None
    )
    bucket_key = settings.oci.kms_key_id or vault.key_id
    function_secrets: list[pulumi.Input[str]] = [
        vault.secret_ids[s.name] for s in secrets if s.in_vault and s.key != "git_token"
    ]
    iam = Iam(
        "iam",
        IamArgs(
            tenancy_id=str(settings.oci.tenancy_id),
            compartment_id=cmp,
            region=region,
            display_prefix=p,
            buckets=buckets,
            metrics_namespace=settings.monitoring.namespace,
            alarm_topic_id=alerts.topic_id,
            devops_topic_id=ci.topic.id,
            key_id=bucket_key,
            function_secret_ids=function_secrets,
            devops_secret_ids=[i for i in (git_token, anchor_secret) if i is not None],
            ocir_repositories=repos,
        ),
    )
    storage = Storage(
        "storage",
        StorageArgs(
            cmp,
            namespace,
            bucket_key,
            buckets,
            audit_retention_days=settings.audit.retention_days,
            audit_retention_locked_at=settings.audit.retention_locked_at,
        ),
        opts=pulumi.ResourceOptions(depends_on=[iam]),
    )
    functions = Functions(
        "functions",
        FunctionsArgs(
            cmp,
            p,
            [network.private_subnet_id],
            specs,
            {s.name: image_for(settings, s, namespace) for s in specs},
            DeployIds(
                vault_id=vault.vault_id,
                secret_ids=vault.secret_ids,
                topic_id=alerts.topic_id,
                build_pipeline_id=ci.build_pipeline_id,
                namespace=namespace,
            ),
            application_name=application_name(settings),
        ),
        opts=pulumi.ResourceOptions(depends_on=[iam, storage]),
    )
    subnet = (
        network.public_subnet_id if settings.gateway.endpoint_type == "PUBLIC" else network.private_subnet_id
    )
    api = ApiGateway("api", GatewayArgs(cmp, p, settings, subnet, functions.function_ids))
    Observability(
        "observability",
        ObservabilityArgs(
            cmp,
            p,
            settings,
            functions.application_id,
            namespace,
            buckets["prediction_logs"],
            functions.function_ids["drift"],
            functions.function_ids["guardian"] if settings.notifications.guardian else None,
            alerts.topic_id,
            functions.function_ids,
        ),
    )
    delivery = Delivery(
        "delivery",
        DeliveryArgs(
            p,
            ci.project_id,
            ci.build_pipeline_id,
            ci.build_stage.id,
            endpoint_pipelines(
                deploy_template,
                settings,
                {
                    "MLOPS_STACK": settings.stack,
                    "OCIR_REPO": ocir_repo,
                    "ARTIFACT_REGISTRY_ID": ci.artifact_repository_id,
                    **({"AUDIT_ANCHOR_SECRET_ID": anchor_secret} if anchor_secret is not None else {}),
                },
            ),
            functions.function_ids,
            {"public": network.public_subnet_id, "private": network.private_subnet_id},
            delivered_outputs(build_spec, ocir_repo, ci.artifact_repository_id),
        ),
    )
    return {
        "gateway_url": api.url,
        "application_id": functions.application_id,
        "function_ids": functions.function_ids,
        "buckets": storage.names,
        "namespace": namespace,
        "vault_id": vault.vault_id,
        "secret_ids": vault.secret_ids,
        "alarm_topic_id": alerts.topic_id,
        "devops_project_id": ci.project_id,
        "build_pipeline_id": ci.build_pipeline_id,
        "deploy_pipeline_ids": delivery.deploy_pipeline_ids,
        "code_repository_url": ci.repository.http_url
        if ci.repository
        else settings.devops.external_repository_url,
        "ocir_repo": ocir_repo,
    }
