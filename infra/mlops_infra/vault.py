"""The stack's Vault: a vault, a customer-managed AES key, and one secret per value functions must read."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pulumi
import pulumi_oci as oci

from .naming import child, type_token
from .secrets import SecretSpec


@dataclass
class VaultArgs:
    compartment_id: str
    display_prefix: str
    secrets: list[SecretSpec] = field(default_factory=list)
    values: dict[str, pulumi.Output[str]] = field(default_factory=dict)  # spec key -> secret value


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


class Vault(pulumi.ComponentResource):
    """Vault + key (HSM, AES-256) + secrets; ``secret_ids`` maps a secret name to its OCID."""

    vault_id: pulumi.Output[str]
    key_id: pulumi.Output[str]
    secret_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: VaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("vault", "Vault"), name, None, opts)
        cmp = args.compartment_id
        self.vault = oci.kms.Vault(
            f"{name}-vault",
            compartment_id=cmp,
            display_name=f"{args.display_prefix}-vault",
            vault_type="DEFAULT",
            opts=child(self),
        )
        self.key = oci.kms.Key(
            f"{name}-key",
            compartment_id=cmp,
            display_name=f"{args.display_prefix}-key",
            key_shape={"algorithm": "AES", "length": 32},
            protection_mode="HSM",
            management_endpoint=self.vault.management_endpoint,
            opts=child(self),
        )
        self.vault_id = self.vault.id
        self.key_id = self.key.id
        self.secrets: dict[str, oci.vault.Secret] = {}
        for spec in args.secrets:
            if not spec.in_vault:
                continue
            value: pulumi.Output[str] = pulumi.Output.secret(args.values[spec.key])
            content = value.apply(_b64)
            self.secrets[spec.name] = oci.vault.Secret(
                f"{name}-secret-{spec.key}",
                compartment_id=cmp,
                vault_id=self.vault.id,
                key_id=self.key.id,
                secret_name=spec.name,
                description=spec.purpose,
                secret_content={"content_type": "BASE64", "content": content, "stage": "CURRENT"},
                opts=child(self, additional_secret_outputs=["secret_content"]),
            )
        self.secret_ids = {n: s.id for n, s in self.secrets.items()}
        self.register_outputs(
            {"vault_id": self.vault_id, "key_id": self.key_id, "secret_ids": self.secret_ids}
        )
