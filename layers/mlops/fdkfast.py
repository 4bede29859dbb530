"""Removes per-request work from fdk that changes nothing a function or its caller sees (issue 19).

fdk 0.1.128 does, for every invocation, work whose result is the same every time:

- ``context.TracingContext.__create_zipkin_attrs`` builds a fresh ``namedtuple`` *class*
  ("ZipkinAttrs") per request (``collections.namedtuple`` compiles its ``__new__`` with
  ``eval`` - the single most expensive step of fdk's request path in a profile), then one
  instance of it. ``install()`` swaps in the same code with the class built once: same
  type name, same fields, same values, same ``generate_id()`` call when tracing is on.

Like ``mlops.fdkclock``, a patch is applied only to the fdk code it was checked against: the
sha256 of the original functions must match ``_CHECKED``; otherwise nothing is changed and one
line on stderr says why. ``tests/functions/test_fdk_fast.py`` fails when an fdk upgrade
changes that code (and checks the patched fdk behaves the same as the original).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from typing import Any

from mlops import fdkpatch

# sha256 of inspect.getsource(...) of the original code each patch replaces, per checked fdk version
_CHECKED: dict[str, dict[str, str]] = {
    "0.1.128": {
        "context.TracingContext.__create_zipkin_attrs": "0feb26084a6bce87fb43bf508bd2b642e46751b8e74a7ae29d72567ce4b1dd00",
    },
}
_installed = False

# the one class fdk 0.1.128 re-creates per request (same name and fields)
ZipkinAttrs = namedtuple("ZipkinAttrs", "trace_id, span_id, parent_span_id, is_sampled, flags")


def fdk_version() -> str:
    return fdkpatch.fdk_version()


def _originals() -> dict[str, Callable[..., Any]]:
    from fdk import context

    attr = "_TracingContext__create_zipkin_attrs"
    fn = context.TracingContext.__dict__[attr]
    return {"context.TracingContext.__create_zipkin_attrs": getattr(fn, "__wrapped_original__", fn)}


def source_digests() -> dict[str, str]:
    """sha256 of the installed fdk's original code that the patches replace."""
    return fdkpatch.digests(_originals())


def mismatch() -> str | None:
    """Why the patches do not apply to the installed fdk, or None when they do."""
    return fdkpatch.mismatch(_CHECKED, source_digests(), "these patches")


def install() -> bool:
    """Apply the patches; True when they are (already) in place."""
    global _installed
    if _installed:
        return True
    problem = mismatch()
    if problem is not None:
        fdkpatch.warn("mlops.fdkfast", f"fdk per-request patches not applied: {problem}")
        return False
    from fdk import context

    original = context.TracingContext.__dict__["_TracingContext__create_zipkin_attrs"]

    def create_zipkin_attrs(self, is_tracing_enabled):
        # fdk 0.1.128's body, with the namedtuple class built once (module level) instead of per call
        trace_id = self._TracingContext__trace_id
        span_id = self._TracingContext__span_id
        parent_span_id = self._TracingContext__parent_span_id
        is_sampled = bool(self._TracingContext__is_sampled)
        trace_flags = self._TracingContext__flags
        if is_tracing_enabled:  # the fn LB sends the parent span id as the span id
            parent_span_id = span_id
            span_id = context.generate_id()
        return ZipkinAttrs(trace_id, span_id, parent_span_id, is_sampled, trace_flags)

    create_zipkin_attrs.__wrapped_original__ = original  # type: ignore[attr-defined]
    context.TracingContext._TracingContext__create_zipkin_attrs = create_zipkin_attrs
    _installed = True
    return True
