"""The quickstart is a list of steps: the progress total is its length, and the titles read as before."""

from __future__ import annotations

import io
from types import SimpleNamespace

from mlops.cli.quickstart import STEPS, Progress


def test_the_progress_total_is_the_number_of_steps_and_the_titles_name_the_versions():
    run = SimpleNamespace(v1=1, v2=2)
    titles = [title.format(run=run) for title, _ in STEPS]
    assert len(STEPS) == 17 and len(set(titles)) == len(titles)
    assert titles[2] == "register breast-cancer v1 with signature, lineage, drift profile"
    assert titles[4] == "deploy v1 as stable of endpoint diagnosis"
    assert titles[8] == "canary v2 at 10% of callers"
    assert all(callable(fn) for _, fn in STEPS)

    out = io.StringIO()
    prog = Progress(total=len(STEPS), out=out)
    for title in titles:
        with prog.step(title):
            pass
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[ 1/17] start the local runtime") and lines[-1].startswith(
        "[17/17] audit trail"
    )
    assert all(line.split()[-2] == "ok" for line in lines)
