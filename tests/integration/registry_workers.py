"""Worker entry points for the multi-process registry tests (importable by spawned children)."""

from __future__ import annotations

import threading
from typing import Any

SIGNATURE = {"inputs": [{"name": "x", "dtype": "float64"}]}


def open_test_store(spec: dict[str, Any]):
    """A store from a picklable description: {"backend": "file", "path"} or {"backend": "s3", "endpoint", "bucket"}."""
    if spec["backend"] == "file":
        from mlops.storage import FileStore

        return FileStore(spec["path"])
    from mlops.storage.s3 import S3Store, make_s3_client

    client = make_s3_client(
        endpoint_url=spec["endpoint"], region="us-east-1", access_key="testing", secret_key="testing"
    )
    return S3Store(spec["bucket"], client=client)


def register_many(spec: dict[str, Any], model: str, writer_ids: list[int], barrier, out) -> None:
    """Register one version per writer id, one thread each, all released by ``barrier`` at once."""
    from mlops.registry import Registry

    store = open_test_store(spec)
    results: list[tuple[int, int | str]] = []

    def one(writer: int) -> None:
        reg = Registry(store, actor=f"writer-{writer}")
        try:
            rec = reg.register_version(
                model, b"artifact of writer %d" % writer, signature=SIGNATURE, params={"writer": writer}
            )
            results.append((writer, rec["version"]))
        except Exception as exc:  # reported to the parent, which fails the test
            results.append((writer, f"{type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=one, args=(w,)) for w in writer_ids]
    barrier.wait(timeout=120)
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    out.put(results)
