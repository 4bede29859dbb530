"""The alarm topic (ONS) and the people and systems subscribed to it: email, Slack, PagerDuty, HTTPS."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_oci as oci
from mlops.settings import Notifications as NotificationSettings

from .naming import child, type_token


@dataclass
class NotificationsArgs:
    compartment_id: str
    stack: str
    settings: NotificationSettings
    secret_values: dict[str, pulumi.Output[str]] = field(default_factory=dict)  # slack_webhook, pagerduty


def subscriptions(settings: NotificationSettings) -> list[tuple[str, str, str]]:
    """``(role, protocol, endpoint-or-secret-key)`` of each human-facing subscription, in a stable order."""
    out = [(f"email-{i}", "EMAIL", addr) for i, addr in enumerate(settings.email)]
    if settings.slack_webhook_secret:
        out.append(("slack", "SLACK", "secret:slack_webhook"))
    if settings.pagerduty_secret:
        out.append(("pagerduty", "PAGERDUTY", "secret:pagerduty"))
    out += [(f"https-{i}", "CUSTOM_HTTPS", url) for i, url in enumerate(settings.https_endpoints)]
    return out


class Notifications(pulumi.ComponentResource):
    """One ONS topic for alarms and its subscriptions (webhook URLs stay Pulumi secrets)."""

    topic_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("notifications", "Notifications"), name, None, opts)
        s = args.settings
        self.topic = oci.ons.NotificationTopic(
            f"{name}-topic",
            compartment_id=args.compartment_id,
            name=f"{s.topic_name}-{args.stack}",
            description="mlops alarms: latency, errors, drift, confidence, canary health",
            opts=child(self),
        )
        self.topic_id = self.topic.id
        self.subscriptions: dict[str, oci.ons.Subscription] = {}
        for role, protocol, endpoint in subscriptions(s):
            value: pulumi.Input[str] = endpoint
            extra = {}
            if endpoint.startswith("secret:"):
                value = pulumi.Output.secret(args.secret_values[endpoint[len("secret:") :]])
                extra = {"additional_secret_outputs": ["endpoint"]}
            self.subscriptions[role] = oci.ons.Subscription(
                f"{name}-{role}",
                compartment_id=args.compartment_id,
                topic_id=self.topic.id,
                protocol=protocol,
                endpoint=value,
                opts=child(self, **extra),
            )
        self.register_outputs({"topic_id": self.topic_id})
