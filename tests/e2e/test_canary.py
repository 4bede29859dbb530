"""Weighted canary through the local gateway: share, stickiness, rollback, promote, bad input, auth."""

from __future__ import annotations

import concurrent.futures
import http.client as httpclient
import json
import random
import time
from urllib.parse import urlsplit

import pytest
from mlops.local.setup import add_api_keys

from tests.harness import http

pytestmark = pytest.mark.e2e

PREDICT = "/v1/endpoints/churn/predict"


def row(stack, i=0):
    return {"instances": [stack["X"][i].tolist()]}


def wait_until(pred, timeout=60.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return pred()


def _variants(url: str, tokens: list[str], body: bytes, threads: int = 8) -> list[str]:
    """One predict per token, over keep-alive connections; the variant each was served by."""
    parts = urlsplit(url)
    chunks = [tokens[i::threads] for i in range(threads)]

    def run(chunk):
        conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=30)
        out = []
        try:
            for t in chunk:
                conn.request(
                    "POST",
                    PREDICT,
                    body=body,
                    headers={"Authorization": f"Bearer {t}", "Content-Type": "application/json"},
                )
                r = conn.getresponse()
                data = r.read()
                assert r.status == 200, data[:300]
                out.append((t, json.loads(data)["variant"]))
        finally:
            conn.close()
        return out

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        pairs = [p for res in ex.map(run, chunks) for p in res]
    by_token = dict(pairs)
    return [by_token[t] for t in tokens]


def test_missing_or_invalid_key_is_401(stack):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer mlk_0000_x"}):
        r = http("POST", stack["url"] + PREDICT, row(stack), headers)
        assert r.status == 401 and r.json()["error"]["code"] == "unauthorized"


def test_200_malformed_bodies_are_all_4xx_with_an_error_code(stack):
    rng = random.Random(42)
    auth = {"Authorization": f"Bearer {stack['key']}", "Content-Type": "application/json"}
    good = row(stack)["instances"][0]
    atoms = [None, "x", [], {}, True, 1e309, "1.0", [1, 2]]  # each invalid for a float feature
    bodies: list[bytes] = []
    for i in range(220):
        kind = i % 11
        if kind == 0:
            bodies.append(json.dumps(good)[: rng.randint(0, 30)].encode())  # truncated JSON
        elif kind == 1:
            bodies.append(
                json.dumps({"instances": [good[: rng.randint(0, 19)]]}).encode()
            )  # too few features
        elif kind == 2:
            bad = list(good)
            bad[rng.randrange(20)] = rng.choice(atoms)
            bodies.append(json.dumps({"instances": [bad]}).encode())  # wrong types
        elif kind == 3:
            bodies.append(json.dumps({"inputs": {f"f{j}": 0.1 for j in range(rng.randint(0, 25))}}).encode())
        elif kind == 4:
            bodies.append(json.dumps({"dataframe_split": {"columns": ["zz"], "data": [[1]]}}).encode())
        elif kind == 5:
            bodies.append(json.dumps({"instances": [good] * 1001}).encode())  # over max_batch
        elif kind == 6:
            bodies.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))))  # binary junk
        elif kind == 7:
            bodies.append(json.dumps([good]).encode())  # not an object
        elif kind == 8:
            bodies.append(json.dumps({"instances": good, "inputs": good}).encode())  # two shapes
        elif kind == 9:
            bodies.append(b"")  # empty
        else:
            bodies.append(b'{"instances": [[' + b"1," * 19 + b"NaN]]}")  # non-finite
    bodies.append(b"x" * (6 * 1024 * 1024 + 10))  # over 6 MB
    statuses = []
    for body in bodies:
        r = http("POST", stack["url"] + PREDICT, body, auth)
        statuses.append(r.status)
        assert 400 <= r.status < 500, (r.status, body[:80], r.body[:200])
        assert r.json()["error"]["code"], r.body
    assert len(statuses) >= 200
    assert {413, 422, 400} <= set(statuses)


@pytest.mark.slow
def test_weighted_canary_share_stickiness_rollback_and_promote(stack):
    reg, url = stack["registry"], stack["url"]
    n = 10_000
    tokens = add_api_keys(stack["settings"], [(f"user-{i:05d}", ["mlops:predict"]) for i in range(n)])
    reg.deployments().start_canary("churn", stack["v2"], 1000, reason="e2e: 10% canary")
    body = json.dumps(row(stack)).encode()
    probe = tokens[:400]
    # the weight reaches the authorizer within its cache TTL; wait until the canary serves someone
    assert wait_until(lambda: "canary" in _variants(url, probe, body), timeout=60)
    first = _variants(url, tokens, body)
    share = first.count("canary") / n
    assert 0.09 <= share <= 0.11, share
    # sticky: after the authorizer cache expired, every principal lands in the same cohort again
    time.sleep(stack["settings"].gateway.auth_cache_ttl_s + 0.5)
    sample = random.Random(1).sample(range(n), 2000)
    again = _variants(url, [tokens[i] for i in sample], body)
    assert again == [first[i] for i in sample]
    # the canary really served v2
    canary_tokens = [t for t, v in zip(tokens, first, strict=True) if v == "canary"][:50]
    r = http("POST", url + PREDICT, body, {"Authorization": f"Bearer {canary_tokens[0]}"})
    assert r.json()["version"] == stack["v2"]

    # rollback: once the TTLs passed, no request reaches the canary
    reg.deployments().rollback("churn", reason="e2e rollback")
    ttl = stack["settings"].gateway.auth_cache_ttl_s + stack["settings"].auth.weight_cache_ttl_s
    time.sleep(ttl + 0.5)
    assert set(_variants(url, canary_tokens, body)) == {"stable"}

    # promote: the stable function serves v2 without a restart
    stable_pool = stack["rt"].pools["inference-churn-stable"]
    pids = [w.process.pid for w in stable_pool.workers]
    reg.deployments().start_canary("churn", stack["v2"], 1000, reason="e2e: again")
    reg.deployments().promote("churn", reason="e2e promote")

    def served():
        return {
            http("POST", url + PREDICT, body, {"Authorization": f"Bearer {t}"}).json()["version"]
            for t in tokens[:20]
        }

    assert wait_until(lambda: served() == {stack["v2"]}, timeout=60)
    assert [w.process.pid for w in stable_pool.workers] == pids


def test_a_key_from_keys_new_works_on_the_next_request_after_1000_bogus_tokens(stack):
    """issue 13 A (why the canary test above used to see 401s): bogus tokens before `mlops keys new`
    must not delay the new key - no cached denial of an unknown id, the ring re-read when it changed."""
    import subprocess
    import sys

    parts = urlsplit(stack["url"])
    body = json.dumps(row(stack)).encode()
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        for i in range(1000):
            conn.request(
                "POST",
                PREDICT,
                body=body,
                headers={
                    "Authorization": f"Bearer mlk_{i:012x}_{'x' * 32}",
                    "Content-Type": "application/json",
                },
            )
            r = conn.getresponse()
            r.read()
            assert r.status == 401
        settings = stack["settings"]
        new = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlops.cli",
                "--stack",
                settings.stack,
                "--project-dir",
                settings.project_dir,
                "keys",
                "new",
                "fresh-app",
                "--scope",
                "mlops:predict",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=settings.project_dir,
        )
        assert new.returncode == 0, new.stderr
        token = new.stdout.strip()
        conn.request(
            "POST",
            PREDICT,
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200, data[:300]  # the very next request, no retry
    finally:
        conn.close()


@pytest.mark.parametrize("value", ["{t}", "Basic {t}", "Token {t}", "Bearer"])
def test_a_token_without_the_bearer_scheme_is_401_with_a_bearer_challenge(stack, value):
    """issue 13 C: RFC 7235 - the scheme is required (case-insensitive); anything else -> 401 + WWW-Authenticate."""
    r = http("POST", stack["url"] + PREDICT, row(stack), {"Authorization": value.format(t=stack["key"])})
    assert r.status == 401 and r.json()["error"]["code"] == "unauthorized" and r.json()["error"]["request_id"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    ok = http("POST", stack["url"] + PREDICT, row(stack), {"Authorization": f"bEaReR {stack['key']}"})
    assert ok.status == 200
