"""Verifying the audit log: every entry re-read and checked for its hash, its link to the previous entry,
its seq, the tip that vouches for the end of the log, and the anchor signatures.

``verify(view)`` reads the log through ``LogView`` (the stores, the anchor and uncached readers of
``mlops.registry.audit.AuditLog``) and returns the report ``AuditLog.verify`` documents. The entry
hash and the genesis link live here too, since both writing and verifying need them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import IntegrityError, UnavailableError
from mlops.registry import anchor as anchoring
from mlops.registry import records
from mlops.registry.anchor import AuditAnchor
from mlops.registry.keys import AUDIT_PREFIX, AUDIT_TIP, audit_key, seq_of_audit_key
from mlops.storage.base import ObjectStore

GENESIS = "0" * 64
ANCHOR_KINDS = ("forged", "unsigned", "unanchored")
FIELDS = ("seq", "id", "ts", "actor", "action", "subject", "details", "prev_hash")
Entries = dict[int, dict[str, Any] | None]


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the entry's fields except ``hash``."""
    return hashlib.sha256(records.dumps({k: entry.get(k) for k in FIELDS})).hexdigest()


@dataclass(frozen=True)
class LogView:
    """What verification reads: the tip's store, the entries' store, the anchor (or None), ``fetch(seqs)``
    (uncached; ``IntegrityError`` if one is corrupt), ``entry_at(seq)`` and ``read_tip()`` ((seq, hash, ts))."""

    store: ObjectStore
    entry_store: ObjectStore
    anchor: AuditAnchor | None
    fetch: Callable[[Sequence[int]], Entries]
    entry_at: Callable[[int], dict[str, Any] | None]
    read_tip: Callable[[], tuple[int, str, str] | None]


@dataclass
class _Problems:
    items: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, seq: int | None, kind: str, message: str, key: str | None = None) -> None:
        self.items.append(
            {
                "seq": seq,
                "kind": kind,
                "key": key if key is not None else (audit_key(seq) if seq else None),
                "message": message,
            }
        )

    def unique(self) -> list[dict[str, Any]]:
        """One problem per entry and kind (the first, most specific message), in seq order."""
        seen: set[tuple[Any, str]] = set()
        out = []
        for p in self.items:
            mark = (p["seq"] if p["seq"] is not None else p["key"], p["kind"])
            if mark not in seen:
                seen.add(mark)
                out.append(p)
        out.sort(key=lambda p: (p["seq"] is None, p["seq"] or 0))
        return out


def verify(view: LogView) -> dict[str, Any]:
    """The verification report (see ``AuditLog.verify``)."""
    problem = _Problems()
    seqs = _list_seqs(view, problem)
    raw, corrupt = _read_all(view, seqs, problem)
    _check_chain(seqs, raw, corrupt, problem)
    last = seqs[-1] if seqs else 0
    tip_doc = _check_tip(view, last, raw, problem)
    anchor = _verify_anchor(view, seqs, raw, tip_doc, problem)
    unique = problem.unique()
    if anchor["state"] == "verified" and any(p["kind"] in ANCHOR_KINDS for p in unique):
        anchor["state"] = "failed"
    return {"ok": not unique, "entries": len(seqs), "last_seq": last, "anchor": anchor, "problems": unique}


def _list_seqs(view: LogView, problem: _Problems) -> list[int]:
    seqs = []
    for key in view.entry_store.list(AUDIT_PREFIX):
        s = seq_of_audit_key(key)
        if s is None:
            problem(None, "stray", f"object {key} under {AUDIT_PREFIX} is not an audit entry", key)
        else:
            seqs.append(s)
    seqs.sort()
    return seqs


def _read_all(view: LogView, seqs: list[int], problem: _Problems) -> tuple[Entries, set[int]]:
    """Every entry, re-read; a corrupt one is None, reported and listed in the returned set."""
    raw: Entries = {}
    corrupt: set[int] = set()
    for chunk_start in range(0, len(seqs), 256):
        chunk = seqs[chunk_start : chunk_start + 256]
        try:
            raw.update(view.fetch(chunk))
        except IntegrityError:
            for s in chunk:  # find the corrupt ones one by one
                try:
                    raw[s] = view.entry_at(s)
                except IntegrityError as exc:
                    raw[s] = None
                    corrupt.add(s)
                    problem(s, "corrupt", f"entry {s} is corrupt: {exc.message}")
    return raw, corrupt


def _check_chain(seqs: list[int], raw: Entries, corrupt: set[int], problem: _Problems) -> None:
    """Seq numbers without gaps, each entry's hash, and each link to the previous entry."""
    expected = 1
    prev: dict[str, Any] | None = None
    prev_seq = 0
    for s in seqs:
        if s > expected:
            gone = f"entry {expected} is" if s - 1 == expected else f"entries {expected}..{s - 1} are"
            for m in range(expected, s):
                problem(m, "missing", f"entry {m} is missing: {gone} gone from the chain before entry {s}")
        entry = raw.get(s)
        expected = s + 1
        if entry is None:
            if s not in corrupt:
                problem(s, "missing", f"entry {s} disappeared while verifying")
            prev, prev_seq = None, s
            continue
        if entry.get("seq") != s:
            problem(s, "misplaced", f"entry stored as {audit_key(s)} says it is seq {entry.get('seq')!r}")
        if entry_hash(entry) != entry.get("hash"):
            problem(s, "edited", f"entry {s} was edited: its content no longer matches its hash")
        else:  # an intact entry vouches for its predecessor (an edited one vouches for nothing)
            if prev is not None and prev_seq == s - 1 and entry.get("prev_hash") != prev.get("hash"):
                problem(
                    s - 1,
                    "edited",
                    f"entry {s - 1} was altered or replaced: entry {s}'s prev_hash "
                    f"does not match entry {s - 1}'s hash",
                )
            if s == 1 and entry.get("prev_hash") != GENESIS:
                problem(1, "edited", "entry 1 does not start the chain (prev_hash is not the genesis hash)")
            if prev is not None and str(entry.get("ts", "")) < str(prev.get("ts", "")):
                problem(s, "edited", f"entry {s}'s time {entry.get('ts')} is before entry {prev_seq}'s")
        prev, prev_seq = entry, s


def _check_tip(view: LogView, last: int, raw: Entries, problem: _Problems) -> dict[str, Any] | None:
    """The tip against the end of the log (entries cut off, the newest one changed); returns the tip doc."""
    tip_doc: dict[str, Any] | None = None
    try:
        tip = view.read_tip()
        if tip is not None:
            tip_doc = records.read(view.store, AUDIT_TIP).data  # type: ignore[union-attr]
    except (IntegrityError, AttributeError) as exc:
        tip = None
        problem(None, "corrupt", getattr(exc, "message", f"{AUDIT_TIP} is corrupt"), AUDIT_TIP)
    if tip is not None:
        t_seq, t_hash, _ts = tip
        at_tip = raw.get(t_seq)
        if t_seq > last:
            gone = f"entry {t_seq} was" if t_seq == last + 1 else f"entries {last + 1}..{t_seq} were"
            for m in range(last + 1, t_seq + 1):
                problem(
                    m,
                    "truncated",
                    f"entry {m} is missing: the log ends at {last} but {AUDIT_TIP} "
                    f"records entry {t_seq} ({gone} removed from the end)",
                )
        elif at_tip is not None and at_tip.get("hash") != t_hash:
            problem(
                t_seq,
                "edited",
                f"entry {t_seq} was altered: its hash differs from the one {AUDIT_TIP} recorded",
            )
    return tip_doc


def _verify_anchor(
    view: LogView, seqs: list[int], raw: Entries, tip: dict[str, Any] | None, problem: _Problems
) -> dict[str, Any]:
    """Check every signature against the anchor key; returns the report's ``anchor`` section."""
    anchor = view.anchor
    if anchor is None:
        signed = any("mac" in (raw.get(s) or {}) or "kid" in (raw.get(s) or {}) for s in seqs) or (
            tip is not None and "mac" in tip
        )
        if signed:
            return {
                "state": "unchecked",
                "message": "the log is signed, but no anchor key is configured here, "
                "so the signatures were not checked: run verify where the key is readable",
            }
        return {
            "state": "absent",
            "message": "no anchor key is configured: the hash chain is checked, but "
            "removing the newest entries together with audit-tip.json would go unnoticed",
        }
    try:
        anchor.kid  # noqa: B018 - reads the key once
    except Exception as exc:  # noqa: BLE001 - any failure to read the key is the same answer
        raise UnavailableError(
            f"cannot verify the audit log: its anchor key ({anchor.label}) cannot be read "
            f"({anchoring.safe_error(exc)})",
            code="anchor_unavailable",
        ) from None
    tip_ok = tip is not None and "mac" in tip and anchor.tip_ok(tip)
    since = tip.get("anchored_from") if tip is not None and tip_ok else None
    if not isinstance(since, int):
        since = next((s for s in seqs if "mac" in (raw.get(s) or {})), None)
    _check_signatures(anchor, seqs, raw, since, problem)
    _check_tip_signature(seqs, tip, tip_ok, problem)
    return {
        "state": "verified",
        "message": f"signed with the anchor key ({anchor.label}) from entry {since}"
        if since
        else "nothing is signed yet",
        "anchored_from": since,
        "tip_seq": tip.get("seq") if tip is not None and tip_ok else None,
    }


def _check_signatures(
    anchor: AuditAnchor, seqs: list[int], raw: Entries, since: int | None, problem: _Problems
) -> None:
    for s in seqs:
        e = raw.get(s)
        if e is None:
            continue
        if "mac" in e or "kid" in e:
            if not anchor.knows(e.get("kid")):
                problem(
                    s,
                    "forged",
                    f"entry {s} is signed with a key this anchor does not hold "
                    f"(kid {str(e.get('kid'))[:20]!r})",
                )
            elif not anchor.entry_ok(e):
                problem(
                    s,
                    "forged",
                    f"entry {s}'s signature does not match its content: it was changed or "
                    "written without the anchor key",
                )
        elif since is not None and s >= since:
            problem(
                s,
                "unsigned",
                f"entry {s} has no signature although the log is signed from entry {since}: "
                "written without the anchor key, or forged",
            )


def _check_tip_signature(
    seqs: list[int], tip: dict[str, Any] | None, tip_ok: bool, problem: _Problems
) -> None:
    if seqs and tip is None:
        problem(
            None,
            "unanchored",
            f"{AUDIT_TIP} is missing: nothing vouches for the end of the log (entries may have been cut off)",
            AUDIT_TIP,
        )
    elif tip is not None and "mac" not in tip:
        problem(
            None,
            "unanchored",
            f"{AUDIT_TIP} is not signed: the log was written before it had an anchor "
            "key (any change, or `mlops audit anchor`, signs it), or the signed tip "
            "was replaced to hide entries cut off the end",
            AUDIT_TIP,
        )
    elif tip is not None and not tip_ok:
        problem(
            None,
            "forged",
            f"{AUDIT_TIP} was rewritten: its signature does not match its seq and hash "
            "(e.g. to hide entries cut off the end)",
            AUDIT_TIP,
        )
