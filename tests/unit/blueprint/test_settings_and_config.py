"""Stack settings fail naming the bad key; function config maps obey OCI's 4 KB / key-charset limits."""

from __future__ import annotations

import pytest
from mlops.blueprint.functions import MAX_CONFIG_BYTES, function_specs, validate_config
from mlops.errors import ConfigError
from mlops.settings import load_stack, settings_from_config


def settings(**cfg):
    base = {"mlops:store": {"backend": "file", "path": "/tmp/s"}}
    base.update({f"mlops:{k}": v for k, v in cfg.items()})
    return settings_from_config(base, stack="t", source="Pulumi.t.yaml")


@pytest.mark.parametrize(
    "cfg,needle",
    [
        ({"gatewy": {}}, "Pulumi.t.yaml: mlops:gatewy: unknown setting"),
        ({"functions": {"memory_mb": 100}}, "mlops:functions.memory_mb: must be one of"),
        ({"functions": {"timeout_s": 301}}, "mlops:functions.timeout_s: must be 1..300"),
        (
            {"endpoints": [{"name": "ok", "model": "m"}, {"name": "Bad_Name", "model": "m"}]},
            "mlops:endpoints[1]",
        ),
        (
            {"endpoints": [{"name": "a", "model": "m", "max_batch": "many"}]},
            "mlops:endpoints[0].max_batch: expected an integer",
        ),
        ({"endpoints": [{"name": "a"}]}, "mlops:endpoints[0].model: required setting is missing"),
        ({"endpoints": [{"name": "a", "model": "m"}, {"name": "a", "model": "n"}]}, "duplicate endpoint"),
        (
            {"gateway": {"rate_limit": {"key": "IP"}}},
            "mlops:gateway.rate_limit.key: must be CLIENT_IP or TOTAL",
        ),
        ({"local": {"host": "0.0.0.0"}}, "loopback only"),
        ({"environment": "cloud"}, "mlops:oci.region: required for a cloud stack"),
    ],
)
def test_bad_settings_name_the_key(cfg, needle):
    with pytest.raises(ConfigError) as ei:
        settings(**cfg)
    assert needle in ei.value.message


def test_the_repository_stacks_load():
    for stack in ("local", "dev"):
        s = load_stack(stack, ".")
        assert s.endpoints and all(len(f.config) for f in function_specs(s))


def test_secrets_in_a_stack_file_are_refused(tmp_path):
    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  mlops:store:\n    secure: AAAA\n")
    with pytest.raises(ConfigError, match="secrets go to Vault"):
        load_stack("x", tmp_path)


def test_function_config_limits():
    with pytest.raises(ConfigError, match="letters, digits and '_'"):
        validate_config("f", {"BAD-KEY": "v"})
    with pytest.raises(ConfigError, match="config key '9LIVES' may not start with a digit"):
        validate_config("f", {"9LIVES": "v"})  # issue 13 G: CreateFunctionDetails.config refuses it
    with pytest.raises(ConfigError, match="over OCI's 4096-byte limit"):
        validate_config("f", {"A": "x" * MAX_CONFIG_BYTES})
    ok = {"A": "x" * (MAX_CONFIG_BYTES - 1)}
    assert validate_config("f", ok) == ok


def test_a_stack_whose_config_would_exceed_4kb_fails_before_anything_runs():
    s = settings(
        endpoints=[{"name": "e", "model": "m", "stable_alias": "a" * 128}],
        auth={"api_keys_secret": "s" * 4000},
    )
    with pytest.raises(ConfigError, match="function authorizer: config is"):
        function_specs(s)


def test_every_function_config_of_the_stacks_is_within_limits():
    for stack in ("local", "dev"):
        for f in function_specs(load_stack(stack, ".")):
            assert sum(len(k) + len(v) for k, v in f.config.items()) <= MAX_CONFIG_BYTES
