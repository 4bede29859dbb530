"""``mlops alarms list|eval``: the stack's alarm rules with their MQL, and one local evaluation."""

from __future__ import annotations

from pathlib import Path

from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import BadRequestError, ConfigError


def register(sub) -> None:
    p = sub.add_parser("alarms", help="alarm rules: their MQL, and a local evaluation")
    asub = p.add_subparsers(dest="alarms_command", metavar="ACTION")

    def common(q) -> None:
        q.add_argument(
            "--endpoint",
            action="append",
            default=[],
            metavar="NAME",
            help="an endpoint to build rules for (repeatable; default: the stack's endpoints)",
        )
        q.add_argument(
            "--function",
            action="append",
            default=[],
            metavar="NAME",
            help="a further function to watch for errors (repeatable; with --endpoint)",
        )
        q.add_argument("--namespace", default=None, help="custom-metric namespace (default: the stack's)")
        add_json_flag(q)

    ls = asub.add_parser("list", help="every rule with its MQL, severity, destination and action")
    common(ls)
    ls.set_defaults(func=cmd_list)
    ev = asub.add_parser("eval", help="evaluate every rule once against a local metrics store")
    common(ev)
    ev.add_argument("--db", default=None, help="SQLite metrics store (default: the stack's metrics.sqlite)")
    ev.add_argument(
        "--state",
        default=None,
        help="alarm state file to carry FIRING/pending between runs (default: none, stateless)",
    )
    ev.add_argument("--now", type=float, default=None, help="evaluate at this epoch time (default: now)")
    ev.add_argument(
        "--notify-file", default=None, help="also append each transition's message to this NDJSON file"
    )
    ev.set_defaults(func=cmd_eval)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _settings(args):
    from mlops.settings import find_project_dir, load_stack

    return load_stack(args.stack, find_project_dir(args.project_dir))


def _rules(args):
    from mlops.monitoring.defaults import default_rules, rules_for_settings

    if args.endpoint:
        return default_rules(args.endpoint, args.function, None, args.namespace or "mlops")
    try:
        settings = _settings(args)
    except ConfigError as exc:
        raise BadRequestError(
            f"{exc.message}; pass --endpoint NAME to list rules without a stack file"
        ) from None
    return rules_for_settings(settings, namespace=args.namespace)


def cmd_list(args) -> int:
    rules = _rules(args)
    if args.json:
        print_json([r.to_dict() for r in rules])
        return 0
    if not rules:
        print("no alarm rules: the stack has no endpoints (add some, or pass --endpoint NAME)")
        return 0
    rows = [
        {
            "rule": r.name,
            "severity": r.severity,
            "pending": r.pending_duration,
            "action": ",".join(f"{k}:{v}" for k, v in sorted(r.actions.items())) or "-",
            "enabled": "yes" if r.is_enabled else "no",
            "query": r.to_mql(),
        }
        for r in rules
    ]
    print(table(rows, ["rule", "severity", "pending", "action", "enabled", "query"]))
    return 0


def cmd_eval(args) -> int:
    from mlops.monitoring.evaluator import AlarmEvaluator
    from mlops.monitoring.sqlite import SqliteMetrics

    rules = _rules(args)
    db = args.db
    if db is None:
        if args.endpoint:
            raise BadRequestError("pass --db PATH (the local metrics store) together with --endpoint")
        db = str(_settings(args).state_dir / "metrics.sqlite")
    if not Path(db).is_file():
        raise BadRequestError(f"no metrics store at {db}; start the local runtime first or pass --db PATH")
    store = SqliteMetrics(db)
    try:
        events = AlarmEvaluator(store, rules, state_path=args.state).evaluate(args.now)
    finally:
        store.close()
    if args.notify_file:
        from mlops.monitoring.notify import NdjsonNotifier, publish_events

        publish_events(NdjsonNotifier(args.notify_file), events)
    if args.json:
        print_json([e.to_dict() for e in events])
        return 0
    if not events:
        print(f"no transitions ({len(rules)} rules evaluated)")
        return 0
    rows = [
        {
            "rule": e.rule.name,
            "type": e.type,
            "severity": e.rule.severity,
            "value": e.value,
            "threshold": f"{e.rule.operator} {e.threshold:g}",
            "where": ", ".join(f"{k}={v}" for k, v in sorted(e.dimensions.items())),
        }
        for e in events
    ]
    print(table(rows, ["rule", "type", "severity", "value", "threshold", "where"]))
    return 0
