"""The registry function through the real fdk request path (fdk.fixtures, gateway mode), built from env config."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from mlops.http import PRINCIPAL_HEADER, SCOPES_HEADER
from mlops.registry import Registry
from mlops.storage import FileStore, StoreConfig

from tests.harness import fdk_call

FUNC = Path(__file__).resolve().parents[2] / "functions" / "registry" / "func.py"
SIG = {"inputs": [{"name": "x", "dtype": "float64"}]}


@pytest.fixture
def fn(tmp_path, monkeypatch):
    """Import functions/registry/func.py the way the fdk does, with the function config as env vars."""
    store_dir = tmp_path / "store"
    for name, value in StoreConfig(backend="file", path=str(store_dir)).to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLOPS_SECRETS_BACKEND", "file")
    monkeypatch.setenv("MLOPS_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("MLOPS_FUNCTION", "registry")
    spec = importlib.util.spec_from_file_location("registry_func_under_test", FUNC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, FileStore(store_dir)


def call(
    module,
    method: str,
    url: str,
    body=None,
    who: str | None = "alice",
    scopes: str = "mlops:read mlops:write",
):
    headers = {"Content-Type": "application/json"}
    if who:
        headers[PRINCIPAL_HEADER] = who
        headers[SCOPES_HEADER] = scopes
    status, headers, content = fdk_call(module.handler, url=url, method=method, body=body, headers=headers)
    return status, headers, json.loads(content) if content else None


def test_register_and_read_through_the_fdk(fn):
    module, store = fn
    sha = Registry(store, actor="ci").upload_artifact(b"joblib bytes")["sha256"]
    status, headers, rec = call(
        module, "POST", "/v1/models/churn/versions", {"artifact_sha256": sha, "signature": SIG}
    )
    assert status == 201 and rec["version"] == 1 and rec["created_by"] == "alice"
    assert headers["fn-http-status"] == "201"
    status, _, doc = call(module, "GET", "/v1/models/churn/versions/1")
    assert status == 200 and doc["artifact"]["sha256"] == sha
    status, _, listing = call(module, "GET", "/v1/models")
    assert [m["name"] for m in listing["models"]] == ["churn"]


def test_errors_reach_the_client_with_status_and_code(fn):
    module, _store = fn
    status, headers, body = call(module, "GET", "/v1/models/nope")
    assert status == 404 and body["error"]["code"] == "model_not_found" and body["error"]["request_id"]
    status, _, body = call(
        module, "POST", "/v1/models/churn/versions", {"artifact_sha256": "0" * 64, "signature": SIG}, who=None
    )
    assert status == 401
    status, _, body = call(module, "POST", "/v1/models/churn/versions", b"not json")
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, _, body = call(module, "GET", "/v1/nothing-here")
    assert status == 404 and body["error"]["code"] == "route_not_found"


def test_approval_scope_is_enforced_through_the_fdk(fn):
    module, store = fn
    Registry(store, actor="alice").register_version("churn", b"bytes", signature=SIG)
    call(module, "POST", "/v1/models/churn/versions/1/approval", {"action": "request"})
    status, _, body = call(
        module, "POST", "/v1/models/churn/versions/1/approval", {"action": "approve"}, who="bob"
    )
    assert status == 403 and body["error"]["code"] == "missing_scope"
    status, _, doc = call(
        module,
        "POST",
        "/v1/models/churn/versions/1/approval",
        {"action": "approve"},
        who="bob",
        scopes="mlops:read mlops:approve",
    )
    assert status == 201 and doc["state"] == "approved"
    status, _, report = call(module, "GET", "/v1/audit/verify")
    assert status == 200 and report["ok"] and report["entries"] == 4


def test_missing_store_config_fails_at_import_naming_the_variable(tmp_path, monkeypatch):
    from mlops.errors import ConfigError

    monkeypatch.delenv("MLOPS_STORE_BACKEND", raising=False)
    spec = importlib.util.spec_from_file_location("registry_func_misconfigured", FUNC)
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(ConfigError) as e:
        spec.loader.exec_module(module)
    assert "MLOPS_STORE_BACKEND" in e.value.message


def _wire_call(module, wire: dict[str, str], body: bytes):
    """One invoke with exactly these Fn wire headers (fdk.fixtures.setup_fn_call_raw: no re-encapsulation)."""
    import asyncio
    import io

    from fdk import fixtures

    async def run():  # the fdk reads its wire headers lower-cased, as an HTTP server hands them over
        return await (
            await fixtures.setup_fn_call_raw(
                module.handler, io.BytesIO(body), {k.lower(): v for k, v in wire.items()}
            )
        )

    content, status, hdrs = asyncio.run(run())
    return int(hdrs.get("fn-http-status", status)), json.loads(content)


def test_content_type_as_the_gateway_and_the_platform_send_it(fn):
    """Issue 13 C: the caller's Content-Type travels as Fn-Http-H-Content-Type (the invoke's own Content-Type is
    application/octet-stream when the caller declared none); a declared non-JSON type is 415, none is accepted."""
    module, _store = fn
    gateway = {
        "Fn-Intent": "httprequest",
        "Fn-Http-Method": "POST",
        "Fn-Http-Request-Url": "/v1/models",
        "Fn-Http-H-X-Mlops-Principal": "alice",
        "Fn-Http-H-X-Mlops-Scopes": "mlops:write",
    }
    body = json.dumps({"name": "typed"}).encode()
    status, doc = _wire_call(
        module, {**gateway, "Content-Type": "text/plain", "Fn-Http-H-Content-Type": "text/plain"}, body
    )
    assert status == 415 and doc["error"]["code"] == "unsupported_media_type"
    status, doc = _wire_call(
        module, {**gateway, "Content-Type": "application/xml"}, body
    )  # only on the invoke
    assert status == 415 and doc["error"]["code"] == "unsupported_media_type"
    status, doc = _wire_call(
        module, {**gateway, "Content-Type": "application/octet-stream"}, body
    )  # undeclared
    assert status == 201 and doc["name"] == "typed"
    status, doc = _wire_call(
        module,
        {
            **gateway,
            "Fn-Http-Request-Url": "/v1/models/churn",
            "Fn-Http-Method": "PUT",
            "Content-Type": "application/json",
            "Fn-Http-H-Content-Type": "application/json; charset=utf-8",
        },
        json.dumps({"description": "d"}).encode(),
    )
    assert status == 404 and doc["error"]["code"] == "model_not_found"  # parsed, then looked up
    # a direct invoke (no Fn-Intent): the Content-Type is the invoker's (DevOps, Events, fn invoke), not judged
    status, doc = _wire_call(
        module,
        {"Fn-Http-Method": "POST", "Fn-Http-Request-Url": "/v1/models", "Content-Type": "text/plain"},
        body,
    )
    assert status != 415 and doc["error"]["code"] == "no_principal"
