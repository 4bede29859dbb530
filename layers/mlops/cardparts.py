"""Sections of a model card that need more than a lookup (``mlops.cards`` assembles the card).

- ``class_labels``: a classifier's labels with their names, when the version says them (the tag
  ``class_names``, comma-separated in label order), or what a 0/1 label means for the named target.
- ``importance_lines``: global importances, mean |SHAP| (stored at registration, see
  ``mlops.registry.shapimportance``) next to the estimator's impurity importances, sorted, with the
  features of zero importance folded into one line.
- ``deployment_facts`` / ``deployment_lines``: where the version serves now and every deployment change
  that involved it, from the endpoints' records and the audit log (``deployment.*`` entries hold the
  state before and after), so a rolled-back canary and a never-deployed version both say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_IMPORTANCE_ROWS = 25
MAX_DEPLOYMENT_EVENTS = 200
_ZERO = 1e-12


def class_labels(sig: Mapping[str, Any], tags: Mapping[str, Any] | None) -> str:
    """``0 = malignant, 1 = benign``, or the bare labels with what is known of them; '-' for a regressor."""
    classes = sig.get("classes")
    if not classes:
        return "- (not a classifier)"
    names = [n.strip() for n in str((tags or {}).get("class_names") or "").split(",") if n.strip()]
    labels = [str(c) for c in classes]
    if len(names) == len(classes):
        return ", ".join(f"{c} = {n}" for c, n in zip(labels, names, strict=True))
    target = (sig.get("target") or {}).get("name")
    if target and labels in (["0", "1"], ["False", "True"]):
        return f"{labels[0]} = not {target}, {labels[1]} = {target} (target `{target}`)"
    known = f"target `{target}`; " if target else ""
    return f"{', '.join(labels)} ({known}no class names recorded: tag `class_names` gives them)"


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def importance_lines(
    impurity: Sequence[tuple[str, float]], shap: Mapping[str, Any] | None, label: str = "impurity importance"
) -> list[str]:
    """The card's importances section (empty when the version has neither kind); ``label`` names the
    estimator's own measure (impurity importance, or |coefficient| for a linear model)."""
    shap_values: dict[str, float] = dict((shap or {}).get("values") or {})
    imp = dict(impurity)
    if not shap_values and not imp:
        return []
    names = list(dict.fromkeys([*shap_values, *imp]))
    names.sort(key=lambda n: (-shap_values.get(n, 0.0), -imp.get(n, 0.0), n))
    zero = [n for n in names if abs(shap_values.get(n, 0.0)) <= _ZERO and abs(imp.get(n, 0.0)) <= _ZERO]
    shown = [n for n in names if n not in set(zero)]
    lines = ["", "## Feature importances", ""]
    if shap_values:
        s = shap or {}
        lines.append(
            f"Global importance is the mean absolute SHAP value over {s.get('rows')} training rows "
            f"({s.get('method')}, in {s.get('output_space')}): how far the feature moves the "
            f"model's output on average, next to the estimator's own {label}. Sorted by mean |SHAP|."
        )
    else:
        lines.append(
            f"The estimator's own {label}, largest first (no SHAP values were stored for this version)."
        )
    head = ["#", "feature", *(["mean abs SHAP"] if shap_values else []), *([label] if imp else [])]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, n in enumerate(shown[:MAX_IMPORTANCE_ROWS], 1):
        cells = [
            str(i),
            n,
            *([_fmt(shap_values.get(n))] if shap_values else []),
            *([_fmt(imp.get(n))] if imp else []),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    rest = shown[MAX_IMPORTANCE_ROWS:]
    if rest:
        lines.append(f"- {len(rest)} more features with smaller importance: {', '.join(rest)}")
    if zero:
        noun = "feature" if len(zero) == 1 else "features"
        lines.append(f"- {len(zero)} {noun} with zero importance: {', '.join(zero)}")
    return lines


def _role(doc: Mapping[str, Any] | None, version: int) -> str | None:
    """What ``version`` is in one deployment state: stable, canary at X%, shadow, or None."""
    if not doc:
        return None
    if doc.get("stable_version") == version:
        return "stable"
    if doc.get("canary_version") == version:
        return f"canary at {(doc.get('canary_weight_bp') or 0) / 100:g}% of callers"
    if doc.get("shadow_version") == version:
        return f"shadow at {float(doc.get('shadow_rate') or 0) * 100:g}% of requests"
    return None


def _when(ts: Any) -> str:
    """An audit timestamp to the second, readable: ``2026-12-02 15:19:12Z``."""
    text = str(ts or "-")
    return text[:19].replace("T", " ") + "Z" if len(text) >= 19 and text[10] == "T" else text


def _state_text(doc: Mapping[str, Any] | None) -> str:
    """One endpoint state in words: ``stable v1, canary v2 at 10%``."""
    if not doc:
        return "nothing deployed"
    parts = [f"stable v{doc['stable_version']}"] if doc.get("stable_version") else []
    if doc.get("canary_version"):
        parts.append(f"canary v{doc['canary_version']} at {(doc.get('canary_weight_bp') or 0) / 100:g}%")
    if doc.get("shadow_version"):
        parts.append(f"shadow v{doc['shadow_version']} at {float(doc.get('shadow_rate') or 0) * 100:g}%")
    return ", ".join(parts) or "nothing serving"


def deployment_facts(registry: Any, model: str, version: int, since: str | None = None) -> dict[str, Any]:
    """``{"current": [(endpoint, role, record)], "events": [...oldest first], "complete": bool}``; the audit
    log is read back to ``since`` (the version's registration: nothing deployed it before)."""
    current = []
    try:
        for d in registry.deployments().list_all():
            role = _role(d, version) if d.get("model") == model else None
            if role:
                current.append((d.get("endpoint"), role, d))
    except Exception:  # a card without the live state still tells the history
        pass
    events: list[dict[str, Any]] = []
    complete = True
    try:
        entries = registry.audit.history(action="deployment.", since=since, limit=MAX_DEPLOYMENT_EVENTS)
        complete = len(entries) < MAX_DEPLOYMENT_EVENTS
    except Exception:
        entries, complete = [], False
    for e in reversed(entries):
        details = e.get("details") or {}
        before, after = details.get("previous"), details.get("state")
        if (after or before or {}).get("model") != model:
            continue
        was, now = _role(before, version), _role(after, version)
        if was is None and now is None:
            continue
        events.append(
            {
                "at": _when(e.get("ts")),
                "action": str(e.get("action", "")).removeprefix("deployment."),
                "endpoint": str(e.get("subject", "")).removeprefix("endpoint:"),
                "by": e.get("actor"),
                "was": _state_text(before),
                "now": _state_text(after),
                "reason": details.get("reason"),
            }
        )
    return {"current": current, "events": events, "complete": complete}


def deployment_lines(model: str, version: int, facts: Mapping[str, Any]) -> list[str]:
    """The card's deployment section: now, then the history of changes that involved the version."""
    lines = ["", "## Deployment", ""]
    for endpoint, role, d in facts["current"]:
        lines.append(
            f"- Endpoint `{endpoint}`: {role} v{version} (this version), generation {d.get('generation')}, "
            f"last change {d.get('last_action')} by {d.get('updated_by')}"
        )
    events = facts["events"]
    if not facts["current"]:
        lines.append(
            f"- Not serving now: {model} v{version} was deployed before (history below)"
            if events
            else f"- Not deployed: no endpoint has served {model} v{version}"
            + ("" if facts["complete"] else " in the recent audit log")
        )
    if events:
        lines += ["", "| when | endpoint | change | by | endpoint before | endpoint after | reason |"]
        lines.append("|---|---|---|---|---|---|---|")
        for ev in events:
            reason = str(ev["reason"] or "-").replace("|", "/")
            lines.append(
                f"| {ev['at']} | {ev['endpoint']} | {ev['action']} | {ev['by']} | {ev['was']} | "
                f"{ev['now']} | {reason} |"
            )
    return lines
