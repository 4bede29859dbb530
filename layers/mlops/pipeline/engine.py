"""Whether a working container engine is present, and which build commands need one.

A client binary is not enough: ``docker`` installed with no daemon fails every build.
An engine counts as working only when ``<engine> info`` succeeds. ``fn build`` drives
docker, so ``fn`` needs a working engine too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ENGINE_COMMANDS = ("docker", "podman", "buildah", "fn")
_CANDIDATES = ("docker", "podman")
# A command word: at a line start or after ; & | ( $( `, `then`, `do`, `else`, `!`, with
# optional env assignments and wrappers (sudo, time, command, exec, env) in front.
_WRAPPERS = r"(?:(?:sudo|time|command|exec|env|nice|nohup)\s+(?:-\S+\s+)*)*"
_ASSIGNS = r"(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*"
_COMMAND_WORD = re.compile(
    r"(?:^|[;&|(`]|\$\(|\b(?:then|do|else|elif|if|while|until)\s|!\s)\s*"
    + _ASSIGNS
    + _WRAPPERS
    + r"("
    + "|".join(ENGINE_COMMANDS)
    + r")(?=\s|$|;|\)|&|\|)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class EngineProbe:
    """The outcome of looking for a container engine."""

    available: bool
    engine: str | None = None  # "docker" | "podman" when available
    reason: str = ""  # why none is usable, for the skip message


def _strip_comments(command: str) -> str:
    lines = []
    for line in command.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("#"):
            lines.append("")
            continue
        lines.append(re.sub(r"\s#.*$", "", line))
    return "\n".join(lines)


def engine_command_in(command: str) -> tuple[str, int] | None:
    """The first container-engine command run by ``command`` and its 1-based line, or None."""
    text = _strip_comments(command)
    m = _COMMAND_WORD.search(text)
    if not m:
        return None
    return m.group(1), text.count("\n", 0, m.start(1)) + 1


def detect_container_engine(
    *,
    environ: Mapping[str, str] | None = None,
    candidates: Sequence[str] = _CANDIDATES,
    timeout_s: float = 20.0,
) -> EngineProbe:
    """The first engine whose ``info`` succeeds on ``environ['PATH']``; else why none works."""
    env = dict(os.environ if environ is None else environ)
    reasons: list[str] = []
    for name in candidates:
        exe = shutil.which(name, path=env.get("PATH"))
        if not exe:
            continue
        try:
            proc = subprocess.run(
                [exe, "info"],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            reasons.append(f"'{name} info' did not answer within {timeout_s:.0f} s")
            continue
        except OSError as exc:
            reasons.append(f"'{name} info' could not run: {exc}")
            continue
        if proc.returncode == 0:
            return EngineProbe(True, name, "")
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = next((line for line in reversed(detail) if line.strip()), "no output")
        reasons.append(f"'{name} info' failed (exit {proc.returncode}): {last.strip()[:200]}")
    if not reasons:
        return EngineProbe(False, None, f"none of {', '.join(candidates)} is installed")
    return EngineProbe(False, None, "; ".join(reasons))
