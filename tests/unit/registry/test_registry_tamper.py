"""Tamper evidence: altered artifacts are refused before unpickling; edited, removed or corrupt audit entries
and corrupt metadata are pinpointed by object, never a crash."""

from __future__ import annotations

import json
import pickle

import pytest
from mlops.errors import IntegrityError
from mlops.registry import Registry, entry_hash
from mlops.registry.keys import AUDIT_TIP, audit_key, deployment_key, model_key, version_key


class _Tripwire:
    """Unpickling this calls ``pathlib.Path.touch`` on a file: proof that a pickle was deserialized."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_altered_artifact_is_refused_before_deserialization_and_audited(reg, store, tmp_path, training):
    X, y, names, model = training
    rec = reg.register_version("churn", model, X, y)
    tripwire = tmp_path / "unpickled"
    evil = pickle.dumps(_Tripwire(str(tripwire)))
    store.put(rec["artifact"]["key"], evil)  # someone with bucket access swaps the bytes
    with pytest.raises(IntegrityError) as e:
        reg.load_model("churn", 1)
    assert rec["artifact"]["key"] in e.value.message and "failed verification" in e.value.message
    assert e.value.details["expected_sha256"] == rec["artifact"]["sha256"]
    assert not tripwire.exists(), "the altered artifact was deserialized"
    last = reg.audit.history(limit=1)[0]
    assert last["action"] == "artifact.verify_failed" and last["subject"] == "model:churn"
    assert last["details"]["version"] == 1 and last["details"]["key"] == rec["artifact"]["key"]
    assert reg.audit.verify()["ok"]


def test_truncated_artifact_is_refused(reg, store, training):
    X, y, names, model = training
    rec = reg.register_version("churn", model, X, y)
    data = store.get(rec["artifact"]["key"]).data
    store.put(rec["artifact"]["key"], data[:-10])
    with pytest.raises(IntegrityError):
        reg.get_artifact("churn", 1)


def test_altered_reference_profile_is_refused(reg, store, training):
    X, y, names, model = training
    rec = reg.register_version("churn", model, X, y)
    key = rec["reference_profile"]["key"]
    doc = json.loads(store.get(key).data)
    doc["features"]["f0"]["mean"] = 123.0
    store.put(key, json.dumps(doc).encode())
    with pytest.raises(IntegrityError):
        reg.get_reference_profile("churn", 1)


def _history(reg: Registry, n: int) -> None:
    for i in range(n):
        reg.clock.tick()
        reg.create_model(f"m{i}")


def _rewrite(store, seq: int, mutate, *, rehash: bool) -> None:
    entry = json.loads(store.get(audit_key(seq)).data)
    mutate(entry)
    if rehash:
        entry["hash"] = entry_hash(entry)
    store.put(audit_key(seq), json.dumps(entry).encode())


def test_intact_log_verifies(reg):
    _history(reg, 5)
    report = reg.audit.verify()
    anchor = report.pop("anchor")  # issue 13 E: verify says whether the log is anchored
    assert report == {"ok": True, "entries": 5, "last_seq": 5, "problems": []}
    assert anchor["state"] == "absent" and "no anchor key" in anchor["message"]


def test_edited_entry_is_pinpointed(reg, store):
    _history(reg, 6)
    _rewrite(store, 3, lambda e: e.update(actor="mallory"), rehash=False)
    report = reg.audit.verify()
    assert not report["ok"]
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(3, "edited")]
    assert report["problems"][0]["key"] == audit_key(3)


def test_edited_and_rehashed_entry_is_pinpointed_by_the_next_link(reg, store):
    _history(reg, 6)
    _rewrite(store, 4, lambda e: e["details"].update(description="rewritten history"), rehash=True)
    report = reg.audit.verify()
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(4, "edited")]
    assert "entry 5's prev_hash" in report["problems"][0]["message"]


def test_edited_last_entry_is_caught_by_the_tip(reg, store):
    _history(reg, 4)
    _rewrite(store, 4, lambda e: e.update(actor="mallory"), rehash=True)
    report = reg.audit.verify()
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(4, "edited")]


def test_removed_entry_is_pinpointed(reg, store):
    _history(reg, 6)
    store.delete(audit_key(2))
    report = reg.audit.verify()
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(2, "missing")]


def test_removed_range_is_pinpointed(reg, store):
    _history(reg, 8)
    for s in (3, 4, 5):
        store.delete(audit_key(s))
    report = reg.audit.verify()
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [
        (3, "missing"),
        (4, "missing"),
        (5, "missing"),
    ]


def test_removed_tail_is_pinpointed(reg, store):
    _history(reg, 6)
    store.delete(audit_key(6))
    store.delete(audit_key(5))
    report = reg.audit.verify()
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(5, "truncated"), (6, "truncated")]


def test_corrupt_entry_is_pinpointed(reg, store):
    _history(reg, 4)
    store.put(audit_key(2), b"{not json")
    report = reg.audit.verify()
    assert (2, "corrupt") in [(p["seq"], p["kind"]) for p in report["problems"]]


def test_entry_moved_to_another_seq_is_pinpointed(reg, store):
    _history(reg, 4)
    store.put(audit_key(3), store.get(audit_key(2)).data)
    kinds = {(p["seq"], p["kind"]) for p in reg.audit.verify()["problems"]}
    assert (3, "misplaced") in kinds


def test_stray_object_in_the_log_is_reported(reg, store):
    _history(reg, 2)
    store.put("audit/notes.txt", b"hello")
    problems = reg.audit.verify()["problems"]
    assert [(p["kind"], p["key"]) for p in problems] == [("stray", "audit/notes.txt")]


def test_appends_continue_after_a_lost_tip(reg, store):
    _history(reg, 3)
    store.delete(AUDIT_TIP)
    fresh = Registry(store, clock=reg.clock, actor="carol")  # no cached head
    fresh.create_model("later")
    assert [e["seq"] for e in fresh.audit.entries()] == [1, 2, 3, 4]
    assert fresh.audit.verify()["ok"]


def test_corrupt_model_record_names_the_object(reg, store, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y)
    store.put(model_key("churn"), b"\x00garbage")
    for call in (
        lambda: reg.get_model("churn"),
        reg.list_models,
        lambda: reg.set_alias("churn", "staging", 1),
        lambda: reg.register_version("churn", model, X, y),
    ):
        with pytest.raises(IntegrityError) as e:
            call()
        assert model_key("churn") in e.value.message
        assert e.value.details["key"] == model_key("churn")


def test_corrupt_or_misplaced_version_record_names_the_object(reg, store, training):
    X, y, names, model = training
    reg.register_version("churn", model, X, y)
    reg.register_version("churn", model, X, y)
    store.put(version_key("churn", 2), b"[1, 2]")
    with pytest.raises(IntegrityError) as e:
        reg.get_version("churn", 2)
    assert version_key("churn", 2) in e.value.message
    store.put(version_key("churn", 2), store.get(version_key("churn", 1)).data)  # a copy of v1 posing as v2
    with pytest.raises(IntegrityError):
        reg.get_version("churn", 2)
    store.put(version_key("churn", 2), json.dumps({"model": "churn", "version": 2}).encode())  # fields gone
    for call in (lambda: reg.get_version("churn", 2), lambda: reg.load_model("churn", 2)):
        with pytest.raises(IntegrityError) as e:
            call()
        assert version_key("churn", 2) in e.value.message


def test_corrupt_deployment_record_names_the_object(reg, store):
    store.put(deployment_key("churn"), b"nope")
    with pytest.raises(IntegrityError) as e:
        reg.deployments().get("churn")
    assert deployment_key("churn") in e.value.message
