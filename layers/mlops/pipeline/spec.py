"""The OCI DevOps build/command spec and the deploy pipeline definition: parsed, validated, typed.

Build spec schema (``version: 0.1``, ``component: build``) as documented by Oracle,
"Build Specification", https://docs.oracle.com/iaas/Content/devops/using/build_specs.htm
(syntax block: ``timeoutInSeconds``, ``shell``, ``failImmediatelyOnError``, ``runAs``,
``env.variables`` / ``env.vaultVariables`` / ``env.exportedVariables``, ``inputArtifacts``
of type ``GENERIC_ARTIFACT`` / ``STAGE_ARTIFACT`` / ``URL``, ``steps`` of ``type: Command``
with ``name``, ``shell``, ``timeoutInSeconds``, ``failImmediatelyOnError``, ``command``,
``onFailure``, and ``outputArtifacts`` with ``name``, ``type``, ``location``). The command
spec of a deploy pipeline's SHELL stage is the same shape with ``component: command``, no
``exportedVariables``, no ``STAGE_ARTIFACT`` input and no ``outputArtifacts``
(https://docs.oracle.com/iaas/Content/devops/using/command_spec.htm).

Exported variable names follow the rule Oracle states for exporting build values:
"ASCII letter, digit or '_' characters and not start with an oci (case-insensitive)
prefix" (quoted in oracle-devrel samples that reproduce the build_specs.htm table).

Every validation error names the field (``steps[2].timeoutInSeconds: expected a positive
integer, got -5``); all errors of a file are reported at once.

The deploy pipeline definition (``pipelines/deploy_pipeline.yaml``) is our own documented
shape over the OCI DevOps deploy resources; see ``parse_deploy_pipeline``.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops.errors import UnprocessableError

# --------------------------------------------------------------------------- errors


class SpecError(UnprocessableError):
    """A build spec or deploy pipeline file that cannot be used; the message names each bad field."""

    code = "invalid_spec"


class _Problems:
    """Collects every problem of one file so the user fixes them in one go."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}" if where else message)

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(f"{self.source}: " + "; ".join(self.items),
                            details={"source": self.source, "errors": list(self.items)})


# --------------------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str | Path) -> Any:
    """Parse one YAML file strictly (duplicate keys are errors); errors name the file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: cannot be read: {exc}") from None
    return parse_yaml_text(text, str(p))


def parse_yaml_text(text: str, source: str = "<spec>") -> Any:
    """Parse YAML text strictly; a syntax error names the source and line."""
    from mlops.jsonbody import depth_exceeds

    if depth_exceeds(text.encode("utf-8", "surrogatepass"), 200):     # flow style: refused before PyYAML recurses
        raise SpecError(f"{source}: invalid YAML: nested too deeply")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{source}: invalid YAML{where}: {problem}") from None
    except RecursionError:      # PyYAML composes nested nodes recursively: a local file, refused in one line
        raise SpecError(f"{source}: invalid YAML: nested too deeply") from None


# --------------------------------------------------------------------------- build spec model

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
EXPORT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
SHELLS = ("bash", "sh")
STEP_TYPES = ("Command",)
INPUT_ARTIFACT_TYPES = ("GENERIC_ARTIFACT", "STAGE_ARTIFACT", "URL")
OUTPUT_ARTIFACT_TYPES = ("BINARY", "DOCKER_IMAGE")
COMPONENTS = ("build", "command")

TOP_LEVEL_KEYS = ("version", "component", "timeoutInSeconds", "shell", "failImmediatelyOnError",
                  "runAs", "env", "inputArtifacts", "steps", "outputArtifacts")
ENV_KEYS = ("variables", "vaultVariables", "exportedVariables")
STEP_KEYS = ("type", "name", "shell", "timeoutInSeconds", "failImmediatelyOnError", "command", "onFailure")
ON_FAILURE_KEYS = ("type", "name", "shell", "timeoutInSeconds", "failImmediatelyOnError", "command")
INPUT_ARTIFACT_KEYS = {
    "GENERIC_ARTIFACT": ("name", "type", "artifactId", "registryId", "path", "version", "location"),
    "STAGE_ARTIFACT": ("name", "type", "location"),
    "URL": ("name", "type", "url", "location"),
}
OUTPUT_ARTIFACT_KEYS = ("name", "type", "location")


@dataclass(frozen=True)
class Command:
    """One ``type: Command`` step (or one of its ``onFailure`` commands)."""

    where: str                                  # "steps[2]" or "steps[2].onFailure[0]"
    name: str
    command: str
    shell: str | None = None                    # None: the spec's shell
    timeout_s: int | None = None                # None: what is left of the build's timeout
    fail_immediately: bool | None = None        # None: the spec's failImmediatelyOnError
    on_failure: tuple[Command, ...] = ()


@dataclass(frozen=True)
class InputArtifact:
    where: str
    name: str
    type: str
    location: str
    fields: Mapping[str, str] = field(default_factory=dict)  # artifactId, url, ... as written


@dataclass(frozen=True)
class OutputArtifact:
    where: str
    name: str
    type: str                                   # BINARY | DOCKER_IMAGE
    location: str                               # may hold ${VAR}: expanded with the final env


@dataclass(frozen=True)
class BuildSpec:
    """A validated build (or command) spec."""

    source: str
    component: str = "build"
    timeout_s: int | None = None
    shell: str = "bash"
    fail_immediately: bool = False
    run_as: str | None = None
    variables: tuple[tuple[str, str], ...] = ()          # in file order: later ones may use earlier
    vault_variables: tuple[tuple[str, str], ...] = ()    # name -> secret OCID (or local placeholder)
    exported_variables: tuple[str, ...] = ()
    input_artifacts: tuple[InputArtifact, ...] = ()
    steps: tuple[Command, ...] = ()
    output_artifacts: tuple[OutputArtifact, ...] = ()

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _describe(v: Any) -> str:
    if v is None:
        return "nothing"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar_text(v: Any) -> str | None:
    """YAML scalars as the shell would see them (true -> 'true'); None for non-scalars."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (str, int, float)):
        return str(v)
    return None


def _check_keys(obj: Mapping[str, Any], allowed: tuple[str, ...], where: str, p: _Problems) -> None:
    unknown = [str(k) for k in obj if k not in allowed]
    if unknown:
        prefix = f"{where}." if where else ""
        names = ", ".join(f"{prefix}{k}" for k in unknown)
        what = "key" if len(unknown) == 1 else "keys"
        scope = "top-level " if not where else ""
        p.add("", f"unknown {scope}{what} {names} (allowed: {', '.join(allowed)})")


def _positive_int(obj: Mapping[str, Any], key: str, where: str, p: _Problems) -> int | None:
    if key not in obj:
        return None
    v = obj[key]
    if not _is_int(v) or v <= 0:
        p.add(f"{where}{key}", f"expected a positive integer, got {_describe(v)}")
        return None
    return v


def _bool(obj: Mapping[str, Any], key: str, where: str, p: _Problems) -> bool | None:
    if key not in obj:
        return None
    v = obj[key]
    if not isinstance(v, bool):
        p.add(f"{where}{key}", f"expected true or false, got {_describe(v)}")
        return None
    return v


def _shell(obj: Mapping[str, Any], where: str, p: _Problems) -> str | None:
    if "shell" not in obj:
        return None
    v = obj["shell"]
    if v not in SHELLS:
        p.add(f"{where}shell", f"expected one of {', '.join(SHELLS)}, got {_describe(v)}")
        return None
    return v


def _string(obj: Mapping[str, Any], key: str, where: str, p: _Problems, *, required: bool) -> str | None:
    if key not in obj:
        if required:
            p.add(f"{where}{key}", "is required")
        return None
    v = obj[key]
    if not isinstance(v, str) or not v.strip():
        p.add(f"{where}{key}", f"expected a non-empty string, got {_describe(v)}")
        return None
    return v


def _command(obj: Any, where: str, p: _Problems, *, default_name: str, nested: bool) -> Command | None:
    if not isinstance(obj, Mapping):
        p.add(where, f"expected a mapping, got {_describe(obj)}")
        return None
    _check_keys(obj, ON_FAILURE_KEYS if nested else STEP_KEYS, where, p)
    w = f"{where}."
    typ = obj.get("type")
    if "type" not in obj:
        p.add(f"{w}type", "is required (Command)")
    elif typ not in STEP_TYPES:
        p.add(f"{w}type", f"expected one of {', '.join(STEP_TYPES)}, got {_describe(typ)}")
    name = _string(obj, "name", w, p, required=False) or default_name
    command = _string(obj, "command", w, p, required=True)
    shell = _shell(obj, w, p)
    timeout = _positive_int(obj, "timeoutInSeconds", w, p)
    fail_immediately = _bool(obj, "failImmediatelyOnError", w, p)
    on_failure: list[Command] = []
    if not nested and "onFailure" in obj:
        raw = obj["onFailure"]
        if not isinstance(raw, list):
            p.add(f"{w}onFailure", f"expected a list of commands, got {_describe(raw)}")
        else:
            for i, item in enumerate(raw):
                c = _command(item, f"{w}onFailure[{i}]", p, default_name=f"onFailure[{i}]",
                             nested=True)
                if c:
                    on_failure.append(c)
    if command is None:
        return None
    return Command(where=where, name=name, command=command, shell=shell, timeout_s=timeout,
                   fail_immediately=fail_immediately, on_failure=tuple(on_failure))


def _env(obj: Any, component: str, p: _Problems) -> tuple[tuple, tuple, tuple]:
    if obj is None:
        return (), (), ()
    if not isinstance(obj, Mapping):
        p.add("env", f"expected a mapping, got {_describe(obj)}")
        return (), (), ()
    allowed = ENV_KEYS if component == "build" else ("variables", "vaultVariables")
    _check_keys(obj, allowed, "env", p)
    variables: list[tuple[str, str]] = []
    vault: list[tuple[str, str]] = []
    exported: list[str] = []
    raw = obj.get("variables")
    if raw is not None:
        if not isinstance(raw, Mapping):
            p.add("env.variables", f"expected a mapping of NAME: value, got {_describe(raw)}")
        else:
            for k, v in raw.items():
                if not isinstance(k, str) or not ENV_NAME.match(k):
                    p.add(f"env.variables.{k}", "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
                    continue
                text = _scalar_text(v)
                if text is None:
                    p.add(f"env.variables.{k}", f"expected a string, number or boolean, got {_describe(v)}")
                    continue
                variables.append((k, text))
    raw = obj.get("vaultVariables")
    if raw is not None:
        if not isinstance(raw, Mapping):
            p.add("env.vaultVariables", f"expected a mapping of NAME: secret-OCID, got {_describe(raw)}")
        else:
            for k, v in raw.items():
                if not isinstance(k, str) or not ENV_NAME.match(k):
                    p.add(f"env.vaultVariables.{k}", "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
                    continue
                if not isinstance(v, str) or not v.strip():
                    p.add(f"env.vaultVariables.{k}", f"expected a secret OCID string, got {_describe(v)}")
                    continue
                vault.append((k, v.strip()))
    both = sorted({k for k, _ in variables} & {k for k, _ in vault})
    for k in both:
        p.add(f"env.vaultVariables.{k}", "also defined in env.variables; a name may be defined once")
    raw = obj.get("exportedVariables")
    if raw is not None:
        if not isinstance(raw, list):
            p.add("env.exportedVariables", f"expected a list of names, got {_describe(raw)}")
        else:
            for i, v in enumerate(raw):
                where = f"env.exportedVariables[{i}]"
                if not isinstance(v, str) or not EXPORT_NAME.match(v):
                    p.add(where, f"expected a name of ASCII letters, digits or '_' starting with a letter, "
                                 f"got {_describe(v)}")
                elif v.lower().startswith("oci"):
                    p.add(where, f"{v!r}: exported names may not start with 'oci' (any case)")
                elif v in exported:
                    p.add(where, f"{v!r} is listed twice")
                else:
                    exported.append(v)
    return tuple(variables), tuple(vault), tuple(exported)


def _input_artifacts(raw: Any, component: str, p: _Problems) -> tuple[InputArtifact, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        p.add("inputArtifacts", f"expected a list, got {_describe(raw)}")
        return ()
    types = INPUT_ARTIFACT_TYPES if component == "build" else ("GENERIC_ARTIFACT", "URL")
    out: list[InputArtifact] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        where = f"inputArtifacts[{i}]"
        if not isinstance(item, Mapping):
            p.add(where, f"expected a mapping, got {_describe(item)}")
            continue
        typ = item.get("type")
        if typ not in types:
            p.add(f"{where}.type", f"expected one of {', '.join(types)}, got {_describe(typ)}")
            continue
        _check_keys(item, INPUT_ARTIFACT_KEYS[typ], where, p)
        name = _string(item, "name", f"{where}.", p, required=True)
        location = _string(item, "location", f"{where}.", p, required=True)
        fields: dict[str, str] = {}
        if typ == "URL":
            url = _string(item, "url", f"{where}.", p, required=True)
            if url:
                fields["url"] = url
        elif typ == "GENERIC_ARTIFACT":
            for k in ("artifactId", "registryId", "path", "version"):
                v = _scalar_text(item.get(k)) if k in item else None
                if v:
                    fields[k] = v
            if "artifactId" not in fields and not all(k in fields for k in ("registryId", "path", "version")):
                p.add(where, "GENERIC_ARTIFACT needs artifactId, or registryId + path + version")
        if name in names:
            p.add(f"{where}.name", f"{name!r} is used twice")
        if name and location:
            names.add(name)
            out.append(InputArtifact(where=where, name=name, type=typ, location=location, fields=fields))
    return tuple(out)


def _output_artifacts(raw: Any, p: _Problems) -> tuple[OutputArtifact, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        p.add("outputArtifacts", f"expected a list, got {_describe(raw)}")
        return ()
    out: list[OutputArtifact] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        where = f"outputArtifacts[{i}]"
        if not isinstance(item, Mapping):
            p.add(where, f"expected a mapping, got {_describe(item)}")
            continue
        _check_keys(item, OUTPUT_ARTIFACT_KEYS, where, p)
        name = _string(item, "name", f"{where}.", p, required=True)
        location = _string(item, "location", f"{where}.", p, required=True)
        typ = item.get("type")
        if typ not in OUTPUT_ARTIFACT_TYPES:
            p.add(f"{where}.type", f"expected one of {', '.join(OUTPUT_ARTIFACT_TYPES)}, got {_describe(typ)}")
            typ = None
        if name in names:
            p.add(f"{where}.name", f"{name!r} is used twice")
        if name and location and typ:
            names.add(name)
            out.append(OutputArtifact(where=where, name=name, type=typ, location=location))
    return tuple(out)


def parse_build_spec(data: Any, source: str = "<spec>", *, component: str | None = None) -> BuildSpec:
    """Validate a parsed build (or command) spec; raise ``SpecError`` naming every bad field.

    ``component`` pins the expected component (``build`` for build_spec.yaml, ``command``
    for a SHELL stage's command spec); None accepts either.
    """
    p = _Problems(source)
    if not isinstance(data, Mapping):
        p.add("", f"expected a mapping at the top level, got {_describe(data)}")
        p.raise_if_any()
    _check_keys(data, TOP_LEVEL_KEYS, "", p)

    version = data.get("version")
    if "version" not in data:
        p.add("version", "is required (0.1)")
    elif str(version) != "0.1":
        p.add("version", f"expected 0.1, got {_describe(version)}")

    comp = data.get("component")
    expected = (component,) if component else COMPONENTS
    if "component" not in data:
        p.add("component", f"is required ({' or '.join(expected)})")
        comp = expected[0]
    elif comp not in expected:
        p.add("component", f"expected {' or '.join(expected)}, got {_describe(comp)}")
        comp = expected[0]
    if comp == "command" and "outputArtifacts" in data:
        p.add("outputArtifacts", "not allowed in a command spec (component: command)")

    timeout = _positive_int(data, "timeoutInSeconds", "", p)
    shell = _shell(data, "", p) or "bash"
    fail_immediately = _bool(data, "failImmediatelyOnError", "", p)
    run_as = _string(data, "runAs", "", p, required=False)
    variables, vault, exported = _env(data.get("env"), comp, p)
    inputs = _input_artifacts(data.get("inputArtifacts"), comp, p)

    steps: list[Command] = []
    raw_steps = data.get("steps")
    if raw_steps is None:
        p.add("steps", "is required (a list of commands)")
    elif not isinstance(raw_steps, list) or not raw_steps:
        p.add("steps", f"expected a non-empty list of commands, got {_describe(raw_steps)}")
    else:
        seen: dict[str, int] = {}
        for i, item in enumerate(raw_steps):
            c = _command(item, f"steps[{i}]", p, default_name=f"step {i + 1}", nested=False)
            if c is None:
                continue
            if c.name in seen:
                p.add(f"steps[{i}].name", f"{c.name!r} is also the name of steps[{seen[c.name]}]")
            seen[c.name] = i
            steps.append(c)
        for c in steps:
            if timeout and c.timeout_s and c.timeout_s > timeout:
                p.add(f"{c.where}.timeoutInSeconds",
                      f"{c.timeout_s} exceeds the build's timeoutInSeconds ({timeout})")
    outputs = _output_artifacts(data.get("outputArtifacts"), p) if comp == "build" else ()
    p.raise_if_any()
    return BuildSpec(source=source, component=comp, timeout_s=timeout, shell=shell,
                     fail_immediately=bool(fail_immediately), run_as=run_as, variables=variables,
                     vault_variables=vault, exported_variables=exported, input_artifacts=inputs,
                     steps=tuple(steps), output_artifacts=outputs)


def load_build_spec(path: str | Path, *, component: str | None = "build") -> BuildSpec:
    """Read and validate a build spec file (``component: build`` unless told otherwise)."""
    return parse_build_spec(read_yaml(path), str(path), component=component)


# --------------------------------------------------------------------------- deploy pipeline
#
# pipelines/deploy_pipeline.yaml — our documented shape, one key per OCI DevOps resource:
#
#   version: 1                         required, 1
#   kind: DeployPipeline               required
#   displayName: str                   -> oci.devops.DeployPipeline(display_name=)
#   description: str
#   parameters:                        -> deploy_pipeline_parameters.items[]
#     - {name: ^[a-zA-Z][a-zA-Z_0-9]*$, defaultValue: str, description: str}
#   environments:                      -> oci.devops.DeployEnvironment, one per key
#     <env-name>: {type: FUNCTION, function: <function key as in the stack settings>,
#                  description: str}
#   artifacts:                         -> oci.devops.DeployArtifact, one per key
#     <artifact-name>:
#       type: DOCKER_IMAGE | GENERIC_FILE | COMMAND_SPEC
#       argumentSubstitutionMode: NONE | SUBSTITUTE_PLACEHOLDERS   (default SUBSTITUTE_PLACEHOLDERS)
#       source:
#         type: OCIR     with imageUri (may hold ${PARAM}), optional imageDigest
#         type: INLINE   with content: str, or spec: <a command spec mapping> for COMMAND_SPEC
#                        (validated as component: command). The loader adds base64Content.
#   stages:                            -> oci.devops.DeployStage, in order
#     - name: str (unique)
#       type: DEPLOY_FUNCTION | INVOKE_FUNCTION | WAIT | MANUAL_APPROVAL | SHELL
#       dependsOn: [stage names]       default: the previous stage (first: the pipeline)
#       description: str
#       DEPLOY_FUNCTION: environment, artifact (DOCKER_IMAGE), config {K: V}, maxMemoryInMbs,
#                        functionTimeoutInSeconds
#       INVOKE_FUNCTION: environment, artifact (GENERIC_FILE request body, optional),
#                        isAsync (bool), isValidationEnabled (bool)
#       WAIT:            waitCriteria {waitType: ABSOLUTE_WAIT, waitDuration: ISO-8601 e.g. PT15M}
#       MANUAL_APPROVAL: approvalPolicy {approvalPolicyType: COUNT_BASED_APPROVAL,
#                                        numberOfApprovalsRequired: int >= 1}
#                        enabledBy: <DevOps settings flag> (optional; see apply_devops_settings)
#       SHELL:           commandSpec (COMMAND_SPEC artifact), timeoutInSeconds,
#                        containerConfig {containerConfigType: CONTAINER_INSTANCE_CONFIG,
#                          shapeName, shapeConfig {ocpus, memoryInGBs},
#                          networkChannel {networkChannelType: SERVICE_VNIC_CHANNEL |
#                          PRIVATE_ENDPOINT_CHANNEL, subnet: <role, resolved by infra>}}
#
# Field names mirror the oci SDK models (CreateFunctionDeployStageDetails,
# CreateInvokeFunctionDeployStageDetails, CreateWaitDeployStageDetails with
# CreateAbsoluteWaitCriteriaDetails, CreateManualApprovalDeployStageDetails with
# CountBasedApprovalPolicy, CreateShellDeployStageDetails with ContainerInstanceConfig,
# InlineDeployArtifactSource, OcirDeployArtifactSource) in camelCase, so the Pulumi
# component maps each to the snake_case pulumi-oci argument of the same name.
# OCI DevOps has no canary stage for Functions (only OKE / instance groups), hence
# DEPLOY_FUNCTION -> INVOKE_FUNCTION -> WAIT / MANUAL_APPROVAL -> SHELL (move the weight).

DEPLOY_KIND = "DeployPipeline"
STAGE_TYPES = ("DEPLOY_FUNCTION", "INVOKE_FUNCTION", "WAIT", "MANUAL_APPROVAL", "SHELL")
ARTIFACT_TYPES = ("DOCKER_IMAGE", "GENERIC_FILE", "COMMAND_SPEC")
PARAM_NAME = re.compile(r"^[a-zA-Z][a-zA-Z_0-9]*\Z")
ISO_DURATION = re.compile(r"^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?\Z")
MEMORY_CHOICES = (128, 256, 512, 1024, 2048, 3072)
DEPLOY_TOP_KEYS = ("version", "kind", "displayName", "description", "parameters", "environments",
                   "artifacts", "stages")
STAGE_KEYS = {
    "DEPLOY_FUNCTION": ("environment", "artifact", "config", "maxMemoryInMbs", "functionTimeoutInSeconds"),
    "INVOKE_FUNCTION": ("environment", "artifact", "isAsync", "isValidationEnabled"),
    "WAIT": ("waitCriteria",),
    "MANUAL_APPROVAL": ("approvalPolicy", "enabledBy"),
    "SHELL": ("commandSpec", "timeoutInSeconds", "containerConfig"),
}
COMMON_STAGE_KEYS = ("name", "type", "dependsOn", "description")
ENABLE_FLAGS = ("require_manual_approval",)


def _iso_seconds(text: str) -> int:
    m = re.match(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?\Z", text)
    d, h, mi, s = (int(x or 0) for x in m.groups())  # type: ignore[union-attr]
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _deploy_artifacts(raw: Any, p: _Problems) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if raw is None:
        return out
    if not isinstance(raw, Mapping):
        p.add("artifacts", f"expected a mapping of name -> artifact, got {_describe(raw)}")
        return out
    for name, art in raw.items():
        where = f"artifacts.{name}"
        if not isinstance(art, Mapping):
            p.add(where, f"expected a mapping, got {_describe(art)}")
            continue
        _check_keys(art, ("type", "description", "argumentSubstitutionMode", "source"), where, p)
        typ = art.get("type")
        if typ not in ARTIFACT_TYPES:
            p.add(f"{where}.type", f"expected one of {', '.join(ARTIFACT_TYPES)}, got {_describe(typ)}")
            continue
        mode = art.get("argumentSubstitutionMode", "SUBSTITUTE_PLACEHOLDERS")
        if mode not in ("NONE", "SUBSTITUTE_PLACEHOLDERS"):
            p.add(f"{where}.argumentSubstitutionMode",
                  f"expected NONE or SUBSTITUTE_PLACEHOLDERS, got {_describe(mode)}")
        src = art.get("source")
        if not isinstance(src, Mapping):
            p.add(f"{where}.source", f"expected a mapping, got {_describe(src)}")
            continue
        resolved = dict(art)
        resolved["argumentSubstitutionMode"] = mode
        stype = src.get("type")
        if typ == "DOCKER_IMAGE":
            if stype != "OCIR":
                p.add(f"{where}.source.type", f"a DOCKER_IMAGE comes from OCIR, got {_describe(stype)}")
                continue
            _check_keys(src, ("type", "imageUri", "imageDigest"), f"{where}.source", p)
            _string(src, "imageUri", f"{where}.source.", p, required=True)
            resolved["source"] = dict(src)
        else:
            if stype != "INLINE":
                p.add(f"{where}.source.type", f"expected INLINE, got {_describe(stype)}")
                continue
            _check_keys(src, ("type", "content", "spec"), f"{where}.source", p)
            if typ == "COMMAND_SPEC":
                spec = src.get("spec")
                if not isinstance(spec, Mapping):
                    p.add(f"{where}.source.spec", "expected an inline command spec (component: command)")
                    continue
                try:
                    parse_build_spec(spec, f"{where}.source.spec", component="command")
                except SpecError as exc:
                    for item in exc.details.get("errors", [exc.message]):
                        p.add(f"{where}.source.spec", item)
                    continue
                content = yaml.safe_dump(dict(spec), sort_keys=False)
            else:
                content = src.get("content")
                if not isinstance(content, str) or not content:
                    p.add(f"{where}.source.content", "expected a non-empty string")
                    continue
            resolved["source"] = {"type": "INLINE", "content": content,
                                  "base64Content": base64.b64encode(content.encode()).decode()}
        out[str(name)] = resolved
    return out


def _deploy_stage(stage: Any, i: int, names: list[str], envs: Mapping[str, dict],
                  arts: Mapping[str, dict], p: _Problems) -> dict | None:
    where = f"stages[{i}]"
    if not isinstance(stage, Mapping):
        p.add(where, f"expected a mapping, got {_describe(stage)}")
        return None
    typ = stage.get("type")
    if typ not in STAGE_TYPES:
        p.add(f"{where}.type", f"expected one of {', '.join(STAGE_TYPES)}, got {_describe(typ)}")
        return None
    _check_keys(stage, COMMON_STAGE_KEYS + STAGE_KEYS[typ], where, p)
    name = _string(stage, "name", f"{where}.", p, required=True)
    if name and name in names:
        p.add(f"{where}.name", f"{name!r} is used twice")
    out = dict(stage)
    deps = stage.get("dependsOn", [names[-1]] if names else [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        p.add(f"{where}.dependsOn", f"expected a list of earlier stage names, got {_describe(deps)}")
        deps = []
    for d in deps:
        if d not in names:
            p.add(f"{where}.dependsOn", f"{d!r} is not an earlier stage")
    out["dependsOn"] = list(deps)

    def need_ref(key: str, table: Mapping[str, dict], kinds: tuple[str, ...], required: bool = True) -> None:
        ref = stage.get(key)
        if ref is None:
            if required:
                p.add(f"{where}.{key}", "is required")
            return
        if ref not in table:
            p.add(f"{where}.{key}", f"{ref!r} is not defined under {'environments' if table is envs else 'artifacts'}")
        elif kinds and table[ref].get("type") not in kinds:
            p.add(f"{where}.{key}", f"{ref!r} is a {table[ref].get('type')}, expected {' or '.join(kinds)}")

    if typ == "DEPLOY_FUNCTION":
        need_ref("environment", envs, ("FUNCTION",))
        need_ref("artifact", arts, ("DOCKER_IMAGE",))
        cfg = stage.get("config", {})
        if not isinstance(cfg, Mapping) or not all(
                isinstance(k, str) and re.match(r"^[A-Za-z0-9_]+\Z", k) and _scalar_text(v) is not None
                for k, v in cfg.items()):
            p.add(f"{where}.config", "expected a mapping of [A-Za-z0-9_] keys to strings")
        else:
            out["config"] = {k: _scalar_text(v) for k, v in cfg.items()}
        if "maxMemoryInMbs" in stage and stage["maxMemoryInMbs"] not in MEMORY_CHOICES:
            p.add(f"{where}.maxMemoryInMbs", f"expected one of {MEMORY_CHOICES}, got {_describe(stage['maxMemoryInMbs'])}")
        t = _positive_int(stage, "functionTimeoutInSeconds", f"{where}.", p)
        if t is not None and t > 300:
            p.add(f"{where}.functionTimeoutInSeconds", f"at most 300 s for a synchronous function, got {t}")
    elif typ == "INVOKE_FUNCTION":
        need_ref("environment", envs, ("FUNCTION",))
        need_ref("artifact", arts, ("GENERIC_FILE",), required=False)
        _bool(stage, "isAsync", f"{where}.", p)
        _bool(stage, "isValidationEnabled", f"{where}.", p)
    elif typ == "WAIT":
        wc = stage.get("waitCriteria")
        if not isinstance(wc, Mapping):
            p.add(f"{where}.waitCriteria", "is required: {waitType: ABSOLUTE_WAIT, waitDuration: PT15M}")
        else:
            _check_keys(wc, ("waitType", "waitDuration"), f"{where}.waitCriteria", p)
            if wc.get("waitType") != "ABSOLUTE_WAIT":
                p.add(f"{where}.waitCriteria.waitType", f"expected ABSOLUTE_WAIT, got {_describe(wc.get('waitType'))}")
            dur = wc.get("waitDuration")
            if not isinstance(dur, str) or not ISO_DURATION.match(dur) or dur in ("P", "PT"):
                p.add(f"{where}.waitCriteria.waitDuration", f"expected an ISO-8601 duration like PT15M, got {_describe(dur)}")
            elif not 5 <= _iso_seconds(dur) <= 2 * 86400:
                # pulumi-oci DeployStageWaitCriteriaArgs: "Minimum waitDuration should be 5
                # seconds. Maximum waitDuration can be up to 2 days."
                p.add(f"{where}.waitCriteria.waitDuration", f"must be between 5 s and 2 days, got {dur}")
    elif typ == "MANUAL_APPROVAL":
        ap = stage.get("approvalPolicy")
        if not isinstance(ap, Mapping):
            p.add(f"{where}.approvalPolicy", "is required: {approvalPolicyType: COUNT_BASED_APPROVAL, "
                                             "numberOfApprovalsRequired: 1}")
        else:
            _check_keys(ap, ("approvalPolicyType", "numberOfApprovalsRequired"), f"{where}.approvalPolicy", p)
            if ap.get("approvalPolicyType") != "COUNT_BASED_APPROVAL":
                p.add(f"{where}.approvalPolicy.approvalPolicyType",
                      f"expected COUNT_BASED_APPROVAL, got {_describe(ap.get('approvalPolicyType'))}")
            if _positive_int(ap, "numberOfApprovalsRequired", f"{where}.approvalPolicy.", p) is None \
                    and "numberOfApprovalsRequired" not in ap:
                p.add(f"{where}.approvalPolicy.numberOfApprovalsRequired", "is required")
        if "enabledBy" in stage and stage["enabledBy"] not in ENABLE_FLAGS:
            p.add(f"{where}.enabledBy", f"expected one of {', '.join(ENABLE_FLAGS)}, got {_describe(stage['enabledBy'])}")
    elif typ == "SHELL":
        need_ref("commandSpec", arts, ("COMMAND_SPEC",))
        _positive_int(stage, "timeoutInSeconds", f"{where}.", p)
        cc = stage.get("containerConfig")
        if not isinstance(cc, Mapping):
            p.add(f"{where}.containerConfig", "is required (containerConfigType, shapeName, shapeConfig, networkChannel)")
        else:
            w = f"{where}.containerConfig"
            _check_keys(cc, ("containerConfigType", "shapeName", "shapeConfig", "networkChannel",
                             "availabilityDomain"), w, p)
            if cc.get("containerConfigType") != "CONTAINER_INSTANCE_CONFIG":
                p.add(f"{w}.containerConfigType", f"expected CONTAINER_INSTANCE_CONFIG, got {_describe(cc.get('containerConfigType'))}")
            _string(cc, "shapeName", f"{w}.", p, required=True)
            sc = cc.get("shapeConfig")
            if not isinstance(sc, Mapping) or not all(
                    isinstance(sc.get(k), (int, float)) and not isinstance(sc.get(k), bool) and sc.get(k) > 0
                    for k in ("ocpus", "memoryInGBs")):
                p.add(f"{w}.shapeConfig", "expected {ocpus: > 0, memoryInGBs: > 0}")
            nc = cc.get("networkChannel")
            if not isinstance(nc, Mapping) or nc.get("networkChannelType") not in (
                    "SERVICE_VNIC_CHANNEL", "PRIVATE_ENDPOINT_CHANNEL") or not isinstance(nc.get("subnet"), str):
                p.add(f"{w}.networkChannel", "expected {networkChannelType: SERVICE_VNIC_CHANNEL | "
                                             "PRIVATE_ENDPOINT_CHANNEL, subnet: <public|private>}")
    return out if name else None


def parse_deploy_pipeline(data: Any, source: str = "<deploy pipeline>") -> dict:
    """Validate a deploy pipeline definition; return it as a plain dict with references checked.

    The result keeps the file's shape, plus: every stage has ``dependsOn`` filled in (default:
    the previous stage), DEPLOY_FUNCTION ``config`` values are strings, and INLINE artifact
    sources carry ``content`` and ``base64Content`` (an inline command spec is validated as a
    ``component: command`` spec and serialised to YAML).
    """
    p = _Problems(source)
    if not isinstance(data, Mapping):
        p.add("", f"expected a mapping at the top level, got {_describe(data)}")
        p.raise_if_any()
    _check_keys(data, DEPLOY_TOP_KEYS, "", p)
    if data.get("version") != 1:
        p.add("version", f"expected 1, got {_describe(data.get('version'))}")
    if data.get("kind") != DEPLOY_KIND:
        p.add("kind", f"expected {DEPLOY_KIND}, got {_describe(data.get('kind'))}")
    _string(data, "displayName", "", p, required=True)

    params: list[dict] = []
    raw = data.get("parameters", [])
    if not isinstance(raw, list):
        p.add("parameters", f"expected a list, got {_describe(raw)}")
        raw = []
    seen_params: set[str] = set()
    for i, item in enumerate(raw):
        where = f"parameters[{i}]"
        if not isinstance(item, Mapping):
            p.add(where, f"expected a mapping, got {_describe(item)}")
            continue
        _check_keys(item, ("name", "defaultValue", "description"), where, p)
        name = item.get("name")
        if not isinstance(name, str) or not PARAM_NAME.match(name):
            p.add(f"{where}.name", f"expected ^[a-zA-Z][a-zA-Z_0-9]*$, got {_describe(name)}")
            continue
        if name in seen_params:
            p.add(f"{where}.name", f"{name!r} is defined twice")
        seen_params.add(name)
        default = item.get("defaultValue")
        if default is not None and _scalar_text(default) is None:
            p.add(f"{where}.defaultValue", f"expected a string, got {_describe(default)}")
        params.append({"name": name, "defaultValue": _scalar_text(default) if default is not None else None,
                       "description": item.get("description", "")})

    envs: dict[str, dict] = {}
    raw = data.get("environments", {})
    if not isinstance(raw, Mapping):
        p.add("environments", f"expected a mapping of name -> environment, got {_describe(raw)}")
        raw = {}
    for name, env in raw.items():
        where = f"environments.{name}"
        if not isinstance(env, Mapping):
            p.add(where, f"expected a mapping, got {_describe(env)}")
            continue
        _check_keys(env, ("type", "function", "description"), where, p)
        if env.get("type") != "FUNCTION":
            p.add(f"{where}.type", f"expected FUNCTION, got {_describe(env.get('type'))}")
        _string(env, "function", f"{where}.", p, required=True)
        envs[str(name)] = dict(env)

    arts = _deploy_artifacts(data.get("artifacts"), p)

    stages: list[dict] = []
    raw = data.get("stages")
    if not isinstance(raw, list) or not raw:
        p.add("stages", f"expected a non-empty list, got {_describe(raw)}")
        raw = []
    names: list[str] = []
    for i, stage in enumerate(raw):
        s = _deploy_stage(stage, i, names, envs, arts, p)
        if s is not None:
            names.append(s["name"])
            stages.append(s)
    p.raise_if_any()
    out = {k: copy.deepcopy(v) for k, v in data.items()}
    out.update({"parameters": params, "environments": envs, "artifacts": arts, "stages": stages,
                "description": data.get("description", "")})
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
    defaults = {"CANARY_WEIGHT_BP": getattr(devops, "canary_weight_bp", None),
                "OCIR_PREFIX": getattr(devops, "ocir_repository_prefix", None)}
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
