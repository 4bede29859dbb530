"""Authentication at the local gateway: the custom authorizer function, its answer, and the answer cache.

The spec's ``CUSTOM_AUTHENTICATION`` policy names a function and its ``parameters`` (context
variables); the function is invoked with OCI's ``USER_DEFINED`` input and answers OCI's authorizer
output. Answers are cached by the values of ``cache_keys`` until their ``expiresAt`` (an answer
without one, e.g. a denial of an unknown key, is never cached), and concurrent misses of one caller
share one call. A denial is a 401 with the authorizer's challenge (or ``Bearer``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops.errors import BadGatewayError, ConfigError, UnauthorizedError
from mlops.local.routes import GatewayRequest
from mlops.ttlcache import TTLCache

#: (function id, wire headers, body, replay_safe) -> (fdk status, raw headers, body)
AuthInvoker = Callable[[str, list[tuple[str, str]], bytes, bool], Awaitable[tuple[int, list, bytes]]]
InvocationHook = Callable[[str, int, float], None]  # (function id, status, duration ms)


@dataclass
class AuthAnswer:
    active: bool
    principal: str | None
    scopes: list[str]
    context: dict[str, str]
    expires_at: float | None
    www_authenticate: str | None = None


def _parse_expires(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_authorizer_answer(status: int, body: bytes) -> AuthAnswer:
    """OCI's authorizer output: {active, principal, scope, expiresAt, context, wwwAuthenticate}."""
    if status != 200:
        return AuthAnswer(False, None, [], {}, None)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return AuthAnswer(False, None, [], {}, None)
    if not isinstance(doc, dict):
        return AuthAnswer(False, None, [], {}, None)
    scope = doc.get("scope") or []
    if isinstance(scope, str):
        scope = scope.split()
    ctx = doc.get("context") or {}
    return AuthAnswer(
        bool(doc.get("active")),
        doc.get("principal"),
        [str(s) for s in scope],
        {str(k): str(v) for k, v in ctx.items()} if isinstance(ctx, dict) else {},
        _parse_expires(doc.get("expiresAt")),
        doc.get("wwwAuthenticate"),
    )


class AuthCache:
    """Authorizer answers by the values of ``cache_keys``, each until its ``expiresAt`` (wall clock)."""

    def __init__(self, max_entries: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self._cache: TTLCache[tuple, AuthAnswer] = TTLCache(max_entries=max_entries, clock=clock)
        self.max_entries, self.clock = max_entries, clock

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def get(self, key: tuple) -> AuthAnswer | None:
        return self._cache.get(key)

    def put(self, key: tuple, ans: AuthAnswer) -> None:
        if ans.expires_at is not None:  # no expiresAt: not cached
            self._cache.put(key, ans, expires_at=ans.expires_at)


class Authenticator:
    """Runs the spec's authentication policy for a request: cached answer, or one authorizer call."""

    def __init__(
        self, policy: Mapping[str, Any], on_invocation: InvocationHook, clock: Callable[[], float] = time.time
    ) -> None:
        self.policy, self.on_invocation = policy, on_invocation
        self.cache = AuthCache(clock=clock)
        self._inflight: dict[tuple, asyncio.Future] = {}

    async def authenticate(self, req: GatewayRequest, invoke: AuthInvoker) -> None:
        """Sets ``req.auth`` from the answer (principal, scopes, context); a 401 when it is inactive."""
        if self.policy.get("type") != "CUSTOM_AUTHENTICATION":
            raise ConfigError(
                f"authentication type {self.policy.get('type')!r} is not supported by the local gateway"
            )
        args = {}
        for name, expr in (self.policy.get("parameters") or {}).items():
            value = req.variable(expr)
            if value is not None:
                args[name] = value
        key = tuple(args.get(k) for k in (self.policy.get("cache_keys") or sorted(args)))
        ans = self.cache.get(key)
        if ans is None:
            ans = await self._answer(key, args, invoke)
        if not ans.active:
            self._deny(ans)
        req.auth = dict(ans.context)
        req.auth.setdefault("principal", ans.principal or "")
        req.auth.setdefault("scopes", " ".join(ans.scopes))
        req.auth["__scopes__"] = " ".join(ans.scopes)

    async def _answer(self, key: tuple, args: dict[str, str], invoke: AuthInvoker) -> AuthAnswer:
        fut = self._inflight.get(key)
        if fut is not None:  # coalesce concurrent misses for one caller into one call
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            ans = await self._call_authorizer(args, invoke)
            self.cache.put(key, ans)
            fut.set_result(ans)
            return ans
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            del self._inflight[key]

    async def _call_authorizer(self, args: dict[str, str], invoke: AuthInvoker) -> AuthAnswer:
        payload = json.dumps({"type": "USER_DEFINED", "data": args}).encode()
        t0 = time.perf_counter()
        fn_id = self.policy["function_id"]
        # the authorizer only reads: a call it never answered may be sent again
        status, _h, body = await invoke(fn_id, [("Content-Type", "application/json")], payload, True)
        self.on_invocation(fn_id, status, (time.perf_counter() - t0) * 1000)
        if status != 200:
            raise BadGatewayError("the authorizer function failed; see its log", code="authorizer_failed")
        return parse_authorizer_answer(status, body)

    def _deny(self, ans: AuthAnswer) -> None:
        policy = self.policy.get("validation_failure_policy") or {}
        message = "a valid API key is required"
        if policy.get("type") == "MODIFY_RESPONSE" and policy.get("response_message"):
            try:
                message = json.loads(policy["response_message"])["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = policy["response_message"]
        # RFC 7235: every 401 says which scheme it wants (the authorizer's challenge, else Bearer)
        raise UnauthorizedError(
            message,
            code="unauthorized",
            details={"www_authenticate": ans.www_authenticate or 'Bearer realm="mlops"'},
        )
