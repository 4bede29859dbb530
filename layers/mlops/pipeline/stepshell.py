"""The shell side of one build step: the script that records a step's environment at exit, and reading it back.

A step runs ``step_script``: an EXIT trap writes the step's environment (``env -0``) and the
current values of the ``exportedVariables`` names to two files; ``captured_env`` reads them
back as the environment the next step starts from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

_DROP_FROM_STEP_ENV = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})


def step_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without what each shell sets for itself (``_``, ``SHLVL``, ``PWD``, ``OLDPWD``)."""
    return {k: v for k, v in env.items() if k not in _DROP_FROM_STEP_ENV}


def _parse_env0(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in data.split(b"\0"):
        if not item or b"=" not in item:
            continue
        k, _, v = item.partition(b"=")
        out[k.decode("utf-8", "surrogateescape")] = v.decode("utf-8", "surrogateescape")
    return out


def captured_env(env_file: Path, vars_file: Path) -> dict[str, str] | None:
    """The environment a step left (its ``env -0`` plus the exported names); None if not captured."""
    if not env_file.exists():
        return None
    new_env = step_env(_parse_env0(env_file.read_bytes()))
    if vars_file.exists():
        new_env.update(_parse_env0(vars_file.read_bytes()))
    return new_env


def _shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def step_script(
    command: str, *, env_file: Path, vars_file: Path, names: Sequence[str], fail_immediately: bool
) -> str:
    """The script a step runs: an EXIT trap that captures the environment, then the command."""
    lines = [
        f"__mlops_env_out={_shell_quote(str(env_file))}",
        f"__mlops_vars_out={_shell_quote(str(vars_file))}",
        "__mlops_capture() {",
        "  __mlops_rc=$?",
        "  set +e",
        '  env -0 > "$__mlops_env_out" 2>/dev/null',
        '  : > "$__mlops_vars_out"',
        f"  for __mlops_n in {' '.join(names)}; do",
        '    eval "__mlops_isset=\\${$__mlops_n+x}"',
        '    if [ "$__mlops_isset" = x ]; then',
        '      eval "__mlops_v=\\${$__mlops_n}"',
        '      printf \'%s=%s\\000\' "$__mlops_n" "$__mlops_v" >> "$__mlops_vars_out"',
        "    fi",
        "  done",
        '  exit "$__mlops_rc"',
        "}",
        "trap __mlops_capture EXIT",
    ]
    if fail_immediately:
        lines.append("set -e")
    lines.append("# ---- step command ----")
    lines.append(command)
    return "\n".join(lines) + "\n"
