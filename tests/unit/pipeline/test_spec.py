"""Build spec and deploy pipeline validation: every error names its field; the repo's files are valid."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from mlops.pipeline.buildspec import load_build_spec, parse_build_spec
from mlops.pipeline.deployspec import apply_devops_settings, load_deploy_pipeline, parse_deploy_pipeline
from mlops.pipeline.specfile import SpecError, parse_yaml_text
from mlops.settings import DevOps

ROOT = Path(__file__).resolve().parents[3]


def minimal(**overrides):
    spec = {
        "version": 0.1,
        "component": "build",
        "steps": [{"type": "Command", "name": "a", "command": "true"}],
    }
    spec.update(overrides)
    return spec


def errors_of(data, **kw) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_build_spec(data, "spec.yaml", **kw)
    assert info.value.message.startswith("spec.yaml: ")
    return info.value.details["errors"]


def test_minimal_spec_has_documented_defaults():
    spec = parse_build_spec(minimal())
    assert spec.shell == "bash"
    assert spec.fail_immediately is False
    assert spec.timeout_s is None
    assert [s.name for s in spec.steps] == ["a"]


def test_step_timeout_error_names_the_field():
    data = minimal(
        steps=[{"type": "Command", "command": "true"}] * 2
        + [{"type": "Command", "name": "c", "command": "true", "timeoutInSeconds": -5}]
    )
    assert errors_of(data) == ["steps[2].timeoutInSeconds: expected a positive integer, got -5"]


@pytest.mark.parametrize("value", ["10", 0, 1.5, True])
def test_non_positive_integer_timeouts_are_rejected(value):
    assert errors_of(minimal(timeoutInSeconds=value))[0].startswith(
        "timeoutInSeconds: expected a positive integer"
    )


def test_unknown_top_level_keys_are_named():
    errs = errors_of(minimal(stepz=[], artefacts=1))
    assert len(errs) == 1
    assert "unknown top-level keys stepz, artefacts" in errs[0]


def test_unknown_step_key_is_named_with_its_path():
    errs = errors_of(minimal(steps=[{"type": "Command", "comand": "true", "command": "x"}]))
    assert errs == [
        "unknown key steps[0].comand (allowed: type, name, shell, timeoutInSeconds, "
        "failImmediatelyOnError, command, onFailure)"
    ]


def test_all_problems_are_reported_at_once():
    data = {
        "version": 0.2,
        "component": "deploy",
        "shell": "zsh",
        "failImmediatelyOnError": "yes",
        "env": {"variables": {"1BAD": "x", "OK": ["list"]}, "exportedVariables": ["ociThing", "A", "A"]},
        "steps": [
            {"type": "Shell", "command": ""},
            {"type": "Command", "command": "x", "onFailure": [{"command": "y"}]},
        ],
    }
    errs = errors_of(data)
    assert "version: expected 0.1, got 0.2" in errs
    assert "component: expected build or command, got 'deploy'" in errs
    assert "shell: expected one of bash, sh, got 'zsh'" in errs
    assert "failImmediatelyOnError: expected true or false, got 'yes'" in errs
    assert any(e.startswith("env.variables.1BAD:") for e in errs)
    assert any(e.startswith("env.variables.OK: expected a string") for e in errs)
    assert any(e.startswith("env.exportedVariables[0]: 'ociThing'") for e in errs)
    assert "env.exportedVariables[2]: 'A' is listed twice" in errs
    assert "steps[0].type: expected one of Command, got 'Shell'" in errs
    assert any(e.startswith("steps[0].command: expected a non-empty string") for e in errs)
    assert "steps[1].onFailure[0].type: is required (Command)" in errs


def test_missing_required_sections():
    errs = errors_of({"component": "build"})
    assert "version: is required (0.1)" in errs
    assert "steps: is required (a list of commands)" in errs


def test_step_timeout_above_build_timeout_is_an_error():
    data = minimal(
        timeoutInSeconds=10, steps=[{"type": "Command", "command": "true", "timeoutInSeconds": 20}]
    )
    assert errors_of(data) == ["steps[0].timeoutInSeconds: 20 exceeds the build's timeoutInSeconds (10)"]


def test_duplicate_step_names_and_variable_defined_twice():
    data = minimal(
        env={"variables": {"X": "1"}, "vaultVariables": {"X": "ocid1.vaultsecret..x"}},
        steps=[
            {"type": "Command", "name": "a", "command": "true"},
            {"type": "Command", "name": "a", "command": "true"},
        ],
    )
    errs = errors_of(data)
    assert "steps[1].name: 'a' is also the name of steps[0]" in errs
    assert "env.vaultVariables.X: also defined in env.variables; a name may be defined once" in errs


def test_artifacts_are_checked_per_type():
    data = minimal(
        inputArtifacts=[
            {"name": "u", "type": "URL", "location": "x"},
            {"name": "g", "type": "GENERIC_ARTIFACT", "location": "y", "path": "p"},
        ],
        outputArtifacts=[{"name": "img", "type": "JAR", "location": "z"}],
    )
    errs = errors_of(data)
    assert "inputArtifacts[0].url: is required" in errs
    assert "inputArtifacts[1]: GENERIC_ARTIFACT needs artifactId, or registryId + path + version" in errs
    assert "outputArtifacts[0].type: expected one of BINARY, DOCKER_IMAGE, got 'JAR'" in errs


def test_command_spec_has_no_exported_variables_or_outputs():
    data = {
        "version": 0.1,
        "component": "command",
        "env": {"exportedVariables": ["A"]},
        "steps": [{"type": "Command", "command": "true"}],
        "outputArtifacts": [{"name": "b", "type": "BINARY", "location": "f"}],
    }
    errs = errors_of(data, component="command")
    assert "unknown key env.exportedVariables (allowed: variables, vaultVariables)" in errs
    assert "outputArtifacts: not allowed in a command spec (component: command)" in errs


def test_yaml_duplicate_keys_and_syntax_errors_name_the_line():
    with pytest.raises(SpecError, match=r"line 3.*duplicate key 'component'"):
        parse_yaml_text("version: 0.1\ncomponent: build\ncomponent: build\n", "s.yaml")
    with pytest.raises(SpecError, match=r"s.yaml: invalid YAML \(line 3, column 4\)"):
        parse_yaml_text("steps:\n  - a: b\n   c: d\n", "s.yaml")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="nope.yaml: no such file"):
        load_build_spec(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- the repository's own files


def test_repository_build_spec_is_valid_and_exports_image_digests():
    spec = load_build_spec(ROOT / "pipelines" / "build_spec.yaml")
    names = spec.step_names()
    for needed in ("Install", "Unit tests", "Train and register", "Validation gate", "Build function images"):
        assert needed in names
    assert "INFERENCE_IMAGE_DIGEST" in spec.exported_variables
    assert {a.type for a in spec.output_artifacts} == {"DOCKER_IMAGE", "BINARY"}
    assert "mlops validate" in spec.steps[names.index("Validation gate")].command
    assert "tests/unit" in spec.steps[names.index("Unit tests")].command


@pytest.mark.parametrize(
    "step", load_build_spec(ROOT / "pipelines" / "build_spec.yaml").steps, ids=lambda s: s.name
)
def test_every_build_step_is_valid_bash(step, tmp_path):
    for i, cmd in enumerate((step, *step.on_failure)):
        script = tmp_path / f"{i}.sh"
        script.write_text(cmd.command)
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr


def test_repository_deploy_pipeline_shape():
    pipeline = load_deploy_pipeline(ROOT / "pipelines" / "deploy_pipeline.yaml")
    types = [s["type"] for s in pipeline["stages"]]
    assert types[:2] == ["DEPLOY_FUNCTION", "INVOKE_FUNCTION"]
    assert "WAIT" in types and "MANUAL_APPROVAL" in types
    # promote (SHELL), then the promoted image onto the stable function
    assert types[-2:] == ["SHELL", "DEPLOY_FUNCTION"]
    assert pipeline["environments"][pipeline["stages"][-1]["environment"]]["function"] == "inference-stable"
    promote = pipeline["artifacts"][pipeline["stages"][-2]["commandSpec"]]
    assert "mlops" in promote["source"]["content"] and "deploy promote" in promote["source"]["content"]
    # the inline command spec is itself a valid command spec
    parse_build_spec(yaml.safe_load(promote["source"]["content"]), "promote", component="command")
    for stage in pipeline["stages"][1:]:
        assert stage["dependsOn"], stage["name"]


def deploy(**overrides):
    data = {
        "version": 1,
        "kind": "DeployPipeline",
        "displayName": "p",
        "environments": {"fn": {"type": "FUNCTION", "function": "inference"}},
        "artifacts": {"img": {"type": "DOCKER_IMAGE", "source": {"type": "OCIR", "imageUri": "r/i:t"}}},
        "stages": [{"name": "d", "type": "DEPLOY_FUNCTION", "environment": "fn", "artifact": "img"}],
    }
    data.update(overrides)
    return data


def deploy_errors(data) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_deploy_pipeline(data, "deploy.yaml")
    return info.value.details["errors"]


def test_deploy_pipeline_references_are_checked():
    errs = deploy_errors(
        deploy(
            stages=[
                {
                    "name": "d",
                    "type": "DEPLOY_FUNCTION",
                    "environment": "nope",
                    "artifact": "img",
                    "maxMemoryInMbs": 100,
                },
                {
                    "name": "w",
                    "type": "WAIT",
                    "waitCriteria": {"waitType": "ABSOLUTE_WAIT", "waitDuration": "PT1S"},
                },
                {"name": "s", "type": "SHELL", "commandSpec": "img", "dependsOn": ["later"]},
                {"name": "x", "type": "CANARY"},
            ]
        )
    )
    assert "stages[0].environment: 'nope' is not defined under environments" in errs
    assert any(e.startswith("stages[0].maxMemoryInMbs: expected one of") for e in errs)
    assert "stages[1].waitCriteria.waitDuration: must be between 5 s and 2 days, got PT1S" in errs
    assert "stages[2].commandSpec: 'img' is a DOCKER_IMAGE, expected COMMAND_SPEC" in errs
    assert "stages[2].dependsOn: 'later' is not an earlier stage" in errs
    assert any(e.startswith("stages[2].containerConfig: is required") for e in errs)
    assert any(e.startswith("stages[3].type: expected one of DEPLOY_FUNCTION") for e in errs)


def test_deploy_pipeline_inline_command_spec_is_validated():
    data = deploy(
        artifacts={
            "cs": {
                "type": "COMMAND_SPEC",
                "source": {
                    "type": "INLINE",
                    "spec": {
                        "version": 0.1,
                        "component": "build",
                        "steps": [{"type": "Command", "command": "x"}],
                    },
                },
            }
        },
        stages=[
            {
                "name": "w",
                "type": "WAIT",
                "waitCriteria": {"waitType": "ABSOLUTE_WAIT", "waitDuration": "PT5S"},
            }
        ],
    )
    errs = deploy_errors(data)
    assert errs == ["artifacts.cs.source.spec: component: expected command, got 'build'"]


def test_apply_devops_settings_is_pure_and_drops_the_approval_stage():
    pipeline = load_deploy_pipeline(ROOT / "pipelines" / "deploy_pipeline.yaml")
    before = [s["name"] for s in pipeline["stages"]]
    out = apply_devops_settings(
        pipeline, DevOps(require_manual_approval=False, canary_wait="PT30M", canary_weight_bp=250)
    )
    assert [s["name"] for s in pipeline["stages"]] == before
    names = [s["name"] for s in out["stages"]]
    assert "approve" not in names
    promote = next(s for s in out["stages"] if s["name"] == "promote")
    assert promote["dependsOn"] == ["bake"]
    assert next(s for s in out["stages"] if s["type"] == "WAIT")["waitCriteria"]["waitDuration"] == "PT30M"
    assert {p["name"]: p["defaultValue"] for p in out["parameters"]}["CANARY_WEIGHT_BP"] == "250"
    kept = apply_devops_settings(pipeline, DevOps(require_manual_approval=True))
    assert "approve" in [s["name"] for s in kept["stages"]]


def test_a_reference_that_is_not_a_name_is_a_clear_error():
    """A list or mapping where a stage names an environment/artifact used to raise TypeError (unhashable)."""
    errs = deploy_errors(
        deploy(
            stages=[{"name": "d", "type": "DEPLOY_FUNCTION", "environment": ["fn"], "artifact": {"img": 1}}]
        )
    )
    assert any(
        e.startswith("stages[0].environment: expected the name of an entry under environments, got")
        for e in errs
    ), errs
    assert any(
        e.startswith("stages[0].artifact: expected the name of an entry under artifacts, got") for e in errs
    ), errs
