"""Issue 13 C: ~780 bad requests over every route of the real local stack (gateway -> authorizer -> registry and
inference functions in real fdk processes). None may answer 5xx or leak a traceback; every 4xx carries
``{"error": {"code", "message", "request_id"}}``."""

from __future__ import annotations

import http.client
import json

from tests.fuzz.cases import http_cases


def _send(url: str, case, key: str) -> tuple[int, bytes]:
    host, port = url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        headers = {"Authorization": f"Bearer {key}", **case.headers}
        conn.putrequest(case.method, case.path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if case.body is not None:
            conn.putheader("Content-Length", str(len(case.body)))
        conn.endheaders(case.body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def problems_of(status: int, body: bytes) -> str | None:
    """What is wrong with an answer to a bad request (None: a proper answer)."""
    if status >= 500:
        return f"{status} {body[:200]!r}"
    if b"Traceback" in body:
        return f"traceback in a {status} body"
    if status >= 400:
        try:
            err = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            return f"{status} without an error body: {body[:120]!r}"
        if not all(isinstance(err.get(k), str) and err.get(k) for k in ("code", "message", "request_id")):
            return f"{status} error body lacks code/message/request_id: {body[:200]!r}"
    return None


def test_no_route_answers_bad_input_with_5xx_or_a_traceback(fuzz_stack):
    cases = http_cases(780)
    assert len(cases) >= 780
    failures = []
    statuses: dict[int, int] = {}
    for case in cases:
        status, body = _send(fuzz_stack["url"], case, fuzz_stack["key"])
        statuses[status] = statuses.get(status, 0) + 1
        problem = problems_of(status, body)
        if problem:
            failures.append(f"{case.id}: {problem}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures[:40])
    assert sum(n for s, n in statuses.items() if 400 <= s < 500) > len(cases) // 2, statuses
    # the stack still serves a good request after all of that
    ok = _send(
        fuzz_stack["url"],
        type(cases[0])(
            "ok", "POST", "/v1/endpoints/churn/predict", json.dumps({"instances": [[0.0] * 20]}).encode()
        ),
        fuzz_stack["key"],
    )
    assert ok[0] == 200, ok
