"""The registry's JSON metadata objects: the record schema number and the store's CAS document helpers.

The documents themselves (canonical bytes, corrupt-object errors, compare-and-swap and the bounded
retry loop) are ``mlops.storage.cas``; they are re-exported here so the registry's modules say
``records.update(...)`` for every record they change.
"""

from __future__ import annotations

from mlops.storage.cas import (  # noqa: F401 - re-exported for the registry
    DEFAULT_ATTEMPTS,
    Doc,
    LostRace,
    backoff,
    create,
    dumps,
    loads,
    put_or_lose,
    read,
    read_required,
    retry_lost_races,
    update,
)
from mlops.times import iso, parse_time  # noqa: F401 - the one time parser, re-exported for the registry

SCHEMA = 1
