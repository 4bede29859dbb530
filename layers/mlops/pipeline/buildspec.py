"""The OCI DevOps build spec (and a SHELL stage's command spec): parsed, validated, typed.

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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.pipeline.schema import (
    Field,
    Problems,
    boolean,
    check_fields,
    check_mapping,
    choice,
    describe,
    mapping,
    one_of,
    positive_int,
    required,
    scalar_text,
    sequence,
    text,
    unknown_keys,
)
from mlops.pipeline.specfile import read_yaml

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
EXPORT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
SHELLS = ("bash", "sh")
STEP_TYPES = ("Command",)
INPUT_ARTIFACT_TYPES = ("GENERIC_ARTIFACT", "STAGE_ARTIFACT", "URL")
OUTPUT_ARTIFACT_TYPES = ("BINARY", "DOCKER_IMAGE")
COMPONENTS = ("build", "command")

TOP_LEVEL_KEYS = (
    "version",
    "component",
    "timeoutInSeconds",
    "shell",
    "failImmediatelyOnError",
    "runAs",
    "env",
    "inputArtifacts",
    "steps",
    "outputArtifacts",
)
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

    where: str  # "steps[2]" or "steps[2].onFailure[0]"
    name: str
    command: str
    shell: str | None = None  # None: the spec's shell
    timeout_s: int | None = None  # None: what is left of the build's timeout
    fail_immediately: bool | None = None  # None: the spec's failImmediatelyOnError
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
    type: str  # BINARY | DOCKER_IMAGE
    location: str  # may hold ${VAR}: expanded with the final env


@dataclass(frozen=True)
class BuildSpec:
    """A validated build (or command) spec."""

    source: str
    component: str = "build"
    timeout_s: int | None = None
    shell: str = "bash"
    fail_immediately: bool = False
    run_as: str | None = None
    variables: tuple[tuple[str, str], ...] = ()  # in file order: later ones may use earlier
    vault_variables: tuple[tuple[str, str], ...] = ()  # name -> secret OCID (or local placeholder)
    exported_variables: tuple[str, ...] = ()
    input_artifacts: tuple[InputArtifact, ...] = ()
    steps: tuple[Command, ...] = ()
    output_artifacts: tuple[OutputArtifact, ...] = ()

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]


# --------------------------------------------------------------------------- steps

COMMAND_FIELDS = (
    Field("type", one_of(STEP_TYPES), missing="is required (Command)"),
    Field("name", text),
    required("command"),
    Field("shell", one_of(SHELLS)),
    Field("timeoutInSeconds", positive_int),
    Field("failImmediatelyOnError", boolean),
)


def _command(obj: Any, where: str, p: Problems, *, default_name: str, nested: bool) -> Command | None:
    good = check_mapping(obj, where, ON_FAILURE_KEYS if nested else STEP_KEYS, COMMAND_FIELDS, p)
    if good is None:
        return None
    on_failure: list[Command] = []
    if not nested and "onFailure" in obj:
        for i, item in enumerate(
            sequence(obj["onFailure"], f"{where}.onFailure", p, "a list of commands") or []
        ):
            c = _command(item, f"{where}.onFailure[{i}]", p, default_name=f"onFailure[{i}]", nested=True)
            if c:
                on_failure.append(c)
    if "command" not in good:
        return None
    return Command(
        where=where,
        name=good.get("name") or default_name,
        command=good["command"],
        shell=good.get("shell"),
        timeout_s=good.get("timeoutInSeconds"),
        fail_immediately=good.get("failImmediatelyOnError"),
        on_failure=tuple(on_failure),
    )


def _steps(raw: Any, timeout: int | None, p: Problems) -> list[Command]:
    steps: list[Command] = []
    if raw is None:
        p.add("steps", "is required (a list of commands)")
        return steps
    if not isinstance(raw, list) or not raw:
        p.add("steps", f"expected a non-empty list of commands, got {describe(raw)}")
        return steps
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        c = _command(item, f"steps[{i}]", p, default_name=f"step {i + 1}", nested=False)
        if c is None:
            continue
        if c.name in seen:
            p.add(f"steps[{i}].name", f"{c.name!r} is also the name of steps[{seen[c.name]}]")
        seen[c.name] = i
        steps.append(c)
    for c in steps:
        if timeout and c.timeout_s and c.timeout_s > timeout:
            p.add(
                f"{c.where}.timeoutInSeconds",
                f"{c.timeout_s} exceeds the build's timeoutInSeconds ({timeout})",
            )
    return steps


# --------------------------------------------------------------------------- env


def _variable_value(v: Any) -> tuple[str | None, str]:
    return scalar_text(v), f"expected a string, number or boolean, got {describe(v)}"


def _vault_value(v: Any) -> tuple[str | None, str]:
    good = v.strip() if isinstance(v, str) and v.strip() else None
    return good, f"expected a secret OCID string, got {describe(v)}"


def _named_values(
    raw: Any, where: str, what: str, value: Callable[[Any], tuple[str | None, str]], p: Problems
) -> list[tuple[str, str]]:
    """``NAME: value`` pairs of ``env.variables`` / ``env.vaultVariables``, in file order."""
    out: list[tuple[str, str]] = []
    m = mapping(raw, where, p, what) if raw is not None else None
    for k, v in (m or {}).items():
        if not isinstance(k, str) or not ENV_NAME.match(k):
            p.add(f"{where}.{k}", "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
            continue
        good, problem = value(v)
        if good is None:
            p.add(f"{where}.{k}", problem)
            continue
        out.append((k, good))
    return out


def _exported(raw: Any, p: Problems) -> list[str]:
    exported: list[str] = []
    items = sequence(raw, "env.exportedVariables", p, "a list of names") if raw is not None else None
    for i, v in enumerate(items or []):
        where = f"env.exportedVariables[{i}]"
        if not isinstance(v, str) or not EXPORT_NAME.match(v):
            p.add(
                where,
                f"expected a name of ASCII letters, digits or '_' starting with a letter, got {describe(v)}",
            )
        elif v.lower().startswith("oci"):
            p.add(where, f"{v!r}: exported names may not start with 'oci' (any case)")
        elif v in exported:
            p.add(where, f"{v!r} is listed twice")
        else:
            exported.append(v)
    return exported


def _env(obj: Any, component: str, p: Problems) -> tuple[tuple, tuple, tuple]:
    m = mapping(obj, "env", p) if obj is not None else None
    if m is None:
        return (), (), ()
    unknown_keys(m, ENV_KEYS if component == "build" else ("variables", "vaultVariables"), "env", p)
    variables = _named_values(
        m.get("variables"), "env.variables", "a mapping of NAME: value", _variable_value, p
    )
    vault = _named_values(
        m.get("vaultVariables"), "env.vaultVariables", "a mapping of NAME: secret-OCID", _vault_value, p
    )
    for k in sorted({k for k, _ in variables} & {k for k, _ in vault}):
        p.add(f"env.vaultVariables.{k}", "also defined in env.variables; a name may be defined once")
    return tuple(variables), tuple(vault), tuple(_exported(m.get("exportedVariables"), p))


# --------------------------------------------------------------------------- artifacts


def _generic_artifact_fields(item: Mapping[str, Any], where: str, p: Problems) -> dict[str, str]:
    fields: dict[str, str] = {}
    for k in ("artifactId", "registryId", "path", "version"):
        v = scalar_text(item.get(k)) if k in item else None
        if v:
            fields[k] = v
    if "artifactId" not in fields and not all(k in fields for k in ("registryId", "path", "version")):
        p.add(where, "GENERIC_ARTIFACT needs artifactId, or registryId + path + version")
    return fields


def _input_artifacts(raw: Any, component: str, p: Problems) -> tuple[InputArtifact, ...]:
    types = INPUT_ARTIFACT_TYPES if component == "build" else ("GENERIC_ARTIFACT", "URL")
    out: list[InputArtifact] = []
    names: set[str] = set()
    for i, item in enumerate((sequence(raw, "inputArtifacts", p) if raw is not None else None) or []):
        where = f"inputArtifacts[{i}]"
        m = mapping(item, where, p)
        if m is None or "type" not in check_fields(
            m, where, (Field("type", one_of(types), default=None),), p
        ):
            continue
        typ = m["type"]
        fields = (required("name"), required("location")) + ((required("url"),) if typ == "URL" else ())
        good = check_mapping(m, where, INPUT_ARTIFACT_KEYS[typ], fields, p) or {}
        name, location = good.get("name"), good.get("location")
        found = {"url": good["url"]} if "url" in good else {}
        if typ == "GENERIC_ARTIFACT":
            found = _generic_artifact_fields(m, where, p)
        if name in names:
            p.add(f"{where}.name", f"{name!r} is used twice")
        if name and location:
            names.add(name)
            out.append(InputArtifact(where=where, name=name, type=typ, location=location, fields=found))
    return tuple(out)


OUTPUT_ARTIFACT_FIELDS = (
    required("name"),
    required("location"),
    Field("type", one_of(OUTPUT_ARTIFACT_TYPES), default=None),
)


def _output_artifacts(raw: Any, p: Problems) -> tuple[OutputArtifact, ...]:
    out: list[OutputArtifact] = []
    names: set[str] = set()
    for i, item in enumerate((sequence(raw, "outputArtifacts", p) if raw is not None else None) or []):
        where = f"outputArtifacts[{i}]"
        good = check_mapping(item, where, OUTPUT_ARTIFACT_KEYS, OUTPUT_ARTIFACT_FIELDS, p)
        if good is None:
            continue
        name, location, typ = good.get("name"), good.get("location"), good.get("type")
        if name in names:
            p.add(f"{where}.name", f"{name!r} is used twice")
        if name and location and typ:
            names.add(name)
            out.append(OutputArtifact(where=where, name=name, type=typ, location=location))
    return tuple(out)


# --------------------------------------------------------------------------- the spec


def _version(v: Any) -> str | None:
    return None if str(v) == "0.1" else f"expected 0.1, got {describe(v)}"


def _not_in_command_spec(v: Any) -> str | None:
    return "not allowed in a command spec (component: command)"


SETTINGS_FIELDS = (
    Field("timeoutInSeconds", positive_int),
    Field("shell", one_of(SHELLS)),
    Field("failImmediatelyOnError", boolean),
    Field("runAs", text),
)


def parse_build_spec(data: Any, source: str = "<spec>", *, component: str | None = None) -> BuildSpec:
    """Validate a parsed build (or command) spec; raise ``SpecError`` naming every bad field.

    ``component`` pins the expected component (``build`` for build_spec.yaml, ``command``
    for a SHELL stage's command spec); None accepts either.
    """
    p = Problems(source)
    if not isinstance(data, Mapping):
        p.add("", f"expected a mapping at the top level, got {describe(data)}")
        p.raise_if_any()
    unknown_keys(data, TOP_LEVEL_KEYS, "", p)
    expected = (component,) if component else COMPONENTS
    either = " or ".join(expected)
    head = check_fields(
        data,
        "",
        (
            Field("version", _version, missing="is required (0.1)"),
            Field("component", choice(expected, either), missing=f"is required ({either})"),
        ),
        p,
    )
    comp = head.get("component", expected[0])
    forbidden = (Field("outputArtifacts", _not_in_command_spec),) if comp == "command" else ()
    settings = check_fields(data, "", forbidden + SETTINGS_FIELDS, p)
    timeout = settings.get("timeoutInSeconds")
    variables, vault, exported = _env(data.get("env"), comp, p)
    inputs = _input_artifacts(data.get("inputArtifacts"), comp, p)
    steps = _steps(data.get("steps"), timeout, p)
    outputs = _output_artifacts(data.get("outputArtifacts"), p) if comp == "build" else ()
    p.raise_if_any()
    return BuildSpec(
        source=source,
        component=comp,
        timeout_s=timeout,
        shell=settings.get("shell", "bash"),
        fail_immediately=bool(settings.get("failImmediatelyOnError")),
        run_as=settings.get("runAs"),
        variables=variables,
        vault_variables=vault,
        exported_variables=exported,
        input_artifacts=inputs,
        steps=tuple(steps),
        output_artifacts=outputs,
    )


def load_build_spec(path: str | Path, *, component: str | None = "build") -> BuildSpec:
    """Read and validate a build spec file (``component: build`` unless told otherwise)."""
    return parse_build_spec(read_yaml(path), str(path), component=component)
