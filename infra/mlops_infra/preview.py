"""Run the Pulumi program offline under ``pulumi.runtime.set_mocks`` and record what it would create.

No Pulumi CLI, no engine, no provider plugin and no cloud call: resource registrations and
invokes go to an in-process mock monitor that answers with deterministic fake OCIDs and the
computed outputs the program reads (gateway hostname, vault endpoints, ...). Each run happens in
a fresh ``contextvars.Context``, so Pulumi's ambient state (settings, config, root stack) never
leaks from one run to the next: tests and ``mlops infra plan`` may run it many times in one process.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from mlops.settings import StackSettings
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from .secrets import NAMESPACE, secret_specs

SECRET = "[secret]"
MOCK_NAMESPACE = "mocknamespace"
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


def is_secret_value(v: Any) -> bool:
    """An input the program marked secret, as the mock monitor receives it."""
    return isinstance(v, dict) and v.get(_SECRET_SIG) == _SECRET_VALUE


def redact(v: Any) -> Any:
    """``v`` with every secret input replaced by ``[secret]``."""
    if is_secret_value(v):
        return SECRET
    if isinstance(v, dict):
        return {k: redact(x) for k, x in v.items()}
    if isinstance(v, list):
        return [redact(x) for x in v]
    return v


def unwrap(v: Any) -> Any:
    """``v`` with secret markers removed (the plain values, for tests that look for leaks)."""
    if is_secret_value(v):
        return unwrap(v["value"])
    if isinstance(v, dict):
        return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v


@dataclass
class PlannedResource:
    """One resource ``pulumi up`` would register: its type token, logical name, parent and inputs."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    id: str | None = None
    ignore_changes: list[str] = field(default_factory=list)  # as the engine receives them (Pulumi names)

    @property
    def short_type(self) -> str:
        """``oci:Functions/function:Function`` -> ``functions.Function``; components keep their token."""
        if not self.type.startswith("oci:"):
            return self.type
        module = self.type.split(":")[1].split("/")[0]
        return f"{module.lower()}.{self.type.rsplit(':', 1)[1]}"


# OCID kinds of the mock ids, for readability of the plan (anything else: the class name).
_KINDS = {
    "Function": "fnfunc",
    "Application": "fnapp",
    "Secret": "vaultsecret",
    "Vault": "vault",
    "Key": "key",
    "NotificationTopic": "onstopic",
    "Subscription": "onssubscription",
    "Bucket": "bucket",
}


def mock_id(urn: str, typ: str, region: str) -> str:
    kind = _KINDS.get(typ.rsplit(":", 1)[-1], typ.rsplit(":", 1)[-1].lower())
    return f"ocid1.{kind}.oc1.{region}.mock{hashlib.sha256(urn.encode()).hexdigest()[:20]}"


class PlanMocks(pulumi_mocks.Mocks):
    """Answers registrations with fake OCIDs plus the computed outputs the program reads."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.pending: dict[tuple[str, str], tuple[str, dict]] = {}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = dict(args.inputs)
        key = (args.typ, args.name)
        rid = mock_id(f"{args.typ}::{args.name}", args.typ, self.region) if args.custom else None
        out = dict(inputs)
        t = args.typ
        if t == "oci:Kms/vault:Vault":
            out.update(
                managementEndpoint=f"https://mock-management.kms.{self.region}.oraclecloud.com",
                cryptoEndpoint=f"https://mock-crypto.kms.{self.region}.oraclecloud.com",
            )
        elif t == "oci:ApiGateway/gateway:Gateway":
            out["hostname"] = f"mock.apigateway.{self.region}.oci.customer-oci.com"
        elif t == "oci:ApiGateway/deployment:Deployment":
            prefix = inputs.get("pathPrefix", "/")
            out["endpoint"] = (
                f"https://mock.apigateway.{self.region}.oci.customer-oci.com{prefix.rstrip('/')}"
            )
        elif t == "oci:Functions/function:Function":
            out["invokeEndpoint"] = f"https://mock.functions.{self.region}.oci.oraclecloud.com"
        elif t == "oci:DevOps/repository:Repository":
            out["httpUrl"] = (
                f"https://devops.scmservice.{self.region}.oci.oraclecloud.com/mock/{inputs.get('name')}"
            )
        self.pending[key] = (rid or "", inputs)
        return rid, out

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        """The invoke's result and its check failures (none)."""
        if args.token == "oci:ObjectStorage/getNamespace:getNamespace":
            return {"namespace": MOCK_NAMESPACE, "id": MOCK_NAMESPACE}, []
        if args.token == "oci:Core/getServices:getServices":
            return {
                "id": "services",
                "services": [
                    {
                        "id": f"ocid1.service.oc1.{self.region}.mockallservices",
                        "cidrBlock": f"all-{self.region[:3]}-services-in-oracle-services-network",
                        "name": "All Services In Oracle Services Network",
                        "description": "all services",
                    }
                ],
            }, []
        raise NotImplementedError(f"plan: no mock answer for invoke {args.token}")


class PlanMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also records parents and dependencies, in registration order."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.planned: list[PlannedResource] = []

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            rid, inputs = self.mocks.pending.pop((request.type, request.name))
            parent = (
                request.parent if request.parent and "::pulumi:pulumi:Stack::" not in request.parent else None
            )
            self.planned.append(
                PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=parent,
                    inputs=inputs,
                    dependencies=sorted(set(request.dependencies)),
                    id=rid or None,
                    ignore_changes=list(request.ignoreChanges),
                )
            )
        return response


@dataclass
class Plan:
    """What ``pulumi up`` would create for a stack, and the values it would export."""

    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]

    @property
    def custom(self) -> list[PlannedResource]:
        return [r for r in self.resources if r.custom]

    def by_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def counts(self) -> dict[str, int]:
        """Cloud resources per type (components not counted)."""
        return dict(sorted(Counter(r.short_type for r in self.custom).items()))

    def component_of(self, r: PlannedResource) -> str:
        """The ``mlops:<area>:<Class>`` component a resource belongs to."""
        parents = {x.urn: x for x in self.resources}
        cur = r
        while cur.parent and cur.parent in parents:
            cur = parents[cur.parent]
        return cur.type if cur is not r else "-"

    def to_dict(self) -> dict[str, Any]:
        rows = [
            {
                "component": self.component_of(r),
                "type": r.short_type,
                "name": r.name,
                "properties": key_properties(r),
            }
            for r in self.custom
        ]
        rows.sort(key=lambda x: (x["component"], x["type"], x["name"]))
        return {
            "stack": self.stack,
            "counts": self.counts(),
            "total": len(self.custom),
            "resources": rows,
            "outputs": redact(self.outputs),
        }


def _get(d: Mapping[str, Any], path: str) -> Any:
    cur: Any = d
    for part in path.split("."):
        if is_secret_value(cur):
            return SECRET
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return SECRET if is_secret_value(cur) else cur


_KEY_PROPS: dict[str, tuple[str, ...]] = {
    "oci:Core/vcn:Vcn": ("cidrBlocks",),
    "oci:Core/subnet:Subnet": ("cidrBlock", "prohibitPublicIpOnVnic"),
    "oci:Kms/key:Key": ("protectionMode", "keyShape.algorithm"),
    "oci:Vault/secret:Secret": ("secretName",),
    "oci:ObjectStorage/bucket:Bucket": ("name", "versioning", "objectEventsEnabled", "accessType"),
    "oci:ObjectStorage/objectLifecyclePolicy:ObjectLifecyclePolicy": ("rules",),
    "oci:Functions/application:Application": ("shape",),
    "oci:Functions/function:Function": (
        "memoryInMbs",
        "timeoutInSeconds",
        "sourceDetails.image",
        "provisionedConcurrencyConfig.count",
    ),
    "oci:ApiGateway/gateway:Gateway": ("endpointType",),
    "oci:ApiGateway/deployment:Deployment": ("pathPrefix", "specification.routes"),
    "oci:Ons/notificationTopic:NotificationTopic": ("name",),
    "oci:Ons/subscription:Subscription": ("protocol", "endpoint"),
    "oci:Monitoring/alarm:Alarm": ("severity", "query"),
    "oci:Identity/policy:Policy": ("name", "statements"),
    "oci:Identity/dynamicGroup:DynamicGroup": ("name",),
    "oci:Events/rule:Rule": ("condition",),
    "oci:Sch/connector:Connector": ("source.kind", "target.kind", "target.bucket"),
    "oci:DevOps/buildPipelineStage:BuildPipelineStage": ("buildPipelineStageType",),
    "oci:DevOps/deployStage:DeployStage": ("deployStageType",),
    "oci:DevOps/deployArtifact:DeployArtifact": ("deployArtifactType",),
    "oci:DevOps/trigger:Trigger": ("triggerSource",),
}


def _short(v: Any) -> Any:
    if isinstance(v, list):
        return f"{len(v)} items"
    if isinstance(v, dict):
        return f"{len(v)} keys"
    return v


def key_properties(r: PlannedResource) -> dict[str, Any]:
    """The few inputs a reader of the plan cares about (secrets shown as ``[secret]``)."""
    out: dict[str, Any] = {}
    label = _get(r.inputs, "displayName") or _get(r.inputs, "name")
    if label is not None:
        out["display_name"] = label
    for path in _KEY_PROPS.get(r.type, ()):
        v = _get(r.inputs, path)
        if v is not None:
            out[path] = _short(v)
    return out


def placeholder_secrets(settings: StackSettings) -> dict[str, str]:
    """Stand-in secret values for an offline plan (never the real ones: the plan reads no secret)."""
    return {s.key: f"plan-placeholder-{s.key}" for s in secret_specs(settings)}


def run_program(
    program: Callable[[], Mapping[str, Any]],
    *,
    stack: str,
    region: str,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    project: str = "mlops",
) -> Plan:
    """Run ``program`` under mocks, in a fresh context; the Plan.

    The plan's outputs are what the program exported with ``pulumi.export`` plus what it returned.
    """
    mocks = PlanMocks(region)
    monitor = PlanMonitor(mocks)
    outputs: dict[str, Any] = {}

    def run() -> None:
        # Pulumi's runtime asks asyncio.get_event_loop(); after an asyncio.run() in this thread
        # there is none, so give it a fresh one (and close it when the plan is done).
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)

        async def main() -> None:
            returned = program() or {}
            root = pulumi.runtime.settings.get_root_resource()
            exported = {**dict(getattr(root, "outputs", None) or {}), **returned}  # pulumi.export(...) too
            resolved = await pulumi.Output.from_input(dict(exported)).future(with_unknowns=True)
            outputs.update(resolved or {})

        try:
            _sync_await(run_pulumi_func(main))
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    contextvars.Context().run(run)
    return Plan(stack, monitor.planned, outputs)


def plan_stack(
    settings: StackSettings, project_dir: str | Path, *, secret_values: Mapping[str, str] | None = None
) -> Plan:
    """What ``pulumi up`` would create for ``settings`` (secrets: ``secret_values`` or placeholders)."""
    from .stack import check_cloud, deploy

    check_cloud(settings)
    values = dict(placeholder_secrets(settings))
    values.update(secret_values or {})
    config = {f"{NAMESPACE}:{k}": v for k, v in values.items()}
    return run_program(
        lambda: deploy(settings, project_dir),
        stack=settings.stack,
        region=str(settings.oci.region),
        config=config,
        secret_keys=list(config),
    )
