"""Aliases: a model's named pointers to its versions (``prod`` -> v3), kept on the model record.

Moving or removing an alias is a compare-and-swap on the model record, optionally conditional on where
the alias points now (``expected_version``), and appends ``alias.set`` / ``alias.delete`` to the audit
log; a governed alias moves only to an approved version (``mlops.registry.governance``). Reading and
resolving aliases is ``Registry.alias_version`` / ``Registry.resolve``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops.errors import ConflictError, NotFoundError
from mlops.names import validate_version
from mlops.registry import governance, records
from mlops.registry.fields import public
from mlops.registry.keys import model_key, model_subject
from mlops.storage.base import ObjectStore

RESERVED_REFS = ("latest",)
UNSET: Any = object()  # no ``expected_version`` given (None means "expected to be unset")


def expectation(expected_version: Any) -> Any:
    """``expected_version`` checked: ``UNSET``, None, or a version number."""
    if expected_version is not UNSET and expected_version is not None:
        return validate_version(expected_version)
    return expected_version


@dataclass(frozen=True)
class AliasMoves:
    """The alias changes of one registry acting as ``actor``: the store of model records, the registry's ISO
    clock and its audit appender ``audit(action, subject, details)``. Arguments arrive checked."""

    store: ObjectStore
    actor: str
    now: Callable[[], str]
    audit: Callable[[str, str, dict[str, Any]], object]

    def _stamp(self, cur: dict[str, Any]) -> None:
        cur["updated_by"], cur["updated_at"] = self.actor, self.now()
        cur["generation"] = int(cur.get("generation", 0)) + 1

    def set(
        self, model: str, alias: str, v: int, state: str, expected_version: Any, reason: str | None
    ) -> dict[str, Any]:
        """Point ``alias`` at ``v`` (whose approval state is ``state``); audited when it moved."""
        moved: dict[str, Any] = {}

        def change(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if cur is None:
                raise NotFoundError(f"model {model!r} does not exist", code="model_not_found")
            aliases = cur.setdefault("aliases", {})
            prev = aliases.get(alias)
            if expected_version is not UNSET and prev != expected_version:
                raise ConflictError(
                    f"alias {alias!r} of {model!r} points to "
                    f"{'v' + str(prev) if prev else 'nothing'}, not "
                    f"{'v' + str(expected_version) if expected_version else 'nothing'} as expected; "
                    "re-read and retry",
                    code="alias_moved",
                    details={"alias": alias, "current": prev},
                )
            governance.check_governed_alias(cur, alias, v, state)
            if prev == v:
                return None
            aliases[alias] = v
            self._stamp(cur)
            moved["previous"] = prev
            return cur

        doc, changed = records.update(self.store, model_key(model), change, what="model")

        assert doc is not None  # change() raises rather than leave a missing record missing
        if changed:
            self._audited("alias.set", model, alias, v, moved.get("previous"), reason, doc)
        return public(doc)

    def delete(self, model: str, alias: str, expected_version: Any, reason: str | None) -> dict[str, Any]:
        """Remove ``alias`` (``NotFoundError`` if it is not set); always audited."""
        removed: dict[str, Any] = {}

        def change(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            if cur is None:
                raise NotFoundError(f"model {model!r} does not exist", code="model_not_found")
            aliases = cur.setdefault("aliases", {})
            if alias not in aliases:
                raise NotFoundError(f"model {model!r} has no alias {alias!r}", code="alias_not_found")
            if expected_version is not UNSET and aliases[alias] != expected_version:
                raise ConflictError(
                    f"alias {alias!r} of {model!r} points to v{aliases[alias]}, "
                    f"not v{expected_version} as expected",
                    code="alias_moved",
                )
            removed["previous"] = aliases.pop(alias)
            self._stamp(cur)
            return cur

        doc, _ = records.update(self.store, model_key(model), change, what="model")

        assert doc is not None  # change() raises rather than leave a missing record missing
        self._audited("alias.delete", model, alias, None, removed.get("previous"), reason, doc)
        return public(doc)

    def _audited(
        self,
        action: str,
        model: str,
        alias: str,
        version: int | None,
        previous: Any,
        reason: str | None,
        doc: dict[str, Any],
    ) -> None:
        self.audit(
            action,
            model_subject(model),
            {
                "alias": alias,
                "version": version,
                "previous": previous,
                "reason": reason,
                "generation": doc["generation"],
            },
        )
