"""The artifacts of a local build run: input artifacts materialised before the steps, output artifacts
checked after them."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from mlops.pipeline.buildspec import InputArtifact, OutputArtifact
from mlops.pipeline.engine import EngineProbe
from mlops.pipeline.results import FAILED, SKIPPED, SUCCEEDED, ArtifactResult
from mlops.pipeline.specfile import SpecError
from mlops.pipeline.variables import expand


def fetch_input(
    art: InputArtifact, env: Mapping[str, str], source_dir: Path, artifacts_dir: Path
) -> str | None:
    """Materialise one input artifact; None on success, else the reason it failed."""
    try:
        target = Path(expand(art.location, env, f"{art.where}.location"))
    except SpecError as exc:
        return exc.message
    if not target.is_absolute():
        target = source_dir / target
    target.parent.mkdir(parents=True, exist_ok=True)
    if art.type == "URL":
        url = expand(art.fields["url"], env, f"{art.where}.url")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme == "file":
            src = Path(urllib.parse.unquote(parsed.path))
            if not src.is_file():
                return f"{url} does not exist"
            shutil.copyfile(src, target)
            return None
        if parsed.scheme not in ("http", "https"):
            return f"unsupported URL scheme in {url!r}"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(target, "wb") as fh:  # noqa: S310
                shutil.copyfileobj(resp, fh)
        except OSError as exc:
            return f"download of {url} failed: {exc}"
        return None
    local = artifacts_dir / art.name
    if not local.exists():
        return f"{art.type} artifacts come from OCI; for a local run put the file at {local}"
    if local.is_dir():
        shutil.copytree(local, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(local, target)
    return None


def check_outputs(
    outputs: Iterable[OutputArtifact],
    env: Mapping[str, str],
    source_dir: Path,
    engine: Callable[[], EngineProbe],
) -> list[ArtifactResult]:
    """Check that each output artifact was produced (a DOCKER_IMAGE only when an engine works here)."""
    results: list[ArtifactResult] = []
    for art in outputs:
        try:
            location = expand(art.location, env, f"{art.where}.location")
        except SpecError as exc:
            results.append(ArtifactResult(art.name, art.type, art.location, FAILED, exc.message))
            continue
        if art.type == "BINARY":
            path = Path(location)
            path = path if path.is_absolute() else source_dir / path
            if path.is_file():
                results.append(
                    ArtifactResult(art.name, art.type, location, SUCCEEDED, f"{path.stat().st_size} bytes")
                )
            else:
                results.append(
                    ArtifactResult(
                        art.name,
                        art.type,
                        location,
                        FAILED,
                        f"{art.where}: file {location!r} was not produced",
                    )
                )
            continue
        probe = engine()
        if not probe.available:
            results.append(
                ArtifactResult(
                    art.name, art.type, location, SKIPPED, f"no working container engine: {probe.reason}"
                )
            )
            continue
        proc = subprocess.run(
            [probe.engine or "docker", "image", "inspect", "--format", "{{.Id}}", location],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=dict(env),
        )
        if proc.returncode == 0:
            results.append(ArtifactResult(art.name, art.type, location, SUCCEEDED, proc.stdout.strip()))
        else:
            results.append(
                ArtifactResult(
                    art.name, art.type, location, FAILED, f"{art.where}: image {location!r} was not built"
                )
            )
    return results
