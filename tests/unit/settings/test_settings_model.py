"""The settings model: its published JSON Schema cannot go stale, the repository's stack files obey it,
errors keep naming the key with the value and the allowed range, and storage stays below settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlops.errors import ConfigError
from mlops.settings import StackSettings, load_stack, settings_from_config, stack_schema
from mlops.settings.schema import SCHEMA_FILE, render_stack_schema

ROOT = Path(__file__).resolve().parents[3]
STACKS = ("local", "dev")


def test_the_committed_schema_is_what_the_model_generates():
    """Regenerate with ``python -c 'from mlops.settings.schema import write_stack_schema as w; w()'``."""
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == stack_schema()
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_stack_schema()


@pytest.mark.parametrize("stack", STACKS)
def test_the_repository_stack_files_validate_against_the_schema(stack):
    jsonschema = pytest.importorskip("jsonschema")
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(stack_schema())
    jsonschema.Draft202012Validator(stack_schema()).validate(doc)
    assert isinstance(load_stack(stack, ROOT), StackSettings)


@pytest.mark.parametrize(
    "config",
    [
        {"mlops:gatewy": {}},
        {"mlops:functions": {"timeout_s": 301}},
        {"mlops:functions": {"memory_mb": 100}},
        {"mlops:endpoints": [{"name": "a"}]},
        {"mlops:endpoints": [{"name": "a", "model": "m", "max_batch": "many"}]},
        {"mlops:store": {"backend": "file", "path": "/x", "buckt": "y"}},
        {"mlops:gateway": {"rate_limit": {"key": "IP"}}},
        {"mlops:function_overrides": {"inference": {"memry": 512}}},
        {"mlops:drift": {"share_threshold": 0}},
    ],
)
def test_what_the_loader_refuses_the_schema_refuses_too(config):
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(ConfigError):
        settings_from_config(config, stack="t")
    errors = list(jsonschema.Draft202012Validator(stack_schema()).iter_errors({"config": config}))
    assert errors


def test_other_namespaces_pass_and_unnamespaced_keys_do_not():
    jsonschema = pytest.importorskip("jsonschema")
    v = jsonschema.Draft202012Validator(stack_schema())
    assert not list(v.iter_errors({"config": {"oci:region": "eu-frankfurt-1"}}))
    assert list(v.iter_errors({"config": {"region": "x"}}))


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"mlops:functions": {"timeout_s": 301}},
            "Pulumi.dev.yaml: mlops:functions.timeout_s: must be 1..300, got 301",
        ),
        (
            {"mlops:endpoints": [{"name": "a", "model": "m"}, {"name": "b", "model": "m", "max_batch": 0}]},
            "Pulumi.dev.yaml: mlops:endpoints[1].max_batch: must be 1..100000, got 0",
        ),
        (
            {"mlops:functions": {"memory_mb": 100}},
            "Pulumi.dev.yaml: mlops:functions.memory_mb: must be one of 128, 256, 512, 1024, 2048, 3072, got 100",
        ),
        (
            {"mlops:function_overrides": {"inference": {"memory_mb": "lots"}}},
            "Pulumi.dev.yaml: mlops:function_overrides.inference.memory_mb: expected an integer, got 'lots'",
        ),
        (
            {"mlops:guardian": {"auto_rollback": "maybe"}},
            "Pulumi.dev.yaml: mlops:guardian.auto_rollback: expected true or false, got 'maybe'",
        ),
        ({"mlops:endpoints": "diagnosis"}, "Pulumi.dev.yaml: mlops:endpoints: expected a list, got str"),
        (
            {"mlops:store": {"backend": "oci"}},
            "Pulumi.dev.yaml: mlops:store.bucket: required for the oci backend",
        ),
        (
            {"mlops:gateway": {"cors": {"allowd_origins": []}}},
            "Pulumi.dev.yaml: mlops:gateway.cors.allowd_origins: "
            "unknown setting (known: allowed_headers, allowed_methods, allowed_origins, max_age_s)",
        ),
    ],
)
def test_errors_name_the_key_the_value_and_what_is_allowed(config, message):
    with pytest.raises(ConfigError) as e:
        settings_from_config(config, stack="t", source="Pulumi.dev.yaml")
    assert e.value.message == message


def test_the_loader_keeps_its_leniency():
    s = settings_from_config(
        {
            "mlops:devops": {"branch": 2024, "require_manual_approval": "False"},
            "mlops:functions": {"timeout_s": "60"},
        },
        stack="t",
    )
    assert (s.devops.branch, s.devops.require_manual_approval, s.functions.timeout_s) == ("2024", False, 60)


def test_storage_does_not_import_settings():
    """Storage sits below settings (issue 14 item 6): no import of mlops.settings anywhere in it."""
    storage = ROOT / "layers" / "mlops" / "storage"
    for path in storage.glob("*.py"):
        assert not re.search(r"^\s*(from|import) mlops\.settings", path.read_text(encoding="utf-8"), re.M), (
            path
        )
    code = "import sys, mlops.storage, mlops.storage.stack; print('mlops.settings' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_a_config_that_is_not_a_mapping_is_a_config_error(tmp_path):
    (tmp_path / "Pulumi.x.yaml").write_text("config: 5\n")
    with pytest.raises(ConfigError, match="Pulumi.x.yaml: config: expected a mapping, got int"):
        load_stack("x", tmp_path)
    with pytest.raises(ConfigError, match="config: expected a mapping"):
        settings_from_config(["mlops:store"], stack="t")
