"""Training-loop throughput against the bare model step, measured in the same run.

The bare step is forward, loss, backward and optimizer step on one batch that
already sits normalised in memory: the most the loop could reach. The loop is
`train_one_epoch` on uint8 images: batching, conversion, augmentation,
normalisation and the step. The ratio loop / bare says what the data path
costs; the target is >= 0.9. With `--head map` both train a fracture map
against boxes (half the films carry one), the loop drawing and warping the
masks itself.

    python bench/train_throughput.py [--arch simple_cnn] [--size 128] [--batch 16] [--head global] [--device auto]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fracture.core.params import load_params  # noqa: E402
from fracture.data.processed import SplitData  # noqa: E402
from fracture.imaging.preprocessing import Normalization  # noqa: E402
from fracture.inference.device import resolve_device  # noqa: E402
from fracture.inference.presets import ModelInput  # noqa: E402
from fracture.models.architectures import build_model  # noqa: E402
from fracture.models.fracture_map import HEADS, HeadSpec  # noqa: E402
from fracture.training.config import train_config  # noqa: E402
from fracture.training.loop import (  # noqa: E402
    Splits,
    TrainingRun,
    make_optimizer,
    optimizer_step,
    train_one_epoch,
)
from fracture.training.resume import TrainingState  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="simple_cnn")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--images", type=int, default=640, help="images per timed epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds; the best of each is kept")
    parser.add_argument("--head", default="global", choices=HEADS)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return parser.parse_args()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    arguments = _arguments()
    device = resolve_device(arguments.device)
    config = dataclasses.replace(train_config(load_params(Path(__file__).resolve().parents[1] / "params.yaml")),
                                 arch=arguments.arch, batch_size=arguments.batch, head=HeadSpec(arguments.head))
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (arguments.images, 1, arguments.size, arguments.size), dtype=torch.uint8,
                           generator=generator)
    labels = torch.randint(0, 2, (arguments.images,), generator=generator)
    boxes = torch.zeros(arguments.images, 1, 4)
    boxes[labels == 1] = torch.tensor([0.3, 0.4, 0.1, 0.15]) * arguments.size
    data = SplitData(images, labels, pd.DataFrame(), boxes, labels == 1)
    inputs = ModelInput(Normalization.of(images), device, channels_last=device.type == "cuda")
    model = build_model(config.arch, 2, width=config.width, head=config.head).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    scaler = torch.amp.GradScaler(device.type, enabled=cuda)
    run = TrainingRun.of(model, Splits(data, data, 2), inputs, config)
    criterion = run.criteria[0]
    steps = arguments.images // arguments.batch
    batch, map_targets = run.batch(torch.arange(arguments.batch), None)
    targets = labels[:arguments.batch].to(device)

    def bare_epoch() -> None:
        model.train()
        for _ in range(steps):
            optimizer_step(model, batch, targets, criterion, optimizer, scaler, map_targets=map_targets)

    def loop_epoch() -> None:
        train_one_epoch(run, TrainingState(model, optimizer, None, scaler, torch.Generator().manual_seed(1),
                                           torch.Generator().manual_seed(2)))

    def timed(epoch) -> float:
        _synchronize(device)
        start = time.perf_counter()
        epoch()
        _synchronize(device)
        return time.perf_counter() - start

    bare_epoch(), loop_epoch()  # warm-up: allocator, kernels, autotuning
    bare, loop = [], []
    for _ in range(arguments.repeats):  # interleaved, so that drift in machine speed hits both alike
        bare.append(timed(bare_epoch))
        loop.append(timed(loop_epoch))
    bare_rate = steps * arguments.batch / min(bare)
    loop_rate = steps * arguments.batch / min(loop)
    print(f"device {device} ({torch.cuda.get_device_name(device) if cuda else f'{torch.get_num_threads()} threads'}), "
          f"{config.arch} {arguments.size}px, {arguments.head} head, batch {arguments.batch}, {steps} steps x "
          f"{arguments.repeats}")
    print(f"bare model step: {bare_rate:8.1f} images/s")
    print(f"training loop:   {loop_rate:8.1f} images/s")
    print(f"ratio loop/bare: {loop_rate / bare_rate:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
