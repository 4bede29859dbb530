"""``mlops audit``: verify the hash chain, read the history, ask what an alias or endpoint was at a time.

``mlops audit verify`` exits 1 when an entry was edited, removed or corrupted, naming each one, and says
whether the log is anchored (signed with a key kept outside the store); ``mlops audit anchor`` signs a
log written before it had an anchor key, after checking its chain.
"""

from __future__ import annotations

from mlops.cli.models import add_actor_flag, add_store_flag, open_registry
from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import BadRequestError, ConflictError
from mlops.names import validate_endpoint_name, validate_name


def cmd_verify(args) -> int:
    report = open_registry(args).audit.verify()
    anchor = report.get("anchor") or {}
    if args.json:
        print_json(report)
    elif report["ok"]:
        print(
            f"audit log intact: {report['entries']} entries, hash chain verified up to seq {report['last_seq']}"
        )
        if anchor.get("state") == "verified":
            print(f"anchor: {anchor['message']}")
        elif anchor:
            print(f"anchor: NOT CHECKED - {anchor.get('message')}")
    else:
        print(f"audit log TAMPERED: {len(report['problems'])} problem(s) in {report['entries']} entries")
        print(table(report["problems"], ["seq", "kind", "key", "message"]))
    return 0 if report["ok"] else 1


def cmd_anchor(args) -> int:
    """Sign a log written before it had an anchor key: check the chain, then append a signed entry."""
    reg = open_registry(args)
    if reg.audit.anchor is None:
        raise BadRequestError(
            "no audit anchor key is configured for this store (a local stack creates one; "
            "elsewhere set MLOPS_AUDIT_ANCHOR_SECRET)",
            code="no_anchor_key",
        )
    report = reg.audit.verify()
    blocking = [p for p in report["problems"] if p["kind"] != "unanchored"]
    if blocking:
        raise ConflictError(
            f"the audit log has {len(blocking)} problem(s) other than a missing signature "
            f"(first: {blocking[0]['message']}); `mlops audit verify` lists them - refusing to "
            "sign over them",
            code="audit_tampered",
        )
    if report["ok"]:
        print(f"audit log already anchored: {report['anchor']['message']}")
        return 0
    entry = reg.audit_event(
        None,
        "audit.anchor",
        "registry:audit",
        {"chain_verified_to": report["last_seq"], "entries": report["entries"]},
    )
    print(
        f"audit log anchored at entry {entry['seq']}: entries 1..{report['last_seq']} were verified "
        "and are now vouched for by a signed tip"
    )
    return 0


def cmd_history(args) -> int:
    reg = open_registry(args)
    subject = args.subject
    if args.model:
        subject = f"model:{validate_name(args.model, 'model')}"
    elif args.endpoint:
        subject = f"endpoint:{validate_endpoint_name(args.endpoint)}"
    entries = reg.audit.history(
        subject=subject, action=args.action, since=args.since, until=args.until, limit=args.limit
    )
    if args.json:
        print_json({"entries": entries})
        return 0
    rows = [
        {
            "seq": e["seq"],
            "ts": e["ts"],
            "actor": e["actor"],
            "action": e["action"],
            "subject": e["subject"],
            "details": _summary(e.get("details") or {}),
        }
        for e in entries
    ]
    print(table(rows, ["seq", "ts", "actor", "action", "subject", "details"]))
    return 0


def _summary(details: dict) -> str:
    state = details.get("state")
    if isinstance(state, dict):
        w = state.get("canary_weight_bp") or 0
        text = f"stable=v{state.get('stable_version')} canary={state.get('canary_version') or '-'} weight={w / 100:g}%"
        return text + (f" reason={details['reason']!r}" if details.get("reason") else "")
    keep = {k: v for k, v in details.items() if v not in (None, "", {}, []) and k not in ("generation",)}
    return " ".join(f"{k}={v}" for k, v in keep.items())[:120]


def cmd_at(args) -> int:
    reg = open_registry(args)
    if args.endpoint:
        answer = reg.audit.deployment_at(validate_endpoint_name(args.endpoint), args.time)
        if args.json:
            print_json(answer)
            return 0
        state = answer["state"]
        if state is None:
            print(f"endpoint {args.endpoint} had no deployment at {answer['at']}")
        else:
            print(
                table(
                    [
                        {
                            "endpoint": args.endpoint,
                            "at": answer["at"],
                            "stable": state.get("stable_version"),
                            "canary": state.get("canary_version"),
                            "weight": f"{(state.get('canary_weight_bp') or 0) / 100:g}%",
                            "since": answer["since"],
                            "by": answer.get("actor"),
                        }
                    ],
                    ["endpoint", "at", "stable", "canary", "weight", "since", "by"],
                )
            )
        return 0
    if not (args.model and args.alias):
        raise BadRequestError("give --model and --alias, or --endpoint", code="invalid_argument")
    answer = reg.audit.alias_at(
        validate_name(args.model, "model"), validate_name(args.alias, "alias"), args.time
    )
    if args.json:
        print_json(answer)
    else:
        print(table([answer], ["model", "alias", "at", "version", "since", "actor"]))
    return 0


def register(sub) -> None:
    p = sub.add_parser("audit", help="the tamper-evident audit log: verify, history, point-in-time questions")
    a = p.add_subparsers(dest="audit_command", metavar="ACTION")

    v = a.add_parser("verify", help="check every entry's hash and link; name what was edited or removed")
    add_store_flag(v)
    add_json_flag(v)
    v.set_defaults(func=cmd_verify)

    an = a.add_parser(
        "anchor", help="sign a log written before it had an anchor key (after checking its chain)"
    )
    add_store_flag(an)
    add_actor_flag(an)
    an.set_defaults(func=cmd_anchor)

    h = a.add_parser("history", help="entries, newest first")
    add_store_flag(h)
    add_json_flag(h)
    who = h.add_mutually_exclusive_group()
    who.add_argument("--model")
    who.add_argument("--endpoint")
    who.add_argument("--subject", help="e.g. model:churn or endpoint:churn")
    h.add_argument("--action", help="an action (alias.set) or a prefix ending in '.' (deployment.)")
    h.add_argument("--since", help="ISO 8601 time or epoch seconds")
    h.add_argument("--until", help="ISO 8601 time or epoch seconds")
    h.add_argument("--limit", type=int, default=50)
    h.set_defaults(func=cmd_history)

    t = a.add_parser("at", help="which version an alias (or an endpoint) pointed to at a time")
    add_store_flag(t)
    add_json_flag(t)
    t.add_argument("--model")
    t.add_argument("--alias")
    t.add_argument("--endpoint")
    t.add_argument("--time", required=True, help="ISO 8601 (2026-11-22T17:00:00Z) or epoch seconds")
    t.set_defaults(func=cmd_at)
    p.set_defaults(func=lambda a_: (p.print_help(), 2)[1])
