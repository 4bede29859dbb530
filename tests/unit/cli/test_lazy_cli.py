"""`mlops --help` and `mlops <command> --help` load argparse-level code only: no numerical, cloud or YAML
libraries (a command's module is imported when that command is asked for, its work's imports when it runs)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from mlops.cli import COMMANDS, build_parser

HEAVY = ("numpy", "scipy", "sklearn", "joblib", "oci", "boto3", "botocore", "yaml", "pulumi", "fdk")
NAMES = [name for _, commands in COMMANDS for name, _ in commands]

PROBE = """
import contextlib, io, sys
from mlops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})))
"""


def _loaded_after(words: list[str]) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *words],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return {name.split(".")[0] for name in r.stdout.split()}


def test_top_level_help_imports_no_heavy_library_and_no_command_module():
    code = (
        "import contextlib, io, sys\nfrom mlops.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "print(' '.join(sorted(n for n in sys.modules if n.startswith(('mlops', *" + repr(HEAVY) + ")))))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = set(r.stdout.split())
    assert not {n for n in loaded if n.split(".")[0] in HEAVY}, loaded
    assert loaded <= {"mlops", "mlops.cli", "mlops.errors"}, loaded


@pytest.mark.parametrize("command", NAMES)
def test_command_help_imports_no_heavy_library(command):
    assert not _loaded_after([command, "--help"])


def _top_level_helps(parser: argparse.ArgumentParser) -> list[tuple[str, str | None]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(choice.dest, choice.help) for choice in sub._choices_actions]


def test_the_command_table_matches_what_the_modules_register():
    """The placeholders `mlops --help` shows are the commands, in the order and with the help, of the modules."""
    assert _top_level_helps(build_parser()) == [pair for _, commands in COMMANDS for pair in commands]


@pytest.mark.parametrize("command", NAMES)
def test_a_command_lists_the_same_commands_lazily_and_in_full(command):
    assert _top_level_helps(build_parser({command})) == _top_level_helps(build_parser(()))
