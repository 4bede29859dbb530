"""The local gateway's diagnostics: JSON lines that carry the request id of the request they are about."""

from __future__ import annotations

import asyncio
import json
import logging

from mlops import logs
from mlops.local.gateway import Gateway

SPEC = {
    "routes": [
        {
            "path": "/x",
            "methods": ["POST"],
            "backend": {"type": "ORACLE_FUNCTIONS_BACKEND", "function_id": "local:fn:f"},
        }
    ]
}


def test_a_gateway_failure_is_one_json_line_with_the_request_id(capsys):
    logs.configure("INFO")
    seen = []

    async def invoke(fn_id, headers, body):
        seen.append(logs.request_id_var.get())
        logging.getLogger("mlops.test.fn").info("inside the call")
        raise RuntimeError("a bug in the invoker")

    gw = Gateway(SPEC, invoke)
    resp = asyncio.run(gw.handle("POST", "/x", {"x-request-id": "rid-7"}, b"{}"))
    assert resp.status == 500 and ("opc-request-id", "rid-7") in resp.headers
    recs = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert seen == ["rid-7"]
    assert [r["request_id"] for r in recs] == ["rid-7", "rid-7"]
    assert recs[1]["logger"] == "mlops.local.gateway" and recs[1]["error"] == "RuntimeError"
    assert logs.request_id_var.get() is None  # reset after the request
