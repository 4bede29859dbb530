"""``mlops deploy``: stable, canary (weighted), weight, promote, rollback, shadow, status, history."""

from __future__ import annotations

from mlops.cli.common import add_actor_flag, registry_for, stack_settings
from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import BadRequestError


def _weight_bp(args) -> int:
    if getattr(args, "weight_bp", None) is not None:
        if not 0 <= args.weight_bp <= 10_000:
            raise BadRequestError(f"--weight-bp is 0..10000, got {args.weight_bp}", code="invalid_weight")
        return args.weight_bp
    percent = 10.0 if args.weight is None else args.weight
    if not 0 <= percent <= 100:
        raise BadRequestError(f"--weight is a percentage from 0 to 100, got {percent}", code="invalid_weight")
    return int(round(percent * 100))


def register(sub) -> None:
    p = sub.add_parser("deploy", help="move versions between an endpoint's stable and canary")
    d = p.add_subparsers(dest="deploy_command", metavar="ACTION")

    def action(name: str, help_: str, fn, *, version=False, weight=False, reason=False):
        a = d.add_parser(name, help=help_)
        a.add_argument("endpoint")
        if version:
            a.add_argument("--version", required=True, help="model version number, or an alias")
        if weight:
            w = a.add_mutually_exclusive_group()
            w.add_argument(
                "--weight",
                type=float,
                default=None,
                help="percent of callers in the canary cohort (default 10)",
            )
            w.add_argument(
                "--weight-bp", type=int, default=None, help="the same in basis points (1000 = 10%%)"
            )
        a.add_argument("--reason", default=None, required=reason, help="why, for the audit log")
        add_actor_flag(a)
        add_json_flag(a)
        a.set_defaults(func=fn)
        return a

    st = action(
        "stable",
        "serve a version as the endpoint's stable (first deploy or direct switch)",
        cmd_stable,
        version=True,
    )
    st.add_argument("--model", default=None, help="model name (default: the endpoint's model in the stack)")
    ca = action(
        "canary", "route a share of callers to a candidate version", cmd_canary, version=True, weight=True
    )
    ca.add_argument("--model", default=None, help="refuse unless the endpoint serves this model")
    action("weight", "change the running canary's share of callers", cmd_weight, weight=True)
    action("promote", "make the canary the stable version (and move the production alias)", cmd_promote)
    action("rollback", "stop the canary now: weight 0, stable serves everyone", cmd_rollback)
    sh = action(
        "shadow", "also score a share of stable traffic with a version, without answering with it", cmd_shadow
    )
    sh.add_argument("--version", default=None)
    sh.add_argument("--rate", type=float, default=0.1, help="share of stable requests to shadow (0..1)")
    sh.add_argument("--off", action="store_true", help="stop shadowing")
    s = d.add_parser("status", help="what the endpoint serves now")
    s.add_argument("endpoint")
    add_json_flag(s)
    s.set_defaults(func=cmd_status)
    h = d.add_parser("history", help="every deployment change of the endpoint, from the audit log")
    h.add_argument("endpoint")
    h.add_argument("--limit", type=int, default=20)
    add_json_flag(h)
    h.set_defaults(func=cmd_history)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _show(doc: dict, args) -> int:
    if args.json:
        print_json(doc)
        return 0
    w = doc.get("canary_weight_bp") or 0
    print(
        table(
            [
                {
                    "endpoint": doc.get("endpoint"),
                    "model": doc.get("model"),
                    "stable": doc.get("stable_version"),
                    "canary": doc.get("canary_version"),
                    "weight": f"{w / 100:g}%",
                    "shadow": doc.get("shadow_version"),
                    "generation": doc.get("generation"),
                    "updated": doc.get("updated_at"),
                    "by": doc.get("updated_by"),
                }
            ],
            ["endpoint", "model", "stable", "canary", "weight", "shadow", "generation", "updated", "by"],
        )
    )
    if doc.get("reason"):
        print(f"last change: {doc.get('last_action')}: {doc['reason']}")
    return 0


def cmd_stable(args) -> int:
    settings = stack_settings(args)
    model = args.model or settings.endpoint(args.endpoint).model
    return _show(
        registry_for(args).deployments().set_stable(args.endpoint, model, args.version, reason=args.reason),
        args,
    )


def cmd_canary(args) -> int:
    reg = registry_for(args)
    if args.model:
        current = reg.deployments().get(args.endpoint).get("model")
        if current != args.model:
            raise BadRequestError(
                f"endpoint {args.endpoint} serves model {current!r}, not {args.model!r}",
                code="model_mismatch",
            )
    return _show(
        reg.deployments().start_canary(args.endpoint, args.version, _weight_bp(args), reason=args.reason),
        args,
    )


def cmd_weight(args) -> int:
    if args.weight is None and args.weight_bp is None:
        raise BadRequestError("give --weight PERCENT or --weight-bp BP", code="missing_weight")
    return _show(
        registry_for(args).deployments().set_weight(args.endpoint, _weight_bp(args), reason=args.reason), args
    )


def cmd_promote(args) -> int:
    return _show(registry_for(args).deployments().promote(args.endpoint, reason=args.reason), args)


def cmd_rollback(args) -> int:
    return _show(
        registry_for(args).deployments().rollback(args.endpoint, reason=args.reason or "manual rollback"),
        args,
    )


def cmd_shadow(args) -> int:
    reg = registry_for(args)
    if args.off:
        return _show(reg.deployments().set_shadow(args.endpoint, None, 0.0, reason=args.reason), args)
    if not args.version:
        raise BadRequestError("give --version to shadow, or --off to stop", code="missing_version")
    if not 0 < args.rate <= 1:
        raise BadRequestError("--rate is a share of stable requests in (0, 1]", code="invalid_rate")
    return _show(
        reg.deployments().set_shadow(args.endpoint, args.version, args.rate, reason=args.reason), args
    )


def cmd_status(args) -> int:
    return _show(registry_for(args).deployments().get(args.endpoint), args)


def cmd_history(args) -> int:
    reg = registry_for(args)
    entries = reg.audit.history(subject=f"endpoint:{args.endpoint}", limit=args.limit)
    if args.json:
        print_json(entries)
        return 0
    rows = [
        {
            "seq": e.get("seq"),
            "time": e.get("ts"),
            "actor": e.get("actor"),
            "action": e.get("action"),
            "stable": (e.get("details") or {}).get("state", {}).get("stable_version"),
            "canary": (e.get("details") or {}).get("state", {}).get("canary_version"),
            "weight": (e.get("details") or {}).get("state", {}).get("canary_weight_bp"),
            "reason": (e.get("details") or {}).get("reason"),
        }
        for e in entries
    ]
    print(table(rows, ["seq", "time", "actor", "action", "stable", "canary", "weight", "reason"]))
    return 0
