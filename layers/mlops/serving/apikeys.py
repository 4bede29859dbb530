"""API keys: random tokens shown once, stored only as salted SHA-256 hashes with principal and scopes.

Token format ``mlk_<id>_<secret>``: the id finds the record without scanning, the
secret is 192 random bits, so a salted fast hash is enough (as for GitHub tokens);
comparison is constant-time. A token travels as ``Authorization: Bearer <token>`` (RFC 6750; the
scheme is case-insensitive, RFC 7235); a bare token or another scheme is refused.

Principals are ``[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}`` (checked when a key is issued, and again when a
ring is loaded: a hand-edited ring entry with another principal is refused, never forwarded), so a
principal is always safe in a header the functions trust.

:class:`KeyRingSource` is how the authorizer reads the ring: cached, and reloaded when it may have
changed - a file ring when its ``stat`` changed, a Vault ring when a token names an unknown key id (at
most once per ``min_reload_interval_s``) - so a key issued a moment ago works on the next request while a
flood of random tokens costs no more than one stat (file) or one read a second (Vault).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from mlops.errors import BadRequestError, ConfigError, UnavailableError
from mlops.ttlcache import TTLCache

PREFIX = "mlk_"
SCHEME = "bearer"
PRINCIPAL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}"
PRINCIPAL_RULE = (
    "1 to 128 characters: ASCII letters, digits and . _ @ : + - (starting with a letter or digit)"
)
_PRINCIPAL = re.compile(PRINCIPAL_PATTERN)
_SCOPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 7235 token68
MAX_TOKEN = 200


def valid_principal(principal: object) -> bool:
    return isinstance(principal, str) and _PRINCIPAL.fullmatch(principal) is not None


def validate_principal(principal: object) -> str:
    """The principal if it is well-formed; a 400 ``invalid_principal`` naming the rule otherwise."""
    if not valid_principal(principal):
        shown = repr(principal)[:40] + ("..." if len(repr(principal)) > 40 else "")
        raise BadRequestError(
            f"invalid principal {shown}: a principal is {PRINCIPAL_RULE}", code="invalid_principal"
        )
    return principal  # type: ignore[return-value]


def bearer_token(header: object) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive); None for a
    missing value, a bare token, another scheme, or a token that is not one of ours."""
    if not isinstance(header, str):
        return None
    scheme, sep, rest = header.strip(" \t").partition(" ")
    if not sep or scheme.lower() != SCHEME:
        return None
    token = rest.strip(" ")
    if not token.startswith(PREFIX) or len(token) > MAX_TOKEN or not _TOKEN68.fullmatch(token):
        return None
    return token


@dataclass(frozen=True)
class KeyRecord:
    id: str
    principal: str
    scopes: tuple[str, ...]
    salt: str
    hash: str
    created_at: float = 0.0
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "principal": self.principal,
            "scopes": list(self.scopes),
            "salt": self.salt,
            "hash": self.hash,
            "created_at": self.created_at,
            "disabled": self.disabled,
        }


def _digest(salt: str, token: str) -> str:
    return hashlib.sha256((salt + token).encode()).hexdigest()


def new_api_key(principal: str, scopes: list[str] | tuple[str, ...]) -> tuple[str, KeyRecord]:
    """A fresh key: (the token to hand out once, the record to store); refuses a malformed principal."""
    validate_principal(principal)
    kid = secrets.token_hex(6)
    token = f"{PREFIX}{kid}_{secrets.token_urlsafe(24)}"
    salt = secrets.token_hex(16)
    return token, KeyRecord(kid, principal, tuple(scopes), salt, _digest(salt, token), time.time())


class KeyRing:
    """The set of valid keys (the content of the API-keys secret)."""

    def __init__(self, records: list[KeyRecord]) -> None:
        self.by_id = {r.id: r for r in records}

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            doc = json.loads(text)
            return cls(
                [
                    KeyRecord(
                        str(r["id"]),
                        r["principal"],
                        tuple(r.get("scopes") or ()),
                        str(r["salt"]),
                        str(r["hash"]),
                        float(r.get("created_at", 0)),
                        bool(r.get("disabled", False)),
                    )
                    for r in doc["keys"]
                ]
            )
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                "the API-keys secret is not in the expected format "
                '{"keys": [{"id", "principal", "scopes", "salt", "hash"}]}'
            ) from None

    def to_json(self) -> str:
        return json.dumps({"keys": [r.to_dict() for r in self.by_id.values()]})

    @staticmethod
    def key_id(header: str | None) -> str | None:
        """The key id a well-formed ``Bearer`` value names (whether or not it is valid)."""
        token = bearer_token(header)
        return token[len(PREFIX) :].split("_", 1)[0] if token else None

    def check(self, header: str | None) -> tuple[KeyRecord | None, str]:
        """(record, "ok") for a valid, enabled token with a well-formed record; otherwise (None, why):
        ``malformed`` (no Bearer token of ours), ``unknown_key`` (no such id in this ring),
        ``bad_secret``, ``disabled``, ``invalid_record`` (a hand-edited entry: bad principal or scope)."""
        token = bearer_token(header)
        if token is None:
            return None, MALFORMED
        rec = self.by_id.get(token[len(PREFIX) :].split("_", 1)[0])
        if rec is None:
            return None, UNKNOWN_KEY
        if not hmac.compare_digest(rec.hash, _digest(rec.salt, token)):
            return None, BAD_SECRET
        if rec.disabled:
            return None, DISABLED
        if not valid_principal(rec.principal) or not all(
            isinstance(s, str) and _SCOPE.fullmatch(s) for s in rec.scopes
        ):
            return None, INVALID_RECORD
        return rec, OK

    def verify(self, header: str | None) -> KeyRecord | None:
        """The record of a valid, enabled token; None otherwise (never raises on junk)."""
        return self.check(header)[0]


OK, MALFORMED, UNKNOWN_KEY, BAD_SECRET, DISABLED, INVALID_RECORD = (
    "ok",
    "malformed",
    "unknown_key",
    "bad_secret",
    "disabled",
    "invalid_record",
)


class KeyRingSource:
    """The key ring as the authorizer reads it: parsed once per content, reloaded when it may have changed.

    - ``signature`` given (a file ring): before each lookup one ``stat`` (``signature()``) is compared
      with the one seen at the last read; the ring is re-read only when it differs. An unknown key id
      therefore never stays denied past a ring change, and bogus tokens cost a stat, never a read.
    - no ``signature`` (a Vault ring): the ring is re-read when older than ``max_age_s``, and when a
      token names an unknown key id - at most once per ``min_reload_interval_s`` (a flood of random
      ids costs at most one read per interval).
    ``reads`` counts ring reads (for tests and metrics).
    """

    def __init__(
        self,
        read: Callable[[], str],
        *,
        signature: Callable[[], Hashable] | None = None,
        max_age_s: float = 60.0,
        min_reload_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read, self.signature, self.clock = read, signature, clock
        self.max_age_s, self.min_reload_interval_s = max_age_s, min_reload_interval_s
        self.reads = 0
        # the parsed ring, stamped with the time of the last read (or failed read) of the source
        self._cache: TTLCache[None, KeyRing] = TTLCache(max_age_s, keep_stale=True, clock=clock)
        self._raw: str | None = None
        self._sig: Hashable = None
        self._lock = threading.Lock()

    def _load(self) -> KeyRing:
        sig = self.signature() if self.signature else None
        now = self.clock()
        held = self._cache.stale(None)
        try:
            raw = self.read()
        except UnavailableError:
            if held is None:
                raise
            self._cache.put(
                None, held, now=now
            )  # keep the last ring; retry after the interval, not per request
            return held
        finally:
            self.reads += 1
        ring = held
        if raw != self._raw or ring is None:
            ring, self._raw = KeyRing.from_json(raw), raw
        self._sig = sig
        self._cache.put(None, ring, now=now)
        return ring

    def ring(self) -> KeyRing:
        """The current ring: re-read if the file changed (file) or it is older than ``max_age_s``."""
        with self._lock:
            held = self._cache.stale(None)
            if held is None:
                return self._load()
            if self.signature is not None:
                if self.signature() != self._sig:
                    return self._load()
            elif self._cache.get(None) is None:
                return self._load()
            return held

    def check(self, header: str | None) -> tuple[KeyRecord | None, str]:
        """Like :meth:`KeyRing.check`, reloading a Vault ring (rate-limited) when the key id is unknown."""
        ring = self.ring()
        rec, why = ring.check(header)
        if why != UNKNOWN_KEY or self.signature is not None:
            return rec, why  # a file ring was just checked against its stat
        with self._lock:
            age = self._cache.age(None)
            if age is not None and age < self.min_reload_interval_s:
                return rec, why
            ring = self._load()
        return ring.check(header)
