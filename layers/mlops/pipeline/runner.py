"""A local runner for OCI DevOps build specs that behaves like the managed build runner.

Each step runs in its own ``bash`` (or ``sh``) process, in the primary source directory,
in a new process group. At the end of a step an EXIT trap writes the step's environment
(``env -0``) plus the current values of the ``exportedVariables`` names (set with or
without ``export``, as Oracle's samples do) to a file; the next step starts from that
environment. So a variable exported by one step is visible to the later ones, and the
final values of ``exportedVariables`` are the build's exported variables.

- ``failImmediatelyOnError: true`` runs the step under ``set -e`` (bash semantics);
  otherwise the step's status is that of its last command, as in a shell script.
- ``timeoutInSeconds`` of a step, and of the whole build, kill the step's process group
  (SIGTERM, then SIGKILL after a grace period). A step that fails or times out runs its
  ``onFailure`` commands, then the build stops; later steps are NOT_RUN.
- Vault variables come from a local secrets file; their values are printed as ``***``.
- A step that runs ``docker``/``podman``/``buildah``/``fn`` is SKIPPED with the reason when
  no working container engine is present (``docker info`` must succeed), and so is the
  check of ``DOCKER_IMAGE`` output artifacts.

Local choices where Oracle's documentation is silent (written down so they can be
checked against a real build run): default build timeout 8 h; the default shell is
bash; onFailure commands get 300 s unless they say otherwise; ``runAs`` switches user
only when the runner is root (otherwise the step runs as the current user, with a note);
a step starts in ``OCI_PRIMARY_SOURCE_DIR`` whatever the previous step's ``cd``; processes
a step leaves behind that still hold its output are killed when the step ends.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from mlops.pipeline.buildartifacts import check_outputs, fetch_input
from mlops.pipeline.buildspec import BuildSpec, Command
from mlops.pipeline.engine import EngineProbe, detect_container_engine, engine_command_in
from mlops.pipeline.results import (
    FAILED,
    NOT_RUN,
    SKIPPED,
    SUCCEEDED,
    TIMED_OUT,
    ArtifactResult,
    BuildResult,
    StepResult,
)
from mlops.pipeline.specfile import SpecError
from mlops.pipeline.stepprocess import TAIL_LINES as TAIL_LINES  # defined here before
from mlops.pipeline.stepprocess import execute
from mlops.pipeline.stepshell import captured_env, step_env, step_script
from mlops.pipeline.variables import (
    Masker,
    builtin_variables,
    expand_variables,
    new_build_run_id,
    resolve_vault_variables,
)
from mlops.secrets import SecretReader

DEFAULT_BUILD_TIMEOUT_S = 8 * 3600
DEFAULT_ON_FAILURE_TIMEOUT_S = 300
KILL_GRACE_S = 3.0


@dataclass(frozen=True)
class _Plan:
    """How one command will run: its shell, its time limit and what to say when that runs out."""

    shell_name: str
    shell: str
    fail_immediately: bool
    limit: float  # seconds
    limit_reason: str
    timeout_txt: str  # the limit as the step's header line shows it


def _outcome(code: int, timed_out: bool, plan: _Plan) -> tuple[str, str]:
    """A finished command's status and the reason for it ("" when it succeeded)."""
    if timed_out:
        return TIMED_OUT, plan.limit_reason
    if code == 0:
        return SUCCEEDED, ""
    return FAILED, f"exit status {code}" if code > 0 else f"killed by signal {-code}"


class BuildRunner:
    """Runs one ``BuildSpec`` locally; see the module notes for the semantics."""

    def __init__(
        self,
        spec: BuildSpec,
        *,
        source_dir: str | os.PathLike,
        params: Mapping[str, str] | None = None,
        secrets: SecretReader | None = None,
        secrets_source: str = "the secrets file",
        out: TextIO | None = None,
        engine: EngineProbe | Callable[[], EngineProbe] | None = None,
        build_run_id: str | None = None,
        base_env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        kill_grace_s: float = KILL_GRACE_S,
        artifacts_dir: str | os.PathLike | None = None,
    ):
        self.spec = spec
        self.source_dir = Path(source_dir).resolve()
        if not self.source_dir.is_dir():
            raise SpecError(f"source directory {self.source_dir} does not exist")
        self.params = dict(params or {})
        self.secrets = secrets
        self.secrets_source = secrets_source
        self.out = out if out is not None else sys.stdout
        self._engine_arg = engine
        self._engine: EngineProbe | None = engine if isinstance(engine, EngineProbe) else None
        self.build_run_id = build_run_id or new_build_run_id()
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.clock = clock
        self.kill_grace_s = kill_grace_s
        self.artifacts_dir = (
            Path(artifacts_dir) if artifacts_dir else self.source_dir / ".mlops" / "pipeline" / "artifacts"
        )
        self.masker = Masker()
        self._user_note_printed = False
        self._user_kw: dict[str, Any] = {}

    # ------------------------------------------------------------------ helpers

    def _print(self, text: str = "") -> None:
        self.out.write(self.masker.mask(text) + "\n")
        self.out.flush()

    def engine(self) -> EngineProbe:
        """The container engine probe, run once and only when something needs it."""
        if self._engine is None:
            arg = self._engine_arg
            self._engine = arg() if callable(arg) else detect_container_engine(environ=self.base_env)
        return self._engine

    def initial_env(self) -> dict[str, str]:
        """The environment of the first step: inherited, built-ins, parameters, vault, env.variables."""
        env = dict(self.base_env)
        env.update(builtin_variables(self.source_dir, build_run_id=self.build_run_id))
        env.update(self.params)
        vault = resolve_vault_variables(self.spec.vault_variables, self.secrets, self.secrets_source)
        env.update(vault)
        self.masker = Masker(vault.values())
        env.update(expand_variables(self.spec.variables, env, keep=self.params))
        return env

    def _select(self, only: Iterable[str] | None) -> set[int] | None:
        if not only:
            return None
        names = self.spec.step_names()
        chosen: set[int] = set()
        for item in only:
            if item in names:
                chosen.add(names.index(item))
            elif item.isdigit() and 1 <= int(item) <= len(names):
                chosen.add(int(item) - 1)
            else:
                raise SpecError(
                    f"--only {item!r}: no such step; steps are: "
                    + ", ".join(f"{i + 1}. {n}" for i, n in enumerate(names))
                )
        return chosen

    def _popen_user(self) -> dict[str, Any]:
        run_as = self.spec.run_as
        if not run_as:
            return {}
        try:
            current = getpass.getuser()
        except Exception:  # noqa: BLE001 - no passwd entry for this uid
            current = str(os.geteuid())
        if run_as == current:
            return {}
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            raise SpecError(f"runAs: user {run_as!r} does not exist on this machine") from None
        if os.geteuid() == 0:
            return {"user": run_as}
        if not self._user_note_printed:
            self._print(
                f"note: runAs {run_as!r} asks for another user; running as {current!r} locally "
                "(no privilege switch without root)"
            )
            self._user_note_printed = True
        return {}

    # ------------------------------------------------------------------ one command

    def _skip(self, cmd: Command, label: str, status: str, reason: str) -> StepResult:
        """A command that does not start (no engine, no shell, no time left): said and recorded."""
        self._print(f"--- {label} {cmd.name}: {status}: {reason}")
        return StepResult(cmd.name, cmd.where, status, reason=reason)

    def _plan(
        self,
        cmd: Command,
        env: Mapping[str, str],
        deadline: float | None,
        label: str,
        default_timeout: int | None,
    ) -> _Plan | StepResult:
        """How ``cmd`` will run, or the result of a command that cannot start."""
        hit = engine_command_in(cmd.command)
        if hit:
            probe = self.engine()
            if not probe.available:
                return self._skip(
                    cmd,
                    label,
                    SKIPPED,
                    f"needs a container engine ('{hit[0]}' on line {hit[1]} of the command) "
                    f"and none works here: {probe.reason}",
                )
        shell_name = cmd.shell or self.spec.shell
        shell = shutil.which(shell_name, path=env.get("PATH") or os.defpath)
        if not shell:
            return self._skip(cmd, label, FAILED, f"shell {shell_name!r} is not installed")
        fail_immediately = (
            cmd.fail_immediately if cmd.fail_immediately is not None else self.spec.fail_immediately
        )
        remaining = float("inf") if deadline is None else deadline - self.clock()
        if remaining <= 0:
            return self._skip(
                cmd,
                label,
                TIMED_OUT,
                f"the build's timeoutInSeconds ({self._build_timeout()} s) ran out before it started",
            )
        own = cmd.timeout_s or default_timeout
        if own is not None and own <= remaining:
            return _Plan(
                shell_name,
                shell,
                fail_immediately,
                float(own),
                f"timed out after {own} s (timeoutInSeconds)",
                f"{own} s",
            )
        return _Plan(
            shell_name,
            shell,
            fail_immediately,
            remaining,
            f"the build's timeoutInSeconds ({self._build_timeout()} s) ran out",
            f"{remaining:.0f} s (build)",
        )

    def _run(
        self,
        cmd: Command,
        env: dict[str, str],
        deadline: float | None,
        label: str,
        state: Path,
        default_timeout: int | None = None,
    ) -> tuple[StepResult, dict[str, str] | None]:
        """Run one command; returns its result and the environment it left (None if not captured).

        ``deadline`` is the build's (clock time); None for onFailure commands, which are
        bounded by their own timeout only so that cleanup runs even after a build timeout.
        """
        plan = self._plan(cmd, env, deadline, label, default_timeout)
        if isinstance(plan, StepResult):
            return plan, None
        stem = cmd.where.replace("[", "_").replace("]", "").replace(".", "_")
        script, env_file, vars_file = (state / f"{stem}.sh", state / f"{stem}.env", state / f"{stem}.vars")
        script.write_text(
            step_script(
                cmd.command,
                env_file=env_file,
                vars_file=vars_file,
                names=self.spec.exported_variables,
                fail_immediately=plan.fail_immediately,
            ),
            encoding="utf-8",
        )
        if self._user_kw:
            os.chown(state, pwd.getpwnam(self._user_kw["user"]).pw_uid, -1)
        self._print(
            f"--- {label} {cmd.name}  [{plan.shell_name}, timeout {plan.timeout_txt}"
            f"{', failImmediatelyOnError' if plan.fail_immediately else ''}]"
        )
        child_env = step_env(env)
        started = self.clock()
        code, timed_out, tail = execute(
            [plan.shell, str(script)],
            child_env,
            plan.limit,
            stem,
            cwd=self.source_dir,
            masker=self.masker,
            out=self.out,
            kill_grace_s=self.kill_grace_s,
            popen_kw=self._user_kw,
        )
        duration = self.clock() - started
        new_env = captured_env(env_file, vars_file)
        status, reason = _outcome(code, timed_out, plan)
        self._print(
            f"--- {label} {cmd.name}: {status} in {duration:.1f} s" + (f" ({reason})" if reason else "")
        )
        return StepResult(cmd.name, cmd.where, status, duration, code, reason, tail), new_env

    def _build_timeout(self) -> int:
        return self.spec.timeout_s or DEFAULT_BUILD_TIMEOUT_S

    # ------------------------------------------------------------------ the build

    def _print_header(self, env: Mapping[str, str]) -> None:
        commit = env.get("OCI_TRIGGER_COMMIT_HASH", "")
        self._print(f"build run {self.build_run_id}")
        self._print(
            f"  spec   {self.spec.source}  ({len(self.spec.steps)} steps, timeout {self._build_timeout()} s)"
        )
        self._print(
            f"  source {self.source_dir}"
            + (f"  commit {commit[:12]}" if commit else "  (not a git checkout)")
        )
        if self.spec.vault_variables:
            self._print(
                f"  vault  {', '.join(n for n, _ in self.spec.vault_variables)} from {self.secrets_source}"
                " (values masked as ***)"
            )

    def _fetch_inputs(self, env: Mapping[str, str]) -> str | None:
        """Materialise every input artifact; None when all are there, else why the build fails."""
        for art in self.spec.input_artifacts:
            why = fetch_input(art, env, self.source_dir, self.artifacts_dir)
            if why:
                self._print(f"input artifact {art.name}: FAILED: {why}")
                return f"{art.where} ({art.name}): {why}"
            self._print(f"input artifact {art.name} ({art.type}) ready")
        return None

    def _on_failure(
        self, step: Command, result: StepResult, env: Mapping[str, str], label: str, state: Path
    ) -> str:
        """Run a failed step's onFailure commands; the build's failure reason."""
        for handler in step.on_failure:
            res, _ = self._run(
                handler,
                dict(env),
                None,
                f"{label} {step.name} ->",
                state,
                default_timeout=DEFAULT_ON_FAILURE_TIMEOUT_S,
            )
            result.on_failure.append(res)
        last = next((line.strip() for line in reversed(result.tail) if line.strip()), "")
        return f"step {step.name!r} ({step.where}) {result.status}: {result.reason}" + (
            f" - last output: {last[:300]}" if last else ""
        )

    def _run_steps(
        self, env: dict[str, str], deadline: float, selected: set[int] | None, state: Path
    ) -> tuple[list[StepResult], dict[str, str], StepResult | None, str]:
        """Run the steps in order until one fails; results, final env, the failed step and why."""
        steps: list[StepResult] = []
        failed: StepResult | None = None
        reason = ""
        total = len(self.spec.steps)
        for i, step in enumerate(self.spec.steps):
            label = f"[{i + 1}/{total}]"
            if failed is not None:
                steps.append(StepResult(step.name, step.where, NOT_RUN, reason="an earlier step failed"))
                continue
            if selected is not None and i not in selected:
                steps.append(StepResult(step.name, step.where, NOT_RUN, reason="not selected (--only)"))
                continue
            result, new_env = self._run(step, env, deadline, label, state)
            steps.append(result)
            if result.status in (SUCCEEDED, SKIPPED):
                env = new_env if new_env is not None else env
                continue
            failed = result
            reason = self._on_failure(step, result, new_env if new_env is not None else env, label, state)
        return steps, env, failed, reason

    def run(self, only: Iterable[str] | None = None) -> BuildResult:
        """Run the build (or only the named steps); never raises for a failing step."""
        selected = self._select(only)
        self._user_kw = self._popen_user()
        started = self.clock()
        deadline = started + self._build_timeout()
        env = self.initial_env()
        self._print_header(env)
        with tempfile.TemporaryDirectory(prefix="mlops-build-") as tmp:
            why = self._fetch_inputs(env)
            if why:
                return self._finish(started, [], env, [], FAILED, None, why)
            steps, env, failed, reason = self._run_steps(env, deadline, selected, Path(tmp))
        if failed is not None:
            return self._finish(started, steps, env, [], FAILED, failed.name, reason)
        if selected is not None:
            arts = [
                ArtifactResult(a.name, a.type, a.location, NOT_RUN, "not checked with --only")
                for a in self.spec.output_artifacts
            ]
            return self._finish(started, steps, env, arts, SUCCEEDED, None, "")
        arts = check_outputs(self.spec.output_artifacts, env, self.source_dir, self.engine)
        bad = [a for a in arts if a.status == FAILED]
        if bad:
            return self._finish(
                started,
                steps,
                env,
                arts,
                FAILED,
                None,
                "; ".join(f"output artifact {a.name}: {a.detail}" for a in bad),
            )
        return self._finish(started, steps, env, arts, SUCCEEDED, None, "")

    def _finish(
        self,
        started: float,
        steps: list[StepResult],
        env: Mapping[str, str],
        artifacts: list[ArtifactResult],
        status: str,
        failed_step: str | None,
        reason: str,
    ) -> BuildResult:
        exported = {n: env[n] for n in self.spec.exported_variables if n in env}
        result = BuildResult(
            self.build_run_id, status, steps, exported, artifacts, failed_step, reason, self.clock() - started
        )
        return result
