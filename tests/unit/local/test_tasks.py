"""mlops.local.tasks: background tasks are referenced until done and their failures are logged."""

from __future__ import annotations

import asyncio
import gc
import json

from mlops import logs
from mlops.local.tasks import TaskSet


def test_a_task_is_kept_until_done_and_its_failure_is_logged(capsys):
    logs.configure("INFO")

    async def main() -> None:
        ts = TaskSet("test owner")
        gate = asyncio.Event()

        async def fails() -> None:
            await gate.wait()
            raise ValueError("lost before")

        ts.spawn(fails())
        gc.collect()  # no other reference: the set keeps it alive
        assert len(ts) == 1
        gate.set()
        await asyncio.sleep(0.01)
        assert len(ts) == 0

    asyncio.run(main())
    recs = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    assert recs and recs[0]["level"] == "ERROR" and "test owner" in recs[0]["message"]
    assert recs[0]["error"] == "ValueError" and "lost before" in recs[0]["traceback"]


def test_cancel_all_ends_what_runs_and_a_cancellation_is_not_a_failure(capsys):
    async def main() -> None:
        ts = TaskSet("owner")
        ts.spawn(asyncio.sleep(60))
        await ts.cancel_all()
        await asyncio.sleep(0)
        assert len(ts) == 0

    asyncio.run(main())
    assert "ERROR" not in capsys.readouterr().err
