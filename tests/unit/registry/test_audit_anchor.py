"""Issue 13 E: the audit log is anchored outside the store, so its tail cannot be cut undetected.

Before: removing the last entry and rewriting ``audit-tip.json`` to the previous entry's seq and hash
made ``verify`` answer "intact" (and so did every other rewrite of entries + tip that kept the chain
consistent). With an anchor key (Vault / the secrets file), every single-object and two-object
tampering of the entries and the tip is reported, enumerated systematically below.
"""

from __future__ import annotations

import itertools
import json

import pytest
from mlops.errors import ConfigError, UnavailableError
from mlops.registry import AuditAnchor, Registry, entry_hash
from mlops.registry.anchor import anchor_from_secret, new_anchor_key
from mlops.registry.keys import AUDIT_TIP, audit_key
from mlops.secrets import FileSecrets

N = 4  # entries in the log under attack


@pytest.fixture
def key() -> str:
    return new_anchor_key()


@pytest.fixture
def signed(tmp_path, clock, key) -> Registry:
    from mlops.storage import FileStore

    store = FileStore(tmp_path / "anchored", fsync=False)  # hundreds of tamper-and-restore rounds
    reg = Registry(store, clock=clock, actor="alice", anchor=AuditAnchor.from_key(key))
    for i in range(N):
        clock.tick()
        reg.create_model(f"m{i}")
    return reg


def _entry(store, seq: int) -> dict:
    return json.loads(store.get(audit_key(seq)).data)


def _put(store, key: str, doc) -> None:
    store.put(key, doc if isinstance(doc, bytes) else json.dumps(doc).encode())


def _edit(seq: int, *, rehash: bool = False, strip: bool = False, actor: str | None = "mallory"):
    def op(store):
        e = _entry(store, seq)
        if actor:
            e["actor"] = actor
        if rehash:
            e["hash"] = entry_hash(e)
        if strip:
            e.pop("mac", None)
            e.pop("kid", None)
        _put(store, audit_key(seq), e)

    return op


def _tip(**changes):
    def op(store):
        tip = json.loads(store.get(AUDIT_TIP).data)
        for k, v in changes.items():
            if v is None:
                tip.pop(k, None)
            else:
                tip[k] = v
        _put(store, AUDIT_TIP, tip)

    return op


def _tip_at(seq: int, *, unsigned: bool = False):
    def op(store):
        e = _entry(store, seq)
        tip = json.loads(store.get(AUDIT_TIP).data)
        tip.update(seq=seq, hash=e["hash"], ts=e["ts"])
        if unsigned:
            for k in ("mac", "kid", "anchored_from"):
                tip.pop(k, None)
        _put(store, AUDIT_TIP, tip)

    return op


def _forge_next(*, copy_mac: bool):
    def op(store):
        last = _entry(store, N)
        e = {
            **last,
            "seq": N + 1,
            "id": "f" * 32,
            "actor": "mallory",
            "action": "approval.approve",
            "prev_hash": last["hash"],
        }
        e["hash"] = entry_hash(e)
        if not copy_mac:
            e.pop("mac", None)
            e.pop("kid", None)
        _put(store, audit_key(N + 1), e)

    return op


def single_tamperings() -> dict[str, tuple[set[str], object]]:
    """name -> (objects touched, operation): every way to change one object of the log."""
    ops: dict[str, tuple[set[str], object]] = {}
    for k in range(1, N + 1):
        obj = {audit_key(k)}
        ops[f"delete {k}"] = (obj, lambda s, k=k: s.delete(audit_key(k)))
        ops[f"edit {k}"] = (obj, _edit(k))
        ops[f"edit+rehash {k}"] = (obj, _edit(k, rehash=True))
        ops[f"edit+rehash+strip {k}"] = (obj, _edit(k, rehash=True, strip=True))
        ops[f"strip signature {k}"] = (obj, _edit(k, strip=True, actor=None))
        ops[f"corrupt {k}"] = (obj, lambda s, k=k: _put(s, audit_key(k), b"garbage"))
    nxt = {audit_key(N + 1)}
    ops["append forged unsigned"] = (nxt, _forge_next(copy_mac=False))
    ops["append forged with a copied mac"] = (nxt, _forge_next(copy_mac=True))
    tip = {AUDIT_TIP}
    ops["delete tip"] = (tip, lambda s: s.delete(AUDIT_TIP))
    ops["corrupt tip"] = (tip, lambda s: _put(s, AUDIT_TIP, b"{"))
    ops["tip ahead"] = (tip, _tip(seq=N + 1, hash="e" * 64))
    ops["tip anchored_from moved"] = (tip, _tip(anchored_from=N))
    ops["tip unsigned"] = (tip, _tip(mac=None, kid=None))
    for j in range(1, N):
        ops[f"tip rewritten to {j}"] = (tip, _tip_at(j))
        ops[f"tip rewritten to {j}, unsigned"] = (tip, _tip_at(j, unsigned=True))
    return ops


def _swap(a: int, b: int):
    def op(store):
        da, db = store.get(audit_key(a)).data, store.get(audit_key(b)).data
        store.put(audit_key(a), db)
        store.put(audit_key(b), da)

    return op


def _snapshot(store) -> dict[str, bytes]:
    keys = [k for k in store.list("audit/")] + [AUDIT_TIP]
    return {k: store.get(k).data for k in keys}


def _restore(store, snap: dict[str, bytes]) -> None:
    for k in [*store.list("audit/"), AUDIT_TIP]:
        if k not in snap and store.head(k) is not None:
            store.delete(k)
    for k, v in snap.items():
        store.put(k, v)


def _undetected(reg: Registry, cases: dict[str, list]) -> list[str]:
    snap = _snapshot(reg.store)
    missed = []
    for name, ops in cases.items():
        for op in ops:
            op(reg.store)
        report = reg.audit.verify()
        if report["ok"]:
            missed.append(name)
        _restore(reg.store, snap)
    assert reg.audit.verify()["ok"]
    return missed


def tamper_cases() -> dict[str, list]:
    singles = single_tamperings()
    cases = {name: [op] for name, (_objs, op) in singles.items()}
    for (n1, (o1, op1)), (n2, (o2, op2)) in itertools.combinations(singles.items(), 2):
        if not o1 & o2:  # the tip and forged-entry operations read the intact log: they go first
            cases[f"{n1} + {n2}"] = [op2, op1] if n2.startswith(("tip", "append")) else [op1, op2]
    for a, b in itertools.combinations(range(1, N + 1), 2):
        cases[f"swap {a} and {b}"] = [_swap(a, b)]
    return cases


def test_the_reported_attack_is_detected(signed):
    """issue 13 E, the reproduction: remove the last entry and rewrite the tip to the previous entry."""
    store = signed.store
    assert signed.audit.verify()["ok"]
    store.delete(audit_key(N))
    _tip_at(N - 1)(store)
    report = signed.audit.verify()
    assert not report["ok"] and report["anchor"]["state"] == "failed"
    assert [(p["key"], p["kind"]) for p in report["problems"]] == [(AUDIT_TIP, "forged")]
    assert "rewritten" in report["problems"][0]["message"]


def test_every_single_and_two_object_tampering_is_detected(signed):
    """issue 13 E: delete / edit / rehash / strip / corrupt each entry, forge an appended one, rewrite the tip
    in every way, each alone and every pair of them on different objects, and every swap of two entries."""
    cases = tamper_cases()
    assert len(cases) > 500
    assert _undetected(signed, cases) == []


def test_an_intact_anchored_log_verifies_and_says_so(signed, key):
    report = signed.audit.verify()
    assert report["ok"] and report["entries"] == N and report["problems"] == []
    assert report["anchor"]["state"] == "verified" and report["anchor"]["anchored_from"] == 1
    assert report["anchor"]["tip_seq"] == N
    entry = _entry(signed.store, 2)
    assert set(entry) >= {"mac", "kid"} and key not in json.dumps(entry)
    tip = json.loads(signed.store.get(AUDIT_TIP).data)
    assert tip["seq"] == N and tip["anchored_from"] == 1 and key not in json.dumps(tip)


def test_a_store_written_without_a_key_stays_readable_and_is_anchored_by_the_next_change(store, clock, key):
    """issue 13 E: an old (unsigned) store verifies without a key, saying it is not anchored; with a key it
    is refused until a signed change anchors it; afterwards the old entries stay protected by the chain."""
    old = Registry(store, clock=clock, actor="alice")
    for i in range(3):
        clock.tick()
        old.create_model(f"m{i}")
    report = old.audit.verify()
    assert report["ok"] and report["anchor"]["state"] == "absent"
    anchored = Registry(store, clock=clock, actor="alice", anchor=AuditAnchor.from_key(key))
    report = anchored.audit.verify()
    assert not report["ok"] and [p["kind"] for p in report["problems"]] == ["unanchored"]
    assert "mlops audit anchor" in report["problems"][0]["message"]
    anchored.audit_event("alice", "audit.anchor", "registry:audit", {"legacy_entries": 3})
    report = anchored.audit.verify()
    assert report["ok"] and report["anchor"]["anchored_from"] == 4
    _edit(2, rehash=True)(store)  # a legacy entry: still chained
    assert [p["kind"] for p in anchored.audit.verify()["problems"]] == ["edited"]
    assert old.audit.verify()["anchor"]["state"] == "unchecked"  # signed, but no key here


def test_a_writer_without_the_key_is_reported_and_never_replaces_the_signed_tip(signed, clock):
    """issue 13 E: every writer needs the key; one without it leaves a trace instead of a hole."""
    store = signed.store
    tip_before = store.get(AUDIT_TIP).data
    keyless = Registry(store, clock=clock, actor="intruder")
    keyless.create_model("sneaky")
    assert store.get(AUDIT_TIP).data == tip_before
    report = signed.audit.verify()
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(N + 1, "unsigned")]


def test_key_rotation_and_bad_keys(store, clock):
    old_key, new_key = new_anchor_key(), new_anchor_key()
    reg = Registry(store, clock=clock, actor="alice", anchor=AuditAnchor.from_key(old_key))
    reg.create_model("a")
    rotated = Registry(
        store, clock=clock, actor="alice", anchor=AuditAnchor.from_key(json.dumps([new_key, old_key]))
    )
    rotated.create_model("b")
    assert rotated.audit.verify()["ok"]
    entries = [_entry(store, s) for s in (1, 2)]
    assert entries[0]["kid"] != entries[1]["kid"]
    stranger = Registry(store, clock=clock, actor="alice", anchor=AuditAnchor.from_key(new_anchor_key()))
    assert {p["kind"] for p in stranger.audit.verify()["problems"]} == {"forged"}
    for bad in ("short", "[]", "[1, 2]", "[oops"):
        with pytest.raises(ConfigError):
            AuditAnchor.from_key(bad)


def test_the_key_comes_from_the_secrets_reader_and_its_absence_is_a_clear_error(
    store, clock, tmp_path, capsys
):
    secrets = FileSecrets(tmp_path / "secrets.json")
    missing = Registry(
        store, clock=clock, actor="alice", anchor=anchor_from_secret(secrets, "mlops-audit-anchor")
    )
    missing.create_model("a")  # the change is committed: its entry is written, unsigned, loudly
    assert "WITHOUT its anchor signature" in capsys.readouterr().err
    with pytest.raises(UnavailableError) as e:
        missing.audit.verify()
    assert e.value.code == "anchor_unavailable" and "mlops-audit-anchor" in e.value.message
    key = new_anchor_key()
    secrets.put("mlops-audit-anchor", key)
    reg = Registry(
        store, clock=clock, actor="alice", anchor=anchor_from_secret(secrets, "mlops-audit-anchor")
    )
    reg.create_model("b")
    report = reg.audit.verify()
    assert report["ok"] and report["anchor"]["anchored_from"] == 2 and key not in json.dumps(report)


ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A local-stack project directory (the stack's store and secrets file under .mlops/)."""
    import shutil

    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.local.yaml", tmp_path / "Pulumi.local.yaml")
    monkeypatch.chdir(tmp_path)
    for var in (
        "MLOPS_STORE_BACKEND",
        "MLOPS_AUDIT_ANCHOR_SECRET",
        "MLOPS_SECRETS_BACKEND",
        "MLOPS_SECRETS_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _cli(capsys, *argv):
    from mlops.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_cli_signs_with_the_local_stacks_key_and_verify_catches_the_cut(project, capsys):
    """issue 13 E through `mlops`: a local stack's CLI writes signed entries (key made on first use, in the
    secrets file, never in the store); cutting the tail and rewriting the tip makes `audit verify` exit 1."""
    for name in ("m1", "m2", "m3"):
        assert _cli(capsys, "models", "create", name, "--as", "alice")[0] == 0
    secrets = json.loads((project / ".mlops" / "secrets.json").read_text())
    assert len(secrets["mlops-audit-anchor"]) == 64
    store_dir = project / ".mlops" / "local" / "store"
    assert secrets["mlops-audit-anchor"] not in "".join(
        p.read_text(errors="ignore") for p in store_dir.rglob("*") if p.is_file()
    )
    code, out, _ = _cli(capsys, "audit", "verify")
    assert code == 0 and "intact" in out and "anchor: signed with the anchor key" in out
    from mlops.storage import FileStore

    store = FileStore(store_dir)
    store.delete(audit_key(3))
    _tip_at(2)(store)
    code, out, err = _cli(capsys, "audit", "verify")
    assert code == 1 and "TAMPERED" in out and "forged" in out and "Traceback" not in err


def test_an_old_store_is_readable_and_can_be_anchored_from_the_cli(tmp_path, monkeypatch, capsys):
    """issue 13 E: a store written without a key: verify says so (exit 0); with a key it asks for
    `mlops audit anchor`, which checks the chain and signs it."""
    for var in (
        "MLOPS_STORE_BACKEND",
        "MLOPS_AUDIT_ANCHOR_SECRET",
        "MLOPS_SECRETS_BACKEND",
        "MLOPS_SECRETS_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    store = f"--store={tmp_path / 'store'}"
    assert _cli(capsys, "models", "create", "old", store)[0] == 0
    code, out, _ = _cli(capsys, "audit", "verify", store)
    assert code == 0 and "anchor: NOT CHECKED - no anchor key is configured" in out
    code, _, err = _cli(capsys, "audit", "anchor", store)
    assert code != 0 and "[no_anchor_key]" in err and err.count("\n") == 1
    FileSecrets(tmp_path / "secrets.json").put("anchor", new_anchor_key())
    monkeypatch.setenv("MLOPS_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("MLOPS_AUDIT_ANCHOR_SECRET", "anchor")
    code, out, _ = _cli(capsys, "audit", "verify", store)
    assert code == 1 and "unanchored" in out and "mlops audit anchor" in out
    code, out, _ = _cli(capsys, "audit", "anchor", store, "--as", "compliance")
    assert code == 0 and "anchored at entry 2" in out
    code, out, _ = _cli(capsys, "audit", "verify", store)
    assert code == 0 and "signed with the anchor key" in out


class WormStore:
    """The local twin of a bucket under a retention rule: objects can be created and read, never
    overwritten or deleted (doc "Object Storage Data Retention Rules")."""

    def __init__(self, inner):
        self.inner = inner
        self.url = inner.url

    def get(self, key):
        return self.inner.get(key)

    def head(self, key):
        return self.inner.head(key)

    def list(self, prefix="", **kw):
        return self.inner.list(prefix, **kw)

    def put(self, key, data, *, if_match=None, if_none_match=False, content_type=None):
        if not if_none_match and self.inner.head(key) is not None:
            raise PermissionError(f"{key} is retained: it cannot be overwritten")
        return self.inner.put(
            key, data, if_match=if_match, if_none_match=if_none_match, content_type=content_type
        )

    def delete(self, key, if_match=None):
        raise PermissionError(f"{key} is retained: it cannot be deleted")


def test_the_audit_entries_can_live_in_a_bucket_that_refuses_deletes_and_overwrites(tmp_path, clock, key):
    """issue 13 E, cloud design: the entries in their own WORM bucket, the tip with the registry. The log only
    ever creates entries (concurrent writers included), so a retention rule costs nothing and a tail cut
    becomes impossible rather than merely detectable."""
    import threading

    from mlops.storage import FileStore

    registry_store, worm = FileStore(tmp_path / "registry"), WormStore(FileStore(tmp_path / "audit"))
    anchor = AuditAnchor.from_key(key)
    regs = [
        Registry(registry_store, clock=clock, actor=f"w{i}", anchor=anchor, audit_store=worm)
        for i in range(6)
    ]
    barrier = threading.Barrier(len(regs))

    def work(reg):
        barrier.wait(timeout=30)
        for j in range(5):
            reg.create_model(f"{reg.actor}-{j}")

    threads = [threading.Thread(target=work, args=(r,)) for r in regs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    report = regs[0].audit.verify()
    assert report["ok"] and report["entries"] == 30 and report["anchor"]["state"] == "verified"
    assert list(registry_store.list("audit/")) == [] and registry_store.head(AUDIT_TIP) is not None
    with pytest.raises(PermissionError):
        worm.delete(audit_key(30))
    with pytest.raises(PermissionError):
        worm.put(audit_key(30), b"{}")
