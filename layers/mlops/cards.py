"""Model cards in Markdown and self-contained HTML, made only from registry facts.

A card says what a compliance officer asks: what the model is (flavor, signature,
classes), what it was trained on (data digest, code commit, params), how good it was
(metrics), who approved it and why, where it serves (deployment state), what drift is
measured against (the reference profile's per-feature summary) and which features
matter (the estimator's own importances, when it has them). Cards are written to the
store under ``model-cards/<model>/v<version>.md|.html`` on each promotion.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

CARDS_PREFIX = "model-cards/"


def _importances(model: Any, names: list[str]) -> list[tuple[str, float]]:
    values = getattr(model, "feature_importances_", None)
    if values is None:
        coef = getattr(model, "coef_", None)
        if coef is None:
            return []
        import numpy as np

        values = np.abs(np.asarray(coef)).reshape(-1, len(names)).mean(axis=0)
    pairs = sorted(zip(names, (float(v) for v in values), strict=False), key=lambda p: -p[1])
    return pairs


def card_facts(registry: Any, model: str, version: int, *, endpoint: str | None = None) -> dict[str, Any]:
    """Everything a card shows, read from the registry (artifact verified before it is loaded)."""
    rec = registry.get_version(model, version)
    approval = registry.get_approval(model, version)
    names = [f["name"] for f in (rec.get("signature") or {}).get("inputs", [])]
    try:
        estimator, _ = registry.load_model(model, version)
        importances = _importances(estimator, names)
        estimator_name = type(estimator).__name__
    except Exception as exc:  # a card is still worth having without the importances
        importances, estimator_name = [], f"(not loaded: {type(exc).__name__})"
    profile = registry.get_reference_profile(model, version) or {}
    baseline = []
    for name, f in list((profile.get("features") or {}).items())[:50]:
        if f.get("kind") == "numeric":
            baseline.append(
                {
                    "feature": name,
                    "kind": "numeric",
                    "n": f.get("n"),
                    "mean": f.get("mean"),
                    "std": f.get("std"),
                    "min": f.get("min"),
                    "max": f.get("max"),
                }
            )
        else:
            counts = f.get("counts") or {}
            baseline.append(
                {
                    "feature": name,
                    "kind": f.get("kind"),
                    "n": sum(counts.values()) if counts else None,
                    "categories": len(counts),
                }
            )
    deployment = None
    if endpoint:
        try:
            deployment = registry.deployments().get(endpoint)
        except Exception:
            deployment = None
    return {
        "model": model,
        "version": version,
        "estimator": estimator_name,
        "record": rec,
        "approval": approval,
        "importances": importances,
        "baseline": baseline,
        "deployment": deployment,
        "endpoint": endpoint,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render_markdown(f: dict[str, Any]) -> str:
    """The card as Markdown: model, lineage, metrics, approval, deployment, signature, importances, baseline."""
    rec = f["record"]
    sig = rec.get("signature") or {}
    lines = _model_lines(f, rec, sig)
    lines += _metrics_lines(rec.get("metrics") or {})
    lines += _approval_lines(f["approval"])
    if f.get("deployment"):
        lines += _deployment_lines(f["endpoint"], f["deployment"])
    lines += ["", "## Signature", "", "| # | feature | dtype | kind |", "|---|---|---|---|"]
    for i, inp in enumerate(sig.get("inputs") or []):
        lines.append(f"| {i} | {inp.get('name')} | {inp.get('dtype')} | {inp.get('kind')} |")
    if f["importances"]:
        lines += ["", "## Feature importances", "", "| feature | importance |", "|---|---|"]
        lines += [f"| {n} | {v:.4f} |" for n, v in f["importances"][:20]]
    if f["baseline"]:
        lines += _baseline_lines(f["baseline"])
    return "\n".join(lines) + "\n"


def _model_lines(f: dict[str, Any], rec: dict[str, Any], sig: dict[str, Any]) -> list[str]:
    """Title, the model section and its lineage."""
    return [
        f"# Model card: {f['model']} v{f['version']}",
        "",
        f"_Generated {f['generated_at']} from the registry; every fact below is stored there._",
        "",
        "## Model",
        "",
        f"- Estimator: `{f['estimator']}` (flavor `{(rec.get('artifact') or {}).get('flavor', rec.get('flavor'))}`)",
        f"- Artifact: sha256 `{(rec.get('artifact') or {}).get('sha256')}`, "
        f"{(rec.get('artifact') or {}).get('size')} bytes",
        f"- Registered by {rec.get('created_by')} at {rec.get('created_at')}",
        f"- Description: {rec.get('description') or '-'}",
        f"- Classes: {sig.get('classes')}",
        "",
        "## Lineage",
        "",
        f"- Training data digest: `{(rec.get('training_data') or {}).get('digest')}` "
        f"({(rec.get('training_data') or {}).get('rows')} rows)",
        f"- Code commit: `{rec.get('code_commit') or '-'}`",
        f"- Params: {json.dumps(rec.get('params') or {}, sort_keys=True)}",
    ]


def _metrics_lines(metrics: dict[str, Any]) -> list[str]:
    """The recorded metrics as a table."""
    lines = ["", "## Metrics", ""]
    lines += (
        ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())]
        if metrics
        else ["- none recorded"]
    )
    return lines


def _approval_lines(appr: dict[str, Any]) -> list[str]:
    """The approval state and its history."""
    lines = ["", "## Approval", "", f"- State: **{appr.get('state')}**"]
    for h in appr.get("history") or []:
        lines.append(
            f"- {h.get('event')} by {h.get('by')} at {h.get('at')}"
            + (f": {h.get('comment')}" if h.get("comment") else "")
        )
    return lines


def _deployment_lines(endpoint: Any, d: dict[str, Any]) -> list[str]:
    """Where the model serves: the endpoint's stable and canary versions and its last change."""
    return [
        "",
        "## Deployment",
        "",
        f"- Endpoint `{endpoint}`: stable v{d.get('stable_version')}, canary "
        f"v{d.get('canary_version') or '-'} at {(d.get('canary_weight_bp') or 0) / 100:g}%, "
        f"generation {d.get('generation')}, last change {d.get('last_action')} by {d.get('updated_by')}",
    ]


def _baseline_lines(baseline: list[dict[str, Any]]) -> list[str]:
    """The drift baseline: the reference profile per feature."""
    lines = [
        "",
        "## Drift baseline (reference profile)",
        "",
        "| feature | kind | n | mean | std | min | max |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {b['feature']} | {b['kind']} | {_fmt(b.get('n'))} | {_fmt(b.get('mean'))} | "
        f"{_fmt(b.get('std'))} | {_fmt(b.get('min'))} | {_fmt(b.get('max'))} |"
        for b in baseline
    ]
    return lines


def render_html(f: dict[str, Any]) -> str:
    """The Markdown card as a self-contained page (no external CSS, fonts or scripts)."""
    md = render_markdown(f)
    out, in_table = [], False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells) + "</tr>")
            else:
                out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        text = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(line)).replace("**", "")
        if line.startswith("# "):
            out.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("## "):
            out.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("- "):
            out.append(f"<p class=li>{text[2:]}</p>")
        elif line.strip():
            out.append(f"<p>{text.strip('_')}</p>")
    if in_table:
        out.append("</table>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
        "font-size:.9rem}th{background:#f3f3f3}code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}p.li:before{content:'\\2022 '}h2{border-bottom:1px solid #ddd}"
    )
    title = html.escape(f"Model card: {f['model']} v{f['version']}")
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{style}</style>"
        f"</head><body>{''.join(out)}</body></html>\n"
    )


def write_card(registry: Any, model: str, version: int, *, endpoint: str | None = None) -> dict[str, str]:
    """Render and store both forms; returns their keys."""
    facts = card_facts(registry, model, version, endpoint=endpoint)
    base = f"{CARDS_PREFIX}{model}/v{int(version)}"
    registry.store.put(base + ".md", render_markdown(facts).encode(), content_type="text/markdown")
    registry.store.put(base + ".html", render_html(facts).encode(), content_type="text/html")
    return {"markdown": base + ".md", "html": base + ".html"}
