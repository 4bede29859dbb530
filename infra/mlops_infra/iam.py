"""IAM of a stack: dynamic groups for the functions and the DevOps pipelines, and one policy per need.

Every statement is scoped to the stack's compartment and, where OCI offers a condition, to the
exact bucket, secret, topic, key or metrics namespace it is for. There is no ``manage
all-resources`` and no ``in tenancy``. Statements are plain strings built by
``policy_statements`` from plain values, so tests read exactly what ``pulumi up`` applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_oci as oci

from .naming import child, type_token


@dataclass(frozen=True)
class IamContext:
    """The plain values the statements mention (OCIDs resolved)."""

    compartment_id: str
    region: str
    functions_group: str
    devops_group: str
    buckets: Mapping[str, str]  # role -> name (registry, prediction_logs, reports, audit)
    metrics_namespace: str
    alarm_topic_id: str
    devops_topic_id: str
    key_id: str
    function_secret_ids: Sequence[str] = ()  # secrets functions read (API keys, store keys)
    devops_secret_ids: Sequence[str] = ()  # secrets the pipelines read (git token)
    ocir_repositories: Sequence[str] = ()


def _any(var: str, values: Sequence[str]) -> str:
    conds = [f"{var} = '{v}'" for v in values]
    return conds[0] if len(conds) == 1 else "any {" + ", ".join(conds) + "}"


# What may touch the audit bucket: create and read entries, never delete them. OBJECT_OVERWRITE is
# granted because a conditional create of an entry another writer just made is a PUT on an existing
# name (whether OCI authorizes it as an overwrite before answering 412 is not documented); the
# bucket's retention rule refuses the overwrite itself. Permission names: doc "Details for Object
# Storage and Archive Storage" (docs.oracle.com/iaas/Content/Identity/Reference/objectstoragepolicyreference.htm).
AUDIT_OBJECT_PERMISSIONS = ("OBJECT_CREATE", "OBJECT_INSPECT", "OBJECT_READ", "OBJECT_OVERWRITE")


def _audit_objects(who: str, scope: str, bucket: str) -> str:
    perms = ", ".join(f"request.permission = '{p}'" for p in AUDIT_OBJECT_PERMISSIONS)
    return f"Allow {who} to manage objects {scope} where all {{target.bucket.name = '{bucket}', any {{{perms}}}}}"


def policy_statements(c: IamContext) -> dict[str, list[str]]:
    """Statements by policy role: ``functions``, ``services``, ``gateway``, ``devops``."""
    scope = f"in compartment id {c.compartment_id}"
    fn = f"dynamic-group {c.functions_group}"
    ops = f"dynamic-group {c.devops_group}"
    b = c.buckets
    audit = [b["audit"]] if b.get("audit") else []
    same_cmp = f"request.principal.compartment.id = '{c.compartment_id}'"
    functions = [
        # registry metadata and artifacts, drift reports, audit log: the registry store bucket;
        # drift reports also land in the reports bucket
        f"Allow {fn} to manage objects {scope} where {_any('target.bucket.name', [b['registry'], b['reports']])}",
        # the drift function reads the prediction-log objects the connector writes
        f"Allow {fn} to read objects {scope} where target.bucket.name = '{b['prediction_logs']}'",
        f"Allow {fn} to read buckets {scope} where "
        f"{_any('target.bucket.name', [b['registry'], b['prediction_logs'], b['reports']] + audit)}",
        f"Allow {fn} to use metrics {scope} where target.metrics.namespace = '{c.metrics_namespace}'",
        # the console (registry function) charts the inference functions' free metrics (SummarizeMetricsData)
        f"Allow {fn} to read metrics {scope} where target.metrics.namespace = 'oci_faas'",
        # the guardian reports what it did on the alarm topic
        f"Allow {fn} to use ons-topics {scope} where target.topic.id = '{c.alarm_topic_id}'",
        # the guardian requests retraining as a build run of the stack's build pipeline
        f"Allow {fn} to manage devops-build-run {scope}",
    ]
    if audit:  # the audit log's entries: appended and read, never deleted (the tip stays in the registry)
        functions.insert(1, _audit_objects(fn, scope, audit[0]))
    if c.function_secret_ids:
        functions.insert(
            0,
            f"Allow {fn} to read secret-bundles {scope} where "
            f"{_any('target.secret.id', list(c.function_secret_ids))}",
        )
    services = [
        # Functions service: the application's subnets and the images in OCIR
        f"Allow service FaaS to use virtual-network-family {scope}",
        f"Allow service FaaS to read repos {scope}",
        # Object Storage: encrypt with the stack's key; run the prediction-log lifecycle rule
        f"Allow service objectstorage-{c.region} to use keys {scope} where target.key.id = '{c.key_id}'",
        f"Allow service objectstorage-{c.region} to manage object-family {scope} where "
        f"target.bucket.name = '{b['prediction_logs']}'",
        # Events: a new prediction-log object invokes the drift function
        f"Allow service cloudEvents to use functions-family {scope}",
        # Connector Hub: read the invoke logs, write the prediction-logs bucket
        f"Allow any-user to read log-content {scope} where all {{request.principal.type = 'serviceconnector', "
        f"{same_cmp}}}",
        f"Allow any-user to manage objects {scope} where all {{request.principal.type = 'serviceconnector', "
        f"target.bucket.name = '{b['prediction_logs']}', {same_cmp}}}",
    ]
    gateway = [
        f"Allow any-user to use functions-family {scope} where all {{request.principal.type = 'ApiGateway', "
        f"request.resource.compartment.id = '{c.compartment_id}'}}",
    ]
    devops = [
        f"Allow {ops} to use ons-topics {scope} where target.topic.id = '{c.devops_topic_id}'",
        f"Allow {ops} to read devops-family {scope}",
        f"Allow {ops} to manage devops-deployment {scope}",
        # build: push one image per function
        f"Allow {ops} to manage repos {scope} where {_any('target.repo.name', list(c.ocir_repositories))}"
        if c.ocir_repositories
        else f"Allow {ops} to read repos {scope}",
        # deploy: update the canary function, invoke the smoke test, run the promote step
        f"Allow {ops} to read fn-app {scope}",
        f"Allow {ops} to use fn-function {scope}",
        f"Allow {ops} to use fn-invocation {scope}",
        f"Allow {ops} to use subnets {scope}",
        f"Allow {ops} to use vnics {scope}",
        # promote: the mlops CLI moves the endpoint's weight in the registry store
        f"Allow {ops} to manage objects {scope} where target.bucket.name = '{b['registry']}'",
    ]
    if audit:  # ... and appends the change to the audit log
        devops.append(_audit_objects(ops, scope, audit[0]))
    if c.devops_secret_ids:
        devops.insert(
            0,
            f"Allow {ops} to read secret-bundles {scope} where "
            f"{_any('target.secret.id', list(c.devops_secret_ids))}",
        )
    return {"functions": functions, "services": services, "gateway": gateway, "devops": devops}


def matching_rule(resource_types: Sequence[str], compartment_id: str) -> str:
    """A dynamic-group rule: resources of these types in the compartment."""
    rules = [
        f"ALL {{resource.type = '{t}', resource.compartment.id = '{compartment_id}'}}" for t in resource_types
    ]
    return rules[0] if len(rules) == 1 else "ANY {" + ", ".join(rules) + "}"


FUNCTION_TYPES = ("fnfunc",)
DEVOPS_TYPES = ("devopsbuildpipeline", "devopsdeploypipeline", "devopsrepository", "devopsconnection")


@dataclass
class IamArgs:
    tenancy_id: str
    compartment_id: str
    region: str
    display_prefix: str
    buckets: Mapping[str, str]
    metrics_namespace: str
    alarm_topic_id: pulumi.Input[str]
    devops_topic_id: pulumi.Input[str]
    key_id: pulumi.Input[str]
    function_secret_ids: list[pulumi.Input[str]] = field(default_factory=list)
    devops_secret_ids: list[pulumi.Input[str]] = field(default_factory=list)
    ocir_repositories: list[str] = field(default_factory=list)


class Iam(pulumi.ComponentResource):
    """Two dynamic groups (in the tenancy, as OCI requires) and four policies in the compartment."""

    def __init__(self, name: str, args: IamArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("iam", "Iam"), name, None, opts)
        p, cmp = args.display_prefix, args.compartment_id
        self.functions_group = oci.identity.DynamicGroup(
            f"{name}-functions",
            compartment_id=args.tenancy_id,
            name=f"{p}-functions",
            description="the mlops functions of this stack",
            matching_rule=matching_rule(FUNCTION_TYPES, cmp),
            opts=child(self),
        )
        self.devops_group = oci.identity.DynamicGroup(
            f"{name}-devops",
            compartment_id=args.tenancy_id,
            name=f"{p}-devops",
            description="the DevOps build and deploy pipelines of this stack",
            matching_rule=matching_rule(DEVOPS_TYPES, cmp),
            opts=child(self),
        )
        statements = pulumi.Output.all(
            functions_group=self.functions_group.name,
            devops_group=self.devops_group.name,
            alarm_topic_id=args.alarm_topic_id,
            devops_topic_id=args.devops_topic_id,
            key_id=args.key_id,
            function_secret_ids=pulumi.Output.all(*args.function_secret_ids),
            devops_secret_ids=pulumi.Output.all(*args.devops_secret_ids),
        ).apply(
            lambda v: policy_statements(
                IamContext(
                    compartment_id=cmp,
                    region=args.region,
                    buckets=dict(args.buckets),
                    metrics_namespace=args.metrics_namespace,
                    ocir_repositories=list(args.ocir_repositories),
                    **v,
                )
            )
        )
        descriptions = {
            "functions": "what the mlops functions may touch: their buckets, secrets, metrics namespace, topic",
            "services": "Functions, Object Storage, Events and Connector Hub acting for this stack",
            "gateway": "API Gateway may invoke the functions of this compartment",
            "devops": "build and deploy pipelines: images, functions, notifications",
        }
        self.policies = {
            role: oci.identity.Policy(
                f"{name}-{role}",
                compartment_id=cmp,
                name=f"{p}-{role}",
                description=desc,
                statements=statements[role],
                opts=child(self),
            )
            for role, desc in descriptions.items()
        }
        self.register_outputs(
            {
                "functions_group": self.functions_group.name,
                "devops_group": self.devops_group.name,
                "policy_ids": {r: pol.id for r, pol in self.policies.items()},
            }
        )
