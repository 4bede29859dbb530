"""The quickstart's callers: traffic with their own API keys through the gateway, and polling until
the runtime shows the effect of a step."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import time
from typing import Any


class Traffic:
    """Callers with their own API keys sending predictions (and feedback) through the gateway."""

    def __init__(self, url: str, tokens: list[str], endpoint: str) -> None:
        from urllib.parse import urlsplit

        self.parts = urlsplit(url)
        self.host = self.parts.hostname or "127.0.0.1"
        self.tokens = tokens
        self.endpoint = endpoint

    def send(self, X, y=None, *, n: int, threads: int = 8, seed: int = 0) -> dict[str, Any]:
        import numpy as np

        rng = np.random.default_rng(seed)
        rows = rng.integers(0, len(X), size=n)
        callers = rng.integers(0, len(self.tokens), size=n)
        by_variant: dict[str, int] = {}
        versions: dict[str, set] = {}
        errors = 0

        def run(idx: list[int]) -> list[tuple[str, int, int]]:
            conn = http.client.HTTPConnection(self.host, self.parts.port, timeout=30)
            out = []
            try:
                for i in idx:
                    auth = {
                        "Authorization": f"Bearer {self.tokens[callers[i]]}",
                        "Content-Type": "application/json",
                    }
                    body = json.dumps({"instances": [X[rows[i]].tolist()]})
                    conn.request("POST", f"/v1/endpoints/{self.endpoint}/predict", body=body, headers=auth)
                    r = conn.getresponse()
                    data = json.loads(r.read())
                    if r.status != 200:
                        out.append(("error", 0, r.status))
                        continue
                    out.append((data["variant"], data["version"], 200))
                    if y is not None:
                        fb = json.dumps({"prediction_id": data["prediction_id"], "actual": int(y[rows[i]])})
                        conn.request("POST", f"/v1/endpoints/{self.endpoint}/feedback", body=fb, headers=auth)
                        conn.getresponse().read()
            finally:
                conn.close()
            return out

        chunks = [list(range(k, n, threads)) for k in range(threads)]
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            for res in ex.map(run, chunks):
                for variant, version, status in res:
                    if status != 200:
                        errors += 1
                        continue
                    by_variant[variant] = by_variant.get(variant, 0) + 1
                    versions.setdefault(variant, set()).add(version)
        return {
            "by_variant": by_variant,
            "versions": {k: sorted(v) for k, v in versions.items()},
            "errors": errors,
        }


def wait_for(pred, timeout: float, every: float = 0.5):
    """``pred()`` once it is truthy, polled every ``every`` s; its last value after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(every)
    return pred()
