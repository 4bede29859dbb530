"""Feature group definition files and group versions: errors name the file and the field; a changed
definition is a new version, an unchanged one is not; a pinned version refuses a stale file."""

from __future__ import annotations

import pytest
import yaml
from mlops.errors import ConflictError, NotFoundError
from mlops.features.definition import DefinitionError, load_definition
from mlops.features.groups import get_group, list_groups, register_group

GOOD = {
    "name": "customer_activity",
    "description": "Rolling activity of a customer",
    "owner": "growth-team",
    "entity_keys": [{"name": "customer_id", "type": "string"}],
    "event_time": "event_ts",
    "ttl": "30d",
    "source": "ingest",
    "features": [
        {"name": "orders_7d", "type": "int64", "description": "orders in the last 7 days", "nullable": False},
        {"name": "spend_7d", "type": "float64"},
        {"name": "is_vip", "type": "bool"},
        {"name": "segment", "type": "string"},
        {"name": "last_seen", "type": "timestamp"},
    ],
}


def _write(tmp_path, doc, name="g.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if isinstance(doc, dict) else doc)
    return path


def _now():
    return "2026-01-01T00:00:00Z"


def test_a_good_file_parses_into_the_definition(tmp_path):
    g = load_definition(_write(tmp_path, GOOD))
    assert g.name == "customer_activity" and g.key_names == ("customer_id",)
    assert g.ttl_us == 30 * 86_400 * 1_000_000
    assert g.features[0].nullable is False and g.features[1].nullable is True
    assert g.feature_names == ("orders_7d", "spend_7d", "is_vip", "segment", "last_seen")


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"name": "bad/name"}, "name", "not allowed"),
        ({"entity_keys": []}, "entity_keys", "non-empty"),
        ({"entity_keys": [{"name": "k", "type": "float64"}]}, "entity_keys[0].type", "not one of"),
        ({"event_time": None}, "event_time", "not a column name"),
        ({"ttl": "30 days"}, "ttl", "not a duration"),
        ({"ttl": 30}, "ttl", "not a duration"),
        ({"features": [{"name": "x", "type": "int"}]}, "features[0].type", "'int' is not one of"),
        (
            {"features": [{"name": "x", "type": "bool", "nullable": "no"}]},
            "features[0].nullable",
            "true or false",
        ),
        ({"features": [{"name": "_x", "type": "bool"}]}, "features[0].name", "reserved"),
        ({"features": [{"name": "customer_id", "type": "bool"}]}, "features", "more than once"),
        ({"features": [{"name": "x", "type": "bool", "unit": "s"}]}, "unit", "unknown field"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"version": 0}, "version", "positive integer"),
        ({"owner": 5}, "owner", "must be a string"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path, change, field, words):
    path = _write(tmp_path, {**GOOD, **change})
    with pytest.raises(DefinitionError) as e:
        load_definition(path)
    assert e.value.message.startswith(f"{path}: {field}: ") and words in e.value.message
    assert e.value.status == 400


def test_a_file_that_is_not_yaml_names_itself(tmp_path):
    with pytest.raises(DefinitionError, match=r"g.yaml: \(file\): is not valid YAML"):
        load_definition(_write(tmp_path, "name: [unclosed"))


def test_changed_definitions_are_new_versions_unchanged_ones_are_not(store, tmp_path):
    g1 = load_definition(_write(tmp_path, GOOD))
    v1, created = register_group(store, g1, now=_now, actor="ann")
    assert (v1.version, created) == (1, True)
    again, created = register_group(store, g1, now=_now, actor="bob")
    assert (again.version, created, again.created_by) == (1, False, "ann")
    g2 = load_definition(_write(tmp_path, {**GOOD, "ttl": "7d"}))
    v2, created = register_group(store, g2, now=_now, actor="ann")
    assert (v2.version, created) == (2, True)
    assert get_group(store, "customer_activity").version == 2
    assert get_group(store, "customer_activity@1").group.ttl == "30d"
    assert [gv.ref for gv in list_groups(store)] == ["customer_activity@2"]
    with pytest.raises(NotFoundError):
        get_group(store, "customer_activity@3")
    with pytest.raises(NotFoundError):
        get_group(store, "other")


def test_a_pinned_version_refuses_a_stale_file(store, tmp_path):
    register_group(store, load_definition(_write(tmp_path, {**GOOD, "version": 1})), now=_now, actor="a")
    changed = load_definition(_write(tmp_path, {**GOOD, "version": 1, "ttl": "1d"}))
    with pytest.raises(ConflictError, match="says version 1"):
        register_group(store, changed, now=_now, actor="a")
    bumped = load_definition(_write(tmp_path, {**GOOD, "version": 2, "ttl": "1d"}))
    assert register_group(store, bumped, now=_now, actor="a")[0].version == 2
    with pytest.raises(ConflictError):
        register_group(store, load_definition(_write(tmp_path, {**GOOD, "version": 5})), now=_now, actor="a")
