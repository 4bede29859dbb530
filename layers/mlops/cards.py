"""Model cards in Markdown and self-contained HTML, made only from registry facts.

A card says what a compliance officer asks: what the model is (flavor, signature,
classes), what it was trained on (data digest, code commit, params), how good it was
(metrics), who approved it and why, where it serves (deployment state), what drift is
measured against (the reference profile's per-feature summary) and which features
matter (mean |SHAP| computed at registration next to the estimator's own importances,
zero-importance features folded into one line). The deployment section comes from the
endpoints and the audit log (``mlops.cardparts``), so it covers every endpoint the version
served on, including a canary that was rolled back. Cards are written to the store under
``model-cards/<model>/v<version>.md|.html``.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from mlops.cardparts import class_labels, deployment_facts, deployment_lines, importance_lines

CARDS_PREFIX = "model-cards/"


def _importances(model: Any, names: list[str]) -> tuple[list[tuple[str, float]], str]:
    """The estimator's own importances, largest first, and what they are."""
    values = getattr(model, "feature_importances_", None)
    label = "impurity importance"
    if values is None:
        coef = getattr(model, "coef_", None)
        if coef is None:
            return [], label
        import numpy as np

        values = np.abs(np.asarray(coef)).reshape(-1, len(names)).mean(axis=0)
        label = "mean abs coefficient"
    pairs = sorted(zip(names, (float(v) for v in values), strict=False), key=lambda p: -p[1])
    return pairs, label


def card_facts(registry: Any, model: str, version: int, *, endpoint: str | None = None) -> dict[str, Any]:
    """Everything a card shows, read from the registry (artifact verified before it is loaded)."""
    rec = registry.get_version(model, version)
    approval = registry.get_approval(model, version)
    names = [f["name"] for f in (rec.get("signature") or {}).get("inputs", [])]
    try:
        estimator, _ = registry.load_model(model, version)
        importances, importance_label = _importances(estimator, names)
        estimator_name = type(estimator).__name__
    except Exception as exc:  # a card is still worth having without the importances
        importances, estimator_name = [], f"(not loaded: {type(exc).__name__})"
        importance_label = "impurity importance"
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
    return {
        "model": model,
        "version": version,
        "estimator": estimator_name,
        "record": rec,
        "approval": approval,
        "importances": importances,
        "importance_label": importance_label,
        "baseline": baseline,
        "deployment": deployment_facts(registry, model, int(version), since=rec.get("created_at")),
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
    if f.get("deployment") is not None:
        lines += deployment_lines(f["model"], f["version"], f["deployment"])
    lines += importance_lines(
        f["importances"], rec.get("shap_importance"), f.get("importance_label", "impurity importance")
    )
    lines += ["", "## Signature", "", "| # | feature | dtype | kind |", "|---|---|---|---|"]
    for i, inp in enumerate(sig.get("inputs") or []):
        lines.append(f"| {i} | {inp.get('name')} | {inp.get('dtype')} | {inp.get('kind')} |")
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
        f"- Classes: {class_labels(sig, rec.get('tags'))}",
        "",
        "## Lineage",
        "",
        f"- Training data digest: `{(rec.get('training_data') or {}).get('digest')}` "
        f"({(rec.get('training_data') or {}).get('rows')} rows)",
        f"- Datasets: {_datasets_text(rec.get('datasets') or {})}",
        f"- Code commit: `{rec.get('code_commit') or '-'}`",
        f"- Params: {json.dumps(rec.get('params') or {}, sort_keys=True)}",
    ]


def _datasets_text(refs: dict[str, Any]) -> str:
    """The dataset versions a model version names (``mlops.datasets``): role `name:v` (rows, digest)."""
    parts = [
        f"{role} `{d.get('ref')}` ({d.get('rows')} rows, `{str(d.get('digest'))[:19]}`)"
        for role, d in sorted(refs.items())
    ]
    return "; ".join(parts) or "-"


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


def _inline(line: str) -> str:
    """Escaped text with `code` and **bold** marked up."""
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(line))
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _html_body(md: str) -> list[str]:
    """The Markdown card's lines as HTML: headings, paragraphs, bullet lists and tables."""
    out: list[str] = []
    block = ""  # the open block: "table", "ul" or ""
    for line in md.splitlines():
        kind = "table" if line.startswith("|") else "ul" if line.startswith("- ") else ""
        if block and kind != block:
            out.append(f"</{block}>")
            block = ""
        if kind == "table":
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not block else "td"
            if not block:
                out.append("<table>")
                block = "table"
            out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
        elif kind == "ul":
            if not block:
                out.append("<ul>")
                block = "ul"
            out.append(f"<li>{_inline(line[2:])}</li>")
        elif line.startswith("# "):
            out.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("## "):
            out.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.strip():
            out.append(f"<p>{_inline(line.strip('_'))}</p>")
    if block:
        out.append(f"</{block}>")
    return out


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;"
    "line-height:1.45}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;"
    "padding:.2rem .5rem;font-size:.9rem;text-align:left}th{background:#f3f3f3}code{background:#f3f3f3;"
    "padding:0 .2rem;border-radius:3px}ul{padding-left:1.4rem}li{margin:.2rem 0}"
    "h2{border-bottom:1px solid #ddd;margin-top:1.6rem}"
)


def render_html(f: dict[str, Any]) -> str:
    """The Markdown card as a self-contained page (no external CSS, fonts or scripts)."""
    title = html.escape(f"Model card: {f['model']} v{f['version']}")
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{_STYLE}</style>"
        f"</head><body>{''.join(_html_body(render_markdown(f)))}</body></html>\n"
    )


def write_card(registry: Any, model: str, version: int, *, endpoint: str | None = None) -> dict[str, str]:
    """Render and store both forms; returns their keys."""
    facts = card_facts(registry, model, version, endpoint=endpoint)
    base = f"{CARDS_PREFIX}{model}/v{int(version)}"
    registry.store.put(base + ".md", render_markdown(facts).encode(), content_type="text/markdown")
    registry.store.put(base + ".html", render_html(facts).encode(), content_type="text/html")
    return {"markdown": base + ".md", "html": base + ".html"}
