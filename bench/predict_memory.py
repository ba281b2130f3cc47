"""Peak memory of `python -m fracture predict` for 500 and for 5,000 films: flat in the number of films.

predict reads, prepares and scores a batch of films at a time and lets it
go, so its peak resident memory should not grow with the inputs; before it
streamed, it prepared every film first (100,000 films at 512 px would have
been about 26 GB). The films are made up at the model's input size
(params.yaml's enhance.image_size) in a temporary folder, the larger set
holding the smaller one's files (hard links); the model is an untrained
simple_cnn saved as the train stage saves one, with the pipeline's
preprocessing and quality rules. Each run is its own process, on the CPU,
and its peak RSS is its own high-water mark (VmHWM, Linux). Target: 5,000
films' peak <= 1.05 x 500 films' peak; it also prints what each film beyond
the first 500 added (a few KiB of malloc's per-thread arenas: with
MALLOC_ARENA_MAX=1 it is none).

    python bench/predict_memory.py [--small 500] [--large 5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fracture.core.params import load_params  # noqa: E402
from fracture.data.enhance import enhance_config  # noqa: E402
from fracture.data.filter import quality_rules  # noqa: E402
from fracture.imaging.preprocessing import Normalization  # noqa: E402
from fracture.inference.checkpoint import CheckpointMetadata, Thresholds, save_checkpoint  # noqa: E402
from fracture.models.architectures import build_model  # noqa: E402

# predict, then its own peak (VmHWM: ru_maxrss would keep the peak of the process it was started from).
MEASURED = ("import runpy, sys\n"
            "try:\n"
            "    runpy.run_module('fracture', run_name='__main__', alter_sys=True)\n"
            "finally:\n"
            "    status = open('/proc/self/status').read().splitlines()\n"
            "    print(next(line for line in status if line.startswith('VmHWM:')), file=sys.stderr)\n")
TARGET = 1.05  # before predict streamed: 1.10 at 128 px (each film's 16 kB square kept)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500, help="films in the smaller run")
    parser.add_argument("--large", type=int, default=5000, help="films in the larger run")
    return parser.parse_args()


def _model(path: Path, params: dict) -> int:
    """An untrained simple_cnn checkpoint with the pipeline's preprocessing; returns its input size."""
    preprocessing = replace(enhance_config(params).preprocessing, normalization=Normalization(0.4, 0.25))  # as trained
    width = params["model"]["width"]
    save_checkpoint(path, build_model("simple_cnn", 2, width=width).state_dict(),
                    CheckpointMetadata("simple_cnn", width, "fracture", ["normal", "abnormal"], preprocessing,
                                       Thresholds(0.5, None, "youden"), best_epoch=1, quality=quality_rules(params)))
    return preprocessing.image_size


def _films(folder: Path, count: int, size: int) -> None:
    """Textured grey films that pass the quality rules, one PNG each."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    gradient = np.linspace(40, 200, size)[None, :] * np.ones((size, 1))
    for index in range(count):
        pixels = np.clip(gradient + rng.normal(0, 20, (size, size)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:06d}.png")


def _peak(model: Path, films: Path, out: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one predict process over `films`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURED, "predict", "--model", str(model), "--out", str(out),
                             "--device", "cpu", str(films)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    peak = result.stderr.strip().splitlines()[-1]
    if result.returncode != 0 or not peak.startswith("VmHWM:"):
        raise SystemExit(f"predict failed:\n{result.stderr}")
    return int(peak.split()[1]) / 1024, seconds


def main() -> None:
    arguments = _arguments()
    params = load_params(ROOT / "params.yaml")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        size = _model(scratch / "model.pt", params)
        _films(scratch / "large", arguments.large, size)
        (scratch / "small").mkdir()
        for name in sorted(os.listdir(scratch / "large"))[:arguments.small]:
            os.link(scratch / "large" / name, scratch / "small" / name)
        print(f"simple_cnn (untrained, width {params['model']['width']}), films of {size} x {size} px, CPU")
        print(f"{'films':>7} {'peak RSS':>10} {'wall':>8}")
        peaks = {}
        for count, name in ((arguments.small, "small"), (arguments.large, "large")):
            peaks[count], seconds = _peak(scratch / "model.pt", scratch / name, scratch / f"{name}.csv")
            print(f"{count:7d} {peaks[count]:7.0f} MiB {seconds:6.1f} s")
        ratio = peaks[arguments.large] / peaks[arguments.small]
        growth = (peaks[arguments.large] - peaks[arguments.small]) * 1024 / (arguments.large - arguments.small)
        print(f"each film beyond {arguments.small}: {growth:.1f} KiB (its prepared {size} x {size} square is "
              f"{size * size / 1024:.0f} KiB)")
        print(f"peak ratio {arguments.large} / {arguments.small} films: {ratio:.2f} (target <= {TARGET}, "
              f"{arguments.large // arguments.small}x the films)")


if __name__ == "__main__":
    main()
