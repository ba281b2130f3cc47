"""Wall time and peak memory of every stage as the data grows: 1x, 3x, 6x the default synthetic set.

Each scale is a fresh copy of the project (a temporary git repo) with
`data.synthetic.patients` = 1500 x scale, `filter.regions: [all]` (about 6,500
images per 1x; 6x is about MURA's 40,000) and a short training
(`train.epochs`, default 1). Every stage runs as `dvc repro --single-item
<stage>`, so DVC's own hashing is counted with the stage. Memory is sampled
every 0.1 s over the stage's whole process tree (DVC, the stage, its worker
processes): the peak of the summed PSS (shared pages split between the
processes that share them, memory-mapped files included) and the peak of the
summed anonymous RSS (what the processes hold themselves, not file pages the
kernel can drop). The last column is each measure's growth from 1x, per 1x of data.

    python bench/pipeline_scale.py [--scales 1 3 6] [--epochs 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import copy_project, default_params, with_overrides  # noqa: E402

STAGES = ["download", "filter", "split", "enhance", "train", "evaluate", "report"]
DEFAULT_PATIENTS = 1500


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, anonymous RSS) of one process in KiB; (0, 0) once it is gone."""
    try:
        pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                   if line.startswith("Pss:"))
        anonymous = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                         if line.startswith("RssAnon:"))
        return pss, anonymous
    except (OSError, StopIteration):
        return 0, 0


def _tree_memory(root: int) -> tuple[int, int]:
    tree, pending, total = _children(), [root], [0, 0]
    while pending:
        pid = pending.pop()
        pss, anonymous = _memory_kib(pid)
        total[0] += pss
        total[1] += anonymous
        pending.extend(tree.get(pid, []))
    return total[0], total[1]


def run_measured(command: list[str], cwd: Path) -> dict:
    """Run `command`, sampling its process tree's memory; its wall seconds and peak MiB."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_pss = peak_anonymous = 0
    while process.poll() is None:
        pss, anonymous = _tree_memory(process.pid)
        peak_pss, peak_anonymous = max(peak_pss, pss), max(peak_anonymous, anonymous)
        time.sleep(0.1)
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{output[-3000:]}")
    return {"seconds": round(time.perf_counter() - start, 1), "pss_mib": round(peak_pss / 1024),
            "anonymous_mib": round(peak_anonymous / 1024)}


def _project(destination: Path, scale: int, epochs: int) -> Path:
    """The project in a fresh git repo at `destination`, its params scaled as the docstring says."""
    return copy_project(destination, with_overrides(default_params(), {
        "data.synthetic.patients": DEFAULT_PATIENTS * scale, "filter.regions": ["all"], "train.epochs": epochs}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the projects here and keep them (default: a temp folder)")
    arguments = parser.parse_args()
    scratch = arguments.keep or Path(tempfile.mkdtemp(prefix="pipeline-scale-"))
    results: dict[int, dict] = {}
    try:
        for scale in arguments.scales:
            project = _project(scratch / f"scale-{scale}", scale, arguments.epochs)
            results[scale] = {stage: run_measured([sys.executable, "-m", "dvc", "repro", "--single-item", stage],
                                                  project) for stage in STAGES}
            images = len(Path(project / "data/processed/manifest.csv").read_text().splitlines()) - 1
            results[scale]["images"] = images
            print(f"scale {scale}: {images} images: {json.dumps(results[scale])}", file=sys.stderr, flush=True)
    finally:
        if arguments.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    first, last = arguments.scales[0], arguments.scales[-1]
    data_growth = results[last]["images"] / results[first]["images"]
    header = " | ".join(f"{scale}x ({results[scale]['images']} images)" for scale in arguments.scales)
    print(f"| stage | measure | {header} | growth per 1x of data, {first}x to {last}x |")
    print("|" + "---|" * (len(arguments.scales) + 3))
    for stage in STAGES:
        for measure, unit in (("seconds", "s"), ("pss_mib", "MiB"), ("anonymous_mib", "MiB")):
            values = [results[scale][stage][measure] for scale in arguments.scales]
            growth = (values[-1] / values[0]) / data_growth if values[0] else float("nan")
            name = {"seconds": "wall", "pss_mib": "peak PSS", "anonymous_mib": "peak anon"}[measure]
            cells = " | ".join(f"{value:g} {unit}" for value in values)
            print(f"| {stage} | {name} | {cells} | {growth:.2f} |")


if __name__ == "__main__":
    main()
