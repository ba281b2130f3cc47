"""The model card's provenance: the commit is read without running anything a repository's config names."""

import subprocess

from fracture.reporting.card import commit_state
from tests.conftest import git


def _planted_repository(path):
    """A project folder whose git config runs a command on `git status` (core.fsmonitor) and whose filter driver
    runs one whenever a file is hashed: what a copied or planted folder could hold."""
    path.mkdir()
    git(path, "init", "-q")
    (path / ".gitattributes").write_text("* filter=planted\n")
    (path / "params.yaml").write_text("train: {}\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "a project")
    for key, marker in (("core.fsmonitor", "FSMONITOR_RAN"), ("filter.planted.clean", "FILTER_RAN")):
        git(path, "config", key, f"touch {path / marker}; cat")
    git(path, "config", "core.hooksPath", str(path / "hooks"))
    return path


def test_the_commit_is_read_without_running_the_repositorys_commands(tmp_path):
    project = _planted_repository(tmp_path / "project")
    head = git(project, "rev-parse", "HEAD").stdout.strip()
    assert commit_state(project) == head
    (project / "params.yaml").write_text("train: {seed: 1}\n")
    assert commit_state(project) == f"{head} with uncommitted changes (an experiment's params, say)"
    assert not list(project.glob("*_RAN")), "nothing the repository's config names ran"
    subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True)
    assert (project / "FSMONITOR_RAN").exists(), "the plant is real: the git program runs it"


def test_a_folder_that_is_no_checkout_says_so(tmp_path):
    assert commit_state(tmp_path) == "unknown (not a git checkout)"
