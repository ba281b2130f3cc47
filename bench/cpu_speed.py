"""What makes a fine-tuning step faster on this machine's CPU, each variant against float32 in the same run.

One step is what `optimizer_step` does on one batch of 1-channel films:
forward, loss, backward and an AdamW update, under the pipeline's CPU
settings (deterministic algorithms). The variants:
- float32: the pipeline's CPU step today (the baseline);
- channels-last: model and batch in NHWC memory;
- bfloat16 autocast (only on a CPU with AVX-512 BF16 or AMX), with and without channels-last;
- head only: the backbone's weights need no gradient (a head-only epoch that does not run the backward
  pass through the frozen backbone), float32;
- evaluation: the forward pass alone, as validation scores a batch.
Each variant runs in rounds interleaved with the others; the fastest round of each is kept, so a neighbour's
load on the shared cores slows every variant alike rather than one.

    python bench/cpu_speed.py [--arch efficientnet_lite0] [--size 224] [--batch 16] [--steps 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fracture.models.architectures import build_model, classifier_head  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def bf16_supported() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _variant(arch: str, channels_last: bool, bf16: bool, head_only: bool, train: bool):
    """A step function for one variant, on its own copy of the model."""
    torch.manual_seed(0)
    model = build_model(arch, 2)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if head_only:
        head = {id(parameter) for parameter in classifier_head(model).parameters()}
        for parameter in model.parameters():
            parameter.requires_grad_(id(parameter) in head)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    criterion = nn.CrossEntropyLoss()
    model.train(train)

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> None:
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        if not train:
            with torch.no_grad(), autocast:
                model(inputs)
            return
        with autocast:
            loss = criterion(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    arguments = _arguments()
    torch.use_deterministic_algorithms(True)
    variants = {"float32": (False, False, False, True), "channels-last": (True, False, False, True),
                "head only (frozen backbone)": (False, False, True, True),
                "evaluation forward": (False, False, False, False)}
    if bf16_supported():
        variants |= {"bfloat16 autocast": (False, True, False, True),
                     "bfloat16 + channels-last": (True, True, False, True),
                     "evaluation forward, bfloat16": (False, True, False, False)}
    steps = {name: _variant(arguments.arch, *flags) for name, flags in variants.items()}
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(arguments.batch, 1, arguments.size, arguments.size, generator=generator)
    targets = torch.randint(0, 2, (arguments.batch,), generator=generator)
    best = {name: float("inf") for name in steps}
    for step in steps.values():
        step(inputs, targets)  # warm-up: first-call allocations and kernel choice
    for _ in range(arguments.rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(arguments.steps):
                step(inputs, targets)
            best[name] = min(best[name], (time.perf_counter() - started) / arguments.steps)
    print(f"{arguments.arch}, {arguments.size} px, batch {arguments.batch}, {torch.get_num_threads()} threads, "
          f"bfloat16 on this CPU: {'yes' if bf16_supported() else 'no'}; fastest of {arguments.rounds} rounds")
    print(f"{'variant':<32} {'ms/step':>8} {'speed-up':>9}")
    for name, seconds in best.items():
        print(f"{name:<32} {seconds * 1000:>8.0f} {best['float32'] / seconds:>8.2f}x")


if __name__ == "__main__":
    main()
