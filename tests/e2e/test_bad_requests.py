"""Issue 13 C, the exact reproductions: bad requests through the real local stack answer 4xx with an error code,
bad CLI input fails in one line with a non-zero exit. Each of these answered 500 / "internal error" before."""

from __future__ import annotations

import json
import os
import pickle
from urllib.parse import quote

import numpy as np
import pytest
from mlops.cli import main
from mlops.registry import artifacts

from tests.harness import http

pytestmark = pytest.mark.e2e

DEEP = "[" * 5000 + "]" * 5000
BAD_TIMES = ["inf", "-inf", "1e400", "1e18", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def call(stack, method: str, path: str, body=None, headers: dict[str, str] | None = None):
    return http(
        method, stack["url"] + path, body, {"Authorization": f"Bearer {stack['key']}", **(headers or {})}
    )


def error_of(resp, status: int, code: str) -> dict:
    assert resp.status == status, resp
    err = json.loads(resp.body)["error"]
    assert err["code"] == code and err["message"] and err["request_id"], err
    return err


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/v1/endpoints/churn/predict", '{"instances": ' + DEEP + "}"),
        ("POST", "/v1/models", '{"name": "deep", "tags": ' + DEEP + "}"),
        (
            "POST",
            "/v1/models/churn/versions",
            '{"artifact_sha256": "' + "0" * 64 + '", "signature": ' + DEEP + "}",
        ),
        ("POST", "/v1/endpoints/churn/deployment", '{"action": "rollback", "reason": ' + DEEP + "}"),
    ],
)
def test_json_nested_5000_deep_is_a_400(stack, method, path, body):
    error_of(call(stack, method, path, body), 400, "json_too_deep")


def test_a_5000_digit_integer_is_a_400_on_every_route(stack):
    digits = "7" * 5000
    error_of(
        call(stack, "POST", "/v1/models", '{"name": "big", "tags": {"a": ' + digits + "}}"),
        400,
        "invalid_number",
    )
    error_of(
        call(
            stack,
            "POST",
            "/v1/endpoints/churn/deployment",
            '{"action": "set_weight", "weight_bp": ' + digits + "}",
        ),
        400,
        "invalid_number",
    )
    error_of(
        call(stack, "POST", "/v1/endpoints/churn/predict", '{"instances": [[' + digits + "]]}"),
        400,
        "invalid_number",
    )


@pytest.mark.parametrize("value", BAD_TIMES)
def test_time_parameters_out_of_range_are_a_400(stack, value):
    q = quote(value)
    for path in (
        f"/v1/audit/entries?since={q}",
        f"/v1/audit/entries?until={q}",
        f"/v1/audit/alias-at?model=churn&alias=production&at={q}",
        f"/v1/audit/deployment-at?endpoint=churn&at={q}",
        f"/v1/endpoints/churn/deployment?at={q}",
        f"/v1/models/churn/aliases/production?at={q}",
    ):
        err = error_of(call(stack, "GET", path), 400, "invalid_time")
        assert "1970" in err["message"], err


def test_registry_bodies_are_validated_before_anything_is_written(stack):
    sha = artifacts.upload(stack["store"], b"\x80\x04 not a profile, not JSON")["sha256"]
    model_sha = artifacts.upload(stack["store"], b"\x80\x04 some model bytes")["sha256"]
    for raw in ("NaN", "1e400"):
        body = f'{{"artifact_sha256": "{model_sha}", "signature": {{"inputs": [{{"name": "a"}}], "classes": [{raw}]}}}}'
        error_of(call(stack, "POST", "/v1/models/churn/versions", body), 400, "invalid_number")
    error_of(
        call(stack, "POST", "/v1/models", {"name": "ok-model", "governed_aliases": [1, {}]}),
        400,
        "invalid_governed_aliases",
    )
    error_of(
        call(stack, "POST", "/v1/models", {"name": "ok-model", "governed_aliases": "production"}),
        400,
        "invalid_governed_aliases",
    )
    error_of(
        call(
            stack,
            "POST",
            "/v1/models/churn/versions",
            {
                "artifact_sha256": model_sha,
                "signature": {"inputs": [{"name": "a"}]},
                "reference_profile_sha256": sha,
            },
        ),
        422,
        "invalid_profile",
    )
    error_of(call(stack, "POST", "/v1/models", {"name": "ok-model\n"}), 400, "invalid_name")  # '$' let it in
    assert call(stack, "GET", "/v1/models/ok-model").status == 404  # none of the above created it


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"]
)
def test_a_declared_non_json_content_type_is_a_415(stack, content_type):
    for path, body in (
        ("/v1/models", {"name": "typed"}),
        ("/v1/endpoints/churn/predict", {"instances": [stack["X"][0].tolist()]}),
    ):
        error_of(
            call(stack, "POST", path, body, {"Content-Type": content_type}), 415, "unsupported_media_type"
        )


def test_json_or_no_content_type_is_accepted(stack):
    row = {"instances": [stack["X"][0].tolist()]}
    assert call(stack, "POST", "/v1/endpoints/churn/predict", row).status == 200  # none declared
    assert (
        call(
            stack,
            "POST",
            "/v1/endpoints/churn/predict",
            row,
            {"Content-Type": "application/json; charset=utf-8"},
        ).status
        == 200
    )
    assert call(stack, "POST", "/v1/models", {"name": "no-type"}).status == 201


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(stack, monkeypatch, capsys):
    project = stack["settings"].path(".")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLOPS_ACTOR", "cli-user")
    monkeypatch.delenv("MLOPS_STORE_BACKEND", raising=False)
    monkeypatch.delenv("MLOPS_DEBUG", raising=False)

    def run(*argv: str) -> tuple[int, str]:
        code = main(["--stack", "e2e", "--project-dir", str(project), *argv])
        return code, capsys.readouterr().err

    return run


def one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 1, (code, err)
    assert err.startswith("mlops: error: ") and err.count("\n") == 1, err
    assert "internal error" not in err and "Traceback" not in err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("value", BAD_TIMES)
def test_cli_audit_times_fail_in_one_line(cli, value):
    # "--time=VALUE": argparse would take a bare "-inf" for an option
    one_line_error(
        *cli("audit", "at", "--model", "churn", "--alias", "production", f"--time={value}"), "invalid_time"
    )
    one_line_error(*cli("audit", "at", "--endpoint", "churn", f"--time={value}"), "invalid_time")
    one_line_error(*cli("audit", "history", f"--since={value}"), "invalid_time")
    one_line_error(*cli("audit", "history", f"--until={value}"), "invalid_time")


def test_cli_register_refuses_files_that_are_not_models(cli, tmp_path):
    X = np.random.default_rng(0).normal(size=(50, 20))
    data = tmp_path / "train.npy"
    np.save(data, X)
    (tmp_path / "empty.joblib").write_bytes(b"")
    (tmp_path / "garbage.joblib").write_bytes(b"\x80\x04" + os.urandom(300))
    (tmp_path / "text.joblib").write_text("just some text\n")
    (tmp_path / "dict.joblib").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    os.symlink(tmp_path / "dict.joblib", tmp_path / "link.joblib")
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY" + os.urandom(64))
    expect = {
        "empty.joblib": "empty",
        "garbage.joblib": "not a loadable joblib model",
        "text.joblib": "not a joblib file",
        "link.joblib": "symbolic link",
        "dict.joblib": "not a model",
    }
    for name, words in expect.items():
        code, err = cli(
            "models",
            "register",
            "churn",
            "--artifact",
            str(tmp_path / name),
            "--data",
            str(data),
            "--code-commit",
            "none",
        )
        one_line_error(code, err, words)
    import joblib
    from sklearn.linear_model import LogisticRegression

    joblib.dump(LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), tmp_path / "model.joblib")
    code, err = cli(
        "models",
        "register",
        "churn",
        "--artifact",
        str(tmp_path / "model.joblib"),
        "--data",
        str(tmp_path / "garbage.npy"),
        "--code-commit",
        "none",
    )
    one_line_error(code, err, "garbage.npy", "invalid_training_data")


@pytest.mark.parametrize("name", ["名前", "reg istry", " registry", "registry\n"])
def test_cli_invoke_with_a_bad_function_name_fails_in_one_line(stack, cli, name):
    state = stack["settings"].state_dir / "runtime.json"
    state.write_text(json.dumps(stack["rt"].state()))  # what `mlops local up` writes
    try:
        one_line_error(*cli("invoke", name, "--data", "{}"), "invalid_name")
        code, _ = cli("invoke", "registry", "--path", "/v1/models", "--method", "GET")
        assert code == 0  # the runtime itself answers
    finally:
        state.unlink(missing_ok=True)
