"""``DatasetStore``: create, get, list, read, scan, diff and gc immutable dataset versions in an object store.

A version is written in two steps: its Parquet parts (content-addressed, ``mlops.datasets.write``), then its
manifest ``datasets/<name>/versions/<n>.json``, created with if-none-match at the first free number
(``allocate``, the registry's version-allocation loop). The manifest is the commit point: a writer that
crashes before it leaves orphan parts only, and concurrent writers of one name get distinct numbers.
Each committed version appends a ``dataset.create`` entry to the audit log when an ``audit`` is given
(``DatasetStore.for_registry(registry)`` wires the registry's hash-chained log and actor). There is no
update and no delete of a version: ``gc`` only removes parts no committed version references.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.datasets import catalog, keys, write
from mlops.datasets import gc as orphans
from mlops.datasets.diff import diff as diff_manifests
from mlops.errors import BadRequestError, ConflictError
from mlops.storage import cas
from mlops.storage.base import ObjectStore
from mlops.times import iso

if TYPE_CHECKING:
    import pyarrow as pa

MAX_VERSION_ATTEMPTS = 1000
MAX_LINEAGE_BYTES = 64 * 1024
AuditFn = Callable[[str, str, dict[str, Any]], object]


@dataclass(frozen=True, eq=False)
class DatasetVersion:
    """One committed dataset version: its manifest, with the fields most callers want as attributes."""

    manifest: Mapping[str, Any]

    name = property(lambda self: self.manifest["name"])
    version = property(lambda self: self.manifest["version"])
    ref = property(lambda self: self.manifest["ref"])
    digest = property(lambda self: self.manifest["digest"])
    rows = property(lambda self: self.manifest["rows"])
    columns = property(lambda self: self.manifest["columns"])
    entity_keys = property(lambda self: self.manifest["entity_keys"])
    event_time = property(lambda self: self.manifest["event_time"])
    time_range = property(lambda self: self.manifest["time_range"])
    parts = property(lambda self: self.manifest["parts"])
    lineage = property(lambda self: self.manifest["lineage"])

    def to_dict(self) -> dict[str, Any]:
        return dict(self.manifest)

    @property
    def schema(self) -> pa.Schema:
        """The exact Arrow schema."""
        from mlops.datasets.read import arrow_schema

        return arrow_schema(self.manifest)


def check_lineage(store: ObjectStore, lineage: Mapping[str, Any] | None) -> dict[str, Any]:
    """Plain JSON (at most 64 KiB). The conventional fields are checked when present: ``sources`` (list of
    strings: files, tables, URIs), ``feature_groups`` and ``datasets`` (lists of ``NAME:VERSION``; datasets
    must exist), ``labels`` (a string or an object naming the label source). Other fields are kept as given."""
    if lineage is None:
        return {}
    if not isinstance(lineage, Mapping):
        raise BadRequestError("lineage must be an object", code="invalid_lineage")
    try:
        size = len(cas.dumps(dict(lineage)))
    except (TypeError, ValueError) as exc:
        raise BadRequestError(f"lineage must be plain JSON: {exc}", code="invalid_lineage") from None
    if size > MAX_LINEAGE_BYTES:
        raise BadRequestError(f"lineage is larger than {MAX_LINEAGE_BYTES} bytes", code="invalid_lineage")
    out = dict(lineage)
    for field in ("sources", "feature_groups", "datasets"):
        value = out.get(field)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise BadRequestError(f"lineage.{field} must be a list of strings", code="invalid_lineage")
    for ref in out.get("feature_groups") or []:
        keys.parse_ref(ref, what="lineage.feature_groups entry")
    if out.get("datasets"):
        out["datasets"] = [catalog.get_ref(store, ref)["ref"] for ref in out["datasets"]]
    labels = out.get("labels")
    if labels is not None and not isinstance(labels, (str, Mapping)):
        raise BadRequestError("lineage.labels must be a string or an object", code="invalid_lineage")
    return out


def allocate(store: ObjectStore, name: str, manifest: dict[str, Any]) -> int:
    """Create ``versions/<n>.json`` at the first free n from latest+1 (create-exclusive); returns n."""
    n = (catalog.latest_version(store, name) or 0) + 1

    def once(_attempt: int) -> int:
        nonlocal n
        manifest.update(version=n, ref=keys.format_ref(name, n))
        manifest.pop("write_id", None)
        try:
            cas.put_or_lose(lambda: cas.create(store, keys.version_key(name, n), manifest))
        except cas.LostRace:
            n += 1  # someone committed n: the next free number is above it
            raise
        manifest.pop("write_id", None)
        return n

    return cas.retry_lost_races(
        once,
        attempts=MAX_VERSION_ATTEMPTS,
        exhausted=lambda: ConflictError(
            f"could not allocate a version of dataset {name!r} after {MAX_VERSION_ATTEMPTS} attempts",
            code="too_much_contention",
        ),
    )


class DatasetStore:
    """Dataset versions in ``store``. ``audit(action, subject, details)`` records each new version;
    ``actor`` is who creates them; ``clock`` (epoch seconds) stamps ``created_at``.
    ``rows_per_part`` and ``row_group_rows`` shape the Parquet parts (and so the digest)."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        audit: AuditFn | None = None,
        actor: str = "unknown",
        clock: Callable[[], float] = time.time,
        rows_per_part: int = write.DEFAULT_ROWS_PER_PART,
        row_group_rows: int = write.DEFAULT_ROW_GROUP_ROWS,
    ):
        if rows_per_part < 1 or row_group_rows < 1:
            raise ValueError("rows_per_part and row_group_rows must be positive")
        self.store = store
        self.audit = audit
        self.actor = actor
        self.clock = clock
        self.rows_per_part = rows_per_part
        self.row_group_rows = row_group_rows

    @classmethod
    def for_registry(cls, registry: Any, **options: Any) -> DatasetStore:
        """The datasets in a ``mlops.registry.Registry``'s store, audited in its hash-chained log as its
        actor (duck-typed: ``store``, ``actor``, ``clock``, ``audit_event``; this layer sits below the
        registry). ``options`` are the constructor's (``rows_per_part``, ``row_group_rows``)."""

        def audit(action: str, subject: str, details: dict[str, Any]) -> object:
            return registry.audit_event(registry.actor, action, subject, details)

        return cls(registry.store, audit=audit, actor=registry.actor, clock=registry.clock, **options)

    # ------------------------------------------------------------------ write

    def create(
        self,
        name: str,
        data: pa.Table | pa.RecordBatchReader | pa.RecordBatch,
        *,
        event_time: str,
        entity_keys: Sequence[str] = (),
        lineage: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> DatasetVersion:
        """Write ``data`` as the next version of ``name``; returns the committed version."""
        keys.dataset_name(name)
        entity = _names(entity_keys, "entity key")
        if not isinstance(event_time, str) or not event_time:
            raise BadRequestError("event_time must name a column", code="invalid_event_time")
        if not isinstance(description, str) or len(description) > 10_000:
            raise BadRequestError(
                "description must be a string of at most 10000 characters", code="invalid_description"
            )
        lineage_doc = check_lineage(self.store, lineage)
        schema, batches = write.input_batches(data)
        write.check_schema(schema, entity, event_time)
        marker = orphans.begin_write(self.store, name, self.clock)  # garbage collection keeps off our parts
        try:
            facts = write.write_parts(
                self.store,
                name,
                schema,
                batches,
                event_time,
                rows_per_part=self.rows_per_part,
                row_group_rows=self.row_group_rows,
            )
            manifest = self._manifest(name, schema, facts, entity, event_time, lineage_doc, description)
            version = allocate(self.store, name, manifest)
        finally:
            orphans.end_write(self.store, marker)
        if self.audit is not None:
            self.audit(
                "dataset.create",
                keys.dataset_subject(name),
                {
                    "version": version,
                    "digest": manifest["digest"],
                    "rows": manifest["rows"],
                    "parts": len(manifest["parts"]),
                    "lineage": {
                        k: lineage_doc[k]
                        for k in ("sources", "feature_groups", "datasets", "labels")
                        if k in lineage_doc
                    },
                },
            )
        return DatasetVersion(manifest)

    def _manifest(
        self,
        name: str,
        schema: pa.Schema,
        facts: write.Facts,
        entity: list[str],
        event_time: str,
        lineage: dict[str, Any],
        description: str,
    ) -> dict[str, Any]:
        columns = write.schema_facts(schema, facts)
        ts_type = schema.field(event_time).type
        digest = write.dataset_digest(columns, entity, event_time, [p["sha256"] for p in facts.parts])
        return {
            "schema": catalog.MANIFEST_SCHEMA,
            "kind": "dataset_version",
            "name": name,
            "version": None,
            "ref": None,
            "digest": digest,
            "format": "parquet",
            "compression": write.COMPRESSION,
            "columns": columns,
            "arrow_schema": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
            "entity_keys": entity,
            "event_time": event_time,
            "rows": facts.rows,
            "bytes": sum(p["size"] for p in facts.parts),
            "time_range": {
                "min": write.time_iso(facts.time_min, ts_type),
                "max": write.time_iso(facts.time_max, ts_type),
            },
            "parts": facts.parts,
            "location": {"store": self.store.url, "prefix": keys.parts_prefix(name)},
            "lineage": lineage,
            "description": description,
            "created_by": self.actor,
            "created_at": iso(self.clock()),
        }

    # ------------------------------------------------------------------ read

    def get(self, name: str, version: int | str | None = None) -> DatasetVersion:
        """A version (a number, ``"latest"`` or None for the newest); ``NotFoundError`` if absent."""
        return DatasetVersion(catalog.get(self.store, name, version))

    def get_ref(self, ref: str) -> DatasetVersion:
        """The version ``NAME[:VERSION]`` names."""
        return DatasetVersion(catalog.get_ref(self.store, ref))

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every committed version of ``name``, ascending."""
        return [DatasetVersion(m) for m in catalog.list_versions(self.store, name)]

    def names(self) -> list[str]:
        """Every dataset with at least one committed version."""
        return catalog.dataset_names(self.store)

    def latest(self) -> list[DatasetVersion]:
        """The newest version of every dataset."""
        return [self.get(n) for n in self.names()]

    def read(
        self,
        name: str,
        version: int | str | None = None,
        *,
        columns: Sequence[str] | None = None,
        filter: Any = None,
    ) -> pa.Table:
        """The version's rows (every part verified by sha256 first). ``filter`` is a ``pyarrow.compute``
        expression or DNF filters (``[("col", ">", 3)]``), pushed down into the Parquet reader."""
        from mlops.datasets.read import read_table

        return read_table(self.store, catalog.get(self.store, name, version), columns, filter)

    def scan(
        self,
        name: str,
        version: int | str | None = None,
        *,
        columns: Sequence[str] | None = None,
        filter: Any = None,
    ) -> pa.RecordBatchReader:
        """The version streamed one verified part at a time (memory: one part). For SQL over big data:
        ``duckdb.from_arrow(store.scan(...))``."""
        from mlops.datasets.read import scan

        return scan(self.store, catalog.get(self.store, name, version), columns, filter)

    def gc(self, name: str, *, grace_s: float = orphans.DEFAULT_GRACE_S) -> dict[str, Any]:
        """Delete ``name``'s orphan parts (no committed version references them), unless a writer started
        less than ``grace_s`` ago may still be running (``mlops.datasets.gc``); audited as ``dataset.gc``."""
        done = orphans.collect(self.store, name, clock=self.clock, grace_s=grace_s)
        if done["deleted_parts"] and self.audit is not None:
            self.audit("dataset.gc", keys.dataset_subject(name), dict(done))
        return done

    def diff(self, a: str, b: str) -> dict[str, Any]:
        """Differences from ``NAME:V1`` to ``NAME:V2`` (any two versions, of one dataset or two)."""
        return diff_manifests(catalog.get_ref(self.store, a), catalog.get_ref(self.store, b))


def _names(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        raise BadRequestError(f"each {what} must be a non-empty column name", code="invalid_schema")
    return list(values)
