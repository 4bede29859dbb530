"""Put a stack's local runtime together: pools and gateway plus the cloud's data path, as far as it exists."""

from __future__ import annotations

from mlops.local.runtime import LocalRuntime
from mlops.settings import StackSettings


def build_runtime(settings: StackSettings, *, port: int | None = None) -> LocalRuntime:
    """The runtime ``mlops local up`` runs for ``settings``."""
    rt = LocalRuntime(settings, port=port)
    return rt
