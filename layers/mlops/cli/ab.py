"""``mlops ab status ENDPOINT``: per-variant table, effect with an always-valid interval, and the decision."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops.cli.output import add_json_flag, print_json, table
from mlops.errors import BadRequestError, NotFoundError
from mlops.names import validate_endpoint_name

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
COLUMNS = (
    "variant",
    "versions",
    "predictions",
    "errors",
    "error_rate",
    "labelled",
    "coverage",
    "outcome_rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "callers",
)


def register(sub) -> None:
    p = sub.add_parser("ab", help="A/B analysis of an endpoint's canary or shadow against stable")
    asub = p.add_subparsers(dest="ab_command", metavar="ACTION")
    st = asub.add_parser("status", help="per-variant table, effect with confidence interval, decision")
    st.add_argument("endpoint", metavar="ENDPOINT")
    _add_source_arguments(st)
    _add_test_arguments(st)
    add_json_flag(st)
    st.set_defaults(func=cmd_status)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _add_source_arguments(st) -> None:
    """Where the records come from, which split was configured, what is compared on which outcome."""
    src = st.add_mutually_exclusive_group()
    src.add_argument(
        "--records",
        metavar="FILE",
        help="read prediction/feedback records from an NDJSON file ('-' = stdin) instead of the store",
    )
    src.add_argument(
        "--store",
        metavar="URL",
        help="object store URL (path, s3://bucket/prefix?..., oci://...); default: the stack's store",
    )
    st.add_argument(
        "--weight-bp",
        type=int,
        default=None,
        help="configured canary weight in basis points (1000 = 10%%); default: the endpoint's "
        "deployment record in the store; unknown = the split is not checked",
    )
    st.add_argument(
        "--shadow-bp",
        type=int,
        default=None,
        help="configured shadowed share of stable requests in basis points, for the shadow split check "
        "(default: the deployment record)",
    )
    st.add_argument(
        "--challenger",
        choices=("canary", "shadow"),
        default=None,
        help="what to compare with stable (default: canary if present, else shadow)",
    )
    st.add_argument(
        "--outcome",
        choices=("accuracy", "actual"),
        default="accuracy",
        help="accuracy: prediction == actual; actual: the feedback's 0/1 value (a conversion)",
    )
    st.add_argument("--lower-is-better", action="store_true", help="the outcome is bad when high (an error)")


def _add_test_arguments(st) -> None:
    """The sequential test's settings and the analysis window."""
    st.add_argument(
        "--alpha", type=float, default=0.05, help="error rate of the sequential test (default 0.05)"
    )
    st.add_argument(
        "--mde",
        type=float,
        default=0.02,
        help="minimum detectable (meaningful) effect in outcome-rate units (default 0.02)",
    )
    st.add_argument(
        "--min-samples",
        type=int,
        default=100,
        help="labelled outcomes per arm before any decision (default 100)",
    )
    st.add_argument(
        "--tau", type=float, default=None, help="mixing scale of the mSPRT (default: from the MDE)"
    )
    st.add_argument(
        "--since", default=None, help="window start: ISO-8601 time or a duration ago (30m, 24h, 7d)"
    )
    st.add_argument("--until", default=None, help="window end (exclusive): ISO-8601 time or a duration ago")


def parse_when(value: str | None, now: datetime | None = None) -> str | None:
    """An ISO-8601 time (or epoch seconds), or ``30m``/``24h``/``7d`` ago, as an ISO-8601 UTC string.

    Absolute times go through the one time parser (``mlops.times``: 1970..9999, else ``invalid_time``)."""
    if value is None:
        return None
    from mlops.times import iso, parse_epoch

    m = _RELATIVE.match(value.strip())
    if m:
        now = now or datetime.now(UTC)
        ago = float(m.group(1)) * _UNITS[m.group(2)]
        if not ago <= now.timestamp():
            raise BadRequestError(f"{value[:40]!r} ago is before 1970", code="invalid_time")
        return (now - timedelta(seconds=ago)).isoformat()
    ts = parse_epoch(value, "time")  # 400 invalid_time outside 1970..9999
    try:
        float(value)
    except ValueError:
        return value  # an ISO 8601 time, as given
    return iso(ts)  # epoch seconds, as ISO 8601


def _open_store(args):
    from mlops.cli.common import open_args_store

    return open_args_store(args)


def configured_split(
    store, endpoint: str, weight_bp: int | None, shadow_bp: int | None
) -> tuple[int | None, int | None, str | None]:
    """Fill the canary weight and shadow share the user did not give from the endpoint's deployment record.

    Returns ``(weight_bp, shadow_bp, note)``; the note says where the numbers came from.
    """
    if weight_bp is not None and shadow_bp is not None:
        return weight_bp, shadow_bp, None
    from mlops.registry.deployments import read_deployment

    dep = read_deployment(store, endpoint)
    if dep is None:
        return weight_bp, shadow_bp, None
    filled = []
    if weight_bp is None:
        weight_bp = int(dep.get("canary_weight_bp") or 0) if dep.get("canary_version") is not None else 0
        filled.append("canary weight")
    if shadow_bp is None and dep.get("shadow_version") is not None:
        shadow_bp = round(float(dep.get("shadow_rate") or 0.0) * 10000)
        filled.append("shadow share")
    if not filled:
        return weight_bp, shadow_bp, None
    when = dep.get("updated_at") or "?"
    return (
        weight_bp,
        shadow_bp,
        (
            f"{' and '.join(filled)} from the deployment record (changed {when}); "
            "start the window after that change with --since"
        ),
    )


def _read_records(args, store, endpoint: str, since: str | None, until: str | None) -> Any:
    if args.records == "-":
        return sys.stdin.buffer.read()
    if args.records:
        try:
            with open(args.records, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFoundError(f"records file {args.records!r} does not exist") from None
    from mlops.ab.source import iter_log_objects

    return iter_log_objects(store, endpoint, since=since, until=until)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None


def render(report, note: str | None = None) -> str:
    """The human-readable status: header, per-variant table, effect, split, decision, reason, warnings."""
    rows = _variant_rows(report)
    cols = [c if c != "outcome_rate" else report.outcome for c in COLUMNS]
    lines = [_header(report), ""]
    lines.append(table(rows, cols) if rows else "(no prediction records)")
    lines.append("")
    if report.comparison is not None:
        lines.append(_effect_line(report))
    lines.append(_split_line(report))
    if note:
        lines.append(f"          {note}")
    lines.append(f"decision  {report.decision}")
    lines.append(f"reason    {report.reason}")
    for w in report.warnings:
        lines.append(f"warning   {w}")
    j = report.join
    skipped = {k: v for k, v in j.to_dict().items() if v and k != "lines_ignored"}
    if skipped:
        lines.append("join      " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in skipped.items()))
    return "\n".join(lines)


def _variant_rows(report) -> list[dict[str, Any]]:
    """One table row per variant, the outcome rate under the outcome's name."""
    rows = []
    for v in report.variants:
        rows.append(
            {
                "variant": v.variant,
                "versions": [f"v{x}" for x in v.versions],
                "predictions": v.predictions,
                "errors": v.errors,
                "error_rate": v.error_rate,
                "labelled": v.labelled,
                "coverage": v.coverage,
                "outcome_rate": v.outcome_rate,
                "p50_ms": v.latency_p50_ms,
                "p95_ms": v.latency_p95_ms,
                "p99_ms": v.latency_p99_ms,
                "callers": v.principals,
            }
        )
    for r in rows:
        r[report.outcome] = r.pop("outcome_rate")
    return rows


def _header(report) -> str:
    """The experiment's settings and window in one line."""
    window = ""
    if report.since is not None or report.until is not None:
        window = f"  window [{_iso(report.since) or '-'}, {_iso(report.until) or 'now'})"
    return (
        f"endpoint {report.endpoint}  challenger {report.challenger or '-'}  outcome {report.outcome}"
        f"{'' if report.higher_is_better else ' (lower is better)'}  alpha {report.alpha:g}  mde {report.mde:g}"
        f"  min-samples {report.min_samples}{window}"
    )


def _effect_line(report) -> str:
    """The effect, its always-valid interval and p-value, and the counts behind them."""
    cmp = report.comparison
    r = cmp.result
    n = (
        f"n = {r.n_challenger}/{r.n_control} labelled"
        if cmp.method == "two_sample"
        else f"n = {r.n_challenger} labelled pairs"
    )
    return (
        f"effect    {cmp.challenger} - stable = {r.estimate:+.4f}  "
        f"{1 - report.alpha:.0%} always-valid CI [{r.ci_low:+.4f}, {r.ci_high:+.4f}]  "
        f"p = {r.p_value:.3g}  ({cmp.method}, {n})"
    )


def _split_line(report) -> str:
    """The split check: observed against configured share, or why it was not checked."""
    s = report.srm
    if not s.checked:
        return f"split     not checked: {s.note}"
    observed = s.observed_share if s.observed_share is not None else 0.0
    return (
        f"split     {report.challenger or 'canary'} {observed:.2%} of {s.n_challenger + s.n_control} "
        f"{s.unit}s, configured {s.expected_share:.2%}  p = {s.p_value:.3g}  "
        f"{'MISMATCH' if s.alarm else 'ok'}"
    )


def cmd_status(args) -> int:
    from mlops.ab.analysis import analyze, check_bp

    endpoint = validate_endpoint_name(args.endpoint)
    check_bp(args.weight_bp, "--weight-bp")
    check_bp(args.shadow_bp, "--shadow-bp")
    since, until = parse_when(args.since), parse_when(args.until)
    store = None if args.records else _open_store(args)
    weight_bp, shadow_bp, note = args.weight_bp, args.shadow_bp, None
    if store is not None:
        weight_bp, shadow_bp, note = configured_split(store, endpoint, weight_bp, shadow_bp)
    records = _read_records(args, store, endpoint, since, until)
    report = analyze(
        records,
        weight_bp=weight_bp,
        shadow_bp=shadow_bp,
        alpha=args.alpha,
        mde=args.mde,
        min_samples=args.min_samples,
        tau=args.tau,
        challenger=args.challenger,
        outcome=args.outcome,
        higher_is_better=not args.lower_is_better,
        endpoint=endpoint,
        since=since,
        until=until,
    )
    if args.json:
        doc = report.to_dict()
        doc["split_source"] = note
        print_json(doc)
    else:
        print(render(report, note))
    return 0
