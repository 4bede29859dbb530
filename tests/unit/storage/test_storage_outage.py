"""issue 13 F: a missing store root is an outage - never re-created by a writer - and files are owner-only."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from mlops.storage import FileStore, StoreConfig, StoreUnavailableError, open_store


def _ops(store):
    return {
        "put": lambda: store.put("a/b/c.json", b"1"),
        "put-create": lambda: store.put("new/key", b"1", if_none_match=True),
        "get": lambda: store.get("a/b/c.json"),
        "head": lambda: store.head("a/b/c.json"),
        "list": lambda: list(store.list("a/")),
        "delete": lambda: store.delete("a/b/c.json"),
    }


def test_a_removed_root_is_an_outage_and_is_never_recreated(tmp_path):
    root = tmp_path / "store"
    store = FileStore(root, create=True)
    store.put("a/b/c.json", b"before")
    shutil.rmtree(root)
    for name, op in _ops(store).items():
        with pytest.raises(StoreUnavailableError) as e:
            op()
        assert e.value.status == 503 and e.value.code == "store_unavailable", name
        assert "cannot be reached" in e.value.message and str(root) in e.value.message
        assert not root.exists(), f"{name} re-created the store root"
    # a store opened during the outage (a function that starts now) does not create it either
    late = open_store(StoreConfig(backend="file", path=str(root)))
    for name, op in _ops(late).items():
        with pytest.raises(StoreUnavailableError):
            op()
        assert not root.exists(), name


def test_the_store_works_again_when_its_root_returns(tmp_path):
    root, saved = tmp_path / "store", tmp_path / "saved"
    store = FileStore(root, create=True)
    store.put("k", b"v1")
    os.rename(root, saved)  # the disk goes away ...
    with pytest.raises(StoreUnavailableError):
        store.put("k2", b"x")
    os.rename(saved, root)  # ... and comes back
    assert store.get("k").data == b"v1"
    store.put("deep/er/k2", b"x")
    assert sorted(store.list("")) == ["deep/er/k2", "k"]


def test_missing_key_is_still_not_found_while_the_root_exists(tmp_path):
    from mlops.errors import NotFoundError

    store = open_store(StoreConfig(backend="file", path=str(tmp_path)))  # an existing, empty directory
    assert store.head("nope") is None and list(store.list("")) == []
    with pytest.raises(NotFoundError):
        store.get("nope")
    store.put("x/y", b"1")  # an existing directory is a usable root
    assert store.get("x/y").data == b"1"


def test_store_files_are_0600_and_directories_0700(tmp_path):
    """issue 13 F: the store holds prediction logs (features of real requests): owner-only."""
    old = os.umask(0o022)
    try:
        root = tmp_path / "store"
        store = FileStore(root, create=True)
        store.put("prediction-logs/churn/2026/01/01/x.ndjson", b"{}\n", if_none_match=True)
        store.put("reports/a.json", b"{}")
    finally:
        os.umask(old)
    for dirpath, _dirnames, filenames in os.walk(root):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700, dirpath
        for f in filenames:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode) == 0o600, f


def test_the_cli_reports_a_missing_stack_store_and_does_not_recreate_it(tmp_path, monkeypatch, capsys):
    """issue 13 F: the first command of a local stack sets it up (store directory included); once set up,
    a vanished store directory is an outage the command reports on one line (exit != 0), not a new store."""
    from pathlib import Path

    from mlops.cli import main

    root_repo = Path(__file__).resolve().parents[3]
    shutil.copy(root_repo / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(root_repo / "Pulumi.local.yaml", tmp_path / "Pulumi.local.yaml")
    monkeypatch.chdir(tmp_path)
    for var in (
        "MLOPS_STORE_BACKEND",
        "MLOPS_AUDIT_ANCHOR_SECRET",
        "MLOPS_SECRETS_BACKEND",
        "MLOPS_SECRETS_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    assert main(["models", "create", "m1", "--as", "alice"]) == 0  # first run: set-up
    store_dir = tmp_path / ".mlops" / "local" / "store"
    assert store_dir.is_dir()
    shutil.rmtree(store_dir)
    capsys.readouterr()
    assert main(["models", "create", "m2", "--as", "alice"]) != 0
    err = capsys.readouterr().err
    assert "store_unavailable" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not store_dir.exists()
