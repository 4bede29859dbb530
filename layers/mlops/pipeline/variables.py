"""Variables of a build run: bash-style ``${VAR}`` expansion, the built-in OCI variables, local secrets, masking.

``env.variables`` values are expanded the way bash expands a double-quoted string,
with the subset that makes sense in a static file: ``$NAME``, ``${NAME}``,
``${NAME:-word}``, ``${NAME-word}``, ``${NAME:+word}``, ``${NAME+word}`` (``word`` is
expanded too), and the backslash escapes ``\\$``, ``\\```, ``\\"``, ``\\\\``. Unset names
expand to the empty string, as in bash without ``set -u``. Command substitution,
arithmetic, special parameters (``$1``, ``$$``, ...) and other operators are refused with
a message naming the variable: compute such values in a step instead.

Built-in variables follow Oracle's table of predefined build variables
(build_specs.htm: OCI_STAGE_ID, OCI_PIPELINE_ID, OCI_BUILD_RUN_ID, OCI_TRIGGER_COMMIT_HASH,
OCI_TRIGGER_SOURCE_BRANCH_NAME, OCI_TRIGGER_SOURCE_URL, OCI_TRIGGER_EVENT_TYPE,
OCI_PRIMARY_SOURCE_DIR, OCI_WORKSPACE_DIR, OCI_BUILD_STAGE_NAME, OCI_PRIMARY_SOURCE_NAME,
OCI_PRIMARY_SOURCE_COMMIT_HASH, OCI_PRIMARY_SOURCE_SOURCE_URL,
OCI_PRIMARY_SOURCE_SOURCE_BRANCH_NAME). Locally the commit and branch come from git, and
``OCI_WORKSPACE_DIR/OCI_PRIMARY_SOURCE_NAME`` is the primary source dir, as on OCI.

Vault variables are resolved through a ``mlops.secrets.SecretReader``; locally that is
the JSON file outside git (``--secrets FILE``, else ``$MLOPS_SECRETS_FILE``, else
``~/.config/mlops/secrets.json``, mode 0600) mapping a secret OCID (or, as a fallback,
the variable's name) to its value.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from mlops import envvars
from mlops.errors import NotFoundError
from mlops.pipeline.specfile import SpecError
from mlops.secrets import SecretReader

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL = set("0123456789$?!#*@-")
DEFAULT_SECRETS_FILE = "~/.config/mlops/secrets.json"
MASK = "***"


# --------------------------------------------------------------------------- expansion


def _find_close(text: str, start: int, where: str) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start`` (nesting aware)."""
    depth = 1
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            i += 2
            continue
        if c == "$" and i + 1 < len(text) and text[i + 1] == "{":
            depth += 1
            i += 2
            continue
        if c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise SpecError(f"{where}: unterminated '${{' in {text!r}")


def expand(value: str, env: Mapping[str, str], where: str = "value") -> str:
    """Expand ``value`` like bash expands ``"value"`` with the supported subset (see module doc)."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\" and i + 1 < n and value[i + 1] in '$`"\\':
            out.append(value[i + 1])
            i += 2
            continue
        if c == "`":
            raise SpecError(
                f"{where}: command substitution (`...`) is not supported in variables; "
                "compute the value in a step"
            )
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = value[i + 1] if i + 1 < n else ""
        if nxt == "(":
            raise SpecError(
                f"{where}: command substitution or arithmetic ($(...)) is not supported in "
                "variables; compute the value in a step"
            )
        if nxt == "{":
            close = _find_close(value, i + 2, where)
            body = value[i + 2 : close]
            out.append(_expand_braced(body, env, where))
            i = close + 1
            continue
        m = _NAME.match(value, i + 1)
        if m:
            out.append(env.get(m.group(0), ""))
            i = m.end()
            continue
        if nxt and nxt in _SPECIAL:
            raise SpecError(f"{where}: the special parameter ${nxt} is not supported in variables")
        out.append("$")  # a lone '$' stays literal, as in bash
        i += 1
    return "".join(out)


def _expand_braced(body: str, env: Mapping[str, str], where: str) -> str:
    m = _NAME.match(body)
    if not m:
        raise SpecError(
            f"{where}: unsupported expansion ${{{body}}}; use ${{NAME}}, ${{NAME:-default}} "
            "or ${NAME:+alternative}"
        )
    name, rest = m.group(0), body[m.end() :]
    if rest == "":
        return env.get(name, "")
    for op in (":-", ":+", "-", "+"):
        if rest.startswith(op):
            word = rest[len(op) :]
            is_set = name in env
            non_empty = is_set and env[name] != ""
            present = non_empty if op.startswith(":") else is_set
            if op.endswith("-"):
                return env[name] if present else expand(word, env, where)
            return expand(word, env, where) if present else ""
    raise SpecError(
        f"{where}: unsupported expansion ${{{body}}}; use ${{NAME}}, ${{NAME:-default}} "
        "or ${NAME:+alternative}"
    )


def expand_variables(
    pairs: Iterable[tuple[str, str]], env: Mapping[str, str], keep: Iterable[str] = ()
) -> dict[str, str]:
    """Expand ``env.variables`` in file order (each may use the ones before it).

    Names in ``keep`` are not overwritten (build parameters given with ``--var`` win over
    the spec's defaults) but are still visible to later values.
    """
    current = dict(env)
    kept = set(keep)
    out: dict[str, str] = {}
    for name, raw in pairs:
        if name in kept:
            continue
        value = expand(raw, current, f"env.variables.{name}")
        current[name] = value
        out[name] = value
    return out


# --------------------------------------------------------------------------- built-ins


def git_output(source_dir: Path, *args: str) -> str:
    """The stripped stdout of `git -C source_dir ARGS`, or "" when git fails or is absent."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(source_dir), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def git_commit(source_dir: Path) -> str:
    """HEAD's commit hash of the repository holding ``source_dir`` ('' when not a git checkout)."""
    return git_output(source_dir, "rev-parse", "HEAD")


def new_build_run_id() -> str:
    """A local stand-in for a build run OCID (same shape: ``ocid1.devopsbuildrun.<realm>..<id>``)."""
    return f"ocid1.devopsbuildrun.local..{uuid.uuid4().hex}"


def builtin_variables(
    source_dir: Path, *, build_run_id: str, stage_name: str = "local-build"
) -> dict[str, str]:
    """The predefined OCI build variables for a local run of the source in ``source_dir``."""
    src = Path(source_dir).resolve()
    commit = git_commit(src)
    branch = git_output(src, "rev-parse", "--abbrev-ref", "HEAD")
    branch = "" if branch == "HEAD" else branch
    url = git_output(src, "remote", "get-url", "origin")
    return {
        "OCI_BUILD_RUN_ID": build_run_id,
        "OCI_PIPELINE_ID": "ocid1.devopsbuildpipeline.local..pipeline",
        "OCI_STAGE_ID": f"ocid1.devopsbuildpipelinestage.local..{stage_name}",
        "OCI_BUILD_STAGE_NAME": stage_name,
        "OCI_PRIMARY_SOURCE_DIR": str(src),
        "OCI_WORKSPACE_DIR": str(src.parent),
        "OCI_PRIMARY_SOURCE_NAME": src.name,
        "OCI_PRIMARY_SOURCE_COMMIT_HASH": commit,
        "OCI_PRIMARY_SOURCE_SOURCE_URL": url,
        "OCI_PRIMARY_SOURCE_SOURCE_BRANCH_NAME": branch,
        "OCI_TRIGGER_COMMIT_HASH": commit,
        "OCI_TRIGGER_SOURCE_BRANCH_NAME": branch,
        "OCI_TRIGGER_SOURCE_URL": url,
        "OCI_TRIGGER_EVENT_TYPE": "LOCAL",
    }


# --------------------------------------------------------------------------- secrets


def secrets_file_path(
    explicit: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """``explicit``, else ``$MLOPS_SECRETS_FILE``, else ``~/.config/mlops/secrets.json``."""
    env = os.environ if environ is None else environ
    raw = explicit or envvars.get(env, envvars.SECRETS_FILE) or DEFAULT_SECRETS_FILE
    return Path(os.path.expanduser(str(raw)))


def resolve_vault_variables(
    vault: Iterable[tuple[str, str]], reader: SecretReader | None, source: str
) -> dict[str, str]:
    """Each vault variable's value from ``reader``, looked up by secret OCID, then by variable name.

    A missing secret raises ``SpecError`` naming the variable, its secret id and ``source``.
    """
    out: dict[str, str] = {}
    missing: list[str] = []
    for name, secret_id in vault:
        value, why = None, ""
        for key in (secret_id, name):
            if reader is None:
                break
            try:
                value = reader.get(key)
                break
            except NotFoundError as exc:
                why = exc.message
        if value is None:
            hint = why if "does not exist" in why else f'add "{secret_id}": "<value>" to it'
            missing.append(f"env.vaultVariables.{name}: secret {secret_id!r} not found in {source} ({hint})")
        else:
            out[name] = value
    if missing:
        raise SpecError("; ".join(missing), code="missing_secret")
    return out


# --------------------------------------------------------------------------- masking


class Masker:
    """Replaces every secret value in text with ``***`` (longest first; multi-line values line by line)."""

    def __init__(self, secrets: Iterable[str] = ()):
        values: set[str] = set()
        for s in secrets:
            if not s:
                continue
            values.add(s)
            for line in s.splitlines():
                if line.strip():
                    values.add(line)
        self._values = sorted(values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in self._values)) if self._values else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        """``text`` with each secret replaced by ``***``."""
        return self._pattern.sub(MASK, text) if self._pattern else text
