"""``mlops pipeline run|validate`` through the real CLI frame: exit codes, reports, errors naming fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlops.cli import main

ROOT = Path(__file__).resolve().parents[3]


def write_spec(tmp_path: Path, steps: list[dict], **top) -> Path:
    spec = {"version": 0.1, "component": "build", "shell": "bash", "steps": steps, **top}
    path = tmp_path / "build_spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_run_succeeds_and_prints_the_step_report(tmp_path, capsys):
    spec = write_spec(
        tmp_path,
        [{"type": "Command", "name": "hello", "command": 'echo "hello $WHO"'}],
        env={"exportedVariables": ["WHO"]},
    )
    code = main(["pipeline", "run", str(spec), "--workdir", str(tmp_path), "--var", "WHO=world"])
    out = capsys.readouterr().out
    assert code == 0
    assert "hello world" in out
    assert "WHO=world" in out
    assert "SUCCEEDED" in out


def test_failing_build_exits_non_zero_naming_the_step(tmp_path, capsys):
    spec = write_spec(
        tmp_path,
        [
            {"type": "Command", "name": "ok", "command": "true"},
            {"type": "Command", "name": "Validation gate", "command": "echo worse >&2; exit 4"},
        ],
    )
    code = main(["pipeline", "run", str(spec), "--workdir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert (
        "build failed: step 'Validation gate' (steps[1]) FAILED: exit status 4 - last output: worse"
        in captured.err
    )
    assert "worse" in captured.out


def test_json_output_is_clean_on_stdout(tmp_path, capsys):
    spec = write_spec(
        tmp_path,
        [{"type": "Command", "name": "s", "command": "echo noisy; export X=1"}],
        env={"exportedVariables": ["X"]},
    )
    assert main(["pipeline", "run", str(spec), "--workdir", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["status"] == "SUCCEEDED" and doc["exported_variables"] == {"X": "1"}
    assert "noisy" in captured.err


def test_secrets_file_option_and_masking(tmp_path, capsys):
    secrets = tmp_path / "s.json"
    secrets.write_text(json.dumps({"ocid1.vaultsecret..k": "pa55word"}))
    secrets.chmod(0o600)
    spec = write_spec(
        tmp_path,
        [{"type": "Command", "name": "s", "command": "echo key=$KEY"}],
        env={"vaultVariables": {"KEY": "ocid1.vaultsecret..k"}},
    )
    assert main(["pipeline", "run", str(spec), "--workdir", str(tmp_path), "--secrets", str(secrets)]) == 0
    out = capsys.readouterr().out
    assert "key=***" in out and "pa55word" not in out


def test_malformed_spec_is_rejected_naming_the_field(tmp_path, capsys):
    spec = write_spec(tmp_path, [{"type": "Command", "command": "true", "timeoutInSeconds": "soon"}], extra=1)
    assert main(["pipeline", "run", str(spec), "--workdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "steps[0].timeoutInSeconds: expected a positive integer, got 'soon'" in err
    assert "unknown top-level key extra" in err


@pytest.mark.parametrize("bad", ["NOEQUALS", "1X=2", "A-B=1"])
def test_bad_var_is_rejected(tmp_path, capsys, bad):
    spec = write_spec(tmp_path, [{"type": "Command", "command": "true"}])
    assert main(["pipeline", "run", str(spec), "--workdir", str(tmp_path), "--var", bad]) == 1
    assert f"--var {bad!r}" in capsys.readouterr().err


def test_validate_reports_both_kinds_of_file(capsys):
    code = main(
        [
            "pipeline",
            "validate",
            str(ROOT / "pipelines" / "build_spec.yaml"),
            str(ROOT / "pipelines" / "deploy_pipeline.yaml"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "valid build spec" in out
    assert "DEPLOY_FUNCTION" in out and "MANUAL_APPROVAL" in out
