"""The append-only, hash-chained audit log: one entry per registry change, tamper-evident.

Each entry is its own object ``audit/<seq:012d>.json``, created exclusively, so two writers can
never both append entry N: the loser re-reads the head and tries N+1. An entry is::

    {"seq": 7, "id": "<uuid hex>", "ts": "2026-11-22T17:00:00.123Z", "actor": "alice",
     "action": "alias.set", "subject": "model:churn", "details": {...},
     "prev_hash": "<hash of entry 6>", "hash": "<sha256 of this entry without 'hash'>"}

``ts`` never decreases along the chain (an entry takes ``max(now, previous ts)``), so time
queries can binary-search by seq. ``verify`` recomputes every hash and link and names the
entry that was edited, removed or corrupted (the checks are ``mlops.registry.auditverify``);
``audit-tip.json`` (the newest seq and hash)
also exposes entries cut off the end. Time queries answer "which version did alias A of
model M point to at T" and "what did endpoint E serve at T" from the log alone.

Whoever can write the store can write both the entries and the tip, so the chain is anchored
outside the writer's reach: with an ``AuditAnchor`` (``mlops.registry.anchor``, an HMAC key in
Vault / the secrets file) every entry and the tip are signed and ``verify`` refuses what the key
did not sign; in the cloud the entries also live in their own bucket (``entries_store``) whose
retention rule refuses deletes and overwrites (WORM), while the tip stays in the registry bucket.
A store written without an anchor stays readable; ``verify`` says that it is not anchored.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from mlops.errors import ConflictError, IntegrityError, NotFoundError
from mlops.registry import anchor as anchoring
from mlops.registry import auditverify, records
from mlops.registry.anchor import AuditAnchor
from mlops.registry.auditverify import GENESIS, entry_hash
from mlops.registry.keys import (
    AUDIT_PREFIX,
    AUDIT_TIP,
    audit_key,
    endpoint_subject,
    model_subject,
    seq_of_audit_key,
)
from mlops.storage.base import JSON_CONTENT_TYPE, ObjectStore, put_once

__all__ = ["GENESIS", "AuditLog", "audit_store_from_env", "entry_hash"]

SETTLE_S = 300.0  # how much later than its commit a writer may append a change's entry (see _scan_back)
MAX_APPEND_ATTEMPTS = 10_000
MAX_CACHED_ENTRIES = 20_000


def _gen(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _epoch(ts: str) -> float:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class AuditLog:
    """Append, read, verify and query the audit log in one store (thread-safe; shareable)."""

    def __init__(
        self,
        store: ObjectStore,
        clock: Callable[[], float],
        *,
        anchor: AuditAnchor | None = None,
        entries_store: ObjectStore | None = None,
    ):
        """``entries_store`` holds the entries when they live apart from the tip (the cloud's audit bucket,
        whose retention rule refuses deletes and overwrites); by default both live in ``store``."""
        self.store = store
        self.entry_store = entries_store if entries_store is not None else store
        self.clock = clock
        self.anchor = anchor
        self._lock = threading.Lock()
        self._head: tuple[int, str, str] | None = None  # (seq, hash, ts) of the newest entry we know
        self._cache: dict[int, dict[str, Any]] = {}  # entries read for queries (immutable once written)
        self._parallel = type(self.entry_store).__name__ != "FileStore"

    # ------------------------------------------------------------------ append

    def _read_tip(self) -> tuple[int, str, str] | None:
        doc = records.read(self.store, AUDIT_TIP)
        if doc is None:
            return None
        d = doc.data
        try:
            return int(d["seq"]), str(d["hash"]), str(d["ts"])
        except (KeyError, TypeError, ValueError):
            raise IntegrityError(
                f"metadata object {AUDIT_TIP} is corrupt (needs seq, hash, ts)",
                code="corrupt_metadata",
                details={"key": AUDIT_TIP},
            ) from None

    def _entry_at(self, seq: int) -> dict[str, Any] | None:
        doc = records.read(self.entry_store, audit_key(seq))
        return doc.data if doc else None

    def _head_from(self, seq: int) -> tuple[int, str, str]:
        entry = self._entry_at(seq)
        if entry is None:
            raise IntegrityError(
                f"audit entry {audit_key(seq)} disappeared while appending",
                code="audit_broken",
                details={"key": audit_key(seq)},
            )
        return seq, str(entry.get("hash")), str(entry.get("ts"))

    def _discover_head(self) -> tuple[int, str, str]:
        tip = self._read_tip()
        if tip is not None:
            return tip
        last = None
        for key in self.entry_store.list(AUDIT_PREFIX):
            s = seq_of_audit_key(key)
            if s is not None:
                last = s
        if last is None:
            return 0, GENESIS, ""
        return self._head_from(last)

    def append(
        self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Append one entry after the newest one; concurrent appenders are serialized by create-exclusive."""
        with self._lock:
            head = self._head or self._discover_head()
        jumped_to_tip = False

        def once(_attempt: int) -> dict[str, Any]:
            nonlocal head, jumped_to_tip
            seq, prev_hash, prev_ts = head
            now = records.iso(self.clock())
            entry = {
                "seq": seq + 1,
                "id": uuid.uuid4().hex,
                "ts": max(now, prev_ts),
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": details or {},
                "prev_hash": prev_hash,
            }
            entry["hash"] = entry_hash(entry)
            self._sign(entry)
            payload = records.dumps(entry)
            try:
                records.put_or_lose(
                    lambda: put_once(
                        self.entry_store,
                        audit_key(seq + 1),
                        payload,
                        if_none_match=True,
                        content_type=JSON_CONTENT_TYPE,
                    )
                )
            except records.LostRace:
                existing = self.entry_store.get(audit_key(seq + 1))  # needed anyway: the new head's hash
                if existing.data != payload:
                    # Someone else appended seq+1. Jump to the tip once (cheap when we are far behind),
                    # then walk forward entry by entry.
                    tip = None if jumped_to_tip else self._read_tip()
                    jumped_to_tip = True
                    head = tip if tip is not None and tip[0] > seq + 1 else self._head_from(seq + 1)
                    raise
            self._appended(entry)
            return entry

        return records.retry_lost_races(
            once,
            attempts=MAX_APPEND_ATTEMPTS,
            exhausted=lambda: ConflictError(
                "could not append to the audit log: too many concurrent writers", code="too_much_contention"
            ),
        )

    def _appended(self, entry: dict[str, Any]) -> None:
        """Remember our entry as the head (and in the cache) and move the tip to it."""
        with self._lock:
            if self._head is None or self._head[0] < entry["seq"]:
                self._head = (entry["seq"], entry["hash"], entry["ts"])
        if len(self._cache) < MAX_CACHED_ENTRIES:
            self._cache[entry["seq"]] = entry
        self._advance_tip(entry)

    def _sign(self, entry: dict[str, Any]) -> None:
        if self.anchor is None:
            return
        try:
            self.anchor.sign_entry(entry)
        except Exception as exc:  # noqa: BLE001 - the change is committed; its entry must still be written
            anchoring.warn(
                f"audit entry {entry['seq']} ({entry['action']}) is written WITHOUT its anchor "
                f"signature: the anchor key could not be read ({anchoring.safe_error(exc)}); "
                "`mlops audit verify` will report it as unsigned"
            )

    def _advance_tip(self, entry: dict[str, Any]) -> None:
        """Best effort: move ``audit-tip.json`` forward to ``entry`` unless it is already further.

        With an anchor the tip is signed and remembers ``anchored_from``, the first signed entry
        (entries before it were written before the log had an anchor). A writer without the key
        never replaces a signed tip, and a signed tip is never replaced by an unsigned one."""
        signed = self.anchor is not None and "mac" in entry

        def change(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if cur is not None and int(cur.get("seq", 0)) >= entry["seq"]:
                return None
            if not signed and cur is not None and "mac" in cur:
                return None
            tip: dict[str, Any] = {"seq": entry["seq"], "hash": entry["hash"], "ts": entry["ts"]}
            if signed:
                since = cur.get("anchored_from") if cur is not None and "mac" in cur else None
                tip["anchored_from"] = (
                    since
                    if isinstance(since, int) and not isinstance(since, bool) and 0 < since <= entry["seq"]
                    else entry["seq"]
                )
                self.anchor.sign_tip(tip)  # type: ignore[union-attr]
            return tip

        try:
            records.update(self.store, AUDIT_TIP, change, attempts=8, what="audit tip")
        except (ConflictError, IntegrityError):
            pass  # a later appender moves it further; verify() does not depend on the tip being current

    # ------------------------------------------------------------------ reading

    def last_seq(self) -> int:
        """The newest entry's seq (0 when the log is empty)."""
        keys = [
            s for s in (seq_of_audit_key(k) for k in self.entry_store.list(AUDIT_PREFIX)) if s is not None
        ]
        return max(keys, default=0)

    def _fetch(self, seqs: Iterable[int], *, use_cache: bool = True) -> dict[int, dict[str, Any] | None]:
        seqs = list(seqs)
        out: dict[int, dict[str, Any] | None] = {}
        todo = []
        for s in seqs:
            if use_cache and s in self._cache:
                out[s] = self._cache[s]
            else:
                todo.append(s)

        def one(s: int) -> tuple[int, dict[str, Any] | None]:
            return s, self._entry_at(s)

        if self._parallel and len(todo) > 4:
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(one, todo))
        else:
            results = [one(s) for s in todo]
        if use_cache and len(self._cache) + len(results) > MAX_CACHED_ENTRIES:
            self._cache.clear()  # bounded memory in a long-lived function container
        for s, e in results:
            out[s] = e
            if e is not None and use_cache:
                self._cache[s] = e
        return out

    def entries(self, *, since_seq: int = 0, until_seq: int | None = None) -> Iterator[dict[str, Any]]:
        """Entries with ``since_seq < seq <= until_seq`` in seq order (parsed, not verified)."""
        last = self.last_seq() if until_seq is None else until_seq
        batch = 64
        s = since_seq + 1
        while s <= last:
            chunk = range(s, min(last, s + batch - 1) + 1)
            got = self._fetch(chunk)
            for q in chunk:
                e = got[q]
                if e is not None:
                    yield e
            s += batch

    def history(
        self,
        *,
        subject: str | None = None,
        action: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first: entries matching subject / action (exact, or a prefix ending in '.'), time range."""
        since_ts = records.parse_time(since) if since is not None else None
        until_ts = records.parse_time(until) if until is not None else None
        last = self.last_seq()
        top = (
            min(before_seq - 1, last) if before_seq else last
        )  # a seq past the end scans nothing that is not there
        out: list[dict[str, Any]] = []
        s = top
        batch = 64
        while s >= 1 and len(out) < limit:
            chunk = list(range(s, max(0, s - batch), -1))
            got = self._fetch(chunk)
            for q in chunk:
                e = got[q]
                if e is None:
                    continue
                if since_ts and e.get("ts", "") < since_ts:
                    return out
                if until_ts and e.get("ts", "") > until_ts:
                    continue
                if subject and e.get("subject") != subject:
                    continue
                if action and not (
                    e.get("action") == action
                    or (action.endswith(".") and str(e.get("action", "")).startswith(action))
                ):
                    continue
                out.append(e)
                if len(out) >= limit:
                    break
            s -= batch
        return out

    def _last_seq_at_or_before(self, ts: str) -> int:
        """Binary search (ts is monotonic in seq): the newest seq whose ts <= ``ts`` (0 if none)."""
        lo, hi = 1, self.last_seq()
        found = 0
        while lo <= hi:
            mid = (lo + hi) // 2
            e = self._fetch([mid])[mid]
            probe = mid
            while e is None and probe > lo:  # a removed entry: look just below it
                probe -= 1
                e = self._fetch([probe])[probe]
            if e is None or e.get("ts", "") <= ts:
                found = max(found, probe if e is not None else found)
                lo = mid + 1
            else:
                hi = probe - 1
        return found

    def _scan_back(
        self, start: int, match: Callable[[dict[str, Any]], bool], generation: Callable[[dict[str, Any]], Any]
    ) -> dict[str, Any] | None:
        """The matching entry at or before seq ``start`` that recorded the newest change of its record.

        A change is committed to its record first and appended here right after, so two writers can
        append in the opposite order of their commits. Each entry carries the record's generation; among
        the matches up to ``SETTLE_S`` seconds older than the newest match, the highest generation wins.
        """
        s = start
        batch = 64
        best: dict[str, Any] | None = None
        cutoff = ""
        while s >= 1:
            chunk = list(range(s, max(0, s - batch), -1))
            got = self._fetch(chunk)
            for q in chunk:
                e = got[q]
                if e is None:
                    continue
                if best is not None and str(e.get("ts", "")) < cutoff:
                    return best
                if match(e) and (best is None or _gen(generation(e)) > _gen(generation(best))):
                    if best is None:
                        cutoff = records.iso(_epoch(str(e.get("ts", ""))) - SETTLE_S)
                    best = e
            s -= batch
        return best

    def alias_at(self, model: str, alias: str, at: Any) -> dict[str, Any]:
        """Which version alias ``alias`` of ``model`` pointed to at time ``at``:
        ``{"model", "alias", "at", "version" (None if unset), "since", "seq", "actor"}``."""
        ts = records.parse_time(at)
        subject = model_subject(model)

        def match(e: dict[str, Any]) -> bool:
            return (
                e.get("subject") == subject
                and e.get("action") in ("alias.set", "alias.delete")
                and (e.get("details") or {}).get("alias") == alias
            )

        e = self._scan_back(
            self._last_seq_at_or_before(ts), match, lambda e: (e.get("details") or {}).get("generation")
        )
        if e is None:
            return {
                "model": model,
                "alias": alias,
                "at": ts,
                "version": None,
                "since": None,
                "seq": None,
                "actor": None,
            }
        version = e["details"].get("version") if e["action"] == "alias.set" else None
        return {
            "model": model,
            "alias": alias,
            "at": ts,
            "version": version,
            "since": e["ts"],
            "seq": e["seq"],
            "actor": e.get("actor"),
        }

    def deployment_at(self, endpoint: str, at: Any) -> dict[str, Any]:
        """What endpoint ``endpoint`` served at time ``at``: the deployment state recorded by the newest
        ``deployment.*`` entry at or before ``at`` (``state`` is None before the first deploy)."""
        ts = records.parse_time(at)
        subject = endpoint_subject(endpoint)

        def match(e: dict[str, Any]) -> bool:
            return e.get("subject") == subject and str(e.get("action", "")).startswith("deployment.")

        e = self._scan_back(
            self._last_seq_at_or_before(ts),
            match,
            lambda e: ((e.get("details") or {}).get("state") or {}).get("generation"),
        )
        if e is None:
            return {"endpoint": endpoint, "at": ts, "state": None, "since": None, "seq": None, "action": None}
        return {
            "endpoint": endpoint,
            "at": ts,
            "state": (e.get("details") or {}).get("state"),
            "since": e["ts"],
            "seq": e["seq"],
            "action": e["action"],
            "actor": e.get("actor"),
        }

    # ------------------------------------------------------------------ verification

    def verify(self) -> dict[str, Any]:
        """Re-read every entry (no cache) and check hashes, links, seq numbers, the tip and the anchor.

        Returns ``{"ok", "entries", "last_seq", "anchor": {"state", "message", ...}, "problems": [{"seq",
        "kind", "key", "message"}]}`` where kind is ``edited`` | ``missing`` | ``corrupt`` | ``misplaced`` |
        ``truncated`` | ``stray`` | ``forged`` (a signature the anchor key did not make) | ``unsigned`` (an
        entry after the anchor took over, without a signature) | ``unanchored`` (a non-empty log whose tip
        is missing or unsigned while an anchor key exists). The anchor state is ``verified``, ``failed``,
        ``absent`` (no key here and nothing signed: a cut tail with a rewritten tip would go unnoticed)
        or ``unchecked`` (signed, but no key here to check the signatures).
        """
        return auditverify.verify(
            auditverify.LogView(
                self.store,
                self.entry_store,
                self.anchor,
                lambda seqs: self._fetch(seqs, use_cache=False),
                self._entry_at,
                self._read_tip,
            )
        )

    def require(self, seq: int) -> dict[str, Any]:
        e = self._fetch([seq])[seq]
        if e is None:
            raise NotFoundError(f"audit entry {seq} does not exist", code="not_found")
        return e


def audit_store_from_env(environ: Any, store_config: Any, secrets: Any) -> ObjectStore | None:
    """The audit bucket named by ``MLOPS_AUDIT_BUCKET`` (same location and credentials as the registry
    store, another bucket), or None when the entries live in the registry store."""
    from dataclasses import replace

    from mlops import envvars as ev
    from mlops.storage import open_store

    bucket = ev.get(environ, ev.AUDIT_BUCKET)
    if not bucket:
        return None
    return open_store(replace(store_config, bucket=bucket), secrets)
