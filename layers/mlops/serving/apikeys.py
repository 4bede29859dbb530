"""API keys: random tokens shown once, stored only as salted SHA-256 hashes with principal and scopes.

Token format ``mlk_<id>_<secret>``: the id finds the record without scanning, the
secret is 192 random bits, so a salted fast hash is enough (as for GitHub tokens);
comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from mlops.errors import ConfigError

PREFIX = "mlk_"


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
        return {"id": self.id, "principal": self.principal, "scopes": list(self.scopes), "salt": self.salt,
                "hash": self.hash, "created_at": self.created_at, "disabled": self.disabled}


def _digest(salt: str, token: str) -> str:
    return hashlib.sha256((salt + token).encode()).hexdigest()


def new_api_key(principal: str, scopes: list[str] | tuple[str, ...]) -> tuple[str, KeyRecord]:
    """A fresh key: (the token to hand out once, the record to store)."""
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
            return cls([KeyRecord(r["id"], r["principal"], tuple(r.get("scopes") or ()), r["salt"], r["hash"],
                                  float(r.get("created_at", 0)), bool(r.get("disabled", False)))
                        for r in doc["keys"]])
        except (ValueError, KeyError, TypeError):
            raise ConfigError("the API-keys secret is not in the expected format "
                              '{"keys": [{"id", "principal", "scopes", "salt", "hash"}]}') from None

    def to_json(self) -> str:
        return json.dumps({"keys": [r.to_dict() for r in self.by_id.values()]})

    @staticmethod
    def _bare(token: str) -> str | None:
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        return token

    def key_id(self, token: str) -> str | None:
        """The key id a well-formed token names (whether or not it is valid)."""
        bare = self._bare(token) if token else None
        return bare[len(PREFIX):].split("_", 1)[0] if bare else None

    def verify(self, token: str | None) -> KeyRecord | None:
        """The record of a valid, enabled token; None otherwise (never raises on junk)."""
        if not token:
            return None
        token = self._bare(token)
        if token is None:
            return None
        kid = token[len(PREFIX):].split("_", 1)[0]
        rec = self.by_id.get(kid)
        if rec is None or rec.disabled:
            return None
        return rec if hmac.compare_digest(rec.hash, _digest(rec.salt, token)) else None
