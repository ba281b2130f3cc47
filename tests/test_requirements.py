"""requirements.txt pins every third-party package the code imports, so a fresh install runs it."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions

from tests.conftest import REPO

OWN_PACKAGES = {"fracture", "stages", "bench", "tests"}
SOURCE_DIRS = ("fracture", "stages", "bench", "tests")


def normalize(name: str) -> str:
    """PEP 503 name normalisation: 'Pillow' and 'pillow', 'grad_cam' and 'grad-cam' are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_packages() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[normalize(name)] = version
    return pins


def imported_modules() -> dict[str, str]:
    """Top-level third-party module -> one file that imports it."""
    modules = {}
    for directory in SOURCE_DIRS:
        for path in sorted((REPO / directory).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN_PACKAGES:
                        modules.setdefault(top, str(path.relative_to(REPO)))
    return modules


def test_every_pin_is_exact():
    assert all(pinned_packages().values()), "every line of requirements.txt pins one version with =="


def test_every_imported_package_is_pinned():
    pins = pinned_packages()
    providers = packages_distributions()
    missing = []
    for module, importer in imported_modules().items():
        distributions = {normalize(d) for d in providers.get(module, [])}
        if not distributions & pins.keys():
            missing.append(f"{module} (imported by {importer}; installed as {sorted(distributions) or 'nothing'})")
    assert not missing, "requirements.txt does not pin: " + ", ".join(missing)

