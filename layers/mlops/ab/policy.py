"""What the guardian does with an A/B report: promote the winner, roll back a loser, alarm, or nothing.

``decide_action(report, policy)`` is pure: it returns an :class:`Action` whose ``reason`` is the
sentence that goes into the audit log ("why was v4 promoted?"). The guardian performs it with
the registry's deployment functions; nothing here touches a deployment.

Default policy: act on nothing automatically (``auto_promote`` and ``auto_rollback`` off),
alarm on a sample ratio mismatch. With automation off a decided experiment yields ``notify``
so that a person can act on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.ab.analysis import ABReport
from mlops.errors import ConfigError

PROMOTE, ROLLBACK, ALARM, NOTIFY, NONE = "promote", "rollback", "alarm", "notify", "none"
ACTIONS = (PROMOTE, ROLLBACK, ALARM, NOTIFY, NONE)
_ON_SRM = (ALARM, ROLLBACK, NONE)
_ON_NO_DIFFERENCE = (NONE, NOTIFY, PROMOTE, ROLLBACK)


@dataclass(frozen=True)
class ABPolicy:
    """Which decided experiments the guardian may act on by itself.

    - ``auto_promote``: the challenger won -> promote it (canary becomes stable; a shadow
      candidate becomes what the guardian's promotion means for shadows);
    - ``auto_rollback``: stable won -> roll the challenger back (canary weight 0 / stop shadowing);
    - ``on_srm``: ``alarm`` (default), ``rollback`` (stop the experiment) or ``none``;
    - ``on_no_difference``: ``none`` (default: keep collecting), ``notify``, ``promote`` (ship
      the new version, it is not meaningfully worse) or ``rollback``.
    """

    auto_promote: bool = False
    auto_rollback: bool = False
    on_srm: str = ALARM
    on_no_difference: str = NONE

    def __post_init__(self) -> None:
        if self.on_srm not in _ON_SRM:
            raise ConfigError(f"ab policy on_srm: must be one of {', '.join(_ON_SRM)}, got {self.on_srm!r}")
        if self.on_no_difference not in _ON_NO_DIFFERENCE:
            raise ConfigError(
                f"ab policy on_no_difference: must be one of {', '.join(_ON_NO_DIFFERENCE)}, "
                f"got {self.on_no_difference!r}"
            )
        for name in ("auto_promote", "auto_rollback"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"ab policy {name}: expected true or false, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "ab policy") -> ABPolicy:
        """From settings; an unknown key fails naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"{where}.{key}: unknown setting (known: {', '.join(sorted(known))})")
        kwargs = dict(data)
        for key in ("auto_promote", "auto_rollback"):
            v = kwargs.get(key)
            if isinstance(v, str) and v.lower() in ("true", "false"):
                kwargs[key] = v.lower() == "true"
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Action:
    """What to do, to which variant, and the audit sentence that says why."""

    kind: str  # promote | rollback | alarm | notify | none
    endpoint: str | None
    challenger: str | None  # canary | shadow
    decision: str
    automatic: bool  # True when the policy lets the guardian act without a person
    reason: str
    versions: dict[str, list[Any]] = field(default_factory=dict)  # variant -> versions seen
    evidence: dict[str, Any] = field(default_factory=dict)  # the numbers behind the decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "challenger": self.challenger,
            "decision": self.decision,
            "automatic": self.automatic,
            "reason": self.reason,
            "versions": {k: list(v) for k, v in self.versions.items()},
            "evidence": dict(self.evidence),
        }


def decide_action(report: ABReport, policy: ABPolicy | None = None) -> Action:
    """The action the guardian should take for ``report`` under ``policy`` (default: ABPolicy())."""
    policy = policy or ABPolicy()
    d = report.decision
    who = f"A/B {report.endpoint or '?'}"
    c = report.challenger
    base = report.reason
    if d == "srm_alarm":
        kind = policy.on_srm
        suffix = {
            ALARM: "alarm raised; no promotion or rollback on untrustworthy data",
            ROLLBACK: f"policy on_srm=rollback: rolling the {c or 'challenger'} back",
            NONE: "policy on_srm=none: no action",
        }[kind]
        return _action(report, kind, kind == ROLLBACK, f"{who}: {base}; {suffix}")
    if d in ("canary_wins", "shadow_wins"):
        if policy.auto_promote:
            return _action(report, PROMOTE, True, f"{who}: {base}; policy auto_promote: promoting {c}")
        return _action(report, NOTIFY, False, f"{who}: {base}; auto_promote is off: promote {c} by hand")
    if d == "stable_wins":
        if policy.auto_rollback:
            return _action(report, ROLLBACK, True, f"{who}: {base}; policy auto_rollback: rolling {c} back")
        return _action(report, NOTIFY, False, f"{who}: {base}; auto_rollback is off: roll {c} back by hand")
    if d == "no_difference":
        kind = policy.on_no_difference
        suffix = {
            NONE: "policy on_no_difference=none: no action",
            NOTIFY: "policy on_no_difference=notify: a person decides",
            PROMOTE: f"policy on_no_difference=promote: {c} is not meaningfully worse, promoting it",
            ROLLBACK: f"policy on_no_difference=rollback: {c} is not meaningfully better, rolling it back",
        }[kind]
        return _action(report, kind, kind in (PROMOTE, ROLLBACK), f"{who}: {base}; {suffix}")
    return _action(report, NONE, False, f"{who}: {base}")


def _action(report: ABReport, kind: str, automatic: bool, reason: str) -> Action:
    cmp = report.comparison
    evidence: dict[str, Any] = {
        "outcome": report.outcome,
        "alpha": report.alpha,
        "mde": report.mde,
        "min_samples": report.min_samples,
        "srm": report.srm.to_dict(),
    }
    if cmp is not None:
        evidence["comparison"] = cmp.to_dict()
    return Action(
        kind=kind,
        endpoint=report.endpoint,
        challenger=report.challenger,
        decision=report.decision,
        automatic=automatic,
        reason=reason,
        versions={v.variant: list(v.versions) for v in report.variants},
        evidence=evidence,
    )
