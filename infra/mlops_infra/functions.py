"""The Functions application: one ``oci.functions.Function`` per FunctionSpec, images by digest, tracing on.

Which functions exist and their config maps are decided by ``mlops.blueprint.functions.function_specs``;
this component only adds the facts known at deploy time (OCIDs of the vault, the secrets,
the alarm topic, the build pipeline) and turns each spec into a resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_oci as oci
from mlops import envvars as ev
from mlops.blueprint.functions import FunctionSpec, validate_config
from mlops.errors import ConfigError
from mlops.settings import StackSettings

from .naming import child, prefix, type_token
from .secrets import resolve_secret_refs

IMAGE_TAG = "latest"  # used only when neither the settings nor the pipeline pinned an image

#: Who owns the image of a function. The DevOps deploy pipeline (pipelines/deploy_pipeline.yaml,
#: DEPLOY_FUNCTION stages) puts new images on every inference function, so after the first
#: ``pulumi up`` the pipeline owns their image: Pulumi creates them with the declared image and then
#: ignores image changes, so a later ``pulumi up`` cannot silently undo a pipeline deploy. The other
#: functions (registry, drift, authorizer, guardian) keep the image Pulumi declares.
#: Names: pulumi-oci ``functions.Function`` has the deprecated top-level ``image`` / ``image_digest``
#: and ``source_details.image`` / ``source_details.image_digest`` ("If both fields are specified, then
#: 'source_details.image' will be used"; pulumi_oci/functions/function.py, 5.5.0). Top-level names are
#: translated to Pulumi's (``imageDigest``) by the SDK (``pulumi.resource._translate_ignore_changes``);
#: nested ones are property paths in Pulumi's own camelCase names.
PIPELINE_OWNED_IMAGE = ["image", "image_digest", "sourceDetails.image", "sourceDetails.imageDigest"]


def image_owned_by_pipeline(spec: FunctionSpec) -> bool:
    """True for the functions the deploy pipeline deploys to (every endpoint's stable and canary)."""
    return spec.variant is not None


@dataclass(frozen=True)
class Image:
    """A container image reference and, when known, its digest (``sha256:...``)."""

    image: pulumi.Input[str]
    digest: str | None = None


def ocir_path(settings: StackSettings) -> str:
    """The stack's folder in OCIR (``OCIR_REPO`` of the pipelines, without registry and namespace)."""
    return prefix(settings)


def image_name(settings: StackSettings, source: str) -> str:
    """The OCIR repository of a function source, as the build names it: ``<stack>/<prefix>-<source>``."""
    return f"{ocir_path(settings)}/{settings.devops.ocir_repository_prefix}-{source}"


def registry_host(settings: StackSettings) -> str:
    return f"{settings.oci.region}.ocir.io"


def image_for(settings: StackSettings, spec: FunctionSpec, namespace: pulumi.Input[str]) -> Image:
    """The image of a function: ``function_overrides.<function>``, else ``function_overrides.<source>``
    (one image shared by every function built from that source), else the stack's OCIR repository
    at ``IMAGE_TAG`` (a digest from either override pins it)."""
    overrides = [o for k in (spec.name, spec.source) if (o := settings.function_overrides.get(k))]
    for o in overrides:
        if o.image:
            return Image(o.image, o.image_digest)
    digest = next((o.image_digest for o in overrides if o.image_digest), None)
    return Image(
        pulumi.Output.concat(
            registry_host(settings), "/", namespace, "/", image_name(settings, spec.source), f":{IMAGE_TAG}"
        ),
        digest,
    )


def ocir_repositories(settings: StackSettings, specs: list[FunctionSpec]) -> list[str]:
    """One OCIR repository per function source."""
    return sorted({image_name(settings, s.source) for s in specs})


def provisioned_concurrency(
    spec: FunctionSpec,
) -> oci.functions.FunctionProvisionedConcurrencyConfigArgsDict | None:
    """The ``provisioned_concurrency_config`` of a function, checked against OCI's PCU steps."""
    count = spec.provisioned_concurrency
    if not count:
        return None
    step = 40 if spec.memory_mb == 128 else 20 if spec.memory_mb == 256 else 10
    if count % step:
        raise ConfigError(
            f"function {spec.name}: provisioned_concurrency {count} must be a multiple of {step} "
            f"for {spec.memory_mb} MB (OCI provisioned concurrency units)"
        )
    return {"strategy": "CONSTANT", "count": count}


@dataclass
class DeployIds:
    """Facts known only at deploy time that functions need in their config (OCIDs only, never values)."""

    vault_id: pulumi.Input[str] | None = None
    secret_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    topic_id: pulumi.Input[str] | None = None
    build_pipeline_id: pulumi.Input[str] | None = None
    namespace: pulumi.Input[str] | None = None


def deploy_config(spec: FunctionSpec, ids: DeployIds) -> dict[str, pulumi.Input[str]]:
    """The spec's config plus deploy-time OCIDs; secret names become secret OCIDs."""
    cfg: dict[str, pulumi.Input[str]] = resolve_secret_refs(spec.config, ids.secret_ids, spec.name)
    if ids.vault_id is not None:
        cfg[ev.VAULT_ID] = ids.vault_id
    if (
        ids.namespace is not None
        and cfg.get(ev.STORE_PREFIX + "BACKEND") == "oci"
        and ev.STORE_PREFIX + "NAMESPACE" not in cfg
    ):
        cfg[ev.STORE_PREFIX + "NAMESPACE"] = ids.namespace
    if spec.name in ("guardian", "drift"):  # the drift function announces A/B verdicts it acts on
        if ids.topic_id is not None:
            cfg[ev.NOTIFY_TOPIC_ID] = ids.topic_id
    if spec.name == "guardian":
        if ids.build_pipeline_id is not None:
            cfg[ev.BUILD_PIPELINE_ID] = ids.build_pipeline_id
    return cfg


OCID_MAX_BYTES = 255  # OCI: an OCID is at most 255 characters


def checked_config(name: str, cfg: dict[str, pulumi.Input[str]]) -> dict[str, pulumi.Input[str]]:
    """``cfg`` unchanged once it is known to fit: keys ``[A-Za-z0-9_]`` and <= 4 KB even if every
    value not known yet (an OCID) has the maximum OCID length. Checked before anything is created,
    and ``pulumi preview`` still shows each key."""
    worst = {k: v if isinstance(v, str) else "x" * OCID_MAX_BYTES for k, v in cfg.items()}
    validate_config(name, worst)
    return cfg


@dataclass
class FunctionsArgs:
    compartment_id: str
    display_prefix: str
    subnet_ids: list[pulumi.Input[str]]
    specs: list[FunctionSpec]
    images: dict[str, Image]  # function name -> image
    ids: DeployIds = field(default_factory=DeployIds)
    tracing: bool = True
    shape: str = "GENERIC_X86"
    application_name: str | None = None  # mlops.blueprint.functions.application_name (default <prefix>-app)


class Functions(pulumi.ComponentResource):
    """Application (+ APM domain for traces) and its functions; ``function_ids`` by function name."""

    function_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: FunctionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("functions", "Functions"), name, None, opts)
        cmp = args.compartment_id
        trace: oci.functions.ApplicationTraceConfigArgsDict | None = None
        if args.tracing:
            self.apm = oci.apm.ApmDomain(
                f"{name}-apm",
                compartment_id=cmp,
                display_name=f"{args.display_prefix}-apm",
                description="traces of the mlops functions",
                is_free_tier=True,
                opts=child(self),
            )
            trace = {"domain_id": self.apm.id, "is_enabled": True}
        self.application = oci.functions.Application(
            f"{name}-app",
            compartment_id=cmp,
            display_name=args.application_name or f"{args.display_prefix}-app",
            subnet_ids=args.subnet_ids,
            shape=args.shape,
            trace_config=trace,
            opts=child(self),
        )
        self.functions: dict[str, oci.functions.Function] = {}
        for spec in args.specs:
            image = args.images[spec.name]
            source: oci.functions.FunctionSourceDetailsArgsDict = {
                "source_type": "CONTAINER_IMAGE",
                "image": image.image,
            }
            if image.digest:
                source["image_digest"] = image.digest
            self.functions[spec.name] = oci.functions.Function(
                f"{name}-{spec.name}",
                application_id=self.application.id,
                display_name=spec.name,
                memory_in_mbs=str(spec.memory_mb),
                timeout_in_seconds=spec.timeout_s,
                config=checked_config(spec.name, deploy_config(spec, args.ids)),
                source_details=source,
                provisioned_concurrency_config=provisioned_concurrency(spec),
                trace_config={"is_enabled": args.tracing},
                opts=child(self, ignore_changes=PIPELINE_OWNED_IMAGE)
                if image_owned_by_pipeline(spec)
                else child(self),
            )
        self.application_id = self.application.id
        self.function_ids = {n: f.id for n, f in self.functions.items()}
        self.register_outputs({"application_id": self.application_id, "function_ids": self.function_ids})
