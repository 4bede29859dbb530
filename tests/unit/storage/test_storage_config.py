"""StoreConfig: settings dicts, env vars written once, URLs, and opening each backend."""

from __future__ import annotations

import json

import pytest
from mlops.errors import ConfigError
from mlops.storage import FileStore, StoreConfig, open_store
from mlops.storage import config as cfgmod


def test_from_dict_names_the_unknown_key():
    with pytest.raises(ConfigError) as e:
        StoreConfig.from_dict(
            {"backend": "file", "path": "/x", "buckt": "typo"}, where="Pulumi.dev.yaml: mlops:store"
        )
    assert "Pulumi.dev.yaml: mlops:store.buckt" in e.value.message


@pytest.mark.parametrize(
    "data, key",
    [
        ({"backend": "ftp"}, "backend"),
        ({"backend": "file"}, "path"),
        ({"backend": "s3"}, "bucket"),
        ({"backend": "oci"}, "bucket"),
        ({"backend": "file", "path": ["x"]}, "path"),
    ],
)
def test_from_dict_validates(data, key):
    with pytest.raises(ConfigError) as e:
        StoreConfig.from_dict(data)
    assert f"store.{key}" in e.value.message


def test_env_roundtrip_uses_the_documented_names():
    cfg = StoreConfig(
        backend="s3",
        bucket="models",
        endpoint="http://127.0.0.1:9000",
        region="eu-frankfurt-1",
        prefix="team-a",
        credentials_secret="ocid1.vaultsecret.oc1..x",
    )
    env = cfg.to_env()
    assert env == {
        "MLOPS_STORE_BACKEND": "s3",
        "MLOPS_STORE_BUCKET": "models",
        "MLOPS_STORE_ENDPOINT": "http://127.0.0.1:9000",
        "MLOPS_STORE_REGION": "eu-frankfurt-1",
        "MLOPS_STORE_PREFIX": "team-a",
        "MLOPS_STORE_CREDENTIALS_SECRET": "ocid1.vaultsecret.oc1..x",
    }
    assert set(env) <= set(cfgmod.ENV_BY_FIELD.values())
    assert StoreConfig.from_env(env) == cfg


def test_from_env_fails_fast_naming_the_variable():
    with pytest.raises(ConfigError) as e:
        StoreConfig.from_env({})
    assert "MLOPS_STORE_BACKEND" in e.value.message
    with pytest.raises(ConfigError) as e:
        StoreConfig.from_env({"MLOPS_STORE_BACKEND": "file"})
    assert "MLOPS_STORE_PATH" in e.value.message
    with pytest.raises(ConfigError) as e:
        StoreConfig.from_env({"MLOPS_STORE_BACKEND": "oci"})
    assert "MLOPS_STORE_BUCKET" in e.value.message


def test_the_stack_settings_and_the_spec_builder_use_this_class():
    """One source of truth: the settings' store section is a StoreConfig; functions read it back."""
    from mlops.blueprint.functions import store_env
    from mlops.settings import settings_from_config

    s = settings_from_config(
        {"mlops:store": {"backend": "s3", "bucket": "b", "endpoint": "http://e", "region": "r"}}, stack="t"
    )
    assert isinstance(s.store, StoreConfig)
    assert StoreConfig.from_env(store_env(s)) == s.store
    with pytest.raises(ConfigError, match="mlops:store.bucket: required"):
        settings_from_config({"mlops:store": {"backend": "oci"}}, stack="t")


@pytest.mark.parametrize(
    "url, expected",
    [
        ("/var/store", StoreConfig(backend="file", path="/var/store")),
        ("file:/var/store", StoreConfig(backend="file", path="/var/store")),
        ("relative/dir", StoreConfig(backend="file", path="relative/dir")),
        (
            "s3://models/team?endpoint=http://127.0.0.1:9000&region=us-east-1",
            StoreConfig(
                backend="s3",
                bucket="models",
                prefix="team",
                endpoint="http://127.0.0.1:9000",
                region="us-east-1",
            ),
        ),
        ("oci://models?namespace=axyz", StoreConfig(backend="oci", bucket="models", namespace="axyz")),
    ],
)
def test_from_url(url, expected):
    assert StoreConfig.from_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x/y", "s3://bucket?secret_key=oops", "s3:///nobucket", ""])
def test_bad_urls(url):
    with pytest.raises(ConfigError):
        StoreConfig.from_url(url)


def test_open_file_store(tmp_path):
    """issue 13 F: opening never creates the root; explicit set-up (create=True) does."""
    from mlops.storage import StoreUnavailableError

    store = open_store(StoreConfig(backend="file", path=str(tmp_path / "s")))
    assert isinstance(store, FileStore) and not (tmp_path / "s").exists()
    with pytest.raises(StoreUnavailableError):
        store.put("a", b"1")
    assert not (tmp_path / "s").exists()
    open_store(StoreConfig(backend="file", path=str(tmp_path / "s")), create=True)
    store.put("a", b"1")
    assert store.get("a").data == b"1"


class DictSecrets:
    def __init__(self, values):
        self.values = values
        self.asked = []

    def get(self, name):
        self.asked.append(name)
        return self.values[name]


def test_open_s3_store_reads_keys_from_the_named_secret(moto_server):
    bucket = moto_server.create_bucket("cfg-test-bucket")
    secrets = DictSecrets(
        {"s3-keys": json.dumps({"access_key": "AKIDEXAMPLE", "secret_key": "wJalrEXAMPLE"})}
    )
    cfg = StoreConfig(
        backend="s3",
        bucket=bucket,
        endpoint=moto_server.endpoint,
        region="us-east-1",
        prefix="team-a",
        credentials_secret="s3-keys",
    )
    store = open_store(cfg, secrets)
    store.put("models/x.json", b"{}")
    assert secrets.asked == ["s3-keys"]
    assert list(store.list("models/")) == ["models/x.json"]
    raw = moto_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in raw] == ["team-a/models/x.json"]  # the prefix isolates the store
    assert store.client._request_signer._credentials.access_key == "AKIDEXAMPLE"


def test_bad_secret_never_echoes_its_value():
    secrets = DictSecrets({"s3-keys": "hunter2-not-json"})
    cfg = StoreConfig(backend="s3", bucket="b", credentials_secret="s3-keys")
    with pytest.raises(ConfigError) as e:
        open_store(cfg, secrets)
    assert "hunter2" not in e.value.message and "s3-keys" in e.value.message
    with pytest.raises(ConfigError):
        open_store(cfg, None)


def test_missing_s3_bucket_is_an_outage_and_never_created(moto_server):
    """issue 13 F: a missing bucket is a store outage (503 store_unavailable) on every operation,
    and no operation creates it."""
    from mlops.storage import StoreUnavailableError
    from mlops.storage.s3 import S3Store

    client = moto_server.client()
    store = S3Store("no-such-bucket-here", client=client)
    for op in (
        lambda: store.put("x", b"1"),
        lambda: store.put("x", b"1", if_none_match=True),
        lambda: store.get("x"),
        lambda: store.head("x"),
        lambda: list(store.list("")),
        lambda: store.delete("x"),
    ):
        with pytest.raises(StoreUnavailableError) as e:
            op()
        assert e.value.status == 503 and e.value.code == "store_unavailable"
        assert "no-such-bucket-here" in e.value.message and "cannot be reached" in e.value.message
    names = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
    assert "no-such-bucket-here" not in names
