"""Data-stage throughput with one worker, with every core, and of a bare OpenCV loop, on the same images.

filter's work per image is `screen_image` (decode, size and blank checks);
enhance's is decode, letterbox and the default filter chain (PSNR/SSIM, which
the stage computes on a sample only, are left out). The bare loop does the same
work with OpenCV calls and nothing else: what one process could reach without
the pipeline. Both stages run through `ordered_map`, pool start-up included, as
the stages do. Targets: every core >= 0.8 x cores x one worker, and one worker
>= 0.8 x the bare loop.

    python bench/data_stages.py [--images DIR] [--count 2000] [--workers 0] [--repeats 3]

Without --images it uses ../shared/data/fracatlas_large (real films) when
present, else synthetic films made in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fracture.core.parallel import available_cores, ordered_map  # noqa: E402
from fracture.core.params import load_params  # noqa: E402
from fracture.data.enhance import enhance_config, process_image  # noqa: E402
from fracture.data.filter import filter_config, screen_image  # noqa: E402
from fracture.data.sources.synthetic import SyntheticConfig, generate  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "fracatlas_large"
SUFFIXES = {".png", ".jpg", ".jpeg"}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="a folder of PNG/JPEG films (searched recursively)")
    parser.add_argument("--count", type=int, default=2000, help="images per timed pass")
    parser.add_argument("--workers", type=int, default=0, help="workers of the parallel pass; 0: one per core")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds; the best of each is kept")
    return parser.parse_args()


def _image_paths(folder: Path, count: int) -> list[Path]:
    paths = sorted(path for path in folder.rglob("*") if path.suffix.lower() in SUFFIXES)[:count]
    if not paths:
        raise SystemExit(f"no PNG or JPEG files under {folder}")
    for path in paths:  # the page cache holds them all before any pass is timed
        path.read_bytes()
    return paths


def _bare_filter(path: Path, min_size: int, min_std: float) -> bool:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return min(image.shape) >= min_size and float(np.std(image)) >= min_std


def _bare_enhance(path: Path, size: int, clahe: cv2.CLAHE) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    scale = size / max(image.shape)
    height, width = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    canvas = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - height) // 2, (size - width) // 2
    canvas[top:top + height, left:left + width] = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return clahe.apply(canvas)


def _best_rate(run, count: int, repeats: int) -> float:
    """Images per second of the fastest of `repeats` passes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return count / min(times)


def main() -> None:
    arguments = _arguments()
    params = load_params(ROOT / "params.yaml")
    filtering, enhancing = filter_config(params), enhance_config(params)
    workers = arguments.workers or available_cores()
    with tempfile.TemporaryDirectory() as scratch:
        folder = arguments.images or (SHARED if SHARED.is_dir() else None)
        if folder is None:
            folder = Path(scratch)
            generate(SyntheticConfig(patients=max(2, arguments.count // 4), image_size=512, seed=0), folder, workers)
        paths = _image_paths(folder, arguments.count)
        relative = [str(path.relative_to(folder)) for path in paths]
        screen = partial(screen_image, folder, rules=filtering.rules)
        process = partial(process_image, image_root=folder, config=enhancing)
        unscored = [(path, False) for path in relative]
        unhashed = [(path, "") for path in relative]  # (path, sha256): no marker, so every image is decoded
        clahe_options = enhancing.available["clahe"].options
        clahe = cv2.createCLAHE(clipLimit=clahe_options["clip_limit"], tileGridSize=(clahe_options["tile_grid"],) * 2)
        chain = [step.name for step in enhancing.preprocessing.filters]
        if chain != ["clahe"]:
            raise SystemExit(f"the bare loop does CLAHE only, but params.yaml's chain is {chain}")
        cv2.setNumThreads(1)  # one core per process, as in the stages' workers: the one-worker pass uses one core
        passes = {
            "filter": (lambda count: lambda: list(ordered_map(screen, unhashed, count, "filter", unit="image")),
                       lambda: [_bare_filter(path, filtering.rules.min_size, filtering.rules.min_std)
                                for path in paths]),
            "enhance": (lambda count: lambda: list(ordered_map(process, unscored, count, "enhance", unit="image")),
                        lambda: [_bare_enhance(path, enhancing.preprocessing.image_size, clahe) for path in paths]),
        }
        print(f"{len(paths)} images from {folder}, {workers} workers on {available_cores()} cores, "
              f"best of {arguments.repeats}")
        print(f"{'stage':8} {'1 worker':>10} {f'{workers} workers':>11} {'scaling':>8} {'target':>7} "
              f"{'bare loop':>10} {'1 worker/bare':>14} {'target':>7}")
        for stage, (staged, bare) in passes.items():
            one = _best_rate(staged(1), len(paths), arguments.repeats)
            many = _best_rate(staged(workers), len(paths), arguments.repeats)
            loop = _best_rate(bare, len(paths), arguments.repeats)
            print(f"{stage:8} {one:10.1f} {many:11.1f} {many / one:8.2f} {0.8 * workers:7.2f} "
                  f"{loop:10.1f} {one / loop:14.2f} {0.8:7.2f}")


if __name__ == "__main__":
    main()
