"""Drift persistence: an alarm that needs k drifted window decisions out of the last n.

One noisy window should not page anyone; ``persistent_alarm`` decides on a history,
``DriftMonitor`` keeps one (as plain JSON, so a stateless function can store it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlops.drift.result import DriftResult
from mlops.errors import BadRequestError


def persistent_alarm(history: Sequence[bool], *, k: int = 3, n: int = 5) -> bool:
    """True when at least ``k`` of the last ``n`` window decisions (oldest first) drifted."""
    if not 1 <= k <= n:
        raise BadRequestError("persistence needs 1 <= k <= n")
    return sum(1 for d in list(history)[-n:] if d) >= k


class DriftMonitor:
    """Keeps the last ``n`` window decisions; the alarm is on while ``k`` of them drifted.

    State is plain JSON (``to_dict``/``from_dict``) so a stateless function can keep it in the store.
    """

    def __init__(self, *, k: int = 3, n: int = 5, history: Iterable[bool] = ()):
        if not 1 <= k <= n:
            raise BadRequestError("persistence needs 1 <= k <= n")
        self.k, self.n = int(k), int(n)
        self.history: deque[bool] = deque((bool(h) for h in history), maxlen=self.n)

    def observe(self, decision: bool | DriftResult) -> bool:
        """Record one window decision; return whether the alarm is now on."""
        self.history.append(decision.drifted if isinstance(decision, DriftResult) else bool(decision))
        return self.alarm

    @property
    def alarm(self) -> bool:
        return persistent_alarm(self.history, k=self.k, n=self.n)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "history": list(self.history), "alarm": self.alarm}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftMonitor:
        return cls(k=int(d.get("k", 3)), n=int(d.get("n", 5)), history=d.get("history", ()))
