"""The local build runner against real bash/sh processes: variables, timeouts, onFailure, skips."""

from __future__ import annotations

import io
import json
import os
import stat
import time
from pathlib import Path

import pytest
from mlops.pipeline.buildspec import parse_build_spec
from mlops.pipeline.engine import EngineProbe, detect_container_engine, engine_command_in
from mlops.pipeline.results import format_report
from mlops.pipeline.runner import FAILED, NOT_RUN, SKIPPED, SUCCEEDED, TIMED_OUT, BuildRunner
from mlops.pipeline.specfile import SpecError
from mlops.secrets import FileSecrets

NO_ENGINE = EngineProbe(False, None, "'docker info' failed (exit 1): Cannot connect to the Docker daemon")


def step(command: str, name: str | None = None, **extra) -> dict:
    out = {"type": "Command", "command": command, **extra}
    if name:
        out["name"] = name
    return out


def run(
    tmp_path: Path, steps: list[dict], *, only=None, secrets=None, params=None, engine=NO_ENGINE, **top
) -> tuple:
    data = {"version": 0.1, "component": "build", "shell": "bash", "steps": steps, **top}
    spec = parse_build_spec(data, "test-spec.yaml")
    out = io.StringIO()
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    runner = BuildRunner(
        spec,
        source_dir=src,
        params=params,
        secrets=secrets,
        secrets_source="secrets.json",
        out=out,
        engine=engine,
        kill_grace_s=0.5,
        base_env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    result = runner.run(only=only)
    return result, out.getvalue(), runner


def test_variables_flow_across_steps_and_are_exported(tmp_path):
    result, out, _ = run(
        tmp_path,
        [
            step(
                'export BUILDRUN_HASH=$(echo "$OCI_BUILD_RUN_ID" | rev | cut -c 1-7)\nTAG="v-$BUILDRUN_HASH"\n'
                "PLAIN=not-carried",
                "define",
            ),
            step('echo "seen hash=$BUILDRUN_HASH tag=$TAG plain=${PLAIN:-none} greeting=$GREETING"', "use"),
            step("export TAG=final", "retag"),
        ],
        env={
            "variables": {"GREETING": "hi ${OCI_PRIMARY_SOURCE_NAME}"},
            "exportedVariables": ["BUILDRUN_HASH", "TAG", "NEVER_SET"],
        },
    )
    assert result.ok, out
    hash_ = result.build_run_id[::-1][:7]
    assert f"seen hash={hash_} tag=v-{hash_} plain=none greeting=hi src" in out
    assert result.exported == {"BUILDRUN_HASH": hash_, "TAG": "final"}
    assert [s.status for s in result.steps] == [SUCCEEDED] * 3


def test_each_step_starts_in_the_primary_source_dir(tmp_path):
    result, out, _ = run(
        tmp_path, [step("cd /tmp && pwd", "a"), step('echo "here=$(pwd) src=$OCI_PRIMARY_SOURCE_DIR"', "b")]
    )
    assert result.ok
    src = (tmp_path / "src").resolve()
    assert f"here={src} src={src}" in out


def test_parameters_override_spec_defaults(tmp_path):
    result, out, _ = run(
        tmp_path,
        [step('echo "stack=$MLOPS_STACK model=$MODEL"')],
        env={"variables": {"MLOPS_STACK": "${MLOPS_STACK:-local}", "MODEL": "m1"}},
        params={"MODEL": "m2"},
    )
    assert "stack=local model=m2" in out
    result, out, _ = run(
        tmp_path,
        [step('echo "stack=$MLOPS_STACK"')],
        env={"variables": {"MLOPS_STACK": "${MLOPS_STACK:-local}"}},
        params={"MLOPS_STACK": "dev"},
    )
    assert "stack=dev" in out


def test_vault_variables_are_available_and_masked(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"ocid1.vaultsecret.oc1..tok": "hunter2-very-secret"}))
    path.chmod(0o600)
    result, out, runner = run(
        tmp_path,
        [
            step('echo "token=$TOKEN"; echo "len=${#TOKEN}"; export LEAK="x-$TOKEN"', "use"),
            step("echo $TOKEN >&2; exit 3", "fail"),
        ],
        env={"vaultVariables": {"TOKEN": "ocid1.vaultsecret.oc1..tok"}, "exportedVariables": ["LEAK"]},
        secrets=FileSecrets(path),
    )
    assert "hunter2" not in out
    assert "token=***" in out and "len=19" in out
    assert result.exported["LEAK"] == "x-hunter2-very-secret"  # real value for programs ...
    dumped = json.dumps(result.to_dict(runner.masker))
    assert "hunter2" not in dumped and "x-***" in dumped  # ... masked when shown
    assert "hunter2" not in format_report(result, runner.masker)
    assert result.steps[1].tail == ["***"]


def test_missing_secret_fails_before_any_step_naming_it(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text("{}")
    path.chmod(0o600)
    marker = tmp_path / "ran"
    with pytest.raises(
        SpecError, match=r"env.vaultVariables.TOKEN: secret 'ocid1..x' not found in secrets.json"
    ):
        run(
            tmp_path,
            [step(f"touch {marker}")],
            env={"vaultVariables": {"TOKEN": "ocid1..x"}},
            secrets=FileSecrets(path),
        )
    assert not marker.exists()


def test_step_timeout_kills_the_process_group_and_runs_on_failure(tmp_path):
    pidfile = tmp_path / "child.pid"
    t0 = time.monotonic()
    result, out, _ = run(
        tmp_path,
        [
            step(
                f"sleep 30 & echo $! > {pidfile}\nsleep 30",
                "slow",
                timeoutInSeconds=1,
                onFailure=[step('echo "cleanup ran"')],
            ),
            step("echo never", "after"),
        ],
    )
    elapsed = time.monotonic() - t0
    assert elapsed < 25  # the step's sleep 30 did not run out: the timeout killed it
    slow = result.steps[0]
    assert slow.status == TIMED_OUT
    assert "timed out after 1 s (timeoutInSeconds)" in slow.reason
    assert [h.status for h in slow.on_failure] == [SUCCEEDED]
    assert "cleanup ran" in out
    assert result.steps[1].status == NOT_RUN
    assert result.status == FAILED and result.failed_step == "slow"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        try:
            if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    alive = Path(f"/proc/{child}/stat").exists() and Path(f"/proc/{child}/stat").read_text().split()[2] != "Z"
    assert not alive, "the background child of the timed-out step survived"


@pytest.mark.slow
def test_build_timeout_bounds_the_steps(tmp_path):
    # step a has the build's 5 s to itself (ample even on a loaded machine); b cannot finish within it
    result, out, _ = run(tmp_path, [step("true", "a"), step("sleep 60", "b")], timeoutInSeconds=5)
    assert result.steps[0].status == SUCCEEDED
    assert result.steps[1].status == TIMED_OUT
    assert "the build's timeoutInSeconds (5 s) ran out" in result.steps[1].reason


@pytest.mark.parametrize(
    "fail_immediately, expected, echoed", [(True, FAILED, False), (False, SUCCEEDED, True)]
)
def test_fail_immediately_on_error(tmp_path, fail_immediately, expected, echoed):
    result, out, _ = run(
        tmp_path, [step("false\necho after-false", "s")], failImmediatelyOnError=fail_immediately
    )
    assert result.steps[0].status == expected
    assert ("after-false" in out) is echoed


def test_step_level_fail_immediately_overrides_the_spec(tmp_path):
    result, _, _ = run(
        tmp_path, [step("false\ntrue", "s", failImmediatelyOnError=False)], failImmediatelyOnError=True
    )
    assert result.ok


def test_last_command_status_fails_a_step_even_without_fail_immediately(tmp_path):
    result, _, _ = run(tmp_path, [step("echo reason here\nexit 7", "s")])
    assert result.steps[0].status == FAILED and result.steps[0].exit_code == 7
    assert result.reason == "step 's' (steps[0]) FAILED: exit status 7 - last output: reason here"


def test_on_failure_sees_the_failed_steps_environment_and_failures_stop_the_build(tmp_path):
    result, out, _ = run(
        tmp_path,
        [
            step(
                "export STAGE=half-done\nfalse",
                "broken",
                onFailure=[step('echo "stage=$STAGE"'), step("exit 1")],
            ),
            step("echo unreachable", "next"),
        ],
        failImmediatelyOnError=True,
    )
    broken = result.steps[0]
    assert [h.status for h in broken.on_failure] == [SUCCEEDED, FAILED]
    assert "stage=half-done" in out
    assert "unreachable" not in out
    assert result.steps[1].status == NOT_RUN


def test_sh_steps_capture_exported_variables_too(tmp_path):
    result, _, _ = run(
        tmp_path,
        [step("X=from-sh", "a", shell="sh"), step('test "$X" = from-sh', "b", shell="sh")],
        env={"exportedVariables": ["X"]},
    )
    assert result.ok and result.exported == {"X": "from-sh"}


def test_container_steps_are_skipped_without_an_engine(tmp_path):
    result, out, _ = run(
        tmp_path,
        [
            step("echo before", "a"),
            step("# docker is needed below\nset -e\ndocker build -t x .", "image"),
            step("echo 'no docker here, only its name'", "c"),
        ],
        outputArtifacts=[{"name": "img", "type": "DOCKER_IMAGE", "location": "x:latest"}],
    )
    assert [s.status for s in result.steps] == [SUCCEEDED, SKIPPED, SUCCEEDED]
    assert "needs a container engine ('docker' on line 3 of the command)" in result.steps[1].reason
    assert "Cannot connect to the Docker daemon" in result.steps[1].reason
    assert result.ok
    assert result.artifacts[0].status == SKIPPED


def test_missing_binary_output_artifact_fails_the_build(tmp_path):
    result, _, _ = run(
        tmp_path,
        [step("mkdir -p dist && echo x > dist/a.txt", "make")],
        outputArtifacts=[
            {"name": "a", "type": "BINARY", "location": "dist/a.txt"},
            {"name": "b", "type": "BINARY", "location": "dist/${MISSING:-b}.txt"},
        ],
    )
    assert result.status == FAILED and result.failed_step is None
    assert [a.status for a in result.artifacts] == [SUCCEEDED, FAILED]
    assert "output artifact b: outputArtifacts[1]: file 'dist/b.txt' was not produced" in result.reason


def test_only_runs_the_selected_steps(tmp_path):
    result, out, _ = run(
        tmp_path,
        [step("echo one", "one"), step("echo two", "two"), step("echo three", "three")],
        only=["two", "3"],
    )
    assert [s.status for s in result.steps] == [NOT_RUN, SUCCEEDED, SUCCEEDED]
    assert "one" not in out.replace("--- ", "")
    with pytest.raises(SpecError, match="--only 'nine': no such step; steps are: 1. one, 2. two"):
        run(tmp_path, [step("true", "one"), step("true", "two")], only=["nine"])


def test_input_artifact_from_a_file_url(tmp_path):
    src = tmp_path / "payload.txt"
    src.write_text("payload-content")
    result, out, _ = run(
        tmp_path,
        [step("cat input/p.txt")],
        inputArtifacts=[
            {
                "name": "p",
                "type": "URL",
                "url": f"file://{src}",
                "location": "${OCI_PRIMARY_SOURCE_DIR}/input/p.txt",
            }
        ],
    )
    assert result.ok and "payload-content" in out
    result, _, _ = run(
        tmp_path,
        [step("true")],
        inputArtifacts=[
            {"name": "g", "type": "GENERIC_ARTIFACT", "artifactId": "ocid1.x", "location": "g.bin"}
        ],
    )
    assert (
        result.status == FAILED
        and "inputArtifacts[0] (g): GENERIC_ARTIFACT artifacts come from OCI" in result.reason
    )


def test_report_lists_steps_durations_and_the_failing_step(tmp_path):
    result, _, runner = run(tmp_path, [step("true", "ok"), step("exit 2", "bad")])
    report = format_report(result, runner.masker)
    assert "ok" in report and "SUCCEEDED" in report and "bad" in report and "exit status 2" in report
    assert report.strip().endswith(
        f"FAILED in {result.duration_s:.1f} s: step 'bad' (steps[1]) FAILED: exit status 2"
    )


# ---------------------------------------------------------------- container engine detection


@pytest.mark.parametrize(
    "command, expected",
    [
        ("docker build .", ("docker", 1)),
        ("set -e\ncd x && fn build --verbose", ("fn", 2)),
        ("X=1 sudo podman push img", ("podman", 1)),
        ("if true; then docker info; fi", ("docker", 1)),
        ("digest=$(docker image inspect x)", ("docker", 1)),
        ("echo docker build", None),
        ("# docker build\necho hi", None),
        ("cp dockerfile x; ./fnord", None),
        ("python -m pytest tests/unit  # no docker here", None),
    ],
)
def test_engine_commands_are_found_as_commands_only(command, expected):
    assert engine_command_in(command) == expected


def fake_engine(dir_: Path, name: str, code: int, message: str) -> None:
    exe = dir_ / name
    exe.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit {code}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_detection_requires_a_working_engine_not_just_the_client(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {"PATH": str(bin_dir)}
    assert detect_container_engine(environ=env) == EngineProbe(
        False, None, "none of docker, podman is installed"
    )
    fake_engine(bin_dir, "docker", 1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    probe = detect_container_engine(environ=env)
    assert not probe.available and "'docker info' failed (exit 1): Cannot connect" in probe.reason
    fake_engine(bin_dir, "podman", 0, "ok")
    assert detect_container_engine(environ=env) == EngineProbe(True, "podman", "")


def test_run_as_an_unknown_user_is_an_error_and_the_current_user_runs_as_is(tmp_path):
    import getpass

    with pytest.raises(SpecError, match="runAs: user 'no-such-user-xyz' does not exist on this machine"):
        run(tmp_path, [step("true")], runAs="no-such-user-xyz")
    result, out, _ = run(tmp_path, [step('echo "user=$(id -un)"')], runAs=getpass.getuser())
    assert result.ok and f"user={getpass.getuser()}" in out
