"""Background tasks of the local runtime: kept referenced until done, and a failure logged, never lost.

The event loop holds only weak references to tasks, so a task started with ``ensure_future`` and
not kept may be garbage-collected mid-flight; and an exception of a task nobody awaits is reported
only when it is collected, if ever. :class:`TaskSet` keeps every task it starts until it is done,
then logs its exception (a cancellation is not a failure).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Tasks started by one owner (a server, a pool): referenced until done, failures logged."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self.tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "%s: background task %s failed: %s: %s",
                self.owner,
                task.get_name(),
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    async def cancel_all(self) -> None:
        """Cancel what is still running and wait for it to end."""
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
