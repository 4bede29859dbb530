"""API Gateway and its deployment, whose specification comes unchanged from ``mlops.blueprint.gateway.deployment_spec``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_oci as oci
from mlops.blueprint.gateway import deployment_spec
from mlops.settings import StackSettings

from .naming import child, type_token


@dataclass
class GatewayArgs:
    compartment_id: str
    display_prefix: str
    settings: StackSettings
    subnet_id: pulumi.Input[str]
    function_ids: Mapping[str, pulumi.Input[str]]


class ApiGateway(pulumi.ComponentResource):
    """A gateway (PUBLIC or PRIVATE per the settings) serving one deployment; ``url`` is its base URL."""

    url: pulumi.Output[str]

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("gateway", "ApiGateway"), name, None, opts)
        gw = args.settings.gateway
        self.gateway = oci.apigateway.Gateway(
            f"{name}-gateway",
            compartment_id=args.compartment_id,
            endpoint_type=gw.endpoint_type,
            subnet_id=args.subnet_id,
            display_name=f"{args.display_prefix}-gateway",
            opts=child(self),
        )
        # mlops.blueprint builds the specification as plain data in OCI's shape (the layer has no pulumi)
        self.specification = cast(
            "oci.apigateway.DeploymentSpecificationArgsDict",
            deployment_spec(args.settings, args.function_ids),
        )
        self.deployment = oci.apigateway.Deployment(
            f"{name}-deployment",
            compartment_id=args.compartment_id,
            gateway_id=self.gateway.id,
            path_prefix=gw.path_prefix,
            display_name=f"{args.display_prefix}-api",
            specification=self.specification,
            opts=child(self),
        )
        self.url = self.deployment.endpoint
        self.register_outputs(
            {"gateway_id": self.gateway.id, "deployment_id": self.deployment.id, "url": self.url}
        )
