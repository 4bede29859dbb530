"""The DevOps build spec, run locally on a clean copy of the checkout: train and gate pass; a worse
candidate fails the build at the validation gate, with the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlops.registry import Registry
from mlops.settings import load_stack
from mlops.storage.stack import open_stack_store

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
STEPS = ["Prepare", "Install", "Train and register", "Validation gate"]


def clean_copy(dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def build(src: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "mlops.cli",
        "pipeline",
        "run",
        str(src / "pipelines" / "build_spec.yaml"),
        "--workdir",
        str(src),
        "--var",
        f"BUILD_VENV_SEED={sys.prefix}",
        *extra,
    ]
    for step in STEPS:
        cmd += ["--only", step]
    return subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_build_spec_trains_gates_and_refuses_a_worse_candidate(tmp_path):
    src = clean_copy(tmp_path / "src")
    first = build(src)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for step in ("Train and register", "Validation gate"):
        assert any(step in line and "SUCCEEDED" in line for line in first.stdout.splitlines()), first.stdout
    # the build registered v1; a person approves it and it goes to production
    reg = Registry(open_stack_store(load_stack("local", src)), actor="data-scientist")
    reg.request_approval("breast-cancer", 1)
    reg.with_actor("reviewer").decide_approval("breast-cancer", 1, "approve")
    reg.set_alias("breast-cancer", "production", 1)
    worse = build(src, "--var", "TRAIN_PARAMS=n_estimators=2 max_depth=1")
    assert worse.returncode != 0
    out = worse.stdout + worse.stderr
    assert "Validation gate" in out and "worse than production" in out, out[-3000:]


FAKE_ENGINE = r"""#!{python}
# A stand-in for podman on the build machine (no container engine here): it keeps images, tags and
# pushes in a JSON file and gives a pushed image a registry digest different from its local image id.
import hashlib, json, os, sys
state_path = os.environ["FAKE_ENGINE_STATE"]
state = json.load(open(state_path)) if os.path.exists(state_path) else {{"images": {{}}, "pushed": {{}}, "log": []}}
args = sys.argv[1:]
state["log"].append(args)
def save():
    json.dump(state, open(state_path, "w"))
def sha(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
if args[:1] == ["info"]:
    save(); sys.exit(0)
if args[:1] == ["build"]:
    name = args[args.index("-t") + 1]
    state["images"][name] = sha("local:" + name); save(); print(state["images"][name]); sys.exit(0)
if args[:1] == ["tag"]:
    state["images"][args[2]] = state["images"][args[1]]; save(); sys.exit(0)
if args[:1] == ["push"]:
    ref = args[1]
    state["pushed"][ref] = sha("registry:" + ref); save(); sys.exit(0)
if args[:2] == ["image", "inspect"]:
    fmt, ref = args[args.index("--format") + 1], args[-1]
    if "RepoDigests" in fmt:
        repo = ref.rsplit(":", 1)[0]
        for pushed, digest in state["pushed"].items():
            if pushed.rsplit(":", 1)[0] == repo:
                print(repo + "@" + digest)
    else:
        print(state["images"][ref])
    save(); sys.exit(0)
if args[:1] == ["login"]:
    save(); sys.exit(0 if os.environ.get("FAKE_ENGINE_LOGGED_IN") else 1)
save(); print("fake podman: unsupported", args, file=sys.stderr); sys.exit(2)
"""


def _image_build(tmp_path, *extra):
    """Run Prepare + the image step with the fake podman first on PATH; the result JSON and the fake's state."""
    import json
    import os

    src = clean_copy(tmp_path / "src")
    (src / "dist").mkdir()
    (src / "dist" / "oci_mlops-0.1.0-py3-none-any.whl").write_bytes(b"wheel")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(FAKE_ENGINE.format(python=sys.executable))
    (bin_dir / "podman").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_ENGINE_STATE": str(tmp_path / "engine.json"),
    }
    cmd = [
        sys.executable,
        "-m",
        "mlops.cli",
        "pipeline",
        "run",
        str(src / "pipelines" / "build_spec.yaml"),
        "--workdir",
        str(src),
        "--only",
        "Prepare",
        "--only",
        "Build function images",
        "--json",
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout), json.loads((tmp_path / "engine.json").read_text())


def test_image_step_builds_with_podman_and_exports_the_registry_digest(tmp_path):
    """issue 13 G: the OL8 runner has Podman; *_IMAGE_DIGEST is the registry's digest after push
    (RepoDigests), not the local image id."""
    repo = "fra.ocir.io/ns/mlops-dev"
    result, engine = _image_build(tmp_path, "--var", f"OCIR_REPO={repo}", "--var", "PUSH_IMAGES=true")
    exported = result["exported_variables"]
    tag = exported["IMAGE_TAG"]
    for fn in ("inference", "registry", "drift", "authorizer", "guardian"):
        pushed = f"{repo}/mlops-{fn}:{tag}"
        assert engine["pushed"][pushed].startswith("sha256:")
        assert exported[f"{fn.upper()}_IMAGE_DIGEST"] == engine["pushed"][pushed]
        assert exported[f"{fn.upper()}_IMAGE_DIGEST"] != engine["images"][f"mlops-{fn}:{tag}"]
    builds = [a for a in engine["log"] if a[:1] == ["build"]]
    assert len(builds) == 5 and all(
        "--format" in a and a[a.index("--format") + 1] == "docker" for a in builds
    )


def test_image_step_without_a_push_exports_no_digest(tmp_path):
    """Not pushed (no registry): there is no registry digest, and a local image id is not one."""
    result, engine = _image_build(tmp_path)
    exported = result["exported_variables"]
    assert engine["pushed"] == {}
    for fn in ("inference", "registry", "drift", "authorizer", "guardian"):
        assert exported.get(f"{fn.upper()}_IMAGE_DIGEST", "") == ""
