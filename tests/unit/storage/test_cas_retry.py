"""The one bounded retry loop of compare-and-swap writers (mlops.storage.cas.retry_lost_races)."""

from __future__ import annotations

import pytest
from mlops.errors import ConflictError, PreconditionFailedError
from mlops.storage import cas


def test_returns_the_first_attempt_that_wins(monkeypatch):
    slept: list[tuple[int, float]] = []
    monkeypatch.setattr(cas, "backoff", lambda attempt, unit: slept.append((attempt, unit)))
    seen: list[int] = []

    def once(attempt: int) -> str:
        seen.append(attempt)
        if attempt < 2:
            raise cas.LostRace(0.01 * (attempt + 1))
        return "won"

    assert cas.retry_lost_races(once, attempts=5, exhausted=lambda: ConflictError("no")) == "won"
    assert seen == [0, 1, 2]
    assert slept == [(0, 0.01), (1, 0.02)]  # one backoff per lost race, in units of the lost request


def test_gives_up_after_the_bound_with_the_callers_error(monkeypatch):
    monkeypatch.setattr(cas, "backoff", lambda attempt, unit: None)
    calls = []

    def once(attempt: int) -> None:
        calls.append(attempt)
        raise cas.LostRace(0.0)

    with pytest.raises(ConflictError) as exc:
        cas.retry_lost_races(
            once, attempts=3, exhausted=lambda: ConflictError("busy", code="too_much_contention")
        )
    assert exc.value.code == "too_much_contention"
    assert calls == [0, 1, 2]


def test_other_errors_are_not_retried(monkeypatch):
    monkeypatch.setattr(cas, "backoff", lambda attempt, unit: pytest.fail("no backoff for a real error"))

    def once(attempt: int) -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError):
        cas.retry_lost_races(once, attempts=3, exhausted=lambda: ConflictError("no"))


def test_put_or_lose_turns_a_failed_precondition_into_a_timed_lost_race():
    def put() -> None:
        raise PreconditionFailedError("taken")

    with pytest.raises(cas.LostRace) as exc:
        cas.put_or_lose(put)
    assert exc.value.took_s >= 0
    assert cas.put_or_lose(lambda: "etag") == "etag"


def test_update_uses_the_loop_and_names_the_record_on_contention(tmp_path, monkeypatch):
    from mlops.storage.file import FileStore

    store = FileStore(str(tmp_path))
    monkeypatch.setattr(cas, "backoff", lambda attempt, unit: None)
    cas.create(store, "k.json", {"n": 0})

    races = iter(range(100))

    def bump_and_race(cur):
        store.put("k.json", cas.dumps({"n": -1, "write_id": f"other-{next(races)}"}))  # another writer wins
        return {**cur, "n": cur["n"] + 1}

    with pytest.raises(ConflictError) as exc:
        cas.update(store, "k.json", bump_and_race, attempts=4, what="counter")
    assert exc.value.code == "too_much_contention"
    assert "counter k.json" in exc.value.message and "4 attempts" in exc.value.message
