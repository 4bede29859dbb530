"""CI/CD in OCI DevOps: a build pipeline on git push (``Ci``) and the canary deploy pipeline (``Delivery``).

``Ci`` exists before the functions (the guardian's config carries the build pipeline OCID, to
request retraining); ``Delivery`` comes after them (its environments are the functions). The
deploy pipeline is ``pipelines/deploy_pipeline.yaml`` as validated by
``mlops.pipeline.load_deploy_pipeline``: each environment, artifact and stage there becomes
exactly one resource here, so a new stage is an edit of that file, not of this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict
from urllib.parse import urlsplit

import pulumi
import pulumi_oci as oci
from mlops.errors import ConfigError
from mlops.settings import DevOps as DevOpsSettings

from .naming import child, type_token

# The Oracle Linux 8 runner image: Python 3.11 and Podman (doc "Build Runner Runtime Details",
# docs.oracle.com/iaas/Content/devops/using/runtime_details.htm); the oci SDK's BuildStage.image allows
# "OL7_X86_64_STANDARD_10" and "OL8_X86_64_STANDARD_10" (oci/devops/models/build_stage.py, 2.189.0).
# pipelines/build_spec.yaml builds the function images with podman on it.
BUILD_IMAGE = "OL8_X86_64_STANDARD_10"
SOURCE_NAME = "mlops"
CONNECTION_TYPES = {
    "github.com": ("GITHUB_ACCESS_TOKEN", "GITHUB"),
    "gitlab.com": ("GITLAB_ACCESS_TOKEN", "GITLAB"),
}


def external_connection(url: str) -> tuple[str, str]:
    """``(connection_type, source_type)`` for an external repository URL (GitHub or GitLab)."""
    host = (urlsplit(url).hostname or "").lower()
    if host not in CONNECTION_TYPES:
        raise ConfigError(
            f"mlops:devops.external_repository_url: {url!r} is not on "
            f"{' or '.join(CONNECTION_TYPES)}; mirror it into an OCI code repository instead"
        )
    return CONNECTION_TYPES[host]


def repository_name(url: str) -> str:
    """``owner/name`` of an external repository URL."""
    path = urlsplit(url).path.strip("/")
    return path[:-4] if path.endswith(".git") else path


@dataclass
class CiArgs:
    compartment_id: str
    display_prefix: str
    settings: DevOpsSettings
    ocir_repositories: list[str]
    build_spec_file: str = "pipelines/build_spec.yaml"
    build_timeout_s: int | None = None
    parameters: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # build pipeline parameters
    git_token_secret_id: pulumi.Input[str] | None = None


class Ci(pulumi.ComponentResource):
    """DevOps project (+ its notification topic), OCIR repositories, code repository or connection,
    build pipeline with a BUILD stage running ``pipelines/build_spec.yaml``, and a trigger on push."""

    def __init__(self, name: str, args: CiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("devops", "Ci"), name, None, opts)
        s, cmp, p = args.settings, args.compartment_id, args.display_prefix
        self.topic = oci.ons.NotificationTopic(
            f"{name}-topic",
            compartment_id=cmp,
            name=f"{p}-devops",
            description="DevOps build and deployment notifications",
            opts=child(self),
        )
        self.project = oci.devops.Project(
            f"{name}-project",
            compartment_id=cmp,
            name=p,
            description="oci-mlops build and canary deployment",
            notification_config={"topic_id": self.topic.id},
            opts=child(self),
        )
        self.container_repositories = {
            repo: oci.artifacts.ContainerRepository(
                f"{name}-ocir-{repo.replace('/', '-')}",
                compartment_id=cmp,
                display_name=repo,
                is_public=False,
                is_immutable=False,
                opts=child(self),
            )
            for repo in args.ocir_repositories
        }

        self.artifact_repository = oci.artifacts.Repository(
            f"{name}-artifacts",
            compartment_id=cmp,
            display_name=f"{p}-artifacts",
            repository_type="GENERIC",
            is_immutable=False,
            description="deploy bundles the build delivers to the deploy pipeline",
            opts=child(self),
        )
        self.repository = self.connection = None
        if s.external_repository_url:
            connection_type, source_type = external_connection(s.external_repository_url)
            if args.git_token_secret_id is None:
                raise ConfigError(
                    "mlops:devops.github_token_secret: the external repository needs a token secret"
                )
            self.connection = oci.devops.Connection(
                f"{name}-connection",
                project_id=self.project.id,
                connection_type=connection_type,
                access_token=args.git_token_secret_id,
                display_name=f"{p}-git",
                opts=child(self),
            )
            source: oci.devops.BuildPipelineStageBuildSourceCollectionItemArgsDict = {
                "connection_type": source_type,
                "name": SOURCE_NAME,
                "branch": s.branch,
                "connection_id": self.connection.id,
                "repository_url": s.external_repository_url,
            }
            trigger: _TriggerSource = {"trigger_source": source_type, "connection_id": self.connection.id}
            include: oci.devops.TriggerActionFilterIncludeArgsDict = {
                "head_ref": s.branch,
                "repository_name": repository_name(s.external_repository_url),
            }
        else:
            self.repository = oci.devops.Repository(
                f"{name}-repository",
                project_id=self.project.id,
                name=s.repository,
                repository_type="HOSTED",
                default_branch=s.branch,
                description="oci-mlops source",
                opts=child(self),
            )
            source = {
                "connection_type": "DEVOPS_CODE_REPOSITORY",
                "name": SOURCE_NAME,
                "branch": s.branch,
                "repository_id": self.repository.id,
                "repository_url": self.repository.http_url,
            }
            trigger = {"trigger_source": "DEVOPS_CODE_REPOSITORY", "repository_id": self.repository.id}
            include = {"head_ref": s.branch}

        params: list[oci.devops.BuildPipelineBuildPipelineParametersItemArgsDict] = [
            {"name": k, "default_value": v, "description": f"{k} for the build"}
            for k, v in sorted(args.parameters.items())
        ]
        self.build_pipeline = oci.devops.BuildPipeline(
            f"{name}-build",
            project_id=self.project.id,
            display_name=f"{p}-build",
            description="test, train and validate, build one image per function",
            build_pipeline_parameters={"items": params} if params else None,
            opts=child(self),
        )
        self.build_stage = oci.devops.BuildPipelineStage(
            f"{name}-build-stage",
            build_pipeline_id=self.build_pipeline.id,
            build_pipeline_stage_type="BUILD",
            display_name="build",
            build_spec_file=args.build_spec_file,
            image=BUILD_IMAGE,
            primary_build_source=SOURCE_NAME,
            build_source_collection={"items": [source]},
            stage_execution_timeout_in_seconds=args.build_timeout_s,
            build_pipeline_stage_predecessor_collection={"items": [{"id": self.build_pipeline.id}]},
            opts=child(self),
        )
        self.trigger = oci.devops.Trigger(
            f"{name}-trigger",
            project_id=self.project.id,
            display_name=f"{p}-on-push-{s.branch}",
            actions=[
                {
                    "type": "TRIGGER_BUILD_PIPELINE",
                    "build_pipeline_id": self.build_pipeline.id,
                    "filter": {
                        "trigger_source": trigger["trigger_source"],
                        "events": ["PUSH"],
                        "include": include,
                    },
                }
            ],
            **trigger,
            opts=child(self),
        )
        self.project_id = self.project.id
        self.build_pipeline_id = self.build_pipeline.id
        self.artifact_repository_id = self.artifact_repository.id
        self.register_outputs(
            {
                "project_id": self.project_id,
                "build_pipeline_id": self.build_pipeline_id,
                "repository_url": self.repository.http_url if self.repository else s.external_repository_url,
            }
        )


class _TriggerSource(TypedDict, total=False):
    """Where a trigger listens: its source type and the connection or repository it watches."""

    trigger_source: str
    connection_id: pulumi.Input[str]
    repository_id: pulumi.Input[str]


def _artifact_source(art: Mapping[str, Any]) -> oci.devops.DeployArtifactDeployArtifactSourceArgsDict:
    src = art["source"]
    if art["type"] == "DOCKER_IMAGE":
        out: oci.devops.DeployArtifactDeployArtifactSourceArgsDict = {
            "deploy_artifact_source_type": "OCIR",
            "image_uri": src["imageUri"],
        }
        if src.get("imageDigest"):
            out["image_digest"] = src["imageDigest"]
        return out
    return {"deploy_artifact_source_type": "INLINE", "base64encoded_content": src["base64Content"]}


def _key(name: str) -> str:
    """Artifact names compare with '_' and '-' alike (``inference_image`` is ``inference-image``)."""
    return name.replace("_", "-")


@dataclass(frozen=True)
class Delivered:
    """One build output artifact delivered by the DELIVER_ARTIFACT stage."""

    name: str  # outputArtifacts[].name of the build spec
    type: str  # DOCKER_IMAGE | GENERIC_FILE
    source: (
        oci.devops.DeployArtifactDeployArtifactSourceArgsDict
    )  # deploy_artifact_source of its DeployArtifact


@dataclass
class DeliveryArgs:
    display_prefix: str
    project_id: pulumi.Input[str]
    build_pipeline_id: pulumi.Input[str]
    build_stage_id: pulumi.Input[str]
    pipelines: Mapping[str, Mapping[str, Any]]  # key (endpoint) -> deploy pipeline definition
    function_ids: Mapping[str, pulumi.Input[str]]
    subnet_ids: Mapping[str, pulumi.Input[str]]  # role (public | private) -> subnet OCID
    delivered: list[Delivered] = field(default_factory=list)


class Delivery(pulumi.ComponentResource):
    """Deliver the build's outputs (images to OCIR, the deploy bundle to a generic repository), then
    one deploy pipeline per key (canary -> smoke -> start -> bake -> approve -> promote): one
    resource per environment, artifact and stage of the definition, and a build stage triggering it."""

    def __init__(self, name: str, args: DeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("devops", "Delivery"), name, None, opts)
        p = args.display_prefix
        if not args.pipelines:
            raise ConfigError("deploy pipeline: no endpoints to deploy")
        template = next(iter(args.pipelines.values()))
        # Artifacts hold ${PARAM} placeholders only, so every pipeline of the project shares them.
        self.artifacts: dict[str, oci.devops.DeployArtifact] = {}
        for art_name, art in template.get("artifacts", {}).items():
            self.artifacts[art_name] = oci.devops.DeployArtifact(
                f"{name}-artifact-{art_name}",
                project_id=args.project_id,
                display_name=f"{p}-{art_name}",
                deploy_artifact_type=art["type"],
                argument_substitution_mode=art["argumentSubstitutionMode"],
                deploy_artifact_source=_artifact_source(art),
                description=art.get("description"),
                opts=child(self),
            )
        by_key = {_key(n): a for n, a in self.artifacts.items()}
        types = {_key(n): a["type"] for n, a in template.get("artifacts", {}).items()}
        deliver_items: list[oci.devops.BuildPipelineStageDeliverArtifactCollectionItemArgsDict] = []
        for out in args.delivered:
            k = _key(out.name)
            if types.get(k) == out.type:
                artifact = by_key[k]  # the deploy pipeline's own artifact (same placeholders)
            else:
                artifact = self.artifacts[k] = oci.devops.DeployArtifact(
                    f"{name}-output-{k}",
                    project_id=args.project_id,
                    display_name=f"{p}-{k}",
                    deploy_artifact_type=out.type,
                    argument_substitution_mode="SUBSTITUTE_PLACEHOLDERS",
                    deploy_artifact_source=out.source.copy(),
                    opts=child(self),
                )
            deliver_items.append({"artifact_name": out.name, "artifact_id": artifact.id})
        self.deliver_stage = oci.devops.BuildPipelineStage(
            f"{name}-deliver",
            build_pipeline_id=args.build_pipeline_id,
            build_pipeline_stage_type="DELIVER_ARTIFACT",
            display_name="deliver",
            deliver_artifact_collection={"items": deliver_items},
            build_pipeline_stage_predecessor_collection={"items": [{"id": args.build_stage_id}]},
            opts=child(self),
        )

        self.environments: dict[str, oci.devops.DeployEnvironment] = {}
        self.pipelines: dict[str, oci.devops.DeployPipeline] = {}
        self.stages: dict[str, oci.devops.DeployStage] = {}
        self.trigger_stages: dict[str, oci.devops.BuildPipelineStage] = {}
        for key, spec in args.pipelines.items():
            envs: dict[str, oci.devops.DeployEnvironment] = {}
            for env_name, env in spec.get("environments", {}).items():
                fn = env["function"]
                if fn not in args.function_ids:
                    raise ConfigError(
                        f"deploy pipeline: environments.{env_name}.function: {fn!r} is not a function "
                        f"of this stack (functions: {', '.join(sorted(args.function_ids))})"
                    )
                envs[env_name] = self.environments[f"{key}-{env_name}"] = oci.devops.DeployEnvironment(
                    f"{name}-{key}-env-{env_name}",
                    project_id=args.project_id,
                    deploy_environment_type="FUNCTION",
                    function_id=args.function_ids[fn],
                    display_name=f"{p}-{fn}",
                    description=env.get("description"),
                    opts=child(self),
                )
            items: list[oci.devops.DeployPipelineDeployPipelineParametersItemArgsDict] = [
                {
                    "name": q["name"],
                    "default_value": q.get("defaultValue"),
                    "description": q.get("description"),
                }
                for q in spec.get("parameters", [])
            ]
            pipeline = self.pipelines[key] = oci.devops.DeployPipeline(
                f"{name}-{key}-pipeline",
                project_id=args.project_id,
                display_name=spec["displayName"],
                description=spec.get("description") or None,
                deploy_pipeline_parameters={"items": items} if items else None,
                opts=child(self),
            )
            stages: dict[str, oci.devops.DeployStage] = {}
            for stage in spec["stages"]:
                preds: list[oci.devops.DeployStageDeployStagePredecessorCollectionItemArgsDict] = [
                    {"id": stages[d].id} for d in stage["dependsOn"]
                ] or [{"id": pipeline.id}]
                stages[stage["name"]] = self.stages[f"{key}-{stage['name']}"] = oci.devops.DeployStage(
                    f"{name}-{key}-stage-{stage['name']}",
                    deploy_pipeline_id=pipeline.id,
                    deploy_stage_type=stage["type"],
                    display_name=stage["name"],
                    description=stage.get("description"),
                    deploy_stage_predecessor_collection={"items": preds},
                    **self._stage_args(stage, envs, args.subnet_ids),
                    opts=child(self),
                )
            self.trigger_stages[key] = oci.devops.BuildPipelineStage(
                f"{name}-{key}-trigger",
                build_pipeline_id=args.build_pipeline_id,
                build_pipeline_stage_type="TRIGGER_DEPLOYMENT_PIPELINE",
                display_name=f"deploy-{key}",
                deploy_pipeline_id=pipeline.id,
                is_pass_all_parameters_enabled=True,
                build_pipeline_stage_predecessor_collection={"items": [{"id": self.deliver_stage.id}]},
                opts=child(self),
            )
        self.deploy_pipeline_ids = {k: pl.id for k, pl in self.pipelines.items()}
        self.register_outputs({"deploy_pipeline_ids": self.deploy_pipeline_ids})

    def _stage_args(
        self,
        stage: Mapping[str, Any],
        envs: Mapping[str, oci.devops.DeployEnvironment],
        subnet_ids: Mapping[str, pulumi.Input[str]],
    ) -> dict[str, Any]:
        """The type-specific arguments of one ``oci.devops.DeployStage``."""
        typ = stage["type"]
        if typ == "DEPLOY_FUNCTION":
            out: dict[str, Any] = {
                "function_deploy_environment_id": envs[stage["environment"]].id,
                "docker_image_deploy_artifact_id": self.artifacts[stage["artifact"]].id,
                "config": stage.get("config") or None,
                "function_timeout_in_seconds": stage.get("functionTimeoutInSeconds"),
            }
            if "maxMemoryInMbs" in stage:
                out["max_memory_in_mbs"] = str(stage["maxMemoryInMbs"])
            return out
        if typ == "INVOKE_FUNCTION":
            return {
                "function_deploy_environment_id": envs[stage["environment"]].id,
                "deploy_artifact_id": self.artifacts[stage["artifact"]].id if stage.get("artifact") else None,
                "is_async": stage.get("isAsync", False),
                "is_validation_enabled": stage.get("isValidationEnabled", True),
            }
        if typ == "WAIT":
            wc = stage["waitCriteria"]
            return {"wait_criteria": {"wait_type": wc["waitType"], "wait_duration": wc["waitDuration"]}}
        if typ == "MANUAL_APPROVAL":
            ap = stage["approvalPolicy"]
            return {
                "approval_policy": {
                    "approval_policy_type": ap["approvalPolicyType"],
                    "number_of_approvals_required": ap["numberOfApprovalsRequired"],
                }
            }
        if typ == "SHELL":
            cc = stage["containerConfig"]
            nc = cc["networkChannel"]
            if nc["subnet"] not in subnet_ids:
                raise ConfigError(
                    f"deploy pipeline: stage {stage['name']}: containerConfig.networkChannel.subnet "
                    f"must be one of {', '.join(sorted(subnet_ids))}, got {nc['subnet']!r}"
                )
            container = {
                "container_config_type": cc["containerConfigType"],
                "shape_name": cc["shapeName"],
                "shape_config": {
                    "ocpus": cc["shapeConfig"]["ocpus"],
                    "memory_in_gbs": cc["shapeConfig"]["memoryInGBs"],
                },
                "network_channel": {
                    "network_channel_type": nc["networkChannelType"],
                    "subnet_id": subnet_ids[nc["subnet"]],
                },
            }
            if cc.get("availabilityDomain"):
                container["availability_domain"] = cc["availabilityDomain"]
            return {
                "command_spec_deploy_artifact_id": self.artifacts[stage["commandSpec"]].id,
                "timeout_in_seconds": stage.get("timeoutInSeconds"),
                "container_config": container,
            }
        raise ConfigError(f"deploy pipeline: stage {stage['name']}: unsupported type {typ!r}")
