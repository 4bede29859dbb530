"""The local gateway over real HTTP, in front of real fdk processes, obeying a deployment spec."""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from pathlib import Path

import pytest
from mlops.blueprint.functions import function_spec
from mlops.local.fnwire import GatewayResponse
from mlops.local.gateway import Gateway
from mlops.local.pool import FunctionDef
from mlops.local.runtime import LocalRuntime
from mlops.local.setup import add_api_key, local_api_key
from mlops.settings import settings_from_config
from mlops.storage import FileStore

from tests.harness import RuntimeThread, http

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "tests" / "fixtures" / "functions" / "echo" / "func.py"
AUTHZ = ROOT / "functions" / "authorizer" / "func.py"


def _fn(name: str, **kw) -> dict:
    return {"type": "ORACLE_FUNCTIONS_BACKEND", "function_id": f"local:fn:{name}", **kw}


def _spec(auth_ttl: int = 60) -> dict:
    return {
        "request_policies": {
            "authentication": {
                "type": "CUSTOM_AUTHENTICATION",
                "function_id": "local:fn:authorizer",
                "is_anonymous_access_allowed": True,
                "parameters": {"token": "request.headers[Authorization]"},
                "cache_keys": ["token"],
            },
            "cors": {
                "allowed_origins": ["https://app.example"],
                "allowed_methods": ["POST"],
                "allowed_headers": ["Authorization"],
                "max_age_in_seconds": 60,
            },
        },
        "routes": [
            {
                "path": "/health",
                "methods": ["GET"],
                "request_policies": {"authorization": {"type": "ANONYMOUS"}},
                "backend": {
                    "type": "STOCK_RESPONSE_BACKEND",
                    "status": 200,
                    "body": '{"ok":true}',
                    "headers": [{"name": "Content-Type", "value": "application/json"}],
                },
            },
            {
                "path": "/v1/endpoints/demo/predict",
                "methods": ["POST"],
                "backend": {
                    "type": "DYNAMIC_ROUTING_BACKEND",
                    "selection_source": {"type": "SINGLE", "selector": "request.auth[cohort_demo]"},
                    "routing_backends": [
                        {
                            "key": {"type": "ANY_OF", "values": ["canary"], "name": "canary"},
                            "backend": _fn("echo-canary"),
                        },
                        {
                            "key": {
                                "type": "ANY_OF",
                                "values": ["stable"],
                                "name": "stable",
                                "is_default": True,
                            },
                            "backend": _fn("echo-stable"),
                        },
                    ],
                },
                "request_policies": {
                    "authorization": {"type": "ANY_OF", "allowed_scopes": ["mlops:predict"]},
                    "header_transformations": {
                        "set_headers": {
                            "items": [
                                {
                                    "name": "X-Mlops-Principal",
                                    "values": ["${request.auth[principal]}"],
                                    "if_exists": "OVERWRITE",
                                }
                            ]
                        }
                    },
                },
            },
            {
                "path": "/v1/endpoints/demo/variants/{variant}/predict",
                "methods": ["POST"],
                "backend": {  # issue 18: one route for both pinned variants, by path parameter, no default
                    "type": "DYNAMIC_ROUTING_BACKEND",
                    "selection_source": {"type": "SINGLE", "selector": "request.path[variant]"},
                    "routing_backends": [
                        {
                            "key": {"type": "ANY_OF", "values": ["canary"], "name": "canary"},
                            "backend": _fn("echo-canary"),
                        },
                        {
                            "key": {"type": "ANY_OF", "values": ["stable"], "name": "stable"},
                            "backend": _fn("echo-stable"),
                        },
                    ],
                },
                "request_policies": {
                    "authorization": {"type": "ANY_OF", "allowed_scopes": ["mlops:pin"]},
                    "header_transformations": {
                        "set_headers": {
                            "items": [
                                {
                                    "name": "X-Mlops-Principal",
                                    "values": ["${request.auth[principal]}"],
                                    "if_exists": "OVERWRITE",
                                },
                                {
                                    "name": "X-Mlops-Cohort",
                                    "values": ["${request.path[variant]}"],
                                    "if_exists": "OVERWRITE",
                                },
                            ]
                        }
                    },
                },
            },
            {"path": "/items/{item}", "methods": ["GET", "PUT"], "backend": _fn("echo-stable")},
            {"path": "/files/{rest*}", "methods": ["GET"], "backend": _fn("echo-stable")},
            {
                "path": "/by-query",
                "methods": ["GET"],
                "backend": {
                    "type": "DYNAMIC_ROUTING_BACKEND",
                    "selection_source": {"type": "SINGLE", "selector": "request.query[v]"},
                    "routing_backends": [
                        {
                            "key": {"type": "ANY_OF", "values": ["2"], "name": "v2"},
                            "backend": _fn("echo-canary"),
                        },
                        {
                            "key": {"type": "WILDCARD", "expression": "beta-*", "name": "beta"},
                            "backend": _fn("echo-canary"),
                        },
                    ],
                },
            },
            {
                "path": "/by-header/{which}",
                "methods": ["GET"],
                "backend": {
                    "type": "DYNAMIC_ROUTING_BACKEND",
                    "selection_source": {"type": "SINGLE", "selector": "request.path[which]"},
                    "routing_backends": [
                        {
                            "key": {"type": "ANY_OF", "values": ["c"], "name": "c"},
                            "backend": _fn("echo-canary"),
                        },
                        {
                            "key": {"type": "ANY_OF", "values": ["s"], "name": "s", "is_default": True},
                            "backend": _fn("echo-stable"),
                        },
                    ],
                },
            },
            {"path": "/slow", "methods": ["POST"], "backend": _fn("echo-slow")},
            {"path": "/echo", "methods": ["POST"], "backend": _fn("echo-stable")},
        ],
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    project = tmp_path_factory.mktemp("project")
    settings = settings_from_config(
        {
            "mlops:endpoints": [],
            "mlops:store": {"backend": "file", "path": str(project / "store")},
            "mlops:local": {
                "port": 0,
                "state_dir": str(project / "state"),
                "secrets_file": str(project / "secrets.json"),
            },
            "mlops:auth": {"weight_cache_ttl_s": 0.2},
            "mlops:gateway": {"auth_cache_ttl_s": 1},
        },
        stack="gwtest",
        project_dir=project,
    )
    key = local_api_key(settings)
    reader = add_api_key(settings, "reader", ["mlops:read"])
    authz_cfg = dict(function_spec(settings, "authorizer").config)
    authz_cfg["MLOPS_ENDPOINTS"] = "demo"
    functions = [
        FunctionDef("authorizer", AUTHZ, authz_cfg, pool_size=2),
        FunctionDef("echo-stable", ECHO, {"ECHO_TAG": "stable"}, pool_size=4),
        FunctionDef("echo-canary", ECHO, {"ECHO_TAG": "canary"}, pool_size=2),
        FunctionDef("echo-slow", ECHO, {"ECHO_TAG": "slow"}, pool_size=1, timeout_s=1),
    ]
    rt = LocalRuntime(settings, port=0, functions=functions, spec=_spec())
    with RuntimeThread(rt) as thread:
        yield {
            "rt": rt,
            "thread": thread,
            "url": thread.url,
            "key": key,
            "reader": reader,
            "store": FileStore(str(project / "store")),
            "settings": settings,
        }


def auth(env, **extra):
    return {"Authorization": f"Bearer {env['key']}", **extra}


def test_stock_response_needs_no_key(env):
    r = http("GET", env["url"] + "/health")
    assert r.status == 200 and r.json() == {"ok": True}
    assert r.headers["opc-request-id"]


def test_missing_and_invalid_keys_get_401_with_error_code(env):
    for headers in ({}, {"Authorization": "Bearer mlk_nope_nope"}, {"Authorization": "garbage"}):
        r = http("POST", env["url"] + "/echo", b"{}", headers)
        assert r.status == 401, r
        assert r.json()["error"]["code"] == "unauthorized"
        assert "www-authenticate" in r.headers


def test_scope_is_enforced_per_route(env):
    r = http(
        "POST", env["url"] + "/v1/endpoints/demo/predict", b"{}", {"Authorization": f"Bearer {env['reader']}"}
    )
    assert r.status == 403 and r.json()["error"]["code"] == "insufficient_scope"


def test_fn_header_encapsulation_and_status_unwrapping(env):
    r = http("POST", env["url"] + "/echo?x=1", {"status": 201}, auth(env, **{"X-Custom": "v"}))
    assert r.status == 201, r  # fn-http-status reaches the client
    body = r.json()
    assert body["url"] == "/echo?x=1" and body["method"] == "POST"
    assert body["headers"]["x-custom"] == "v"  # Fn-Http-H-* reached the function
    assert r.headers["x-echo"] == "yes"  # fn-http-h-* reached the client


def test_path_params_and_wildcards(env):
    r = http("PUT", env["url"] + "/items/42", b"", auth(env))
    assert r.status == 200 and r.json()["url"] == "/items/42"
    r = http("GET", env["url"] + "/files/a/b/c.txt", None, auth(env))
    assert r.status == 200 and r.json()["url"] == "/files/a/b/c.txt"
    r = http("DELETE", env["url"] + "/items/42", None, auth(env))
    assert r.status == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = http("GET", env["url"] + "/nowhere", None, auth(env))
    assert r.status == 404 and r.json()["error"]["code"] == "route_not_found"


def test_dynamic_routing_on_query_path_and_wildcard(env):
    assert http("GET", env["url"] + "/by-query?v=2", None, auth(env)).json()["config"] == "canary"
    assert http("GET", env["url"] + "/by-query?v=beta-7", None, auth(env)).json()["config"] == "canary"
    r = http("GET", env["url"] + "/by-query?v=3", None, auth(env))  # no match, no default
    assert r.status == 404 and r.json()["error"]["code"] == "no_backend"
    assert http("GET", env["url"] + "/by-header/c", None, auth(env)).json()["config"] == "canary"
    assert http("GET", env["url"] + "/by-header/zzz", None, auth(env)).json()["config"] == "stable"


def test_authorizer_context_chooses_the_backend_and_pin_needs_its_scope(env):
    url = env["url"] + "/v1/endpoints/demo/predict"
    r = http("POST", url, b"{}", auth(env))
    assert r.status == 200 and r.json()["config"] == "stable"  # no canary deployed: weight 0
    # issue 13 G: a header no longer pins; the pinned route does, for a key with the pin scope
    r = http("POST", url, b"{}", auth(env, **{"X-Mlops-Cohort": "canary"}))
    assert r.json()["config"] == "stable"
    pinned = env["url"] + "/v1/endpoints/demo/variants/canary/predict"
    r = http("POST", pinned, b"{}", auth(env))  # the dev key has mlops:pin
    assert r.status == 200 and r.json()["config"] == "canary"
    assert r.json()["headers"]["x-mlops-principal"] == "local-dev"  # set by the route from request.auth
    assert r.json()["headers"]["x-mlops-cohort"] == "canary"
    r = http("POST", pinned, b"{}", {"Authorization": f"Bearer {env['reader']}"})
    assert r.status == 403 and r.json()["error"]["code"] == "insufficient_scope"


def test_the_pinned_route_selects_the_variant_by_path_parameter_and_refuses_others(env):
    """issue 18: request.path[variant] chooses the backend; no key matches and no default: 404."""
    base = env["url"] + "/v1/endpoints/demo/variants/"
    for variant, config in (("stable", "stable"), ("canary", "canary")):
        r = http("POST", base + variant + "/predict", b"{}", auth(env))
        assert r.status == 200 and r.json()["config"] == config
        assert r.json()["headers"]["x-mlops-cohort"] == variant  # rendered from ${request.path[variant]}
    for other in ("production", "Stable", "stable2"):
        r = http("POST", base + other + "/predict", b"{}", auth(env))
        assert r.status == 404, r.body
        err = r.json()["error"]
        assert err["code"] == "no_backend" and err["request_id"] and "variants/{variant}" in err["message"]


def test_principal_header_cannot_be_forged(env):
    r = http(
        "POST", env["url"] + "/v1/endpoints/demo/predict", b"{}", auth(env, **{"X-Mlops-Principal": "root"})
    )
    assert r.json()["headers"]["x-mlops-principal"] == "local-dev"


def test_canary_weight_from_deployment_state_applies_after_cache_ttl(env):
    store = env["store"]
    url = env["url"] + "/v1/endpoints/demo/predict"
    store.put(
        "deployments/demo.json",
        json.dumps(
            {"endpoint": "demo", "stable_version": 1, "canary_version": 2, "canary_weight_bp": 10_000}
        ).encode(),
    )
    try:
        deadline = time.monotonic() + 60
        seen = None
        while time.monotonic() < deadline:
            seen = http("POST", url, b"{}", auth(env)).json()["config"]
            if seen == "canary":
                break
            time.sleep(0.2)
        assert seen == "canary"
    finally:
        store.put(
            "deployments/demo.json",
            json.dumps(
                {"endpoint": "demo", "stable_version": 1, "canary_version": None, "canary_weight_bp": 0}
            ).encode(),
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and http("POST", url, b"{}", auth(env)).json()["config"] != "stable":
        time.sleep(0.2)
    assert http("POST", url, b"{}", auth(env)).json()["config"] == "stable"


def test_authorizer_answer_is_cached_by_cache_keys(env):
    gw = env["rt"].gateway
    before = gw.auth_cache.hits
    for _ in range(5):
        assert http("POST", env["url"] + "/echo", b"{}", auth(env)).status == 200
    assert gw.auth_cache.hits >= before + 4


def test_body_over_6_mb_is_413(env):
    r = http("POST", env["url"] + "/echo", b"x" * (6 * 1024 * 1024 + 1), auth(env))
    assert r.status == 413 and r.json()["error"]["code"] == "body_too_large"


def test_function_deadline_is_504_and_the_function_recovers(env):
    r = http("POST", env["url"] + "/slow", {"sleep": 3}, auth(env))
    assert r.status == 504 and r.json()["error"]["code"] == "function_timeout"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = http("POST", env["url"] + "/slow", {}, auth(env))
        if r.status == 200:
            break
        time.sleep(0.2)
    assert r.status == 200


def test_uncaught_exception_is_502_and_leaks_nothing(env):
    r = http("POST", env["url"] + "/echo", {"raise": True}, auth(env))
    assert r.status == 502 and r.json()["error"]["code"] == "function_error"
    assert b"secret-internal-detail" not in r.body


def test_crash_gives_502_gateway_stays_up_and_worker_restarts(env):
    pool = env["rt"].pools["echo-stable"]
    restarts = sum(w.restarts for w in pool.workers)
    r = http("POST", env["url"] + "/echo", {"crash": True}, auth(env))
    assert r.status == 502 and r.json()["error"]["code"] in ("function_crashed", "function_error")
    assert http("GET", env["url"] + "/health").status == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(w.restarts for w in pool.workers) == restarts:
        time.sleep(0.1)
    assert sum(w.restarts for w in pool.workers) == restarts + 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(w.alive for w in pool.workers):
        time.sleep(0.1)
    assert all(w.alive for w in pool.workers)
    assert http("POST", env["url"] + "/echo", b"{}", auth(env)).status == 200


def test_4_concurrent_requests_each_hold_one_of_the_4_workers(env, tmp_path):
    """The pool runs as many requests at once as it has workers, one per worker. Each request holds its
    worker until all four are inside (a gate the test opens), so the check needs no timing."""
    gate = tmp_path / "gate"
    gate.mkdir()

    def one(_):
        return http("POST", env["url"] + "/echo", {"gate": str(gate)}, auth(env)).json()["pid"]

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futures = [ex.submit(one, i) for i in range(4)]
        deadline = time.monotonic() + 60
        while len(list(gate.glob("in-*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        inside = sorted(p.name for p in gate.glob("in-*"))
        (gate / "open").touch()
        pids = [f.result(timeout=60) for f in futures]
    assert len(inside) == 4, (
        f"only {inside} were inside at once: the pool did not run 4 requests concurrently"
    )
    assert len(set(pids)) == 4  # every one of the 4 workers took part, one request at a time each


def test_function_stdout_is_captured_as_its_invoke_log(env):
    marker = f"hello-{os.getpid()}-{time.time()}"
    http("POST", env["url"] + "/echo", {"print": marker}, auth(env))
    log_file = env["rt"].state_dir / "logs" / "echo-stable.log"
    deadline = time.monotonic() + 60  # the line travels the pipe after the response
    while time.monotonic() < deadline:
        env["thread"].loop.call_soon_threadsafe(env["rt"].logs.flush)
        if marker in log_file.read_text():
            break
        time.sleep(0.05)
    assert marker in log_file.read_text()


def test_cors_preflight_and_origin_headers(env):
    r = http(
        "OPTIONS",
        env["url"] + "/echo",
        None,
        {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status == 204 and r.headers["access-control-allow-origin"] == "https://app.example"
    r = http("POST", env["url"] + "/echo", b"{}", auth(env, Origin="https://evil.example"))
    assert "access-control-allow-origin" not in r.headers


def test_malformed_http_gets_400(env):
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(env["url"])
    with socket.create_connection((u.hostname, u.port), timeout=5) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 400")


def test_rate_limit_gives_429():
    async def invoke(fn_id, headers, body):
        return 200, [(b"fn-http-status", b"200")], b"ok"

    spec = {
        "request_policies": {"rate_limiting": {"rate_in_requests_per_second": 5, "rate_key": "CLIENT_IP"}},
        "routes": [{"path": "/x", "methods": ["GET"], "backend": _fn("f")}],
    }
    import asyncio

    async def run():
        gw = Gateway(spec, invoke)
        out = [await gw.handle("GET", "/x", {}, b"", "10.0.0.1") for _ in range(8)]
        other = await gw.handle("GET", "/x", {}, b"", "10.0.0.2")
        return out, other

    out, other = asyncio.run(run())
    statuses = [r.status for r in out]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    assert json.loads(out[-1].body)["error"]["code"] == "rate_limited"
    assert isinstance(other, GatewayResponse) and other.status == 200  # per client IP


def test_gateway_reuses_its_keep_alive_connection_to_each_worker(env):
    pool = env["rt"].pools["echo-canary"]
    for _ in range(10):
        assert http("GET", env["url"] + "/by-query?v=2", None, auth(env)).status == 200
    reused = [w.conn.requests for w in pool.workers if w.conn is not None]
    assert max(reused) >= 4, reused  # one connection carried several calls


def test_context_variables_and_templates():
    from mlops.local.routes import GatewayRequest

    req = GatewayRequest(
        "GET",
        "/x",
        {"q": "1"},
        "/x?q=1",
        {"x-api-key": "k", "host": "h"},
        b"",
        "1.2.3.4",
        "r",
        path_params={"p": "v"},
        auth={"principal": "alice"},
    )
    assert req.variable("request.headers[X-Api-Key]") == "k" and req.variable("request.host") == "h"
    assert req.variable("request.query[q]") == "1" and req.variable("request.path[p]") == "v"
    assert req.render("user=${request.auth[principal]};q=${request.query[q]}!") == "user=alice;q=1!"
    assert req.render("plain") == "plain" and req.render("${request.auth[missing]}") == ""
    with pytest.raises(Exception, match="unsupported context variable"):
        req.variable("request.body[x]")
