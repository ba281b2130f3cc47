"""dvc.yaml's deps of each stage cover every module of `fracture` its script imports, directly or not.

A module missing from a stage's deps means a change there does not re-run the
stage, and DVC serves a stale cached result: a reproducibility bug.
"""

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

PACKAGE = "fracture"
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _module_file(name: str) -> Path | None:
    """The file of a dotted module name inside the repository, or None for a third-party module."""
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """Dotted names of every `fracture` module a file imports, at any depth of its code (lazy imports too)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts).rpartition(".")[0]  # a/b.py, a/__init__.py: a
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in names if name.split(".")[0] == PACKAGE and _module_file(name)}


def import_closure(script: Path) -> set[Path]:
    """Every file of the package a script needs: its imports, theirs, and the packages' __init__ files."""
    seen: set[Path] = set()
    pending = [script]
    while pending:
        path = pending.pop()
        for name in _imported_modules(path):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                found = _module_file(".".join(parts[:depth]))
                if found and found not in seen:
                    seen.add(found)
                    pending.append(found)
    return seen


def _covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(REPO)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_imported_module_is_a_dep_of_the_stage(stage):
    definition = STAGES[stage].get("do", STAGES[stage])  # a foreach stage's template
    words = definition["cmd"].split()
    script = REPO / words[words.index("-m") + 1].replace(".", "/")
    script = script.with_suffix(".py")
    deps = [dep if isinstance(dep, str) else next(iter(dep)) for dep in definition["deps"]]
    assert _covered(script, deps), f"{stage}: its script {script.name} is not a dep"
    missing = sorted(str(path.relative_to(REPO)) for path in import_closure(script) if not _covered(path, deps))
    assert not missing, f"dvc.yaml stage {stage} imports but does not depend on: {', '.join(missing)}"


def test_the_closure_follows_lazy_and_relative_imports(tmp_path):
    closure = {str(path.relative_to(REPO)) for path in import_closure(REPO / "stages/filter.py")}
    assert "fracture/imaging/dicom.py" in closure, "read_grayscale imports the DICOM reader inside a function"
    assert "fracture/imaging/pixels.py" in closure and "fracture/__init__.py" in closure
    download = {str(path.relative_to(REPO)) for path in import_closure(REPO / "stages/download.py")}
    assert "fracture/data/sources/synthetic.py" in download, "relative imports of a package's __init__"
