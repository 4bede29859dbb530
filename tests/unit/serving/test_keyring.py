"""The key ring as the authorizer reads it: fresh keys work at once, bogus tokens cost bounded work
(issue 13 A), principals are validated (issue 13 D), and only the Bearer scheme is accepted (issue 13 C)."""

from __future__ import annotations

import json

import pytest
from mlops.errors import BadRequestError, UnavailableError
from mlops.secrets import FileSecrets
from mlops.serving.apikeys import KeyRing, KeyRingSource, bearer_token, new_api_key, validate_principal
from mlops.serving.authorizer import Authorizer, CanaryState, WeightCache

from tests.harness import ManualClock

RING = "mlops-api-keys"


class CountingFile(FileSecrets):
    """The real file reader, counting what it is asked to do."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.gets = self.stats = 0

    def get(self, name: str) -> str:
        self.gets += 1
        return super().get(name)

    def signature(self):
        self.stats += 1
        return super().signature()


def authorizer(source: KeyRingSource) -> Authorizer:
    weights = WeightCache(lambda ep: CanaryState(0, ""), ttl_s=60)
    return Authorizer(source, weights, ["churn"], ttl_s=30, deny_ttl_s=5, clock=lambda: 0.0)


def ask(az: Authorizer, header: str | None) -> dict:
    return az.authorize({"type": "USER_DEFINED", "data": {} if header is None else {"token": header}})


def bogus(i: int) -> str:
    return f"Bearer mlk_{i:012x}_{'x' * 32}"


def test_file_ring_a_key_issued_after_1000_bogus_tokens_works_on_the_next_request(tmp_path):
    """issue 13 A: a file ring is re-read when its stat changes, so a new key is valid at once; the
    flood costs one stat per token and no read at all."""
    store = CountingFile(tmp_path / "secrets.json")
    _, first = new_api_key("first", ["mlops:predict"])
    store.put(RING, KeyRing([first]).to_json())
    source = KeyRingSource(lambda: store.get(RING), signature=store.signature, clock=ManualClock(1000.0))
    az = authorizer(source)
    assert ask(az, bogus(0))["active"] is False
    reads_before = source.reads
    for i in range(1, 1001):
        out = ask(az, bogus(i))
        assert out["active"] is False and "expiresAt" not in out  # unknown id: never cached
    assert source.reads == reads_before == 1  # bounded work: no read at all
    assert store.stats <= 1002  # one stat per lookup

    token, rec = new_api_key("new-app", ["mlops:predict"])
    store.update(lambda doc: doc.__setitem__(RING, KeyRing([first, rec]).to_json()))
    out = ask(az, f"Bearer {token}")
    assert out["active"] is True and out["principal"] == "new-app"
    assert source.reads == 2


def test_vault_ring_reloads_on_an_unknown_id_at_most_once_per_interval(tmp_path):
    """issue 13 A: with no stat to look at, unknown ids trigger a read, rate-limited by the clock."""
    clock = ManualClock(1000.0)
    _, first = new_api_key("first", ["mlops:predict"])
    ring = {"doc": KeyRing([first]).to_json()}
    reads = []

    def read():
        reads.append(clock.t)
        return ring["doc"]

    source = KeyRingSource(read, max_age_s=60, min_reload_interval_s=1.0, clock=clock)
    az = authorizer(source)
    ask(az, bogus(0))
    for i in range(1000):  # 1,000 bogus tokens within one interval
        assert ask(az, bogus(i))["active"] is False
    assert len(reads) == 1
    for i in range(1000):  # and spread over 10 s: one read per second at most
        clock.t += 0.01
        ask(az, bogus(i))
    assert len(reads) <= 1 + 10

    token, rec = new_api_key("new-app", ["mlops:predict"])
    ring["doc"] = KeyRing([first, rec]).to_json()
    clock.t += 1.0
    assert ask(az, f"Bearer {token}")["active"] is True


def test_vault_ring_outage_keeps_the_last_ring():
    clock = ManualClock(1000.0)
    token, rec = new_api_key("alice", ["mlops:predict"])
    state = {"down": False}

    def read():
        if state["down"]:
            raise UnavailableError("vault down", code="vault_unavailable")
        return KeyRing([rec]).to_json()

    source = KeyRingSource(read, max_age_s=5, clock=clock)
    az = authorizer(source)
    assert ask(az, f"Bearer {token}")["active"] is True
    state["down"], clock.t = True, clock.t + 10
    assert ask(az, f"Bearer {token}")["active"] is True


def test_denials_of_a_known_key_are_cached_unknown_ids_are_not():
    token, rec = new_api_key("alice", ["mlops:predict"])
    az = authorizer(KeyRingSource(lambda: KeyRing([rec]).to_json()))
    wrong = token[: token.rindex("_") + 1] + "y" * 32
    assert "expiresAt" in ask(az, f"Bearer {wrong}")  # wrong secret of a known id
    assert "expiresAt" not in ask(az, bogus(7))  # unknown id
    assert "expiresAt" in ask(az, "Basic dXNlcjpwYXNz")  # not ours at all


@pytest.mark.parametrize(
    "header",
    [
        "{t}",
        "Token {t}",
        "Basic {t}",
        "Bearer",
        "Bearer{t}",
        "Bearer  ",
        "mlk_{t}",
        "Bearer {t} extra",
        "Bearer {t}\r\nX-Evil: 1",
        "",
    ],
)
def test_only_the_bearer_scheme_is_accepted(header):
    """issue 13 C: a bare token or another scheme is refused with WWW-Authenticate: Bearer."""
    token, rec = new_api_key("alice", ["mlops:predict"])
    az = authorizer(KeyRingSource(lambda: KeyRing([rec]).to_json()))
    out = ask(az, header.format(t=token))
    assert out["active"] is False and out["wwwAuthenticate"].startswith("Bearer")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(scheme):
    token, rec = new_api_key("alice", ["mlops:predict"])
    az = authorizer(KeyRingSource(lambda: KeyRing([rec]).to_json()))
    assert ask(az, f"{scheme} {token}")["active"] is True
    assert bearer_token(f"{scheme} {token}") == token


@pytest.mark.parametrize(
    "principal",
    [
        "",
        "张三",
        "😀",
        "a" * 129,
        "a" * 300,
        "evil\r\nX-Mlops-Scopes: mlops:deploy",
        "tab\there",
        "sp ace",
        "-leading-dash",
        "new\nline",
        "ok\n",
    ],
)
def test_malformed_principals_are_refused_at_issue_time(principal):
    """issue 13 D"""
    with pytest.raises(BadRequestError) as exc:
        new_api_key(principal, ["mlops:predict"])
    assert exc.value.code == "invalid_principal" and "\n" not in str(exc.value) and "\r" not in str(exc.value)


@pytest.mark.parametrize(
    "principal", ["a", "alice", "app-0001", "svc.batch_1", "alice@example.com", "team:ml+ops", "A" * 128]
)
def test_well_formed_principals_are_accepted(principal):
    assert validate_principal(principal) == principal
    new_api_key(principal, ["mlops:predict"])


@pytest.mark.parametrize(
    "principal", ["张三", "evil\r\nFn-Http-H-X-Mlops-Scopes: mlops:deploy", "", "x" * 300]
)
def test_a_hand_edited_ring_entry_with_a_bad_principal_is_refused_not_forwarded(principal):
    """issue 13 D: the authorizer never hands a principal it would not have issued to the gateway."""
    token, rec = new_api_key("alice", ["mlops:predict"])
    doc = json.loads(KeyRing([rec]).to_json())
    doc["keys"][0]["principal"] = principal
    az = authorizer(KeyRingSource(lambda: json.dumps(doc)))
    out = ask(az, f"Bearer {token}")
    assert out["active"] is False and "principal" not in out and "context" not in out


def test_a_hand_edited_ring_entry_with_a_bad_scope_is_refused():
    token, rec = new_api_key("alice", ["mlops:predict"])
    doc = json.loads(KeyRing([rec]).to_json())
    doc["keys"][0]["scopes"] = ["mlops:predict\r\nX: y"]
    az = authorizer(KeyRingSource(lambda: json.dumps(doc)))
    assert ask(az, f"Bearer {token}")["active"] is False
