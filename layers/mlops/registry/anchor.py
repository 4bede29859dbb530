"""The audit log's anchor: an HMAC key kept outside the store, so whoever can write the store cannot rewrite history.

The hash chain alone makes every entry vouch for the one before it, but nothing vouches for the
newest entry: someone with write access to the store could remove the last entries *and* rewrite
``audit-tip.json`` to the new last one, or rebuild the whole chain. With an anchor, every entry
carries ``mac`` = HMAC-SHA256(key, "entry" | its hash) and the tip carries HMAC-SHA256(key, "tip" |
seq | hash), with ``kid`` naming the key. The key lives in Vault in the cloud and in the secrets
file locally (read through the same ``SecretReader``), never in the store.

What it proves, and what it does not (``AuditLog.verify``): an entry or a tip nobody with the key
wrote is refused; a log whose tip is not signed is refused once an anchor key exists; but a tip
that *was* valid earlier can be put back by someone who saved it, cutting the entries written
after it. Only storage that refuses deletes stops that: the cloud's audit bucket has a retention
rule (WORM), so its entries cannot be deleted or overwritten while retained.

The secret's value is the key (at least 32 characters, e.g. ``secrets.token_hex(32)``) or a JSON
list of keys: the first signs, all verify (key rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from mlops.errors import ConfigError, MlopsError

MIN_KEY_CHARS = 32
_ENTRY = b"mlops-audit-entry\n"
_TIP = b"mlops-audit-tip\n"


def new_anchor_key() -> str:
    """A fresh random key (64 hex characters) for the anchor secret."""
    return secrets.token_hex(32)


def _kid(key: bytes) -> str:
    return hmac.new(key, b"mlops-audit-key-id", hashlib.sha256).hexdigest()[:16]


def parse_keys(value: str) -> list[bytes]:
    """The keys in a secret value: one key, or a JSON list of keys (the first signs)."""
    raw: Any = value.strip()
    if raw.startswith("["):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigError("the audit anchor secret is neither a key nor a JSON list of keys") from None
    keys = raw if isinstance(raw, list) else [raw]
    if not keys or any(not isinstance(k, str) or len(k) < MIN_KEY_CHARS for k in keys):
        raise ConfigError(f"the audit anchor secret must hold keys of at least {MIN_KEY_CHARS} characters")
    return [k.encode() for k in keys]


class AuditAnchor:
    """Signs and checks audit entries and the tip. The key is read once, on first use, through ``reader``."""

    def __init__(
        self,
        keys: Sequence[bytes] | None = None,
        *,
        reader: Any = None,
        secret: str | None = None,
        label: str = "",
    ) -> None:
        if keys is None and (reader is None or not secret):
            raise ConfigError("an audit anchor needs keys or a secret reader and a secret name")
        self._keys: dict[str, bytes] | None = None
        self._signing: tuple[str, bytes] | None = None
        self._reader, self._secret = reader, secret
        self._lock = threading.Lock()
        self.label = label or (f"secret {secret}" if secret else "given key")
        if keys is not None:
            self._load(list(keys))

    @classmethod
    def from_key(cls, key: str) -> AuditAnchor:
        return cls(parse_keys(key))

    def _load(self, keys: list[bytes]) -> None:
        self._keys = {_kid(k): k for k in keys}
        self._signing = (_kid(keys[0]), keys[0])

    def _ready(self) -> None:
        if self._keys is not None:
            return
        with self._lock:
            if self._keys is None:
                self._load(parse_keys(self._reader.get(self._secret)))

    @property
    def kid(self) -> str:
        """The id of the signing key (not secret: an HMAC of a constant under the key)."""
        self._ready()
        return self._signing[0]  # type: ignore[index]

    def _mac(self, kid: str, msg: bytes) -> str | None:
        self._ready()
        key = self._keys.get(kid)  # type: ignore[union-attr]
        return None if key is None else hmac.new(key, msg, hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ signing
    def sign_entry(self, entry: dict[str, Any]) -> None:
        """Add ``kid`` and ``mac`` to an entry whose ``hash`` is set."""
        kid = self.kid
        entry["kid"], entry["mac"] = kid, self._mac(kid, _ENTRY + str(entry["hash"]).encode())

    @staticmethod
    def _tip_message(tip: Mapping[str, Any]) -> bytes:
        return _TIP + f"{int(tip['seq'])}\n{tip['hash']}\n{int(tip['anchored_from'])}".encode()

    def sign_tip(self, tip: dict[str, Any]) -> None:
        """Add ``kid`` and ``mac`` over the tip's ``seq``, ``hash`` and ``anchored_from``."""
        kid = self.kid
        tip["kid"], tip["mac"] = kid, self._mac(kid, self._tip_message(tip))

    # ------------------------------------------------------------------ checking
    def entry_ok(self, entry: Mapping[str, Any]) -> bool:
        want = self._mac(str(entry.get("kid")), _ENTRY + str(entry.get("hash")).encode())
        return (
            want is not None and isinstance(entry.get("mac"), str) and hmac.compare_digest(want, entry["mac"])
        )

    def tip_ok(self, tip: Mapping[str, Any]) -> bool:
        try:
            msg = self._tip_message(tip)
        except (KeyError, TypeError, ValueError):
            return False
        want = self._mac(str(tip.get("kid")), msg)
        return want is not None and isinstance(tip.get("mac"), str) and hmac.compare_digest(want, tip["mac"])

    def knows(self, kid: Any) -> bool:
        self._ready()
        return isinstance(kid, str) and kid in self._keys  # type: ignore[operator]


def anchor_from_secret(reader: Any, name: str | None) -> AuditAnchor | None:
    """An anchor whose key is the secret ``name`` (read lazily through ``reader``), or None without a name."""
    if not name:
        return None
    return AuditAnchor(reader=reader, secret=name)


def anchor_from_env(environ: Mapping[str, str], reader: Any) -> AuditAnchor | None:
    """The anchor a function uses: the secret named by ``MLOPS_AUDIT_ANCHOR_SECRET`` (None when unset)."""
    from mlops import envvars as ev

    return anchor_from_secret(reader, ev.get(environ, ev.AUDIT_ANCHOR_SECRET))


def warn(message: str) -> None:
    """One log line (stderr, JSON like the functions' other lines) about an anchoring problem."""
    print(json.dumps({"level": "WARNING", "msg": message}), file=sys.stderr, flush=True)


def safe_error(exc: BaseException) -> str:
    """A description of a key-reading failure that never contains the key."""
    return f"{type(exc).__name__}: {exc.message}" if isinstance(exc, MlopsError) else type(exc).__name__
