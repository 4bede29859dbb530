"""Drift reports: the result as JSON, and a self-contained HTML page with a plot per feature.

The HTML page has inline CSS and inline SVG only (no script, no external stylesheet, font or
image), so it can be stored in a bucket and opened from anywhere, offline. Numeric features get
overlaid reference/current histograms and their ECDFs; categorical features grouped bars.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlops.drift.profile import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    count_categories,
    load_profile,
    split_finite,
)
from mlops.drift.result import DriftResult

REF_COLOR = "#4269d0"
CUR_COLOR = "#ef8a2c"
MAX_BARS = 20
HIST_BINS = 30
# plot size and margins (left for the y ticks and label, bottom for the x ticks and label)
_W, _H = 300, 160
_L, _R, _T, _B = 44, 10, 10, 34
_PW, _PH = _W - _L - _R, _H - _T - _B


def render_json(result: DriftResult | Mapping[str, Any], *, indent: int | None = None) -> str:
    """The result as strict JSON (no NaN/Infinity)."""
    d = result.to_dict() if isinstance(result, DriftResult) else result
    return json.dumps(d, allow_nan=False, indent=indent, separators=None if indent else (",", ":"))


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}g}"
    return html.escape(str(x))


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


# ----------------------------------------------------------------------------- SVG pieces


def _frame(body: list[str], label: str) -> str:
    return (
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" aria-label="{_e(label)}">'
        f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="#fff"/>' + "".join(body) + "</svg>"
    )


def nice_ticks(lo: float, hi: float, n: int = 4) -> tuple[list[float], float]:
    """Round tick values within [lo, hi] and their step: the largest step of 1, 2, 2.5 or 5 times a power
    of ten that still puts at least 3 ticks in the range (at most about ``n`` + 2)."""
    span = hi - lo
    if not span > 0:
        return [lo], 1.0
    mag = 10.0 ** math.floor(math.log10(span / n))
    best: tuple[list[float], float] = ([lo, hi], span)
    for step in sorted((m * mag for m in (0.5, 1, 2, 2.5, 5, 10)), reverse=True):
        first = math.ceil(lo / step - 1e-9) * step
        ticks = [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]
        if len(ticks) >= 3:
            best = ([0.0 if abs(t) < step * 1e-9 else t for t in ticks], step)
            break
    return best


def tick_label(v: float, step: float) -> str:
    """A tick value as short as its step allows: ``0.035``, ``1,500``, ``2e+06`` (never 17 digits)."""
    if v == 0:
        return "0"
    if abs(v) >= 1e6 or abs(v) < 1e-4:
        return f"{v:.2g}"
    mantissa_decimals = 1 if round(step / 10.0 ** math.floor(math.log10(step)), 6) == 2.5 else 0
    decimals = min(6, max(0, -math.floor(math.log10(step)) + mantissa_decimals))
    return f"{v:,.{decimals}f}"


def _axes(
    xlo: float, xhi: float, ytop: float, *, xlabel: str, ylabel: str, percent: bool, xticks: bool = True
) -> list[str]:
    """Both axes with round ticks (x ticks only when ``xticks``: bars label their categories themselves)
    and a label each; ``percent`` shows y (a share) as a percentage."""
    x0, y0 = _L, _T + _PH
    body = [
        f'<line x1="{x0}" y1="{y0}" x2="{x0 + _PW}" y2="{y0}" stroke="#999"/>',
        f'<line x1="{x0}" y1="{_T}" x2="{x0}" y2="{y0}" stroke="#999"/>',
    ]
    xt, xstep = nice_ticks(xlo, xhi) if xticks else ([], 1.0)
    for t in xt:
        x = x0 + (t - xlo) / (xhi - xlo) * _PW if xhi > xlo else x0
        body.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 3}" stroke="#999"/>')
        body.append(
            f'<text class="xt" x="{x:.1f}" y="{y0 + 13}" font-size="9" fill="#555" text-anchor="middle">'
            f"{tick_label(t, xstep)}</text>"
        )
    scale = 100.0 if percent else 1.0
    yt, ystep = nice_ticks(0.0, ytop * scale, 3)
    for t in yt:
        y = y0 - t / (ytop * scale) * _PH
        body.append(f'<line x1="{x0 - 3}" y1="{y:.1f}" x2="{x0}" y2="{y:.1f}" stroke="#999"/>')
        body.append(
            f'<text class="yt" x="{x0 - 5}" y="{y + 3:.1f}" font-size="9" fill="#555" text-anchor="end">'
            f"{tick_label(t, ystep)}{'%' if percent else ''}</text>"
        )
    body.append(
        f'<text class="xl" x="{x0 + _PW / 2}" y="{_H - 4}" font-size="10" fill="#333" '
        f'text-anchor="middle">{_e(xlabel)}</text>'
    )
    body.append(
        f'<text class="yl" x="10" y="{_T + _PH / 2}" font-size="10" fill="#333" text-anchor="middle" '
        f'transform="rotate(-90 10 {_T + _PH / 2})">{_e(ylabel)}</text>'
    )
    return body


def _short(name: str, limit: int = 32) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _range(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float] | None:
    """The 0.5-99.5% range of both samples together (None when both are empty)."""
    both = ref if cur.shape[0] == 0 else (cur if ref.shape[0] == 0 else np.concatenate((ref, cur)))
    if both.shape[0] == 0:
        return None
    lo, hi = (float(v) for v in np.quantile(both, [0.005, 0.995]))
    return (lo - 0.5, hi + 0.5) if not hi > lo else (lo, hi)


def _no_values(name: str) -> str:
    return _frame(
        [f'<text x="{_W / 2}" y="{_H / 2}" font-size="12" text-anchor="middle">no values</text>'],
        f"{name}: no values",
    )


def _histogram_svg(ref: np.ndarray, cur: np.ndarray, name: str) -> str:
    span = _range(ref, cur)
    if span is None:
        return _no_values(name)
    lo, hi = span
    edges = np.linspace(lo, hi, HIST_BINS + 1)

    def shares(x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros(HIST_BINS)
        h, _ = np.histogram(np.clip(x, lo, hi), bins=edges)
        return h / x.shape[0]

    hr, hc = shares(ref), shares(cur)
    top = max(float(hr.max()), float(hc.max()), 1e-12)
    bw = _PW / HIST_BINS
    body = _axes(lo, hi, top, xlabel=_short(name), ylabel="% of rows", percent=True)
    for shares_, color, off in ((hr, REF_COLOR, 0.0), (hc, CUR_COLOR, bw / 2)):
        for i, s in enumerate(shares_):
            if s <= 0:
                continue
            h = s / top * _PH
            body.append(
                f'<rect x="{_L + i * bw + off:.1f}" y="{_T + _PH - h:.1f}" width="{bw / 2:.1f}" '
                f'height="{h:.1f}" fill="{color}" fill-opacity="0.8"/>'
            )
    return _frame(body, f"{name}: histogram, reference vs current")


def _ecdf_svg(ref: np.ndarray, cur: np.ndarray, name: str) -> str:
    span = _range(ref, cur)
    if span is None:
        return _no_values(name)
    lo, hi = span
    grid = np.linspace(lo, hi, 121)
    body = _axes(lo, hi, 1.0, xlabel=_short(name), ylabel="cumulative %", percent=True)
    for x, color in ((np.sort(ref), REF_COLOR), (np.sort(cur), CUR_COLOR)):
        if x.shape[0] == 0:
            continue
        f = np.searchsorted(x, grid, side="right") / x.shape[0]
        pts = " ".join(
            f"{_L + (g - lo) / (hi - lo) * _PW:.1f},{_T + _PH - v * _PH:.1f}"
            for g, v in zip(grid, f, strict=True)
        )
        body.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    return _frame(body, f"{name}: ECDF, reference vs current")


def _bars_svg(
    cats: Sequence[str], ref_share: np.ndarray, cur_share: np.ndarray, unseen: set[str], name: str
) -> str:
    k = len(cats)
    if k == 0:
        return _frame([], f"{name}: no categories")
    top = max(float(ref_share.max()), float(cur_share.max()), 1e-12)
    gw = _PW / k
    body = _axes(0.0, 1.0, top, xlabel=_short(name), ylabel="% of rows", percent=True, xticks=False)
    for i, c in enumerate(cats):
        for s, color, off in ((ref_share[i], REF_COLOR, 0.1), (cur_share[i], CUR_COLOR, 0.5)):
            h = s / top * _PH
            body.append(
                f'<rect x="{_L + (i + off) * gw:.1f}" y="{_T + _PH - h:.1f}" width="{gw * 0.4:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{_e(c)}: {s:.3f}</title></rect>'
            )
        room = max(3, int(gw / 6.5))  # characters that fit under a bar group at 9px
        label = (c[: room - 1] + "…") if len(c) > room else c
        weight = ' font-weight="bold" fill="#b00"' if c in unseen else ' fill="#555"'
        body.append(
            f'<text class="xt" x="{_L + (i + 0.5) * gw:.1f}" y="{_T + _PH + 13}" font-size="9" '
            f'text-anchor="middle"{weight}>{_e(label)}</text>'
        )
    return _frame(body, f"{name}: category shares, reference vs current")


def _categorical_plot(ref: CategoricalReference, column: Any, unseen: set[str], name: str) -> str:
    counts, _ = count_categories(column) if column is not None else ({}, 0)
    cats = list(ref.categories) + sorted(k for k in counts if k not in ref.index)
    rc = np.array([int(ref.counts[ref.index[c]]) if c in ref.index else 0 for c in cats], dtype=float)
    cc = np.array([counts.get(c, 0) for c in cats], dtype=float)
    rs = rc / rc.sum() if rc.sum() else rc
    cs = cc / cc.sum() if cc.sum() else cc
    if len(cats) > MAX_BARS:
        keep = np.argsort(-np.maximum(rs, cs), kind="stable")[:MAX_BARS]
        keep.sort()
        cats = [cats[i] for i in keep]
        rs, cs = rs[keep], cs[keep]
    return _bars_svg(cats, rs, cs, unseen, name)


# ----------------------------------------------------------------------------- page

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0 0 6px}
.meta{color:#555;font-size:13px;margin-bottom:16px}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.drift{background:#fde2e1;color:#8a1c14}.ok{background:#e1f5e4;color:#1d5e2a}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f0f0f0}
td.l,th.l{text-align:left}tr.d td{background:#fff3f2}td{white-space:nowrap}.tw{overflow-x:auto}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:14px 0}
.card.d{border-color:#e0a19c}.plots{display:flex;flex-wrap:wrap;gap:8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(630px,1fr));gap:0 14px}
.card h2{font-size:14px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
.small{font-size:12px;color:#555}
"""


def render_html(
    result: DriftResult | Mapping[str, Any],
    profile: Mapping[str, Any] | ReferenceProfile,
    current: Mapping[str, Any] | None,
    *,
    title: str = "Drift report",
) -> str:
    """A self-contained HTML page: summary, per-feature table, and one plot card per feature."""
    res = result.to_dict() if isinstance(result, DriftResult) else dict(result)
    prof = load_profile(profile)
    current = current or {}
    feats = ordered_features(res.get("features", {}))
    out = _summary(title, res.get("dataset", {}), res.get("window", {}), res.get("config", {}))
    out.append(_feature_table(feats))
    out.append('<div class="cards">')
    for name, f in feats.items():
        out.append(_feature_card(name, f, prof.features.get(name), current.get(name)))
    out.append("</div></body></html>")
    return "".join(out)


def ordered_features(feats: Mapping[str, Any]) -> dict[str, Any]:
    """Drifted features first, each group by effect size (largest first; none last), then by name."""

    def key(item: tuple[str, Any]) -> tuple[bool, float, str]:
        name, f = item
        effect = f.get("effect_size")
        size = float(effect) if isinstance(effect, (int, float)) and math.isfinite(effect) else -math.inf
        return (not f.get("drifted"), -size, name)

    return dict(sorted(feats.items(), key=key))


def _summary(
    title: str, ds: Mapping[str, Any], window: Mapping[str, Any], cfg: Mapping[str, Any]
) -> list[str]:
    """The page's head and summary: title, window metadata, the dataset verdict, config and legend."""
    drifted = bool(ds.get("drifted"))
    out: list[str] = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    meta = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in window.items() if not isinstance(v, (dict, list)))
    out.append(f'<div class="meta">{meta}</div>')
    verdict = (
        f"Dataset drift: {ds.get('n_drifted', 0)} of {ds.get('n_tested', 0)} tested features drifted "
        f"(share {_fmt(float(ds.get('share', 0.0)), 3)}, rule “{_e(ds.get('rule', ''))}”)"
    )
    out.append(
        f'<div class="banner {"drift" if drifted else "ok"}">'
        f"{'DRIFT DETECTED' if drifted else 'No dataset drift'} — {verdict}</div>"
    )
    out.append('<div class="small">' + " · ".join(f"{_e(k)} = {_e(v)}" for k, v in cfg.items()) + "</div>")
    out.append(
        f'<div class="legend small">colors:<span style="background:{REF_COLOR}"></span>reference'
        f'<span style="background:{CUR_COLOR}"></span>current · histograms and ECDFs span the '
        "0.5-99.5% range of both samples; the histograms fold values outside it into the end bins</div>"
    )
    return out


_TABLE_COLUMNS = (
    "feature",
    "kind",
    "drifted",
    "test",
    "statistic",
    "p-value",
    "p adjusted",
    "effect",
    "PSI",
    "missing ref→cur",
    "n ref",
    "n cur",
    "note",
)


def _feature_table(feats: Mapping[str, Any]) -> str:
    """The per-feature table: one row per feature, drifted rows marked."""
    head = "".join(
        f'<th class="{"l" if i < 4 or c == "note" else ""}">{c}</th>' for i, c in enumerate(_TABLE_COLUMNS)
    )
    rows = "".join(_feature_row(name, f) for name, f in feats.items())
    return (
        f'<h2 style="margin-top:16px">Features</h2><div class="tw"><table><tr>{head}</tr>{rows}</table></div>'
    )


def _feature_row(name: str, f: Mapping[str, Any]) -> str:
    """One feature's row of the table: verdict, test, numbers, missing shares and note."""
    miss = f.get("missing") or {}
    reasons = ", ".join(f.get("reasons") or [])
    cells = [
        f'<td class="l"><a href="#f-{_e(name)}">{_e(name)}</a></td>',
        f'<td class="l">{_e(f.get("kind"))}</td>',
        f'<td class="l">{"yes (" + _e(reasons) + ")" if f.get("drifted") else "no"}</td>',
        f'<td class="l">{_e(f.get("test"))}</td>',
        f"<td>{_fmt(f.get('statistic'))}</td>",
        f"<td>{_fmt(f.get('p_value'))}</td>",
        f"<td>{_fmt(f.get('p_adjusted'))}</td>",
        f"<td>{_fmt(f.get('effect_size'))} <span class=small>{_e(f.get('effect', ''))}</span></td>",
        f"<td>{_fmt(f.get('psi'))}</td>",
        f"<td>{_fmt(miss.get('ref_share'), 3)} → {_fmt(miss.get('cur_share'), 3)}</td>",
        f"<td>{_fmt(f.get('n_ref'))}</td>",
        f"<td>{_fmt(f.get('n_cur'))}</td>",
        f'<td class="l">{_e(f.get("note") or "")}</td>',
    ]
    return f'<tr class="{"d" if f.get("drifted") else ""}">' + "".join(cells) + "</tr>"


def _feature_card(
    name: str, f: Mapping[str, Any], ref: NumericReference | CategoricalReference | None, col: Any
) -> str:
    """One feature's card: its verdict line and its plots (histogram and ECDF, or category shares)."""
    plots: list[str] = []
    if isinstance(ref, NumericReference):
        cur_vals = split_finite(col)[0] if col is not None else np.empty(0)
        plots = [_histogram_svg(ref.sample, cur_vals, name), _ecdf_svg(ref.sample, cur_vals, name)]
    elif isinstance(ref, CategoricalReference):
        plots = [_categorical_plot(ref, col, set(f.get("unseen") or []), name)]
    unseen = f.get("unseen") or []
    extra = f" · unseen categories: {_e(', '.join(unseen[:20]))}" if unseen else ""
    return (
        f'<div class="card{" d" if f.get("drifted") else ""}" id="f-{_e(name)}"><h2>{_e(name)} '
        f'<span class="small">{_e(f.get("kind"))} · {"drifted" if f.get("drifted") else "stable"} · '
        f"effect {_fmt(f.get('effect_size'))} · p adj {_fmt(f.get('p_adjusted'))}{extra}</span></h2>"
        f'<div class="plots">{"".join(plots)}</div></div>'
    )
