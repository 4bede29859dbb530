"""Per-variant metrics of endpoints: the last hour's numbers (overview) and series over 1h / 1d / 30d.

Latency, invocations and errors come from the ``oci_faas`` metrics of the variant's inference
function (the cloud's free metrics, or the local twin); confidence and prediction counts from the
drift function's per-window custom metrics (``confidence_mean``, ``prediction_count``, dimensions
endpoint / model / version / variant). A shadow is scored inside the stable function, so it has
custom metrics but no function metrics of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlops.console.sources import ConsoleSources
from mlops.monitoring import metrics as mm

#: window -> (seconds, step seconds): 60, 96 and 120 points
WINDOWS: dict[str, tuple[int, int]] = {"1h": (3600, 60), "1d": (86400, 900), "30d": (30 * 86400, 21600)}
FUNCTION_VARIANTS = ("stable", "canary")
METRIC_KEYS = (
    "invocations",
    "errors",
    "error_rate",
    "latency_p50_ms",
    "latency_p99_ms",
    "confidence_mean",
    "predictions",
)


def variant_versions(dep: Mapping[str, Any]) -> dict[str, int]:
    """The variants that have a version in a deployment record: {"stable": 3, "canary": 4, ...}."""
    out = {}
    for variant in ("stable", "canary", "shadow"):
        v = dep.get(f"{variant}_version")
        if v:
            out[variant] = int(v)
    return out


def _rate(errors: float | None, invocations: float | None) -> float | None:
    if not invocations:
        return None
    return float(errors or 0.0) / float(invocations)


def last_hour(
    src: ConsoleSources, deps: Iterable[Mapping[str, Any]], end: float
) -> dict[str, dict[str, Any]]:
    """``{endpoint: {variant: {version, invocations, errors, error_rate, latency_p50_ms, ...}}}`` over the
    hour before ``end``: one grouped query per metric for all endpoints together."""
    deps = list(deps)
    start = end - 3600
    empty: dict[str, float | None] = {k: None for k in METRIC_KEYS}
    out: dict[str, dict[str, dict[str, Any]]] = {
        d["endpoint"]: {variant: {"version": v, **empty} for variant, v in variant_versions(d).items()}
        for d in deps
    }
    reader = src.metrics
    if reader is None:
        return out
    by_name = {
        src.display_name(d["endpoint"], variant): (d["endpoint"], variant)
        for d in deps
        for variant in FUNCTION_VARIANTS
    }
    fns: dict[str, dict[tuple[str, ...], float | None]] = {}
    group = (mm.DIM_RESOURCE_DISPLAY_NAME,)
    fns["invocations"] = reader.aggregate_groups(
        mm.FAAS_NAMESPACE, mm.FAAS_INVOCATIONS, {}, group, start, end, "sum"
    )
    fns["errors"] = reader.aggregate_groups(
        mm.FAAS_NAMESPACE,
        mm.FAAS_RESPONSES,
        {mm.DIM_RESPONSE_TYPE: mm.RESPONSE_ERROR},
        group,
        start,
        end,
        "sum",
    )
    for key, p in (("latency_p50_ms", 0.5), ("latency_p99_ms", 0.99)):
        fns[key] = reader.aggregate_groups(
            mm.FAAS_NAMESPACE, mm.FAAS_DURATION, {}, group, start, end, "percentile", p
        )
    for key, values in fns.items():
        for (display,), value in values.items():
            hit = by_name.get(display)
            if hit and hit[1] in out.get(hit[0], {}):
                out[hit[0]][hit[1]][key] = value
    custom = ("endpoint", "variant", "version")
    conf = reader.aggregate_groups(src.namespace, mm.CONFIDENCE_MEAN, {}, custom, start, end, "mean")
    preds = reader.aggregate_groups(src.namespace, mm.PREDICTION_COUNT, {}, custom, start, end, "sum")
    for key, values in (("confidence_mean", conf), ("predictions", preds)):
        for (endpoint, variant, version), value in values.items():
            cell = out.get(endpoint, {}).get(variant)
            if cell is not None and str(cell["version"]) == version:
                cell[key] = value
    for variants in out.values():
        for cell in variants.values():
            if cell["invocations"] is not None and cell["errors"] is None:
                cell["errors"] = 0.0
            cell["error_rate"] = _rate(cell["errors"], cell["invocations"])
    return out


def endpoint_series(src: ConsoleSources, dep: Mapping[str, Any], window: str, end: float) -> dict[str, Any]:
    """Per-variant series of one endpoint over ``window`` (see ``WINDOWS``), bucket ends in ``ts``."""
    span, step = WINDOWS[window]
    end = float(int(end // step) * step + step)  # whole buckets, the last one holding "now"
    start = end - span
    n = span // step
    ts = [start + (i + 1) * step for i in range(n)]
    variants: dict[str, Any] = {}
    for variant, version in variant_versions(dep).items():
        variants[variant] = {
            "version": version,
            **_variant_series(src, dep["endpoint"], variant, version, start, end, step, n),
        }
    return {
        "endpoint": dep["endpoint"],
        "window": window,
        "step_s": step,
        "start_ts": start,
        "end_ts": end,
        "ts": ts,
        "variants": variants,
    }


def _variant_series(
    src: ConsoleSources,
    endpoint: str,
    variant: str,
    version: int,
    start: float,
    end: float,
    step: int,
    n: int,
) -> dict[str, list[float | None]]:
    none: list[float | None] = [None] * n
    reader = src.metrics
    out = {k: list(none) for k in METRIC_KEYS}
    if reader is None:
        return out
    if variant in FUNCTION_VARIANTS:
        fn = {mm.DIM_RESOURCE_DISPLAY_NAME: src.display_name(endpoint, variant)}
        ns = mm.FAAS_NAMESPACE
        out["invocations"] = reader.series(ns, mm.FAAS_INVOCATIONS, fn, start, end, step, "sum")
        errs = reader.series(
            ns, mm.FAAS_RESPONSES, {**fn, mm.DIM_RESPONSE_TYPE: mm.RESPONSE_ERROR}, start, end, step, "sum"
        )
        out["errors"] = [
            e if e is not None else (0.0 if i else None)
            for e, i in zip(errs, out["invocations"], strict=True)
        ]
        out["error_rate"] = [_rate(e, i) for e, i in zip(out["errors"], out["invocations"], strict=True)]
        out["latency_p50_ms"], out["latency_p99_ms"] = reader.percentile_series(
            ns, mm.FAAS_DURATION, fn, start, end, step, (0.5, 0.99)
        )
    dims = {"endpoint": endpoint, "variant": variant}  # every version this variant served in the window
    out["confidence_mean"] = reader.series(src.namespace, mm.CONFIDENCE_MEAN, dims, start, end, step, "mean")
    out["predictions"] = reader.series(src.namespace, mm.PREDICTION_COUNT, dims, start, end, step, "sum")
    return out
