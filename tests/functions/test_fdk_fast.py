"""Issue 19 (serving as fast as a bare app): ``mlops.fdkfast`` removes per-request work from fdk.

The patch is hash-checked against the fdk source it was written for: these tests fail loudly when
an fdk upgrade changes that code (re-check the patch, update ``_CHECKED`` or drop it), and show the
patched fdk gives a function exactly what the original gives (same ZipkinAttrs type name, fields
and values, tracing on and off) while no longer creating a class per request.
"""

from __future__ import annotations

import io
import random

import pytest
from fdk import constants, context
from mlops import fdkfast

HEADERS = {
    constants.FN_HTTP_METHOD: "POST",
    constants.FN_HTTP_REQUEST_URL: "http://x/v1/endpoints/e/predict",
    constants.FN_CALL_ID: "call-1",
    "content-type": "application/json",
}
B3 = {
    constants.X_B3_TRACEID: "463ac35c9f6413ad",
    constants.X_B3_SPANID: "a2fb4a1d1a96d312",
    constants.X_B3_PARENTSPANID: "0020000000000001",
    constants.X_B3_SAMPLED: "1",
    constants.X_B3_FLAGS: "0",
}


def test_checked_against_the_installed_fdk():
    """Fails when fdk's patched code changed: re-check fdkfast against the new fdk before shipping it."""
    assert fdkfast.mismatch() is None, fdkfast.mismatch()
    assert fdkfast.install() is True


def _original_attrs(tc: context.TracingContext, enabled: bool):
    original = context.TracingContext.__dict__["_TracingContext__create_zipkin_attrs"].__wrapped_original__
    return original(tc, enabled)


@pytest.mark.parametrize("tracing", ["0", "1", None])
@pytest.mark.parametrize("b3", [True, False])
def test_same_tracing_context_as_fdk(monkeypatch, tracing, b3):
    """What a handler sees through ctx.TracingContext() is what unpatched fdk gives it."""
    assert fdkfast.install()
    if tracing is None:
        monkeypatch.delenv(constants.OCI_TRACING_ENABLED, raising=False)
    else:
        monkeypatch.setenv(constants.OCI_TRACING_ENABLED, tracing)
    headers = {**HEADERS, **(B3 if b3 else {})}
    ctx, body = context.context_from_format(constants.HTTPSTREAM, headers=headers, data=io.BytesIO(b"{}"))
    tc = ctx.TracingContext()
    assert type(tc.zipkin_attrs()) is fdkfast.ZipkinAttrs  # the real request path uses the patch
    enabled = tc.is_tracing_enabled()
    assert enabled is (tracing == "1")
    patched = context.TracingContext.__dict__["_TracingContext__create_zipkin_attrs"]
    random.seed(7)  # the same generated span id, when tracing is on
    got = patched(tc, enabled)
    random.seed(7)
    want = _original_attrs(tc, enabled)
    assert type(got).__name__ == type(want).__name__ == "ZipkinAttrs"
    assert got._fields == want._fields
    assert tuple(got) == tuple(want)
    assert got._asdict() == want._asdict()
    assert body.getvalue() == b"{}"


def test_no_class_per_request():
    """The point of the patch: fdk 0.1.128 builds a new namedtuple class for every request."""
    assert fdkfast.install()
    types = set()
    for i in range(3):
        ctx, _ = context.context_from_format(
            constants.HTTPSTREAM, headers={**HEADERS, constants.FN_CALL_ID: f"c{i}"}, data=io.BytesIO(b"")
        )
        types.add(type(ctx.TracingContext().zipkin_attrs()))
    assert len(types) == 1
    original = {type(_original_attrs(ctx.TracingContext(), False)) for _ in range(2)}
    assert len(original) == 2  # the unpatched code does (this is what the patch removes)
