"""``mlops models``: register, list, show, versions, alias, approve (tables by default, ``--json``).

The store is the stack's (``--stack``, ``Pulumi.<stack>.yaml``), unless ``--store`` gives a path or
URL (``/dir``, ``s3://bucket/prefix?endpoint=http://...``, ``oci://bucket?namespace=...``) or the
``MLOPS_STORE_*`` env vars name one.
"""

from __future__ import annotations

import subprocess
from typing import Any

from mlops.cli.common import actor as actor_of  # noqa: F401 - re-exported for audit.py
from mlops.cli.common import add_action, add_actor_flag, add_store_flag, registry_for  # noqa: F401
from mlops.cli.output import emit, print_json, table
from mlops.errors import BadRequestError


def open_registry(args):
    """The registry on ``--store``, else ``MLOPS_STORE_*``, else the stack's store; acting as ``--as``."""
    return registry_for(args)


def _pairs(items: list[str] | None, what: str, *, numbers: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadRequestError(f"--{what} takes KEY=VALUE, got {item!r}", code="invalid_argument")
        if numbers:
            try:
                out[key] = float(value)
            except ValueError:
                raise BadRequestError(
                    f"--{what} {key}: {value!r} is not a number", code="invalid_argument"
                ) from None
        else:
            out[key] = _scalar(value)
    return out


def _scalar(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def _git_commit(cwd: str = ".") -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version_row(rec: dict[str, Any], aliases: dict[str, int] | None = None) -> dict[str, Any]:
    names = [a for a, v in sorted((aliases or {}).items()) if v == rec["version"]]
    return {
        "version": rec["version"],
        "created_at": rec.get("created_at"),
        "created_by": rec.get("created_by"),
        "sha256": (rec.get("artifact") or {}).get("sha256", "")[:12],
        "size": (rec.get("artifact") or {}).get("size"),
        "features": len((rec.get("signature") or {}).get("inputs") or []),
        "metrics": rec.get("metrics") or None,
        "aliases": names or None,
        "commit": (rec.get("code_commit") or "")[:10] or None,
    }


def _datasets_line(rec: dict[str, Any]) -> str:
    """The dataset versions a model version was trained/validated on (``mlops datasets show NAME:V``)."""
    refs = sorted((rec.get("datasets") or {}).items())
    return "datasets: " + (", ".join(f"{r}={d['ref']} ({d['digest'][:19]})" for r, d in refs) or "-")


# ----------------------------------------------------------------------------- commands


def cmd_register(args) -> int:
    """Register a joblib file (or an MLflow sklearn directory) with its training data."""
    from mlops.registry.datafiles import read_training_file

    reg = open_registry(args)
    X = y = None
    names = None
    if args.data:
        feature_names = [n for n in (args.feature_names or "").split(",") if n] or None
        X, y, names = read_training_file(args.data, target=args.target, feature_names=feature_names)
    commit = args.code_commit
    if commit == "auto":
        commit = _git_commit()
    elif commit == "none":
        commit = None
    common = dict(
        params=_pairs(args.param, "param"),
        metrics=_pairs(args.metric, "metric", numbers=True),
        tags=_pairs(args.tag, "tag"),
        description=args.description or "",
        code_commit=commit,
        profile=not args.no_profile,
        target_name=args.target,
        datasets={k: str(v) for k, v in _pairs(args.dataset, "dataset").items()} or None,
    )
    if args.mlflow:
        if args.artifact:
            raise BadRequestError("give --artifact or --mlflow, not both", code="invalid_argument")
        rec = reg.import_mlflow(args.model, args.mlflow, X, y, **common)
    else:
        if not args.artifact:
            raise BadRequestError(
                "--artifact FILE.joblib (or --mlflow DIR) is required", code="invalid_argument"
            )
        if X is None:
            raise BadRequestError(
                "--data FILE is required: the signature and drift profile come from it",
                code="invalid_argument",
            )
        from mlops.registry.artifacts import load_model_bytes, read_model_file

        data = read_model_file(args.artifact)  # checked (no symlink, not empty, joblib magic) first
        estimator = load_model_bytes(
            data, f"--artifact {args.artifact}"
        )  # the user's own file, inspected here
        rec = reg.register_version(args.model, data, X, y, feature_names=names, estimator=estimator, **common)
    if args.json:
        print_json(rec)
    else:
        print(
            table(
                [
                    _version_row(rec)
                    | {"model": rec["model"], "profile": "yes" if rec.get("reference_profile") else "no"}
                ],
                ["model", "version", "sha256", "size", "features", "profile", "commit"],
            )
        )
    return 0


def cmd_list(args) -> int:
    models = open_registry(args).list_models()
    rows = [
        {
            "name": m["name"],
            "aliases": ",".join(f"{a}=v{v}" for a, v in sorted(m.get("aliases", {}).items())) or None,
            "governed": m.get("governed_aliases"),
            "updated_at": m.get("updated_at"),
            "description": (m.get("description") or "")[:50] or None,
        }
        for m in models
    ]
    emit(
        {"models": models} if args.json else rows,
        args,
        None if args.json else ["name", "aliases", "governed", "updated_at", "description"],
    )
    return 0


def _shap_summary(imp: dict[str, Any] | None, top: int = 5) -> str:
    """One line: the version's top features by mean |SHAP| (computed at registration), or why there are none."""
    if not imp or not imp.get("values"):
        return "importance (mean |SHAP|): not computed for this version (no training rows, or text features)"
    ranked = sorted(imp["values"].items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{name} {value:.3g}" for name, value in ranked[:top])
    more = f" (+{len(ranked) - top} more)" if len(ranked) > top else ""
    return (
        f"importance (mean |SHAP|, {imp.get('output_space')}, {imp.get('rows')} training rows): {shown}{more}"
    )


def _show_version(reg, args) -> int:
    from mlops.registry.onnxexport import served_as

    rec = reg.get_version(args.model, reg.resolve(args.model, args.version))
    if args.json:
        print_json(
            {**rec, "approval": reg.get_approval(args.model, rec["version"]), "served_as": served_as(rec)}
        )
        return 0
    approval = reg.get_approval(args.model, rec["version"])
    sig = rec.get("signature") or {}
    print(
        table(
            [_version_row(rec, reg.get_model(args.model).get("aliases"))],
            ["version", "created_at", "created_by", "sha256", "size", "commit", "aliases"],
        )
    )
    print(
        f"approval: {approval['state']}"
        + (
            f" (last: {approval['history'][-1]['event']} by {approval['history'][-1]['by']})"
            if approval["history"]
            else ""
        )
    )
    print(f"training data: {(rec.get('training_data') or {}).get('digest')}")
    print(_datasets_line(rec))
    print(f"served as: {served_as(rec)}")
    print(f"params: {rec.get('params')}  metrics: {rec.get('metrics')}")
    print(table(sig.get("inputs") or [], ["name", "dtype", "kind"]))
    if sig.get("classes") is not None:
        from mlops.cardparts import class_labels

        print(f"classes: {class_labels(sig, rec.get('tags'))}")
    print(_shap_summary(rec.get("shap_importance")))
    return 0


def cmd_show(args) -> int:
    reg = open_registry(args)
    if args.version:
        return _show_version(reg, args)
    doc = reg.get_model(args.model)
    if args.json:
        print_json(doc)
        return 0
    print(
        table(
            [
                {
                    "name": doc["name"],
                    "created_by": doc.get("created_by"),
                    "created_at": doc.get("created_at"),
                    "governed": doc.get("governed_aliases"),
                    "requires": doc.get("required_metadata") or None,
                }
            ],
            ["name", "created_by", "created_at", "governed", "requires"],
        )
    )
    if doc.get("description"):
        print(doc["description"])
    print(
        table(
            [{"alias": a, "version": v} for a, v in sorted((doc.get("aliases") or {}).items())],
            ["alias", "version"],
        )
    )
    return 0


def cmd_versions(args) -> int:
    reg = open_registry(args)
    versions = reg.list_versions(args.model)
    if args.json:
        print_json({"model": args.model, "versions": versions})
        return 0
    aliases = reg.get_model(args.model).get("aliases") or {}
    print(
        table(
            [_version_row(r, aliases) for r in versions],
            ["version", "created_at", "created_by", "sha256", "features", "metrics", "aliases", "commit"],
        )
    )
    return 0


def cmd_create(args) -> int:
    reg = open_registry(args)
    governed = args.governed if args.governed is not None else None
    if args.no_governed:
        governed = []
    doc = reg.create_model(
        args.model,
        description=args.description or "",
        required_metadata=args.require,
        governed_aliases=governed,
        tags=_pairs(args.tag, "tag"),
        allow_unapproved_deploys=args.allow_unapproved_deploys,
    )
    emit(
        doc, args, ["name", "governed_aliases", "required_metadata", "allow_unapproved_deploys", "created_by"]
    )
    return 0


def cmd_policy(args) -> int:
    reg = open_registry(args)
    if args.allow_unapproved_deploys is None:
        doc = reg.get_model(args.model)
    else:
        doc = reg.update_model(args.model, allow_unapproved_deploys=args.allow_unapproved_deploys)
    doc = {**doc, "allow_unapproved_deploys": bool(doc.get("allow_unapproved_deploys"))}
    emit(doc, args, ["name", "governed_aliases", "allow_unapproved_deploys", "updated_by", "updated_at"])
    return 0


def cmd_alias(args) -> int:
    reg = open_registry(args)
    kwargs: dict[str, Any] = {"reason": args.reason}
    if args.expect is not None:
        kwargs["expected_version"] = None if args.expect == "none" else args.expect
    if args.delete:
        doc = reg.delete_alias(args.model, args.alias, **kwargs)
    else:
        if args.version is None:
            print(reg.alias_version(args.model, args.alias))
            return 0
        doc = reg.set_alias(args.model, args.alias, reg.resolve(args.model, args.version), **kwargs)
    emit(
        {"model": doc["name"], "aliases": doc.get("aliases") or {}}
        if args.json
        else [{"alias": a, "version": v} for a, v in sorted((doc.get("aliases") or {}).items())],
        args,
        None if args.json else ["alias", "version"],
    )
    return 0


def cmd_request_approval(args) -> int:
    reg = open_registry(args)
    doc = reg.request_approval(args.model, reg.resolve(args.model, args.version), comment=args.comment or "")
    emit(doc, args, ["model", "version", "state"])
    return 0


def cmd_approve(args) -> int:
    reg = open_registry(args)
    decision = "reject" if args.reject else "approve"
    doc = reg.decide_approval(
        args.model, reg.resolve(args.model, args.version), decision, comment=args.comment or ""
    )
    emit(doc, args, ["model", "version", "state"])
    return 0


# ----------------------------------------------------------------------------- parser


def _add_register(actions) -> None:
    r = add_action(
        actions,
        "register",
        "register a new version from a joblib file and its training data",
        cmd_register,
        writes=True,
    )
    r.add_argument("model")
    r.add_argument("--artifact", help="the fitted model as a joblib file")
    r.add_argument(
        "--mlflow",
        metavar="DIR|URI",
        help="an MLflow model directory (sklearn flavor) or a models:/name/version or models:/name@alias URI, instead",
    )
    r.add_argument(
        "--data", help="training data (.csv, .npy, .parquet): signature, lineage digest, drift profile"
    )
    r.add_argument("--target", help="the label column in --data (excluded from the features)")
    r.add_argument("--feature-names", help="comma-separated names, in model order (for .npy, or to reorder)")
    r.add_argument("--param", action="append", metavar="K=V", help="a training parameter (repeatable)")
    r.add_argument("--metric", action="append", metavar="K=V", help="an evaluation metric (repeatable)")
    r.add_argument("--tag", action="append", metavar="K=V", help="a tag (repeatable)")
    r.add_argument("--description", default="")
    r.add_argument(
        "--code-commit",
        default="auto",
        help="git commit of the training code (default: this repository's HEAD; 'none' to leave it out)",
    )
    r.add_argument("--no-profile", action="store_true", help="do not store a drift reference profile")
    r.add_argument(
        "--dataset",
        action="append",
        metavar="ROLE=NAME:V",
        help="a dataset version it was trained/validated on, e.g. train=churn:3 (repeatable; must exist)",
    )


def _add_governance(actions) -> None:
    """``create`` (a model with its governance settings) and ``policy`` (unapproved deploys allowed or not)."""
    c = add_action(actions, "create", "create a model with its governance settings", cmd_create, writes=True)
    c.add_argument("model")
    c.add_argument("--description", default="")
    c.add_argument(
        "--require",
        action="append",
        metavar="FIELD",
        help="metadata every version must carry: code_commit, metrics.auc, tags.owner, ... (repeatable)",
    )
    c.add_argument(
        "--governed",
        action="append",
        metavar="ALIAS",
        help="an alias that may only point at approved versions (default: production; repeatable)",
    )
    c.add_argument("--no-governed", action="store_true", help="no governed aliases at all")
    c.add_argument("--tag", action="append", metavar="K=V")
    c.add_argument(
        "--allow-unapproved-deploys",
        action="store_true",
        help="let versions nobody approved serve traffic (stable, canary, shadow); audited",
    )

    pol = add_action(
        actions,
        "policy",
        "show or change whether unapproved versions may serve traffic (audited)",
        cmd_policy,
        writes=True,
    )
    pol.add_argument("model")
    choice = pol.add_mutually_exclusive_group()
    choice.add_argument(
        "--allow-unapproved-deploys",
        dest="allow_unapproved_deploys",
        action="store_const",
        const=True,
        default=None,
        help="versions serve traffic without approval",
    )
    choice.add_argument(
        "--require-approved-deploys",
        dest="allow_unapproved_deploys",
        action="store_const",
        const=False,
        help="only approved versions serve traffic (the default)",
    )


def _add_alias_and_approval(actions) -> None:
    a = add_action(actions, "alias", "show, set or delete an alias", cmd_alias, writes=True)
    a.add_argument("model")
    a.add_argument("alias")
    a.add_argument("version", nargs="?", help="version number, 'latest' or another alias (omit to show)")
    a.add_argument("--delete", action="store_true")
    a.add_argument("--expect", metavar="VERSION", help="only if the alias points here now ('none' = unset)")
    a.add_argument("--reason", default=None)

    q = add_action(
        actions, "request-approval", "ask for a version to be approved", cmd_request_approval, writes=True
    )
    q.add_argument("model")
    q.add_argument("version")
    q.add_argument("--comment", default="")

    ap = add_action(
        actions,
        "approve",
        "approve (or --reject) a pending request; not your own registration",
        cmd_approve,
        writes=True,
    )
    ap.add_argument("model")
    ap.add_argument("version")
    ap.add_argument("--reject", action="store_true")
    ap.add_argument("--comment", default="")


def register(sub) -> None:
    p = sub.add_parser("models", help="register, inspect, alias and approve model versions")
    m = p.add_subparsers(dest="models_command", metavar="ACTION")
    _add_register(m)
    add_action(m, "list", "list models", cmd_list)
    s = add_action(m, "show", "a model (its settings and aliases), or one version with --version", cmd_show)
    s.add_argument("model")
    s.add_argument("--version", help="a version number, alias or 'latest'")
    v = add_action(m, "versions", "the versions of a model", cmd_versions)
    v.add_argument("model")
    _add_governance(m)
    _add_alias_and_approval(m)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
