"""Variable expansion agrees with bash; built-ins come from git; vault secrets resolve or fail by name."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from mlops.pipeline.specfile import SpecError
from mlops.pipeline.variables import (
    Masker,
    builtin_variables,
    expand,
    expand_variables,
    resolve_vault_variables,
    secrets_file_path,
)
from mlops.secrets import FileSecrets

ENV = {"A": "alpha", "EMPTY": "", "SP": "two words", "DIR": "/srv/x"}

CASES = [
    "plain text",
    "$A",
    "${A}",
    "pre-${A}-post",
    "$A$A",
    "${UNSET}",
    "x${UNSET}y",
    "${UNSET:-fallback}",
    "${EMPTY:-fallback}",
    "${EMPTY-fallback}",
    "${UNSET-fallback}",
    "${A:+alt}",
    "${EMPTY:+alt}",
    "${EMPTY+alt}",
    "${UNSET+alt}",
    "${UNSET:-${A}/nested}",
    "${UNSET:-${ALSO_UNSET:-deep}}",
    "${DIR}/.mlops/build",
    "${SP}",
    r"\$A is literal",
    r"back\\slash",
    r"keep \n as is",
    'quote " inside',
    "cost: 5$",
    "a $ b",
    "$A_suffix",
    "${A}_suffix",
]


@pytest.mark.parametrize("value", CASES)
def test_expansion_matches_bash_double_quotes(value):
    quoted = value.replace('"', '\\"') if '\\"' not in value else value
    proc = subprocess.run(
        ["bash", "-c", f'printf %s "{quoted}"'],
        env={**ENV, "PATH": os.defpath},
        capture_output=True,
        text=True,
        check=True,
    )
    assert expand(value, ENV) == proc.stdout


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("$(whoami)", "command substitution"),
        ("`whoami`", "command substitution"),
        ("$((1+2))", "command substitution or arithmetic"),
        ("$1", "special parameter $1"),
        ("$$", "special parameter $$"),
        ("${#A}", "unsupported expansion ${#A}"),
        ("${A/a/b}", "unsupported expansion ${A/a/b}"),
        ("${A", "unterminated"),
    ],
)
def test_unsupported_forms_are_refused_naming_the_variable(value, fragment):
    with pytest.raises(SpecError) as info:
        expand(value, ENV, "env.variables.X")
    assert info.value.message.startswith("env.variables.X: ")
    assert fragment in info.value.message


def test_variables_expand_in_order_and_parameters_win():
    pairs = [("BASE", "${OCI_PRIMARY_SOURCE_DIR}/build"), ("VENV", "${BASE}/venv"), ("STACK", "local")]
    env = {"OCI_PRIMARY_SOURCE_DIR": "/src", "STACK": "dev"}
    out = expand_variables(pairs, env, keep={"STACK"})
    assert out == {"BASE": "/src/build", "VENV": "/src/build/venv"}


def test_builtin_variables_come_from_the_git_checkout(tmp_path):
    repo = tmp_path / "myrepo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "feature-x", str(repo)], check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = builtin_variables(repo, build_run_id="ocid1.devopsbuildrun.local..abc")
    assert env["OCI_TRIGGER_COMMIT_HASH"] == head == env["OCI_PRIMARY_SOURCE_COMMIT_HASH"]
    assert env["OCI_TRIGGER_SOURCE_BRANCH_NAME"] == "feature-x"
    assert env["OCI_PRIMARY_SOURCE_DIR"] == str(repo.resolve())
    assert Path(env["OCI_WORKSPACE_DIR"]) / env["OCI_PRIMARY_SOURCE_NAME"] == repo.resolve()
    assert env["OCI_BUILD_RUN_ID"] == "ocid1.devopsbuildrun.local..abc"


def test_builtin_variables_outside_git_have_empty_commit(tmp_path):
    env = builtin_variables(tmp_path, build_run_id="x")
    assert env["OCI_TRIGGER_COMMIT_HASH"] == ""


def secrets_file(tmp_path, data) -> FileSecrets:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return FileSecrets(path)


def test_vault_variables_resolve_by_ocid_then_by_name(tmp_path):
    reader = secrets_file(tmp_path, {"ocid1.vaultsecret..a": "va", "B": "vb"})
    out = resolve_vault_variables([("A", "ocid1.vaultsecret..a"), ("B", "ocid1.vaultsecret..b")], reader, "f")
    assert out == {"A": "va", "B": "vb"}


def test_missing_secret_names_the_variable_and_the_secret(tmp_path):
    reader = secrets_file(tmp_path, {})
    with pytest.raises(SpecError) as info:
        resolve_vault_variables([("TOKEN", "ocid1.vaultsecret..tok")], reader, "/x/secrets.json")
    assert info.value.code == "missing_secret"
    assert (
        "env.vaultVariables.TOKEN: secret 'ocid1.vaultsecret..tok' not found in /x/secrets.json"
        in info.value.message
    )


def test_missing_secrets_file_is_explained(tmp_path):
    with pytest.raises(SpecError, match="env.vaultVariables.T: .*does not exist"):
        resolve_vault_variables([("T", "id")], FileSecrets(tmp_path / "none.json"), "none.json")


def test_secrets_file_path_precedence(tmp_path):
    assert secrets_file_path("/a.json", {"MLOPS_SECRETS_FILE": "/b.json"}) == Path("/a.json")
    assert secrets_file_path(None, {"MLOPS_SECRETS_FILE": "/b.json"}) == Path("/b.json")
    assert secrets_file_path(None, {}) == Path(os.path.expanduser("~/.config/mlops/secrets.json"))


def test_masker_hides_every_secret_including_lines_of_multiline_ones():
    m = Masker(["s3cr3t", "", "line-one\nline-two", "s3cr3t-longer"])
    assert m.mask("a s3cr3t-longer and s3cr3t") == "a *** and ***"
    assert m.mask("got line-two") == "got ***"
    assert Masker([]).mask("unchanged") == "unchanged"
    assert not Masker([""])
