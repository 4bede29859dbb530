"""The network of a stack: a VCN with a public subnet (API Gateway) and a private one (functions), or existing subnets."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_oci as oci
from mlops.errors import ConfigError
from mlops.settings import Network as NetworkSettings

from .naming import child, type_token

HTTPS = 443
ALL_SERVICES = "All .* Services In Oracle Services Network"


@dataclass
class NetworkArgs:
    compartment_id: str
    settings: NetworkSettings
    display_prefix: str
    gateway_public: bool = True  # API Gateway endpoint type PUBLIC: open 443 to the internet


def _tcp(port: int) -> oci.core.SecurityListIngressSecurityRuleTcpOptionsArgsDict:
    return {"min": port, "max": port}


class Network(pulumi.ComponentResource):
    """VCN, internet / NAT / service gateways, route tables, security lists and two subnets.

    With ``existing_public_subnet_id`` and ``existing_private_subnet_id`` set, nothing is created
    and those subnets are used as they are.
    """

    public_subnet_id: pulumi.Output[str]
    private_subnet_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("network", "Network"), name, None, opts)
        s = args.settings
        existing = (s.existing_public_subnet_id, s.existing_private_subnet_id)
        if any(existing) and not all(existing):
            raise ConfigError(
                "mlops:network: set both existing_public_subnet_id and existing_private_subnet_id, "
                "or neither (then a VCN is created)"
            )
        if s.existing_public_subnet_id and s.existing_private_subnet_id:
            self.vcn_id = None
            self.public_subnet_id = pulumi.Output.from_input(s.existing_public_subnet_id)
            self.private_subnet_id = pulumi.Output.from_input(s.existing_private_subnet_id)
            self.register_outputs(
                {"public_subnet_id": self.public_subnet_id, "private_subnet_id": self.private_subnet_id}
            )
            return

        cmp = args.compartment_id
        p = args.display_prefix
        self.vcn = oci.core.Vcn(
            f"{name}-vcn",
            compartment_id=cmp,
            cidr_blocks=[s.vcn_cidr],
            display_name=f"{p}-vcn",
            dns_label="mlops",
            opts=child(self),
        )
        vcn_id = self.vcn.id
        self.vcn_id = vcn_id
        self.internet_gateway = oci.core.InternetGateway(
            f"{name}-igw",
            compartment_id=cmp,
            vcn_id=vcn_id,
            display_name=f"{p}-igw",
            enabled=True,
            opts=child(self),
        )
        self.nat_gateway = oci.core.NatGateway(
            f"{name}-nat", compartment_id=cmp, vcn_id=vcn_id, display_name=f"{p}-nat", opts=child(self)
        )
        services = oci.core.get_services_output(
            filters=[{"name": "name", "values": [ALL_SERVICES], "regex": True}],
            opts=pulumi.InvokeOptions(parent=self),
        )
        service = services.services[0]
        self.service_gateway = oci.core.ServiceGateway(
            f"{name}-sgw",
            compartment_id=cmp,
            vcn_id=vcn_id,
            display_name=f"{p}-sgw",
            services=[{"service_id": service.id}],
            opts=child(self),
        )

        self.public_routes = oci.core.RouteTable(
            f"{name}-public-rt",
            compartment_id=cmp,
            vcn_id=vcn_id,
            display_name=f"{p}-public-rt",
            route_rules=[
                {
                    "destination": "0.0.0.0/0",
                    "destination_type": "CIDR_BLOCK",
                    "network_entity_id": self.internet_gateway.id,
                }
            ],
            opts=child(self),
        )
        self.private_routes = oci.core.RouteTable(
            f"{name}-private-rt",
            compartment_id=cmp,
            vcn_id=vcn_id,
            display_name=f"{p}-private-rt",
            route_rules=[
                {
                    "destination": "0.0.0.0/0",
                    "destination_type": "CIDR_BLOCK",
                    "network_entity_id": self.nat_gateway.id,
                },
                {
                    "destination": service.cidr_block,
                    "destination_type": "SERVICE_CIDR_BLOCK",
                    "network_entity_id": self.service_gateway.id,
                },
            ],
            opts=child(self),
        )

        path_mtu: oci.core.SecurityListIngressSecurityRuleArgsDict = {
            "protocol": "1",
            "source": "0.0.0.0/0",
            "icmp_options": {"type": 3, "code": 4},
        }
        ingress_from = "0.0.0.0/0" if args.gateway_public else s.vcn_cidr
        self.public_security = oci.core.SecurityList(
            f"{name}-public-sl",
            compartment_id=cmp,
            vcn_id=vcn_id,
            display_name=f"{p}-public-sl",
            ingress_security_rules=[
                {
                    "protocol": "6",
                    "source": ingress_from,
                    "description": "HTTPS to the API gateway",
                    "tcp_options": _tcp(HTTPS),
                },
                path_mtu,
            ],
            egress_security_rules=[
                {
                    "protocol": "6",
                    "destination": "0.0.0.0/0",
                    "description": "gateway to functions and OCI APIs",
                    "tcp_options": _tcp(HTTPS),
                },
            ],
            opts=child(self),
        )
        self.private_security = oci.core.SecurityList(
            f"{name}-private-sl",
            compartment_id=cmp,
            vcn_id=vcn_id,
            display_name=f"{p}-private-sl",
            ingress_security_rules=[
                {
                    "protocol": "6",
                    "source": s.vcn_cidr,
                    "description": "HTTPS inside the VCN",
                    "tcp_options": _tcp(HTTPS),
                },
                path_mtu,
            ],
            egress_security_rules=[
                {
                    "protocol": "6",
                    "destination": service.cidr_block,
                    "destination_type": "SERVICE_CIDR_BLOCK",
                    "description": "functions to OCI services (Object Storage, Vault, Monitoring, ONS)",
                    "tcp_options": _tcp(HTTPS),
                },
                {
                    "protocol": "6",
                    "destination": "0.0.0.0/0",
                    "description": "functions to HTTPS endpoints through the NAT gateway",
                    "tcp_options": _tcp(HTTPS),
                },
            ],
            opts=child(self),
        )

        self.public_subnet = oci.core.Subnet(
            f"{name}-public",
            compartment_id=cmp,
            vcn_id=vcn_id,
            cidr_block=s.public_subnet_cidr,
            display_name=f"{p}-public",
            dns_label="pub",
            route_table_id=self.public_routes.id,
            security_list_ids=[self.public_security.id],
            prohibit_public_ip_on_vnic=False,
            opts=child(self),
        )
        self.private_subnet = oci.core.Subnet(
            f"{name}-private",
            compartment_id=cmp,
            vcn_id=vcn_id,
            cidr_block=s.private_subnet_cidr,
            display_name=f"{p}-private",
            dns_label="priv",
            route_table_id=self.private_routes.id,
            security_list_ids=[self.private_security.id],
            prohibit_public_ip_on_vnic=True,
            opts=child(self),
        )
        self.public_subnet_id = self.public_subnet.id
        self.private_subnet_id = self.private_subnet.id
        self.register_outputs(
            {
                "vcn_id": vcn_id,
                "public_subnet_id": self.public_subnet_id,
                "private_subnet_id": self.private_subnet_id,
            }
        )
