"""Keeps fdk's keep-alive clock running, so an idle function does not spin a core.

fdk 0.1.128 (``fdk/async_http``, derived from Sanic) caches the time in a module global:
``server.update_current_time`` refreshes ``server.current_time`` once a second, but
``protocol.HttpProtocol`` reads ``protocol.current_time`` — a different global that stays
``None`` for ever. So ``keep_alive_time_left()`` returns 0 and ``keep_alive_timeout_callback``
re-schedules itself with ``loop.call_later(0, ...)`` endlessly for every connection kept alive
after its first response: a worker that has answered one request over a kept-alive connection
(the local gateway's, and very likely the Functions platform's) burns a core while idle, and
never closes the idle connection either.

``install()`` replaces ``server.update_current_time`` with one that refreshes both globals
(the running chain of ``call_later(1, ...)`` picks it up by name within a second) and sets the
protocol's clock at once. It is applied only to the fdk code it was checked against: the
sha256 of the three functions involved must match ``_CHECKED``; otherwise it changes nothing
and says so once on stderr. ``tests/unit/test_fdkclock.py`` fails when an fdk upgrade changes
that code, so the patch is re-checked (or dropped) on every upgrade. The upstream report is in
``docs/fdk-keepalive-busy-loop.md``.
"""

from __future__ import annotations

import time
from functools import partial

from mlops import fdkpatch

# sha256 of inspect.getsource(...) of the code this patch relies on, per checked fdk version
_CHECKED: dict[str, dict[str, str]] = {
    "0.1.128": {
        "protocol.HttpProtocol.keep_alive_time_left": "ed80facc548a242183a276e8e825bf75f989a2136bea77ca3bdc3828f9c398cd",
        "protocol.HttpProtocol.keep_alive_timeout_callback": "32112351c2a8ebc2ccd1308be88d493aaa2fc27434ce36ec699755ec631aa8d5",
        "server.update_current_time": "f83de3c7581cb22306dcf3acba45d4b45c170b8e910981b3fa165a960ee13001",
    },
}
_installed = False


def _modules():
    from fdk.async_http import protocol, server

    return protocol, server


def fdk_version() -> str:
    return fdkpatch.fdk_version()


def source_digests() -> dict[str, str]:
    """sha256 of the installed fdk's code that the patch depends on (the original functions)."""
    protocol, server = _modules()
    update = getattr(server.update_current_time, "__wrapped_original__", server.update_current_time)
    return fdkpatch.digests(
        {
            "protocol.HttpProtocol.keep_alive_time_left": protocol.HttpProtocol.keep_alive_time_left,
            "protocol.HttpProtocol.keep_alive_timeout_callback": protocol.HttpProtocol.keep_alive_timeout_callback,
            "server.update_current_time": update,
        }
    )


def mismatch() -> str | None:
    """Why the patch does not apply to the installed fdk, or None when it does."""
    return fdkpatch.mismatch(_CHECKED, source_digests(), "this patch")


def install() -> bool:
    """Keep ``protocol.current_time`` updated; True when the patch is (already) in place."""
    global _installed
    if _installed:
        return True
    problem = mismatch()
    if problem is not None:
        fdkpatch.warn("mlops.fdkclock", f"fdk keep-alive clock not patched: {problem}")
        return False
    protocol, server = _modules()
    original = server.update_current_time

    def update_current_time(loop) -> None:
        now = time.time()
        server.current_time = now
        protocol.current_time = now
        loop.call_later(1, partial(server.update_current_time, loop))

    update_current_time.__wrapped_original__ = original  # type: ignore[attr-defined]
    server.update_current_time = update_current_time
    now = time.time()
    server.current_time = now
    protocol.current_time = now
    _installed = True
    return True
