"""What every hash-checked patch of the fdk shares: the version, digests of the code it replaces, the check.

``mlops.fdkclock`` and ``mlops.fdkfast`` patch fdk 0.1.128 only where the installed fdk is a version they
were checked against and the code they replace is byte-for-byte what they were written for; otherwise
they say so on stderr and leave the fdk alone (their tests fail loudly on an fdk upgrade).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any


def fdk_version() -> str:
    from importlib.metadata import version

    return version("fdk")


def digests(originals: Mapping[str, Callable[..., Any]]) -> dict[str, str]:
    """sha256 of the source of each original function, by name."""
    return {
        name: hashlib.sha256(inspect.getsource(obj).encode()).hexdigest() for name, obj in originals.items()
    }


def mismatch(checked: Mapping[str, Mapping[str, str]], got: Mapping[str, str], what: str) -> str | None:
    """Why ``what`` does not apply to the installed fdk (``checked``: version -> digests), or None."""
    v = fdk_version()
    want = checked.get(v)
    if want is None:
        return f"fdk {v} is not a version {what} was checked against ({', '.join(sorted(checked))})"
    changed = sorted(k for k in want if got.get(k) != want[k])
    if changed:
        return f"fdk {v}: patched code changed: {', '.join(changed)}"
    return None


def warn(logger: str, message: str) -> None:
    """One JSON line on stderr, as the functions log."""
    print(json.dumps({"level": "WARNING", "logger": logger, "message": message}), file=sys.stderr, flush=True)
