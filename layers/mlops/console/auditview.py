"""The audit log for the console: search by model / endpoint / actor / action / time with a paging cursor,
the chain's verification, and "what served endpoint E at time T" with the versions' lineage."""

from __future__ import annotations

import threading
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.errors import NotFoundError
from mlops.registry.keys import endpoint_subject, model_subject
from mlops.times import iso

ACTOR_SCAN = 5000  # entries searched per page when filtering by actor (the log has no actor index)
VERIFY_TTL_S = 60.0  # a verification re-reads the whole log: the console shows one at most this old
_verify_lock = threading.Lock()


def verify(src: ConsoleSources, *, fresh: bool) -> dict[str, Any]:
    """The chain's verification (``AuditLog.verify``: every entry re-read, hashes, links, anchor), kept for
    ``VERIFY_TTL_S`` seconds unless ``fresh``; ``checked_at`` says when it ran, ``cached`` whether it is
    the kept one. Verifying costs O(entries) reads, so a page that polls must not pay it each time."""
    now = float(src.clock())
    with _verify_lock:
        hit = src.kept.get("audit_verify")
        if hit is not None and not fresh and 0 <= now - hit[0] < VERIFY_TTL_S:
            return {**hit[1], "cached": True}
        result = {**src.registry.audit.verify(), "checked_at": iso(now)}
        src.kept["audit_verify"] = (now, result)
    return {**result, "cached": False}


def search(
    src: ConsoleSources,
    *,
    model: str | None,
    endpoint: str | None,
    actor: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    before_seq: int | None,
) -> dict[str, Any]:
    subject = model_subject(model) if model else (endpoint_subject(endpoint) if endpoint else None)
    audit = src.registry.audit
    kwargs: dict[str, Any] = {"subject": subject, "action": action, "since": since, "until": until}
    if not actor:
        entries = audit.history(limit=limit, before_seq=before_seq, **kwargs)
        more = len(entries) == limit
    else:
        entries, cursor, scanned = [], before_seq, 0
        while len(entries) < limit and scanned < ACTOR_SCAN:
            page = audit.history(limit=200, before_seq=cursor, **kwargs)
            if not page:
                break
            scanned += len(page)
            entries.extend(e for e in page if e.get("actor") == actor)
            cursor = page[-1]["seq"]
        entries = entries[:limit]
        more = len(entries) == limit or scanned >= ACTOR_SCAN
    next_before = entries[-1]["seq"] if entries and more and entries[-1]["seq"] > 1 else None
    return {"entries": entries, "next_before_seq": next_before}


def served_at(src: ConsoleSources, endpoint: str, at: str) -> dict[str, Any]:
    out = dict(src.registry.audit.deployment_at(endpoint, at))
    state = out.get("state") or {}
    versions: dict[str, Any] = {}
    for variant in ("stable", "canary", "shadow"):
        v = state.get(f"{variant}_version")
        versions[variant] = None
        if v and state.get("model"):
            try:
                rec = src.registry.get_version(state["model"], v)
            except NotFoundError:
                versions[variant] = {"version": v, "missing": True}
                continue
            versions[variant] = {
                "version": v,
                "code_commit": rec.get("code_commit"),
                "training_data_digest": rec.get("training_data_digest"),
                "created_at": rec.get("created_at"),
                "created_by": rec.get("created_by"),
            }
    out["versions"] = versions
    return out
