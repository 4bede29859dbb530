"""Put a stack's local runtime together: pools and gateway plus the cloud's data path, as far as it exists."""

from __future__ import annotations

from mlops.local.runtime import LocalRuntime
from mlops.settings import StackSettings


class MetricsService:
    """Per-invocation metrics (the local twin of ``oci_faas``) into the SQLite store, batched."""

    def __init__(self, rt: LocalRuntime) -> None:
        from mlops.monitoring.metrics import BufferedSink, invocation_points
        from mlops.monitoring.sqlite import SqliteMetrics

        rt.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = SqliteMetrics(rt.state_dir / "metrics.sqlite")
        self.sink = BufferedSink(self.store, max_points=2000, max_delay_s=1.0)
        self._points = invocation_points
        rt.invocation_hooks.append(self.on_invocation)

    def on_invocation(self, fn: str, status: int, ms: float, ts: float) -> None:
        self.sink.put(self._points(fn, status, ms, ts))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.sink.close()
        self.store.close()


def build_runtime(settings: StackSettings, *, port: int | None = None) -> LocalRuntime:
    """The runtime ``mlops local up`` runs for ``settings``."""
    rt = LocalRuntime(settings, port=port)
    rt.services.append(MetricsService(rt))
    return rt
