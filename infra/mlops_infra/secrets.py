"""Which secret values a stack needs from ``pulumi config set --secret`` and where each one goes.

Secret values never live in the stack settings (``load_stack`` refuses them): they are
Pulumi secrets under the ``mlops-secrets:`` namespace, e.g.
``pulumi config set --secret mlops-secrets:api_keys '{...}'``. Values meant for functions
become Vault secrets (functions receive only the secret OCID); endpoints that only ONS
needs (Slack, PagerDuty) go straight into the subscription, still a Pulumi secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from mlops import envvars as ev
from mlops.errors import ConfigError
from mlops.settings import StackSettings

NAMESPACE = "mlops-secrets"
OCID_PREFIX = "ocid1."

# Function config keys whose value is a secret *reference*: a Vault secret name this stack
# creates (replaced by its OCID at deploy time) or an OCID the user manages.
SECRET_REF_KEYS = (ev.API_KEYS_SECRET, ev.STORE_PREFIX + "CREDENTIALS_SECRET", ev.AUDIT_ANCHOR_SECRET)


@dataclass(frozen=True)
class SecretSpec:
    """One secret value the stack needs: its config key, its Vault name and who uses it."""

    key: str  # pulumi config key under mlops-secrets:
    name: str  # Vault secret name (from the settings), or the subscription's label
    purpose: str
    in_vault: bool = True

    @property
    def config_key(self) -> str:
        return f"{NAMESPACE}:{self.key}"

    def set_command(self) -> str:
        return f"pulumi config set --secret {self.config_key} '<value>'"


def _managed(ref: str | None) -> bool:
    return bool(ref) and not str(ref).startswith(OCID_PREFIX)


def secret_specs(settings: StackSettings) -> list[SecretSpec]:
    """Every secret value ``pulumi up`` needs for these settings, in a stable order."""
    out: list[SecretSpec] = []
    if _managed(settings.auth.api_keys_secret):
        out.append(
            SecretSpec(
                "api_keys",
                settings.auth.api_keys_secret,
                "API keys the authorizer function accepts (JSON, see the authorizer docs)",
            )
        )
    if _managed(settings.audit.anchor_secret):
        out.append(
            SecretSpec(
                "audit_anchor",
                str(settings.audit.anchor_secret),
                "HMAC key that signs the audit log (at least 32 characters: openssl rand -hex 32); "
                "every function and the deploy pipeline read it",
            )
        )
    if settings.store.backend == "s3" and _managed(settings.store.credentials_secret):
        out.append(
            SecretSpec(
                "store_credentials",
                str(settings.store.credentials_secret),
                'object-store keys for the S3 backend: {"access_key": ..., "secret_key": ...}',
            )
        )
    if settings.devops.external_repository_url and _managed(settings.devops.github_token_secret):
        out.append(
            SecretSpec(
                "git_token",
                str(settings.devops.github_token_secret),
                "access token of the external git repository (DevOps connection)",
            )
        )
    if settings.devops.external_repository_url and not settings.devops.github_token_secret:
        raise ConfigError(
            "mlops:devops.github_token_secret: required with devops.external_repository_url "
            "(the DevOps connection reads the token from Vault)"
        )
    if settings.notifications.slack_webhook_secret:
        out.append(
            SecretSpec(
                "slack_webhook",
                settings.notifications.slack_webhook_secret,
                "Slack incoming-webhook URL of the alarm topic's SLACK subscription",
                in_vault=False,
            )
        )
    if settings.notifications.pagerduty_secret:
        out.append(
            SecretSpec(
                "pagerduty",
                settings.notifications.pagerduty_secret,
                "PagerDuty integration URL of the alarm topic's PAGERDUTY subscription",
                in_vault=False,
            )
        )
    return out


def read_secrets(specs: list[SecretSpec]) -> dict[str, pulumi.Output[str]]:
    """The secret values from Pulumi config (each an Output marked secret), by spec key.

    A missing value fails naming the exact command that sets it.
    """
    cfg = pulumi.Config(NAMESPACE)
    out: dict[str, pulumi.Output[str]] = {}
    missing = []
    for spec in specs:
        value = cfg.get_secret(spec.key)
        if value is None:
            missing.append(spec)
        else:
            out[spec.key] = value
    if missing:
        cmds = "; ".join(s.set_command() for s in missing)
        raise ConfigError(
            f"missing secret config ({', '.join(s.config_key for s in missing)}); set it with: {cmds}"
        )
    return out


def resolve_secret_refs(
    config: Mapping[str, str], secret_ids: Mapping[str, pulumi.Input[str]], function: str
) -> dict[str, pulumi.Input[str]]:
    """``config`` with every secret reference (a Vault name) replaced by the OCID this stack created.

    A reference that is already an OCID is kept; an unknown name is a ConfigError naming the key.
    """
    out: dict[str, pulumi.Input[str]] = dict(config)
    for key in SECRET_REF_KEYS:
        ref = config.get(key)
        if not ref or ref.startswith(OCID_PREFIX):
            continue
        if ref not in secret_ids:
            raise ConfigError(
                f"function {function}: {key} names secret {ref!r}, which this stack does not "
                f"create; give its OCID in the settings or set its value with "
                f"`pulumi config set --secret {NAMESPACE}:...`"
            )
        out[key] = secret_ids[ref]
    return out
