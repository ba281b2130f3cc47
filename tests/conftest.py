"""Shared helpers: the repository's paths, params with overrides, and running stages."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def default_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def with_overrides(params: dict, overrides: dict) -> dict:
    """A copy of params with dotted keys replaced, e.g. {"model.arch": "vgg16"}."""
    params = copy.deepcopy(params)
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value
    return params


TINY = {
    "data.synthetic.patients": 40,
    "data.synthetic.image_size": 96,
    "data.workers": 1,
    "filter.regions": ["all"],
    "enhance.image_size": 48,
    "enhance.score_images": 40,
    "train.epochs": 2,
    "train.batch_size": 16,
}


def tiny_params(**overrides) -> dict:
    """Params for a seconds-long run: few small synthetic patients, all regions, two epochs."""
    return with_overrides(default_params(), {**TINY, **overrides})


def stage_env() -> dict:
    """Environment in which `python` is this interpreter and `fracture` imports from the repo."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    return env


def run_stage(name: str, workdir: Path, params: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m stages.<name>` in `workdir` (writing params.yaml there first if given)."""
    if params is not None:
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=workdir, env=stage_env(),
                          capture_output=True, text=True, timeout=600)


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def radiograph_like(seed: int, size: int = 96) -> np.ndarray:
    """A textured uint8 image that passes the filter's checks."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(40, 200, size)[None, :] * np.ones((size, 1))
    return np.clip(gradient + rng.normal(0, 20, (size, size)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A tiny synthetic data set in MURA layout, generated once per session."""
    from fracture.sources.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic")
    generate(SyntheticConfig(patients=30, image_size=96, seed=7), root)
    return root


def copy_project(destination: Path, params: dict | None = None) -> Path:
    """The project's files (tracked, plus untracked ones git does not ignore) in a fresh git repo."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    if params is not None:
        (destination / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "project copy"]):
        subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *command],
                       cwd=destination, check=True, capture_output=True)
    return destination


def dvc(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run a dvc command in `workdir` with this interpreter's environment; fail loudly on error."""
    env = stage_env()
    env.pop("PYTHONPATH")  # stages must import the copy's own package
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def stages_run(output: str) -> list[str]:
    """The stages a dvc repro/exp run executed, from its log."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]
