"""The authorizer: API key -> principal and scopes, plus a sticky canary cohort per endpoint.

OCI API Gateway has no weighted routing, so the weight is applied here. A caller is in
an endpoint's canary cohort iff ``H(salt, endpoint, principal) mod 10000 < weight_bp``,
where the salt names the canary version (a new canary re-draws its cohort; raising the
weight of one canary only adds callers to it). The answer is OCI's authorizer output
(``active``, ``principal``, ``scope``, ``expiresAt``, ``context``) - source: doc
"Creating an Authorizer Function" (apigatewayusingauthorizerfunction), and Oracle's
fn samples, e.g. ``{"active": true, "principal": ..., "scope": [...], "expiresAt": ...,
"context": {...}}`` / ``{"active": false, "wwwAuthenticate": ...}``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops.names import cohort_key
from mlops.serving.apikeys import INVALID_RECORD, MALFORMED, UNKNOWN_KEY, KeyRing, KeyRingSource
from mlops.ttlcache import TTLCache

CANARY, STABLE = "canary", "stable"
log = logging.getLogger(__name__)


def cohort_bucket(principal: str, endpoint: str, salt: str) -> int:
    """0..9999, uniform and stable for one (salt, endpoint, principal)."""
    h = hashlib.sha256(f"{salt}\x00{endpoint}\x00{principal}".encode()).digest()
    return int.from_bytes(h[:8], "big") % 10_000


def assign_cohort(principal: str, endpoint: str, weight_bp: int, salt: str) -> str:
    return CANARY if weight_bp > 0 and cohort_bucket(principal, endpoint, salt) < weight_bp else STABLE


@dataclass(frozen=True)
class CanaryState:
    weight_bp: int = 0  # 0..10000
    salt: str = ""  # e.g. "<endpoint>:v<canary version>"


class WeightCache:
    """Per-endpoint canary weights read from the deployment state, cached for ``ttl_s``.

    The store unreachable: the last known weight is kept (and the read retried on the next call);
    with none known, weight 0 is cached for ``ttl_s`` (fail safe: nobody goes to an unknown canary).
    """

    def __init__(
        self,
        read: Callable[[str], CanaryState],
        ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read, self.ttl_s, self.clock = read, ttl_s, clock
        self._cache: TTLCache[str, CanaryState] = TTLCache(ttl_s, keep_stale=True, clock=clock)

    def get(self, endpoint: str) -> CanaryState:
        return self._cache.get_or_load(
            endpoint, lambda: self.read(endpoint), stale_on=(Exception,), default=lambda: CanaryState(0, "")
        )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Authorizer:
    """Turns the gateway's ``USER_DEFINED`` input into OCI's authorizer answer.

    Denials: a token that names an unknown key id is answered without ``expiresAt``, so no gateway
    caches it (the id may be issued a moment later: ``mlops keys new`` must work on the very next
    request); a malformed value, a wrong secret, a revoked key or a refused ring entry can never become
    valid by a ring change of that id alone, and is cached for ``deny_ttl_s``.
    """

    def __init__(
        self,
        keys: KeyRingSource,
        weights: WeightCache,
        endpoints: Sequence[str],
        *,
        ttl_s: float = 60.0,
        deny_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys, self.weights, self.endpoints = keys, weights, list(endpoints)
        self.ttl_s, self.deny_ttl_s, self.clock = ttl_s, deny_ttl_s, clock
        self._warned: set[str] = set()

    def _deny(self, why: str, header: Any, now: float) -> dict[str, Any]:
        if why == MALFORMED:  # no Bearer credentials at all: no error code (RFC 6750, section 3.1)
            answer: dict[str, Any] = {"active": False, "wwwAuthenticate": 'Bearer realm="mlops"'}
        else:
            answer = {"active": False, "wwwAuthenticate": 'Bearer realm="mlops", error="invalid_token"'}
        if why == INVALID_RECORD:
            kid = KeyRing.key_id(header) or "?"
            if kid not in self._warned:
                self._warned.add(kid)
                log.warning(
                    "key %s is refused: its ring entry has a principal or scope outside the allowed "
                    "characters (a hand-edited ring?); reissue it with mlops keys new",
                    kid,
                )
        if why != UNKNOWN_KEY:
            answer["expiresAt"] = _iso(now + self.deny_ttl_s)
        return answer

    def authorize(self, doc: Any) -> dict[str, Any]:
        now = self.clock()
        data: dict[str, Any] = {}
        if isinstance(doc, dict):
            if doc.get("type") == "USER_DEFINED" and isinstance(doc.get("data"), dict):
                data = doc["data"]
            elif doc.get("type") == "TOKEN":  # single-argument authorizers
                data = {"token": doc.get("token")}
        token = data.get("token")
        header = token if isinstance(token, str) else None
        rec, why = self.keys.check(header)
        if rec is None:
            return self._deny(why, header, now)
        context: dict[str, str] = {
            "principal": rec.principal,
            "scopes": " ".join(rec.scopes),
            "key_id": rec.id,
        }
        # The cohort depends on the token alone: pinning a variant is a route of its own that requires
        # the pin scope (mlops.blueprint.gateway.pinned_predict_path), never an optional argument.
        for ep in self.endpoints:
            state = self.weights.get(ep)
            context[cohort_key(ep)] = assign_cohort(rec.principal, ep, state.weight_bp, state.salt)
        return {
            "active": True,
            "principal": rec.principal,
            "scope": list(rec.scopes),
            "clientId": rec.id,
            "expiresAt": _iso(now + self.ttl_s),
            "context": context,
        }
