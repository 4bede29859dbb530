"""The feature store (issue 15 §2): group definitions with versions, validated ingestion into Parquet with a
quarantine, point-in-time correct training sets, and the online side (latest values per entity, materialized
from the offline snapshots into SQLite or Redis).

Core layer: it needs only the object store (``mlops.storage``) and base helpers, so the serving path may
use the same definitions later. pyarrow and DuckDB (the ingestion checks) are imported inside the functions that need
them.

- ``mlops.features.definition``  the YAML file of a group, parsed (``load_definition``)
- ``mlops.features.groups``      registered group versions (``register_group``, ``get_group``, ``list_groups``)
- ``mlops.features.ingest``      ``ingest(store, group, table_or_file) -> IngestResult``
- ``mlops.features.offline``     the offline store's layout and committed batches
- ``mlops.features.snapshot``    per group version, the committed rows sorted by (keys, time), ties resolved
- ``mlops.features.pit``         ``training_set(store, labels, groups) -> pyarrow.Table``
- ``mlops.features.online``      the ``OnlineStore`` protocol, the row encoding, the SQLite store (the default)
- ``mlops.features.online_redis`` the Redis store (OCI Cache)
- ``mlops.features.online_open`` ``open_online("sqlite:PATH" | "redis://HOST:PORT[/DB]")``
- ``mlops.features.materialize`` ``materialize(store, online, group)``: latest row per entity, by batch watermark
"""
