"""Every command the README shows is a real command: it parses with the real CLI (stale flags fail here).

The commands are also *run*: the quickstart by tests/e2e/test_quickstart.py, `local up/down/status/logs`
and `invoke` by test_local_cli.py, the rest by the unit tiers of their areas and by CI (`bash .ci/run`).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from mlops.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def code_block_commands() -> list[str]:
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].split(" > ", 1)[0].strip()
            if line.startswith("mlops "):
                out.append(line)
    return out


def table_commands() -> list[str]:
    return re.findall(r"^\| `(mlops [^|]+?)` \|", README, re.M)


def _exists(words: list[str]) -> bool:
    try:
        build_parser().parse_args([*words, "--help"])
    except SystemExit as exc:
        return exc.code == 0
    return False


def test_the_readme_shows_both_quickstart_commands_and_many_cli_commands():
    assert "bash .ci/quickstart" in README and "bash .ci/run" in README
    assert len(code_block_commands()) >= 5 and len(table_commands()) >= 10


@pytest.mark.parametrize("cmd", code_block_commands())
def test_every_code_block_command_parses_in_full(cmd, capsys):
    words = shlex.split(cmd)[1:]
    try:
        ns = build_parser().parse_args(words)
    except SystemExit as exc:
        raise AssertionError(f"README command does not parse: {cmd}\n{capsys.readouterr().err}") from exc
    assert getattr(ns, "func", None), cmd


@pytest.mark.parametrize("cell", table_commands())
def test_every_table_command_exists(cell, capsys):
    parts = [p.strip().strip("`") for p in cell.split(" / ")]
    head = [
        w
        for w in shlex.split(parts[0])[1:]
        if not w.startswith("-") and not w.startswith("[") and not w.isupper() and "=" not in w
    ]
    # keep only the sub-command words (lower-case names before the first placeholder)
    words: list[str] = []
    for w in head:
        if _exists([*words, w]):
            words.append(w)
        else:
            break
    assert words, cell
    for alt in parts[1:]:
        name = alt.split()[0]
        assert _exists([*words[:-1], name]), f"{cell}: no command {' '.join([*words[:-1], name])}"
    capsys.readouterr()
