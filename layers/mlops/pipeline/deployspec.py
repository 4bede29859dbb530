"""Our deploy pipeline definition (``pipelines/deploy_pipeline.yaml``): parsed, validated, settings applied.

The file is our own documented shape over the OCI DevOps deploy resources, one key per resource:

    version: 1                         required, 1
    kind: DeployPipeline               required
    displayName: str                   -> oci.devops.DeployPipeline(display_name=)
    description: str
    parameters:                        -> deploy_pipeline_parameters.items[]
      - {name: ^[a-zA-Z][a-zA-Z_0-9]*$, defaultValue: str, description: str}
    environments:                      -> oci.devops.DeployEnvironment, one per key
      <env-name>: {type: FUNCTION, function: <function key as in the stack settings>,
                   description: str}
    artifacts:                         -> oci.devops.DeployArtifact, one per key
      <artifact-name>:
        type: DOCKER_IMAGE | GENERIC_FILE | COMMAND_SPEC
        argumentSubstitutionMode: NONE | SUBSTITUTE_PLACEHOLDERS   (default SUBSTITUTE_PLACEHOLDERS)
        source:
          type: OCIR     with imageUri (may hold ${PARAM}), optional imageDigest
          type: INLINE   with content: str, or spec: <a command spec mapping> for COMMAND_SPEC
                         (validated as component: command). The loader adds base64Content.
    stages:                            -> oci.devops.DeployStage, in order
      - name: str (unique)
        type: DEPLOY_FUNCTION | INVOKE_FUNCTION | WAIT | MANUAL_APPROVAL | SHELL
        dependsOn: [stage names]       default: the previous stage (first: the pipeline)
        description: str
        DEPLOY_FUNCTION: environment, artifact (DOCKER_IMAGE), config {K: V}, maxMemoryInMbs,
                         functionTimeoutInSeconds
        INVOKE_FUNCTION: environment, artifact (GENERIC_FILE request body, optional),
                         isAsync (bool), isValidationEnabled (bool)
        WAIT:            waitCriteria {waitType: ABSOLUTE_WAIT, waitDuration: ISO-8601 e.g. PT15M}
        MANUAL_APPROVAL: approvalPolicy {approvalPolicyType: COUNT_BASED_APPROVAL,
                                         numberOfApprovalsRequired: int >= 1}
                         enabledBy: <DevOps settings flag> (optional; see apply_devops_settings)
        SHELL:           commandSpec (COMMAND_SPEC artifact), timeoutInSeconds,
                         containerConfig {containerConfigType: CONTAINER_INSTANCE_CONFIG,
                           shapeName, shapeConfig {ocpus, memoryInGBs},
                           networkChannel {networkChannelType: SERVICE_VNIC_CHANNEL |
                           PRIVATE_ENDPOINT_CHANNEL, subnet: <role, resolved by infra>}}

Field names mirror the oci SDK models (CreateFunctionDeployStageDetails,
CreateInvokeFunctionDeployStageDetails, CreateWaitDeployStageDetails with
CreateAbsoluteWaitCriteriaDetails, CreateManualApprovalDeployStageDetails with
CountBasedApprovalPolicy, CreateShellDeployStageDetails with ContainerInstanceConfig,
InlineDeployArtifactSource, OcirDeployArtifactSource) in camelCase, so the Pulumi
component maps each to the snake_case pulumi-oci argument of the same name.
OCI DevOps has no canary stage for Functions (only OKE / instance groups), hence
DEPLOY_FUNCTION -> INVOKE_FUNCTION -> WAIT / MANUAL_APPROVAL -> SHELL (move the weight).
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mlops.pipeline.buildspec import parse_build_spec
from mlops.pipeline.deploystages import (
    COMMON_STAGE_KEYS,
    ENABLE_FLAGS,
    ISO_DURATION,
    MEMORY_CHOICES,
    STAGE_KEYS,
    STAGE_PARSERS,
    STAGE_TYPES,
    StageRefs,
    parse_stages,
)
from mlops.pipeline.schema import (
    Field,
    Problems,
    check_fields,
    check_mapping,
    choice,
    describe,
    equal_to,
    mapping,
    one_of,
    required,
    scalar_text,
    sequence,
    unknown_keys,
)
from mlops.pipeline.specfile import SpecError, read_yaml

DEPLOY_KIND = "DeployPipeline"
ARTIFACT_TYPES = ("DOCKER_IMAGE", "GENERIC_FILE", "COMMAND_SPEC")
PARAM_NAME = re.compile(r"^[a-zA-Z][a-zA-Z_0-9]*\Z")
DEPLOY_TOP_KEYS = (
    "version",
    "kind",
    "displayName",
    "description",
    "parameters",
    "environments",
    "artifacts",
    "stages",
)
ARTIFACT_KEYS = ("type", "description", "argumentSubstitutionMode", "source")
SUBSTITUTION_MODES = ("NONE", "SUBSTITUTE_PLACEHOLDERS")

# The stage names moved to mlops.pipeline.deploystages; they stay importable from here.
__all__ = [
    "ARTIFACT_KEYS",
    "ARTIFACT_TYPES",
    "COMMON_STAGE_KEYS",
    "DEPLOY_KIND",
    "DEPLOY_TOP_KEYS",
    "ENABLE_FLAGS",
    "ISO_DURATION",
    "MEMORY_CHOICES",
    "PARAM_NAME",
    "STAGE_KEYS",
    "STAGE_PARSERS",
    "STAGE_TYPES",
    "SUBSTITUTION_MODES",
    "apply_devops_settings",
    "load_deploy_pipeline",
    "parse_deploy_pipeline",
]


# --------------------------------------------------------------------------- artifacts


def _from_ocir(v: Any) -> str | None:
    return None if v == "OCIR" else f"a DOCKER_IMAGE comes from OCIR, got {describe(v)}"


def _inline_content(typ: str, src: Mapping[str, Any], where: str, p: Problems) -> str | None:
    """The text of an INLINE source: ``content`` as written, or a COMMAND_SPEC's ``spec`` checked and dumped."""
    if typ != "COMMAND_SPEC":
        content = src.get("content")
        if not isinstance(content, str) or not content:
            p.add(f"{where}.content", "expected a non-empty string")
            return None
        return content
    spec = src.get("spec")
    if not isinstance(spec, Mapping):
        p.add(f"{where}.spec", "expected an inline command spec (component: command)")
        return None
    try:
        parse_build_spec(spec, f"{where}.spec", component="command")
    except SpecError as exc:
        for item in exc.details.get("errors", [exc.message]):
            p.add(f"{where}.spec", item)
        return None
    return yaml.safe_dump(dict(spec), sort_keys=False)


def _artifact_source(typ: str, src: Mapping[str, Any], where: str, p: Problems) -> dict | None:
    """The checked source of one artifact (``where`` is its ``.source``); None if it is wrong."""
    if typ == "DOCKER_IMAGE":
        if "type" not in check_fields(src, where, (Field("type", _from_ocir, default=None),), p):
            return None
        check_mapping(src, where, ("type", "imageUri", "imageDigest"), (required("imageUri"),), p)
        return dict(src)
    if "type" not in check_fields(src, where, (Field("type", equal_to("INLINE"), default=None),), p):
        return None
    unknown_keys(src, ("type", "content", "spec"), where, p)
    content = _inline_content(typ, src, where, p)
    if content is None:
        return None
    return {
        "type": "INLINE",
        "content": content,
        "base64Content": base64.b64encode(content.encode()).decode(),
    }


def _deploy_artifacts(raw: Any, p: Problems) -> dict[str, dict]:
    out: dict[str, dict] = {}
    arts = mapping(raw, "artifacts", p, "a mapping of name -> artifact") if raw is not None else None
    for name, art in (arts or {}).items():
        where = f"artifacts.{name}"
        good = check_mapping(
            art, where, ARTIFACT_KEYS, (Field("type", one_of(ARTIFACT_TYPES), default=None),), p
        )
        if good is None or "type" not in good:
            continue
        mode_field = Field(
            "argumentSubstitutionMode", choice(SUBSTITUTION_MODES, " or ".join(SUBSTITUTION_MODES))
        )
        check_fields(art, where, (mode_field,), p)
        src = mapping(art.get("source"), f"{where}.source", p)
        source = _artifact_source(good["type"], src, f"{where}.source", p) if src is not None else None
        if source is None:
            continue
        resolved = dict(art)
        resolved["argumentSubstitutionMode"] = art.get("argumentSubstitutionMode", "SUBSTITUTE_PLACEHOLDERS")
        resolved["source"] = source
        out[str(name)] = resolved
    return out


# --------------------------------------------------------------------------- the pipeline


def _param_name(v: Any) -> str | None:
    return (
        None
        if isinstance(v, str) and PARAM_NAME.match(v)
        else f"expected ^[a-zA-Z][a-zA-Z_0-9]*$, got {describe(v)}"
    )


def _parameters(raw: Any, p: Problems) -> list[dict]:
    params: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(sequence(raw, "parameters", p) or []):
        where = f"parameters[{i}]"
        good = check_mapping(
            item,
            where,
            ("name", "defaultValue", "description"),
            (Field("name", _param_name, default=None),),
            p,
        )
        if good is None or "name" not in good:
            continue
        name = good["name"]
        if name in seen:
            p.add(f"{where}.name", f"{name!r} is defined twice")
        seen.add(name)
        default = item.get("defaultValue")
        if default is not None and scalar_text(default) is None:
            p.add(f"{where}.defaultValue", f"expected a string, got {describe(default)}")
        params.append(
            {
                "name": name,
                "defaultValue": scalar_text(default) if default is not None else None,
                "description": item.get("description", ""),
            }
        )
    return params


ENVIRONMENT_FIELDS = (Field("type", equal_to("FUNCTION"), default=None), required("function"))


def _environments(raw: Any, p: Problems) -> dict[str, dict]:
    envs: dict[str, dict] = {}
    for name, env in (mapping(raw, "environments", p, "a mapping of name -> environment") or {}).items():
        if (
            check_mapping(
                env, f"environments.{name}", ("type", "function", "description"), ENVIRONMENT_FIELDS, p
            )
            is not None
        ):
            envs[str(name)] = dict(env)
    return envs


HEADER_FIELDS = (
    Field("version", equal_to(1), default=None),
    Field("kind", equal_to(DEPLOY_KIND), default=None),
    required("displayName"),
)


def parse_deploy_pipeline(data: Any, source: str = "<deploy pipeline>") -> dict:
    """Validate a deploy pipeline definition; return it as a plain dict with references checked.

    The result keeps the file's shape, plus: every stage has ``dependsOn`` filled in (default:
    the previous stage), DEPLOY_FUNCTION ``config`` values are strings, and INLINE artifact
    sources carry ``content`` and ``base64Content`` (an inline command spec is validated as a
    ``component: command`` spec and serialised to YAML).
    """
    p = Problems(source)
    if not isinstance(data, Mapping):
        p.add("", f"expected a mapping at the top level, got {describe(data)}")
        p.raise_if_any()
    unknown_keys(data, DEPLOY_TOP_KEYS, "", p)
    check_fields(data, "", HEADER_FIELDS, p)
    params = _parameters(data.get("parameters", []), p)
    envs = _environments(data.get("environments", {}), p)
    arts = _deploy_artifacts(data.get("artifacts"), p)
    stages = parse_stages(data.get("stages"), StageRefs({"environments": envs, "artifacts": arts}), p)
    p.raise_if_any()
    out = {k: copy.deepcopy(v) for k, v in data.items()}
    out.update(
        {
            "parameters": params,
            "environments": envs,
            "artifacts": arts,
            "stages": stages,
            "description": data.get("description", ""),
        }
    )
    return out


def load_deploy_pipeline(path: str | Path) -> dict:
    """Read and validate ``pipelines/deploy_pipeline.yaml``; the documented dict (see module notes)."""
    return parse_deploy_pipeline(read_yaml(path), str(path))


def apply_devops_settings(pipeline: Mapping[str, Any], devops: Any) -> dict:
    """The pipeline with a stack's DevOps settings applied (a pure function; input unchanged).

    ``devops`` is ``mlops.settings.DevOps`` (or anything with the same attributes):
    ``canary_wait`` becomes every WAIT stage's ``waitDuration``; ``canary_weight_bp``
    the ``CANARY_WEIGHT_BP`` parameter default; ``ocir_repository_prefix`` the
    ``OCIR_PREFIX`` default; a stage with ``enabledBy: require_manual_approval`` is dropped
    when that flag is false, its dependants then depend on its own predecessors.
    """
    out = copy.deepcopy(dict(pipeline))
    defaults = {
        "CANARY_WEIGHT_BP": getattr(devops, "canary_weight_bp", None),
        "OCIR_PREFIX": getattr(devops, "ocir_repository_prefix", None),
    }
    for param in out.get("parameters", []):
        value = defaults.get(param["name"])
        if value is not None:
            param["defaultValue"] = str(value)
    wait = getattr(devops, "canary_wait", None)
    stages = out.get("stages", [])
    for stage in stages:
        if stage.get("type") == "WAIT" and wait:
            if not ISO_DURATION.match(wait):
                raise SpecError(f"devops.canary_wait: expected an ISO-8601 duration like PT15M, got {wait!r}")
            stage["waitCriteria"] = {"waitType": "ABSOLUTE_WAIT", "waitDuration": wait}
    kept: list[dict] = []
    dropped: dict[str, list[str]] = {}
    for stage in stages:
        stage["dependsOn"] = [d2 for d in stage["dependsOn"] for d2 in dropped.get(d, [d])]
        flag = stage.get("enabledBy")
        if flag and not getattr(devops, flag, True):
            dropped[stage["name"]] = stage["dependsOn"]
            continue
        kept.append(stage)
    out["stages"] = kept
    return out
