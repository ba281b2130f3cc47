"""The library's layering (docs/design.md): each package imports only its own layer and those below it.

The packages of `fracture` are ordered from the base to the command line. An
import that runs upward or sideways (imaging reading a data folder, inference
importing evaluation) fails here, so a change cannot quietly undo the layout.
Lazy imports inside functions count too.
"""

import ast
import shutil
from pathlib import Path

from tests.conftest import REPO
from tests.test_dvc_deps import import_closure

# Lowest first. `fracture/__init__.py` holds the version only and sits below everything; `__main__` above.
LAYERS = ["core", "imaging", "data", "models", "inference", "evaluation", "training", "reporting", "comparison",
          "commands"]
TOP_LEVEL = {"__init__": -1, "__main__": len(LAYERS)}


def layer_of(module: str) -> int | None:
    """The layer of a dotted `fracture` module, or None for one outside every layer."""
    parts = module.split(".")
    if parts == ["fracture"]:
        return TOP_LEVEL["__init__"]
    if parts[1] in TOP_LEVEL:
        return TOP_LEVEL[parts[1]]
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _imports(path: Path, package: Path) -> list[tuple[int, str]]:
    """Line and dotted name of every `fracture` module a file imports (absolute or relative)."""
    module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]  # a/__init__ and a/b alike: level 1 is a
                base = ".".join(parent + ([base] if base else []))
            found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "fracture"]


def violations(package: Path) -> list[str]:
    """Every import in `package` (a copy of fracture/) that reaches a layer above its own, and every module that
    sits in no layer."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent)
        module = ".".join(relative.with_suffix("").parts)
        own = layer_of(module)
        if own is None:
            problems.append(f"{relative}: in no layer (the layers are {', '.join(LAYERS)})")
            continue
        for line, name in _imports(path, package):
            other = layer_of(name)
            if other is not None and other > own:
                problems.append(f"{relative}:{line} imports {name}, a layer above its own")
    return problems


def test_every_import_runs_down_the_layers():
    assert violations(REPO / "fracture") == []


def test_a_planted_upward_import_fails_the_contract(tmp_path):
    copy = tmp_path / "fracture"
    shutil.copytree(REPO / "fracture", copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert violations(copy) == []
    reader = copy / "imaging" / "io.py"
    reader.write_text(reader.read_text() + "\n\ndef _late():\n    from fracture.training.loop import fit\n")
    (copy / "helpers.py").write_text("from .core import errors\n")
    (copy / "data" / "folder.py").write_text("from ..evaluation import metrics\n")
    found = violations(copy)
    assert any(problem.startswith("fracture/imaging/io.py:") and "fracture.training.loop" in problem
               for problem in found), found
    assert any(problem.startswith("fracture/helpers.py: in no layer") for problem in found), found
    assert any(problem.startswith("fracture/data/folder.py:1 imports fracture.evaluation") for problem in found)


def test_using_a_model_needs_no_training_code():
    """Evaluate, export, an outside set and the command line load models without the training package."""
    for script in ["stages/evaluate.py", "stages/export.py", "stages/external.py", "fracture/__main__.py"]:
        training = sorted(str(path.relative_to(REPO)) for path in import_closure(REPO / script)
                          if path.relative_to(REPO).parts[:2] == ("fracture", "training"))
        assert not training, f"{script} imports {training}"
