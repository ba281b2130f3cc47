"""The GitHub workflows: valid against the workflow schema (SchemaStore's, as check-jsonschema ships it), the test
workflow runs README.md's test command, and the pipeline workflow comments what changed against main."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))


def _check(paths: list[Path]) -> subprocess.CompletedProcess:
    command = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(command), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def _readme_test_command() -> str:
    readme = (REPO / "README.md").read_text()
    block = readme.split("Run the tests", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    return block.strip()


def test_both_workflows_pass_the_workflow_schema_and_a_broken_one_does_not(tmp_path):
    assert [path.name for path in WORKFLOWS] == ["pipeline.yml", "tests.yml"]
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
