"""The stages of a deploy pipeline definition: one parser per stage type (``STAGE_PARSERS``).

Each stage is checked against the fields of its type (see ``mlops.pipeline.deployspec`` for the
documented shape), its references to environments and artifacts are resolved, and its
``dependsOn`` is filled in (default: the previous stage).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops.pipeline.schema import (
    Field,
    Problems,
    at,
    boolean,
    check_fields,
    check_mapping,
    choice,
    describe,
    equal_to,
    mapping,
    one_of,
    positive_int,
    required,
    scalar_text,
    unknown_keys,
)

STAGE_TYPES = ("DEPLOY_FUNCTION", "INVOKE_FUNCTION", "WAIT", "MANUAL_APPROVAL", "SHELL")
ISO_DURATION = re.compile(r"^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?\Z")
_ISO_PARTS = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?\Z")
MEMORY_CHOICES = (128, 256, 512, 1024, 2048, 3072)
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
    m = _ISO_PARTS.match(text)
    if m is None:
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


@dataclass(frozen=True)
class StageRefs:
    """The environments and artifacts a stage may name."""

    tables: Mapping[str, Mapping[str, dict]]  # "environments" | "artifacts" -> name -> definition

    def need(
        self,
        stage: Mapping[str, Any],
        where: str,
        key: str,
        table: str,
        kinds: tuple[str, ...],
        p: Problems,
        *,
        required: bool = True,
    ) -> None:
        ref = stage.get(key)
        if ref is None:
            if required:
                p.add(f"{where}.{key}", "is required")
            return
        defined = self.tables[table]
        if not isinstance(ref, str):
            p.add(f"{where}.{key}", f"expected the name of an entry under {table}, got {describe(ref)}")
        elif ref not in defined:
            p.add(f"{where}.{key}", f"{ref!r} is not defined under {table}")
        elif kinds and defined[ref].get("type") not in kinds:
            p.add(f"{where}.{key}", f"{ref!r} is a {defined[ref].get('type')}, expected {' or '.join(kinds)}")


StageParser = Callable[[Mapping[str, Any], str, dict, StageRefs, Problems], None]


def _block(
    stage: Mapping[str, Any],
    key: str,
    where: str,
    hint: str,
    allowed: tuple[str, ...],
    fields: tuple[Field, ...],
    p: Problems,
) -> None:
    """A required sub-mapping of a stage (waitCriteria, approvalPolicy, containerConfig)."""
    block = stage.get(key)
    if not isinstance(block, Mapping):
        p.add(at(where, key), f"is required{hint}")
        return
    check_mapping(block, at(where, key), allowed, fields, p)


def _config_ok(cfg: Any) -> bool:
    return isinstance(cfg, Mapping) and all(
        isinstance(k, str) and re.match(r"^[A-Za-z0-9_]+\Z", k) and scalar_text(v) is not None
        for k, v in cfg.items()
    )


def _sync_timeout(v: Any) -> str | None:
    # pulumi-oci: a synchronous function call may last at most 300 s
    return positive_int(v) or (f"at most 300 s for a synchronous function, got {v}" if v > 300 else None)


def _deploy_function(stage: Mapping[str, Any], where: str, out: dict, refs: StageRefs, p: Problems) -> None:
    refs.need(stage, where, "environment", "environments", ("FUNCTION",), p)
    refs.need(stage, where, "artifact", "artifacts", ("DOCKER_IMAGE",), p)
    cfg = stage.get("config", {})
    if _config_ok(cfg):
        out["config"] = {k: scalar_text(v) for k, v in cfg.items()}
    else:
        p.add(f"{where}.config", "expected a mapping of [A-Za-z0-9_] keys to strings")
    check_fields(
        stage,
        where,
        (
            Field("maxMemoryInMbs", choice(MEMORY_CHOICES, f"one of {MEMORY_CHOICES}")),
            Field("functionTimeoutInSeconds", _sync_timeout),
        ),
        p,
    )


def _invoke_function(stage: Mapping[str, Any], where: str, out: dict, refs: StageRefs, p: Problems) -> None:
    refs.need(stage, where, "environment", "environments", ("FUNCTION",), p)
    refs.need(stage, where, "artifact", "artifacts", ("GENERIC_FILE",), p, required=False)
    check_fields(stage, where, (Field("isAsync", boolean), Field("isValidationEnabled", boolean)), p)


def _wait_duration(dur: Any) -> str | None:
    if not isinstance(dur, str) or not ISO_DURATION.match(dur) or dur in ("P", "PT"):
        return f"expected an ISO-8601 duration like PT15M, got {describe(dur)}"
    if not 5 <= _iso_seconds(dur) <= 2 * 86400:
        # pulumi-oci DeployStageWaitCriteriaArgs: "Minimum waitDuration should be 5
        # seconds. Maximum waitDuration can be up to 2 days."
        return f"must be between 5 s and 2 days, got {dur}"
    return None


def _wait(stage: Mapping[str, Any], where: str, out: dict, refs: StageRefs, p: Problems) -> None:
    _block(
        stage,
        "waitCriteria",
        where,
        ": {waitType: ABSOLUTE_WAIT, waitDuration: PT15M}",
        ("waitType", "waitDuration"),
        (
            Field("waitType", equal_to("ABSOLUTE_WAIT"), default=None),
            Field("waitDuration", _wait_duration, default=None),
        ),
        p,
    )


def _manual_approval(stage: Mapping[str, Any], where: str, out: dict, refs: StageRefs, p: Problems) -> None:
    _block(
        stage,
        "approvalPolicy",
        where,
        ": {approvalPolicyType: COUNT_BASED_APPROVAL, numberOfApprovalsRequired: 1}",
        ("approvalPolicyType", "numberOfApprovalsRequired"),
        (
            Field("approvalPolicyType", equal_to("COUNT_BASED_APPROVAL"), default=None),
            Field("numberOfApprovalsRequired", positive_int, missing="is required"),
        ),
        p,
    )
    check_fields(stage, where, (Field("enabledBy", one_of(ENABLE_FLAGS)),), p)


def _positive_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _shape_config(sc: Any) -> str | None:
    ok = isinstance(sc, Mapping) and all(_positive_number(sc.get(k)) for k in ("ocpus", "memoryInGBs"))
    return None if ok else "expected {ocpus: > 0, memoryInGBs: > 0}"


def _network_channel(nc: Any) -> str | None:
    ok = (
        isinstance(nc, Mapping)
        and nc.get("networkChannelType") in ("SERVICE_VNIC_CHANNEL", "PRIVATE_ENDPOINT_CHANNEL")
        and isinstance(nc.get("subnet"), str)
    )
    return (
        None
        if ok
        else (
            "expected {networkChannelType: SERVICE_VNIC_CHANNEL | "
            "PRIVATE_ENDPOINT_CHANNEL, subnet: <public|private>}"
        )
    )


CONTAINER_CONFIG_KEYS = (
    "containerConfigType",
    "shapeName",
    "shapeConfig",
    "networkChannel",
    "availabilityDomain",
)
CONTAINER_CONFIG_FIELDS = (
    Field("containerConfigType", equal_to("CONTAINER_INSTANCE_CONFIG"), default=None),
    required("shapeName"),
    Field("shapeConfig", _shape_config, default=None),
    Field("networkChannel", _network_channel, default=None),
)


def _shell(stage: Mapping[str, Any], where: str, out: dict, refs: StageRefs, p: Problems) -> None:
    refs.need(stage, where, "commandSpec", "artifacts", ("COMMAND_SPEC",), p)
    check_fields(stage, where, (Field("timeoutInSeconds", positive_int),), p)
    _block(
        stage,
        "containerConfig",
        where,
        " (containerConfigType, shapeName, shapeConfig, networkChannel)",
        CONTAINER_CONFIG_KEYS,
        CONTAINER_CONFIG_FIELDS,
        p,
    )


STAGE_PARSERS: dict[str, StageParser] = {
    "DEPLOY_FUNCTION": _deploy_function,
    "INVOKE_FUNCTION": _invoke_function,
    "WAIT": _wait,
    "MANUAL_APPROVAL": _manual_approval,
    "SHELL": _shell,
}


def _depends_on(stage: Mapping[str, Any], where: str, names: list[str], p: Problems) -> list[str]:
    deps = stage.get("dependsOn", [names[-1]] if names else [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        p.add(f"{where}.dependsOn", f"expected a list of earlier stage names, got {describe(deps)}")
        deps = []
    for d in deps:
        if d not in names:
            p.add(f"{where}.dependsOn", f"{d!r} is not an earlier stage")
    return list(deps)


def _deploy_stage(stage: Any, where: str, names: list[str], refs: StageRefs, p: Problems) -> dict | None:
    m = mapping(stage, where, p)
    if m is None or "type" not in check_fields(
        m, where, (Field("type", one_of(STAGE_TYPES), default=None),), p
    ):
        return None
    typ = m["type"]
    unknown_keys(m, COMMON_STAGE_KEYS + STAGE_KEYS[typ], where, p)
    name = check_fields(m, where, (required("name"),), p).get("name")
    if name and name in names:
        p.add(f"{where}.name", f"{name!r} is used twice")
    out = dict(m)
    out["dependsOn"] = _depends_on(m, where, names, p)
    STAGE_PARSERS[typ](m, where, out, refs, p)
    return out if name else None


def parse_stages(raw: Any, refs: StageRefs, p: Problems) -> list[dict]:
    """The checked ``stages`` list, in order; a stage with problems is left out (they are in ``p``)."""
    if not isinstance(raw, list) or not raw:
        p.add("stages", f"expected a non-empty list, got {describe(raw)}")
        return []
    stages: list[dict] = []
    names: list[str] = []
    for i, stage in enumerate(raw):
        s = _deploy_stage(stage, f"stages[{i}]", names, refs, p)
        if s is not None:
            names.append(s["name"])
            stages.append(s)
    return stages
