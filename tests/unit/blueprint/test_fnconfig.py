"""Each function's typed config (mlops.fnconfig): round-trips through its env vars, names a bad variable,
and decodes a deployed function's config map (function_specs) to the values the stack settings hold."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlops import envvars as ev
from mlops.blueprint.functions import function_specs
from mlops.errors import ConfigError
from mlops.fnconfig.authorizer import AuthorizerConfig
from mlops.fnconfig.base import EnvConfig
from mlops.fnconfig.drift import DriftConfig, DriftJobConfig
from mlops.fnconfig.guardian import GuardianConfig
from mlops.fnconfig.inference import InferenceConfig
from mlops.fnconfig.registry import RegistryConfig
from mlops.settings import StackSettings, load_stack, settings_from_config
from mlops.storage import StoreConfig

ROOT = Path(__file__).resolve().parents[3]
STORE = StoreConfig(backend="oci", bucket="b", namespace="ns", region="eu-frankfurt-1", prefix="p")
COMMON = {
    "store": STORE,
    "stack": "dev",
    "environment": "cloud",
    "metrics_namespace": "m1",
    "region": "eu-frankfurt-1",
    "compartment_id": "ocid1.compartment..x",
    "secrets_backend": "vault",
    "vault_id": "ocid1.vault..v",
}
AUDITED = {**COMMON, "audit_anchor_secret": "ocid1.vaultsecret..a", "audit_bucket": "audit"}

# one instance per config, every field away from its default
SAMPLES: list[EnvConfig] = [
    AuthorizerConfig(
        **COMMON,
        function="authorizer",
        api_keys_secret="ocid1.vaultsecret..k",
        auth_ttl_s=30,
        weight_cache_ttl_s=0.5,
        endpoints=("a", "b-2"),
    ),
    RegistryConfig(**AUDITED, function="registry"),
    InferenceConfig(
        **AUDITED,
        function="inference-a-canary",
        endpoint="a",
        model="m",
        variant="canary",
        alias="cand",
        max_batch=7,
        feature_sample_rate=1.0,
        model_refresh_s=2.5,
        shadow=True,
    ),
    DriftConfig(
        **AUDITED,
        function="drift",
        drift=DriftJobConfig(
            alpha=0.01,
            effect_threshold=0.2,
            share_threshold=0.5,
            dataset_rule="count",
            count_threshold=3,
            strong_threshold=0.4,
            persistence_k=1,
            persistence_n=4,
            min_rows=10,
        ),
        endpoints=("a",),
        ab_auto_promote=True,
        notify_file="/tmp/n.ndjson",
        notify_topic_id="ocid1.onstopic..t",
    ),
    GuardianConfig(
        **AUDITED,
        function="guardian",
        auto_rollback=False,
        auto_retrain=False,
        ab_auto_promote=True,
        rollback_on_drift=False,
        endpoints=("a", "b"),
        notify_file="/tmp/n",
        notify_topic_id="t",
        retrain_entrypoint="train.py",
        build_pipeline_id="ocid1.devopsbuildpipeline..p",
    ),
]


@pytest.mark.parametrize("cfg", SAMPLES, ids=lambda c: type(c).__name__)
def test_to_env_then_from_env_is_the_same_config(cfg):
    env = cfg.to_env()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
    assert type(cfg).from_env(env) == cfg


@pytest.mark.parametrize("cls", [type(c) for c in SAMPLES], ids=lambda c: c.__name__)
def test_defaults_round_trip_too(cls):
    required = {"api_keys_secret": "k", "endpoint": "e", "model": "m"}
    fields = {f.name for f in dataclasses.fields(cls)}
    cfg = cls(
        store=StoreConfig(backend="file", path="/s"), **{k: v for k, v in required.items() if k in fields}
    )
    assert cls.from_env(cfg.to_env()) == cfg


def _typed_vars() -> list[tuple[type, str, str]]:
    """(config class, env var, codec) of every number and flag any function reads."""
    out = []
    for sample in SAMPLES:
        for f in dataclasses.fields(sample):
            if f.metadata.get("kind") in ("int", "float", "bool"):
                out.append((type(sample), f.metadata["env"], f.metadata["kind"]))
        if isinstance(sample, DriftConfig):
            for f in dataclasses.fields(DriftJobConfig):
                if f.metadata.get("kind") in ("int", "float"):
                    out.append((DriftConfig, f.metadata["env"], f.metadata["kind"]))
    return out


WHAT = {"int": "is not a whole number", "float": "is not a number", "bool": "is not 1 or 0"}


@pytest.mark.parametrize("cls,var,kind", _typed_vars(), ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_a_bad_value_is_a_config_error_naming_the_variable_and_the_value(cls, var, kind):
    env = {**SAMPLES[[type(s) for s in SAMPLES].index(cls)].to_env(), var: "abc"}
    with pytest.raises(ConfigError) as ei:
        cls.from_env(env)
    assert ei.value.message == f"function config {var}: 'abc' {WHAT[kind]}"


def test_the_authorizer_ttl_message_is_the_one_the_issue_asks_for():
    env = {**SAMPLES[0].to_env(), ev.AUTH_TTL_S: "abc"}
    with pytest.raises(ConfigError, match=r"^function config MLOPS_AUTH_TTL_S: 'abc' is not a number$"):
        AuthorizerConfig.from_env(env)


@pytest.mark.parametrize("raw", ["a/b", "2/x", "", "nan"])
def test_a_bad_persistence_names_its_variable(raw):
    env = {**SAMPLES[3].to_env(), ev.DRIFT_PERSISTENCE: raw}
    if raw == "":  # empty is unset: the default applies
        assert DriftConfig.from_env(env).drift.persistence_k == DriftJobConfig().persistence_k
        return
    with pytest.raises(ConfigError, match=f"function config {ev.DRIFT_PERSISTENCE}: {raw!r} is not k/n"):
        DriftConfig.from_env(env)


@pytest.mark.parametrize("raw", ["inf", "nan"])
def test_a_number_must_be_finite(raw):
    with pytest.raises(ConfigError, match="is not a finite number"):
        InferenceConfig.from_env({**SAMPLES[2].to_env(), ev.MODEL_REFRESH_S: raw})


def test_persistence_k_alone_means_k_of_k_as_before():
    cfg = DriftConfig.from_env({**SAMPLES[3].to_env(), ev.DRIFT_PERSISTENCE: "3"})
    assert (cfg.drift.persistence_k, cfg.drift.persistence_n) == (3, 3)


def test_an_explicit_persistence_beats_the_variable_and_none_is_not_given():
    env = {ev.DRIFT_PERSISTENCE: "3/5"}
    assert DriftJobConfig.from_env(env, persistence_k=None).persistence_k == 3
    assert (
        DriftJobConfig.from_env(env, persistence_k=1).persistence_k,
        DriftJobConfig.from_env(env, persistence_k=1).persistence_n,
    ) == (1, 5)


@pytest.mark.parametrize(
    "cls,var",
    [(AuthorizerConfig, ev.API_KEYS_SECRET), (InferenceConfig, ev.ENDPOINT), (InferenceConfig, ev.MODEL)],
)
def test_a_required_variable_that_is_unset_is_named(cls, var):
    env = {k: v for k, v in SAMPLES[[type(s) for s in SAMPLES].index(cls)].to_env().items() if k != var}
    with pytest.raises(ConfigError, match=f"function config {var} is not set"):
        cls.from_env(env)


def test_a_missing_store_variable_is_reported_before_anything_else():
    env = {k: v for k, v in SAMPLES[2].to_env().items() if not k.startswith(ev.STORE_PREFIX)}
    env[ev.MAX_BATCH] = "abc"
    with pytest.raises(ConfigError, match="MLOPS_STORE_BACKEND is not set"):
        InferenceConfig.from_env(env)


def test_explicit_argument_beats_environment_beats_default():
    env = SAMPLES[0].to_env()
    assert AuthorizerConfig.from_env(env).auth_ttl_s == 30
    assert AuthorizerConfig.from_env(env, auth_ttl_s=5.0).auth_ttl_s == 5.0
    assert AuthorizerConfig.from_env(env, auth_ttl_s=None).auth_ttl_s == 30  # None: not given
    unset = {k: v for k, v in env.items() if k != ev.AUTH_TTL_S}
    assert (
        AuthorizerConfig.from_env(unset).auth_ttl_s
        == AuthorizerConfig.__dataclass_fields__["auth_ttl_s"].default
    )
    assert AuthorizerConfig.from_env({**unset, ev.AUTH_TTL_S: ""}).auth_ttl_s == 60.0  # empty is unset
    with pytest.raises(TypeError, match="unknown fields ttl"):
        AuthorizerConfig.from_env(env, ttl=1)


def test_lists_travel_as_one_comma_separated_variable():
    env = SAMPLES[0].to_env()
    assert env[ev.ENDPOINTS] == "a,b-2"
    assert AuthorizerConfig.from_env({**env, ev.ENDPOINTS: " a, ,b "}).endpoints == ("a", "b")
    with pytest.raises(ConfigError, match="MLOPS_ENDPOINTS: item 'x,y'"):
        dataclasses.replace(SAMPLES[0], endpoints=("x,y",)).to_env()


def _custom_settings() -> StackSettings:
    return settings_from_config(
        {
            "mlops:store": {"backend": "file", "path": "/tmp/s"},
            "mlops:endpoints": [
                {
                    "name": "e",
                    "model": "m",
                    "shadow": True,
                    "model_refresh_s": 5,
                    "max_batch": 9,
                    "feature_sample_rate": 0.5,
                    "retain_features": True,
                    "explain_top_k": 3,
                    "stable_alias": "prod",
                    "canary_alias": "cand",
                },
                {"name": "f", "model": "n"},
            ],
            "mlops:guardian": {
                "auto_rollback": False,
                "ab_auto_promote": True,
                "rollback_canary_on_drift": False,
            },
            "mlops:gateway": {"auth_cache_ttl_s": 30},
            "mlops:auth": {"weight_cache_ttl_s": 1, "api_keys_secret": "kk"},
            "mlops:drift": {
                "alpha": 0.01,
                "persistence_k": 1,
                "persistence_n": 4,
                "dataset_rule": "share",
                "min_rows": 7,
                "count_threshold": 3,
            },
            "mlops:monitoring": {"namespace": "ns1"},
        },
        stack="t",
        source="Pulumi.t.yaml",
    )


CLASS_OF = {
    "authorizer": AuthorizerConfig,
    "registry": RegistryConfig,
    "drift": DriftConfig,
    "guardian": GuardianConfig,
    "inference": InferenceConfig,
}


@pytest.mark.parametrize(
    "make",
    [lambda: load_stack("local", ROOT), lambda: load_stack("dev", ROOT), _custom_settings],
    ids=["local", "dev", "custom"],
)
def test_a_deployed_config_map_decodes_to_what_the_settings_hold(make):
    s = make()
    specs = {spec.name: spec for spec in function_specs(s)}
    decoded = {name: CLASS_OF[spec.source].from_env(spec.config) for name, spec in specs.items()}
    names = tuple(ep.name for ep in s.endpoints)
    for cfg in decoded.values():
        assert (cfg.stack, cfg.environment, cfg.metrics_namespace) == (
            s.stack,
            s.environment,
            s.monitoring.namespace,
        )
        assert cfg.store.backend == s.store.backend and cfg.store.bucket == s.store.bucket
    a = decoded["authorizer"]
    assert isinstance(a, AuthorizerConfig)
    assert (a.api_keys_secret, a.auth_ttl_s, a.weight_cache_ttl_s, a.endpoints) == (
        s.auth.api_keys_secret,
        s.gateway.auth_cache_ttl_s,
        s.auth.weight_cache_ttl_s,
        names,
    )
    d = decoded["drift"]
    assert isinstance(d, DriftConfig)
    job = d.job
    for f in (
        "alpha",
        "effect_threshold",
        "share_threshold",
        "dataset_rule",
        "count_threshold",
        "strong_threshold",
        "persistence_k",
        "persistence_n",
        "min_rows",
    ):
        assert getattr(job, f) == getattr(s.drift, f), f
    assert job.namespace == s.monitoring.namespace
    assert (d.endpoints, d.ab_auto_promote) == (names, s.guardian.ab_auto_promote)
    g = decoded["guardian"]
    assert isinstance(g, GuardianConfig)
    assert (g.auto_rollback, g.auto_retrain, g.ab_auto_promote, g.rollback_on_drift, g.endpoints) == (
        s.guardian.auto_rollback,
        s.guardian.auto_retrain,
        s.guardian.ab_auto_promote,
        s.guardian.rollback_canary_on_drift,
        names,
    )
    assert g.retrain_entrypoint == (s.guardian.retrain_entrypoint if s.environment == "local" else None)
    for ep in s.endpoints:
        for variant, alias in (("stable", ep.stable_alias), ("canary", ep.canary_alias)):
            i = decoded[f"inference-{ep.name}-{variant}"]
            assert isinstance(i, InferenceConfig)
            assert (
                i.endpoint,
                i.model,
                i.variant,
                i.alias,
                i.max_batch,
                i.feature_sample_rate,
                i.retain_features,
                i.model_refresh_s,
                i.shadow,
                i.explain_top_k,
            ) == (
                ep.name,
                ep.model,
                variant,
                alias,
                ep.max_batch,
                ep.feature_sample_rate,
                ep.retain_features,
                ep.model_refresh_s,
                ep.shadow,
                ep.explain_top_k,
            )
    for name, cfg in decoded.items():  # and encoding the decoded config gives the same map back
        again = cfg.to_env()
        assert set(again) == set(specs[name].config), name
        assert type(cfg).from_env(again) == cfg, name  # same values ("30" and "30.0" both read 30.0)


@pytest.mark.parametrize("module", ["authorizer", "registry", "inference", "drift", "guardian"])
def test_fnconfig_imports_neither_settings_nor_blueprint(module):
    code = (
        f"import sys, mlops.fnconfig.{module}; "
        "bad = sorted(m for m in sys.modules if m.startswith(('mlops.settings', 'mlops.blueprint'))); "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers")},
    )
    assert out.stdout.strip() == ""


def test_the_authorizer_loads_only_its_own_config():
    code = "import sys, mlops.fnconfig.authorizer; print(sorted(m for m in sys.modules if 'fnconfig' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers")},
    )
    assert out.stdout.strip() == str(["mlops.fnconfig", "mlops.fnconfig.authorizer", "mlops.fnconfig.base"])
