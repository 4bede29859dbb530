"""mlops.logs: one JSON line per record with the request id of the context; cheap when a level is off."""

from __future__ import annotations

import json
import logging
import timeit

from mlops import logs


def _lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_a_record_is_one_json_line_with_request_id_and_extra_fields(capsys):
    logs.configure("INFO")
    log = logging.getLogger("mlops.test.logs")
    token = logs.request_id_var.set("req-1")
    try:
        log.info("hello %s", "world", extra={"endpoint": "ep"})
    finally:
        logs.request_id_var.reset(token)
    log.warning("outside")
    recs = _lines(capsys.readouterr().err)
    assert recs[0]["message"] == "hello world" and recs[0]["request_id"] == "req-1"
    assert (
        recs[0]["level"] == "INFO" and recs[0]["logger"] == "mlops.test.logs" and recs[0]["endpoint"] == "ep"
    )
    assert recs[0]["time"].endswith("Z")
    assert recs[1]["request_id"] is None


def test_an_exception_travels_flattened_on_the_same_line(capsys):
    logs.configure("INFO")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("mlops.test.logs").exception("failed", extra={"request_id": "explicit"})
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    rec = _lines(err)[0]
    assert (
        rec["error"] == "RuntimeError" and "Traceback" in rec["traceback"] and rec["request_id"] == "explicit"
    )


def test_configure_is_idempotent_and_sets_the_level(capsys):
    logs.configure("INFO")
    logs.configure("WARNING")
    root = logging.getLogger(logs.ROOT)
    assert sum(isinstance(h, logs.StderrHandler) for h in root.handlers) == 1
    logging.getLogger("mlops.test.logs").info("not shown")
    assert capsys.readouterr().err == ""
    logs.configure("INFO")


def test_a_disabled_level_costs_no_formatting():
    logs.configure("INFO")
    log = logging.getLogger("mlops.test.logs")

    class Costly:
        def __str__(self) -> str:
            raise AssertionError("formatted although the level is off")

    log.debug("%s", Costly())
    per_call = min(timeit.repeat(lambda: log.debug("x %s", 1), number=10_000, repeat=3)) / 10_000
    assert per_call < 20e-6  # ~0.1 us: one cached isEnabledFor


def test_a_failed_request_is_logged_once_with_its_request_id(capsys):
    from mlops.function import dispatch
    from mlops.http import Request

    def router(request: Request):
        raise RuntimeError("bug")

    resp = dispatch(router, Request.from_url("POST", "/x", {}, b"{}", request_id="rid-42"))
    assert resp.status == 500
    recs = _lines(capsys.readouterr().err)
    assert len(recs) == 1 and recs[0]["request_id"] == "rid-42" and recs[0]["error"] == "RuntimeError"
