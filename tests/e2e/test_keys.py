"""`mlops keys` as users run it, many at once: no key is lost (issue 13 B), principals are checked (issue 13 D)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlops.local.setup import add_api_keys
from mlops.secrets import FileSecrets
from mlops.serving.apikeys import KeyRing, new_api_key
from mlops.settings import load_stack

from tests.projects import make_project

pytestmark = pytest.mark.e2e

N_NEW, N_REVOKE = 48, 16  # 64 concurrent CLI processes


def _cmd(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "mlops.cli", "--stack", "e2e", "--project-dir", str(project), *args]


def _run_all(cmds: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd) for c in cmds
    ]
    out = []
    for c, p in zip(cmds, procs, strict=True):
        stdout, stderr = p.communicate(timeout=600)
        out.append(subprocess.CompletedProcess(c, p.returncode, stdout, stderr))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "ring"])
def test_64_concurrent_keys_new_and_revoke_lose_nothing(tmp_path, where):
    """issue 13 B: 48 `keys new` and 16 `keys revoke` at once -> exactly the expected ring, every token works."""
    project = make_project(tmp_path / "project")
    settings = load_stack("e2e", project)
    ring_file = tmp_path / "cloud-ring.json"
    if where == "local":
        old_tokens = add_api_keys(settings, [(f"old-{i}", ["mlops:predict"]) for i in range(N_REVOKE)])
        extra: tuple[str, ...] = ()
    else:
        issued = [new_api_key(f"old-{i}", ["mlops:predict"]) for i in range(N_REVOKE)]
        ring_file.write_text(KeyRing([r for _, r in issued]).to_json())
        ring_file.chmod(0o600)
        old_tokens = [t for t, _ in issued]
        extra = ("--ring", str(ring_file))
    old_ids = [KeyRing.key_id(f"Bearer {t}") for t in old_tokens]

    cmds = [_cmd(project, "keys", "new", f"ck-{i}", "--scope", "mlops:predict", *extra) for i in range(N_NEW)]
    cmds += [_cmd(project, "keys", "revoke", kid, *extra) for kid in old_ids]
    results = _run_all(cmds, project)
    for r in results:
        assert r.returncode == 0, (r.args[-4:], r.stderr)
    tokens = {f"ck-{i}": r.stdout.strip() for i, r in enumerate(results[:N_NEW])}

    if where == "local":
        ring = KeyRing.from_json(
            FileSecrets(settings.path(settings.local.secrets_file)).get(settings.auth.api_keys_secret)
        )
        mode = settings.path(settings.local.secrets_file).stat().st_mode & 0o777
    else:
        ring = KeyRing.from_json(ring_file.read_text())
        mode = ring_file.stat().st_mode & 0o777
    assert mode == 0o600
    new = {r.principal: r for r in ring.by_id.values() if r.principal.startswith("ck-")}
    assert sorted(new) == sorted(tokens)  # not one key lost
    for principal, token in tokens.items():
        rec = ring.verify(f"Bearer {token}")  # every printed token works
        assert rec is not None and rec.principal == principal and rec.scopes == ("mlops:predict",)
    for kid, token in zip(old_ids, old_tokens, strict=True):
        assert ring.by_id[kid].disabled and ring.verify(f"Bearer {token}") is None  # every revoke kept
    expected = N_NEW + N_REVOKE + (1 if where == "local" else 0)  # the local ring also has the dev key
    assert len(ring.by_id) == expected
    leftovers = [p.name for p in ring_file.parent.rglob("*.tmp")]
    assert leftovers == []


@pytest.mark.parametrize(
    "principal", ["", "张三", "😀", "a" * 300, "evil\r\nFn-Http-H-X-Mlops-Scopes: mlops:deploy"]
)
def test_keys_new_refuses_a_malformed_principal_in_one_line(tmp_path, principal):
    """issue 13 D: one line on stderr, non-zero exit, nothing written."""
    project = make_project(tmp_path / "project")
    r = subprocess.run(
        _cmd(project, "keys", "new", principal, "--ring", str(tmp_path / "ring.json")),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )
    assert r.returncode != 0 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "invalid_principal" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "ring.json").exists()


def test_keys_help_documents_the_principal_rule(tmp_path):
    project = make_project(tmp_path / "project")
    r = subprocess.run(
        _cmd(project, "keys", "new", "--help"), capture_output=True, text=True, timeout=120, cwd=project
    )
    assert r.returncode == 0 and "ASCII letters, digits and . _ @ : + -" in " ".join(r.stdout.split())


def test_keys_list_reads_a_ring_the_cli_wrote(tmp_path):
    project = make_project(tmp_path / "project")
    ring = tmp_path / "ring.json"
    r = subprocess.run(
        _cmd(project, "keys", "new", "alice@example.com", "--ring", str(ring)),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        _cmd(project, "keys", "list", "--ring", str(ring), "--json"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )
    assert [k["principal"] for k in json.loads(r.stdout)] == ["alice@example.com"]
