"""Deployment state per endpoint: which version is stable, which is the canary and at what weight.

The record ``deployments/<endpoint>.json`` is what serving reads (the authorizer for the canary
weight, inference for the versions)::

    {"endpoint": "churn", "model": "churn", "stable_version": 3, "canary_version": 4,
     "canary_weight_bp": 1000, "shadow_version": null, "shadow_rate": 0.0,
     "updated_at": "...", "updated_by": "alice", "generation": 7, "last_action": "start_canary",
     "reason": null}

``canary_weight_bp`` is in basis points (0..10000). Every change is a compare-and-swap (pass
``expected_generation`` to make it conditional on what you last read) followed by an audit
entry ``deployment.<action>`` whose details hold the new ``state`` and the ``previous`` one, so
the audit log answers "what did endpoint E serve at time T". Every version that starts serving
traffic (stable, canary, shadow, a promotion, more weight for a canary) must be approved unless the
model's audited policy ``allow_unapproved_deploys`` says otherwise (403 ``approval_required``,
``governance.check_deployable``), and before a version starts serving, its artifact and compiled
scorer are verified against their sha256 (409 ``artifact_integrity``). A stable version and a
promoted canary also move the model's stable alias (``production``), which stays governed on its
own. ``rollback`` is idempotent: with no canary running it changes nothing and appends nothing.

``Deployments`` needs only a narrow view of the registry (``Catalog``: read models, versions and
approvals, verify what serving loads, move an alias), the store, who acts, a clock and an audit
appender; ``Registry.deployments(actor=...)`` builds one. The record format and its reader are
``mlops.serving.deployment_state`` (what serving reads).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mlops.errors import BadRequestError, ConflictError, IntegrityError, NotFoundError
from mlops.names import validate_endpoint_name, validate_name, validate_version
from mlops.registry import governance, records
from mlops.registry.keys import endpoint_subject
from mlops.serving.deployment_state import DEPLOYMENTS_PREFIX, deployment_key, read_deployment
from mlops.storage.base import ObjectStore

STABLE_ALIAS = "production"
MAX_WEIGHT_BP = 10_000
STATE_FIELDS = (
    "model",
    "stable_version",
    "canary_version",
    "canary_weight_bp",
    "shadow_version",
    "shadow_rate",
    "generation",
)

Mutation = Callable[[dict[str, Any] | None], dict[str, Any] | None]
Gate = Callable[[dict[str, Any] | None, dict[str, Any]], None]


class Catalog(Protocol):
    """What deployments read of the registry, and the one registry change they make (the stable alias)."""

    def get_model(self, name: str) -> dict[str, Any]: ...

    def get_version(self, model: str, version: int | str) -> dict[str, Any]: ...

    def get_approval(self, model: str, version: int | str) -> dict[str, Any]: ...

    def verify_servable(self, model: str, version: int | str) -> dict[str, Any]: ...

    def set_alias(
        self, model: str, alias: str, version: int | str, *, reason: str | None = None
    ) -> dict[str, Any]: ...


def state_of(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if doc is None else {k: doc.get(k) for k in STATE_FIELDS}


def _weight(weight_bp: Any) -> int:
    if isinstance(weight_bp, bool) or not isinstance(weight_bp, int) or not 0 <= weight_bp <= MAX_WEIGHT_BP:
        raise BadRequestError(
            f"weight_bp must be an integer 0..{MAX_WEIGHT_BP} (basis points; 1000 = 10%), got {weight_bp!r}",
            code="invalid_weight",
        )
    return weight_bp


def _reason(reason: Any) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > 1000:
        raise BadRequestError("reason must be a string of at most 1000 characters", code="invalid_reason")
    return reason or None


def _require(cur: dict[str, Any] | None, endpoint: str) -> dict[str, Any]:
    if cur is None or not cur.get("stable_version"):
        raise NotFoundError(
            f"endpoint {endpoint!r} has no stable version yet; deploy one first (set_stable)",
            code="deployment_not_found",
        )
    return cur


def _check_generation(expected_generation: Any) -> None:
    if expected_generation is not None and (
        isinstance(expected_generation, bool) or not isinstance(expected_generation, int)
    ):
        raise BadRequestError("expected_generation must be an integer", code="invalid_generation")


@dataclass(frozen=True)
class Deployments:
    """The deployment operations, acting as ``actor``; ``audit(action, subject, details)`` appends an entry
    and ``now()`` is the registry's ISO clock."""

    store: ObjectStore
    catalog: Catalog
    actor: str
    now: Callable[[], str]
    audit: Callable[[str, str, dict[str, Any]], object]

    # ------------------------------------------------------------------ reading

    def get(self, endpoint: str) -> dict[str, Any]:
        """The endpoint's deployment record; ``NotFoundError`` if nothing was ever deployed to it."""
        doc = read_deployment(self.store, endpoint)
        if doc is None:
            raise NotFoundError(
                f"endpoint {endpoint!r} has no deployment yet; deploy a stable version first",
                code="deployment_not_found",
            )
        return doc

    def list_all(self) -> list[dict[str, Any]]:
        """Every endpoint's deployment record."""
        out = []
        for key in self.store.list(DEPLOYMENTS_PREFIX):
            name = key[len(DEPLOYMENTS_PREFIX) :]
            if name.endswith(".json") and "/" not in name:
                doc = records.read(self.store, key)
                if doc is not None:
                    out.append({k: v for k, v in doc.data.items() if k != "write_id"})
        return out

    # ------------------------------------------------------------------ the change and its gates

    def _change(
        self,
        endpoint: str,
        action: str,
        mutate: Mutation,
        *,
        reason: str | None,
        expected_generation: int | None,
        gate: Gate | None = None,
    ) -> dict[str, Any]:
        """Apply ``mutate`` by compare-and-swap and audit it. ``gate(current, new)`` runs first on a dry run
        of the change (so a refused state change is reported before any costly check) and may refuse it."""
        validate_endpoint_name(endpoint)
        _check_generation(expected_generation)
        seen: dict[str, Any] = {}

        def change(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if expected_generation is not None and int((cur or {}).get("generation", 0)) != int(
                expected_generation
            ):
                raise ConflictError(
                    f"the deployment of {endpoint!r} changed (generation "
                    f"{(cur or {}).get('generation', 0)}, expected {expected_generation}); "
                    "re-read it and retry",
                    code="deployment_changed",
                )
            previous = state_of(cur)
            new = mutate(cur)
            if new is None:
                return None
            new.update(
                endpoint=endpoint,
                updated_at=self.now(),
                updated_by=self.actor,
                generation=int((cur or {}).get("generation", 0)) + 1,
                last_action=action,
                reason=reason,
            )
            seen["previous"] = previous
            return new

        if gate is not None:
            cur = read_deployment(self.store, endpoint)
            dry = change(copy.deepcopy(cur))
            if dry is not None:
                gate(cur, dry)
        doc, changed = records.update(self.store, deployment_key(endpoint), change, what="deployment")
        if doc is None:
            raise NotFoundError(f"endpoint {endpoint!r} has no deployment yet", code="deployment_not_found")
        if changed:
            self.audit(
                f"deployment.{action}",
                endpoint_subject(endpoint),
                {"state": state_of(doc), "previous": seen.get("previous"), "reason": reason},
            )
        return {k: v for k, v in doc.items() if k != "write_id"}

    def _approval_gate(self, model: str, version: int, alias: str) -> None:
        governance.check_governed_alias(
            self.catalog.get_model(model), alias, version, self.catalog.get_approval(model, version)["state"]
        )

    def _approved_to_serve(self, endpoint: str, model: str, version: int, role: str) -> None:
        governance.check_deployable(
            self.catalog.get_model(model),
            version,
            self.catalog.get_approval(model, version)["state"],
            role=role,
            endpoint=endpoint,
        )

    def _deploy_gate(self, endpoint: str, model: str, version: int, role: str) -> None:
        """Before ``version`` serves traffic as ``role``: it is approved (or the model's audited policy allows
        unapproved deploys), and what serving will load matches its sha256 (nothing changes otherwise)."""
        self._approved_to_serve(endpoint, model, version, role)
        try:
            self.catalog.verify_servable(model, version)
        except IntegrityError as exc:
            raise ConflictError(
                f"refusing to deploy {model} v{version} as the {role} of endpoint {endpoint!r}: "
                f"{exc.message}",
                code="artifact_integrity",
                details={**exc.details, "version": version, "role": role},
            ) from None
        except NotFoundError as exc:
            if exc.code != "artifact_missing":
                raise
            raise ConflictError(
                f"refusing to deploy {model} v{version} as the {role} of endpoint {endpoint!r}: "
                f"{exc.message}",
                code="artifact_missing",
                details={"version": version, "role": role},
            ) from None

    # ------------------------------------------------------------------ the operations

    def set_stable(
        self,
        endpoint: str,
        model: str,
        version: int | str,
        *,
        reason: str | None = None,
        expected_generation: int | None = None,
        alias: str = STABLE_ALIAS,
    ) -> dict[str, Any]:
        """Serve ``model`` v``version`` as the stable version of ``endpoint`` (first deploy, or a direct switch
        when no canary runs). Governed: the version must be approved if the model governs ``alias``."""
        validate_name(model, "model")
        validate_name(alias, "alias")
        v = validate_version(version)
        self.catalog.get_version(model, v)
        self._approval_gate(model, v, alias)
        reason = _reason(reason)

        def mutate(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if cur is not None and cur.get("model") not in (None, model):
                raise ConflictError(
                    f"endpoint {endpoint!r} serves model {cur.get('model')!r}, not {model!r}",
                    code="endpoint_model_mismatch",
                )
            if cur is not None and cur.get("canary_version"):
                raise ConflictError(
                    f"a canary (v{cur['canary_version']}) is running on {endpoint!r}; "
                    "promote it or roll it back first",
                    code="canary_running",
                )
            if cur is not None and cur.get("stable_version") == v:
                return None
            new = dict(cur or {})
            new.update(model=model, stable_version=v, canary_version=None, canary_weight_bp=0)
            new.setdefault("shadow_version", None)
            new.setdefault("shadow_rate", 0.0)
            return new

        doc = self._change(
            endpoint,
            "set_stable",
            mutate,
            reason=reason,
            expected_generation=expected_generation,
            gate=lambda cur, new: self._deploy_gate(endpoint, model, v, "stable"),
        )
        self.catalog.set_alias(model, alias, v, reason=f"stable version of endpoint {endpoint}")
        return doc

    def start_canary(
        self,
        endpoint: str,
        version: int | str,
        weight_bp: int,
        *,
        reason: str | None = None,
        expected_generation: int | None = None,
    ) -> dict[str, Any]:
        """Send ``weight_bp`` basis points of ``endpoint``'s callers to ``version`` (same model as stable)."""
        v = validate_version(version)
        w = _weight(weight_bp)
        reason = _reason(reason)
        cur0 = _require(read_deployment(self.store, endpoint), endpoint)
        self.catalog.get_version(cur0["model"], v)

        def mutate(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            cur = _require(cur, endpoint)
            if cur["model"] != cur0["model"]:
                raise ConflictError(
                    f"endpoint {endpoint!r} changed model meanwhile", code="deployment_changed"
                )
            if cur["stable_version"] == v:
                raise ConflictError(
                    f"v{v} is already the stable version of {endpoint!r}", code="already_stable"
                )
            if cur.get("canary_version") not in (None, v):
                raise ConflictError(
                    f"canary v{cur['canary_version']} is running on {endpoint!r}; promote it or "
                    "roll it back before starting another",
                    code="canary_running",
                )
            if cur.get("canary_version") == v and cur.get("canary_weight_bp") == w:
                return None
            cur.update(canary_version=v, canary_weight_bp=w)
            return cur

        return self._change(
            endpoint,
            "start_canary",
            mutate,
            reason=reason,
            expected_generation=expected_generation,
            gate=lambda cur, new: self._deploy_gate(endpoint, cur0["model"], v, "canary"),
        )

    def set_weight(
        self,
        endpoint: str,
        weight_bp: int,
        *,
        reason: str | None = None,
        expected_generation: int | None = None,
    ) -> dict[str, Any]:
        """Change the running canary's share (basis points)."""
        w = _weight(weight_bp)
        reason = _reason(reason)

        def mutate(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            cur = _require(cur, endpoint)
            if not cur.get("canary_version"):
                raise ConflictError(
                    f"no canary is running on {endpoint!r}; start one first", code="no_canary"
                )
            if cur.get("canary_weight_bp") == w:
                return None
            cur["canary_weight_bp"] = w
            return cur

        def gate(cur: dict[str, Any] | None, new: dict[str, Any]) -> None:
            if cur is not None and w > int(cur.get("canary_weight_bp") or 0):
                # more traffic for a canary that was started before the policy asked for its approval
                self._approved_to_serve(endpoint, cur["model"], int(new["canary_version"]), "canary")

        return self._change(
            endpoint, "set_weight", mutate, reason=reason, expected_generation=expected_generation, gate=gate
        )

    def set_shadow(
        self,
        endpoint: str,
        version: int | str | None,
        rate: float = 0.0,
        *,
        reason: str | None = None,
        expected_generation: int | None = None,
    ) -> dict[str, Any]:
        """Score a share ``rate`` (0..1) of stable traffic with ``version`` as well (``None`` stops shadowing)."""
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not math.isfinite(rate)
            or not 0 <= rate <= 1
        ):
            raise BadRequestError(
                f"shadow rate must be a number between 0 and 1, got {rate!r}", code="invalid_rate"
            )
        v = None if version is None else validate_version(version)
        reason = _reason(reason)
        cur0 = _require(read_deployment(self.store, endpoint), endpoint)
        if v is not None:
            self.catalog.get_version(cur0["model"], v)

        def mutate(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            cur = _require(cur, endpoint)
            new_rate = float(rate) if v is not None else 0.0
            if cur.get("shadow_version") == v and float(cur.get("shadow_rate") or 0.0) == new_rate:
                return None
            cur.update(shadow_version=v, shadow_rate=new_rate)
            return cur

        def gate(cur: dict[str, Any] | None, new: dict[str, Any]) -> None:
            if v is not None and (cur or {}).get("shadow_version") != v:
                self._deploy_gate(endpoint, cur0["model"], v, "shadow")

        return self._change(
            endpoint, "set_shadow", mutate, reason=reason, expected_generation=expected_generation, gate=gate
        )

    def promote(
        self,
        endpoint: str,
        *,
        reason: str | None = None,
        expected_generation: int | None = None,
        alias: str = STABLE_ALIAS,
    ) -> dict[str, Any]:
        """Make the canary the stable version (weight back to 0) and point ``alias`` at it. Governed."""
        reason = _reason(reason)
        cur0 = _require(read_deployment(self.store, endpoint), endpoint)
        v = cur0.get("canary_version")
        if not v:
            raise ConflictError(f"no canary is running on {endpoint!r}; nothing to promote", code="no_canary")
        self._approval_gate(cur0["model"], v, alias)

        def mutate(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            cur = _require(cur, endpoint)
            if cur.get("canary_version") != v:
                raise ConflictError(
                    f"the canary of {endpoint!r} changed meanwhile (now "
                    f"{cur.get('canary_version')!r}); re-read and retry",
                    code="deployment_changed",
                )
            cur.update(stable_version=v, canary_version=None, canary_weight_bp=0)
            if cur.get("shadow_version") == v:
                cur.update(shadow_version=None, shadow_rate=0.0)
            return cur

        doc = self._change(
            endpoint,
            "promote",
            mutate,
            reason=reason,
            expected_generation=expected_generation,
            gate=lambda cur, new: self._deploy_gate(endpoint, cur0["model"], v, "stable"),
        )
        self.catalog.set_alias(cur0["model"], alias, v, reason=f"promoted on endpoint {endpoint}")
        return doc

    def rollback(
        self, endpoint: str, *, reason: str, expected_generation: int | None = None
    ) -> dict[str, Any]:
        """Stop the canary: weight 0, canary cleared, audited with ``reason``. Idempotent."""
        reason_ = _reason(reason)
        if not reason_:
            raise BadRequestError(
                "a rollback needs a reason (it is kept in the audit log)", code="missing_reason"
            )

        def mutate(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            cur = _require(cur, endpoint)
            if not cur.get("canary_version") and not cur.get("canary_weight_bp"):
                return None
            cur.update(canary_version=None, canary_weight_bp=0)
            return cur

        return self._change(
            endpoint, "rollback", mutate, reason=reason_, expected_generation=expected_generation
        )
