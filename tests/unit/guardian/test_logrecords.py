"""Log objects read the same whether the local shipper or OCI's Service Connector wrote them."""

from __future__ import annotations

import gzip
import json

from mlops.ab import join
from mlops.driftjob import read_records
from mlops.logrecords import iter_log_records

PRED = {
    "kind": "prediction",
    "prediction_id": "a" * 32,
    "endpoint": "ep",
    "variant": "stable",
    "version": 1,
    "ts": "2026-11-22T00:00:00Z",
    "prediction": 1,
}
FB = {
    "kind": "feedback",
    "prediction_id": "a" * 32,
    "endpoint": "ep",
    "actual": 1,
    "ts": "2026-11-22T00:00:01Z",
}


def entry(record) -> dict:
    return {
        "datetime": 1,
        "logContent": {
            "data": {"message": json.dumps(record)},
            "oracle": {"logid": "ocid1.log..x"},
            "type": "com.oraclecloud.functions.application.functioninvoke",
        },
    }


def test_local_ndjson_and_cloud_entries_give_the_same_records():
    local = (json.dumps(PRED) + "\nnot json\n" + json.dumps(FB) + "\n").encode()
    cloud = (
        json.dumps(entry(PRED))
        + "\n"
        + json.dumps(entry({"level": "INFO"}))
        + "\n"
        + json.dumps([entry(FB)])
        + "\n"
    ).encode()
    assert list(iter_log_records(local)) == list(iter_log_records(cloud)) == [PRED, FB]
    assert list(iter_log_records(gzip.compress(cloud))) == [PRED, FB]
    assert read_records(gzip.compress(cloud)) == ([PRED], [FB])
    for source in (local, gzip.compress(cloud)):
        (pred,) = join(source).predictions("stable")
        assert pred.labelled and pred.actual == 1
