"""A real registry, model and InferenceService, and the real log shipper writing log objects (FileStore)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import numpy as np
from mlops.http import Request
from mlops.local.logship import LogShipper
from mlops.registry import Registry
from mlops.serving.inference import InferenceService
from mlops.serving.source import RegistrySource
from mlops.storage import FileStore
from sklearn.linear_model import LogisticRegression

NAMES = ["a", "b", "c", "d"]


class World:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.store = FileStore(str(tmp_path / "store"))
        reg = Registry(self.store, actor="alice")
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 4))
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        v = reg.register_version("m", LogisticRegression().fit(X, y), X, y, feature_names=NAMES)["version"]
        reg.request_approval("m", v)
        reg.with_actor("bob").decide_approval("m", v, "approve")
        reg.deployments().set_stable("ep", "m", v)
        self.reg, self.version = reg, v
        self.records: list[dict] = []
        self.rng = rng
        self._ships = 0

    def service(self, **kw) -> InferenceService:
        src = RegistrySource(
            self.reg, self.store, endpoint="ep", model="m", variant="stable", alias="production"
        )
        return InferenceService(
            src,
            endpoint="ep",
            model_name="m",
            variant="stable",
            emit=self.records.append,
            start_refresher=False,
            log=lambda m: None,
            **kw,
        )

    def predict(self, svc: InferenceService, n: int, at: str) -> list[dict]:
        """``n`` real prediction records; their ``ts`` set to ``at`` (the simulated clock)."""
        X = self.rng.normal(size=(n, 4))
        before = len(self.records)
        body = json.dumps({"instances": X.tolist()}).encode()
        svc.predict(
            Request.from_url("POST", "/v1/endpoints/ep/predict", {"content-type": "application/json"}, body)
        )
        recs = self.records[before:]
        for r in recs:
            r["ts"] = at
        return recs

    def feedback(self, svc: InferenceService, items: list[dict], at: str) -> list[dict]:
        before = len(self.records)
        body = json.dumps({"feedback": items}).encode()
        svc.feedback(
            Request.from_url("POST", "/v1/endpoints/ep/feedback", {"content-type": "application/json"}, body)
        )
        recs = self.records[before:]
        for r in recs:
            r["ts"] = at
        return recs

    def ship(self, records: list[dict], at: str) -> list[str]:
        """The records as the local runtime ships stdout lines: one log object rolled at ``at``."""
        self._ships += 1
        when = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        spool = self.tmp / f"spool-{self._ships}"
        written: list[str] = []

        async def go() -> None:
            sh = LogShipper(self.store, spool_dir=spool, clock=lambda: when)
            for r in records:
                sh.on_line("inference-ep-stable", "stdout", json.dumps(r, separators=(",", ":")))
            assert await sh.drain(5.0)
            sh._io.shutdown(wait=True)

        asyncio.run(go())
        written = [k for k in self.store.list("prediction-logs/ep/")]
        return written
