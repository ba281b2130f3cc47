"""Several GPUs: the train stage relaunches itself under torchrun, one process per GPU.

Several machines: torchrun's own environment variables (PET_NNODES,
PET_NODE_RANK, PET_RDZV_ENDPOINT, ...) describe the job, and every machine
runs the stage with `train.gpus` processes; node rank 0 holds global rank 0.
Rank 0 alone logs, writes dvclive files and saves checkpoints. On the CPU the
processes use the gloo backend, which is how the distributed path is tested
on machines without GPUs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import torch
import torch.distributed as dist

from fracture.training.resume import Ranks


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def multi_node() -> bool:
    """Whether the environment describes a torchrun job over several machines (torchrun reads PET_NNODES)."""
    return os.environ.get("PET_NNODES", "1") not in ("1", "1:1")


def relaunch(processes: int, module: str) -> int:
    """Run `python -m module` again as `processes` torchrun workers on this machine; return their exit status."""
    single_machine = [] if multi_node() else ["--standalone", "--nnodes=1"]
    command = [sys.executable, "-m", "torch.distributed.run", *single_machine,
               f"--nproc-per-node={processes}", "-m", module]
    logging.getLogger(__name__).info(f"starting {processes} data-parallel processes: {' '.join(command[1:])}")
    return subprocess.run(command, check=False).returncode


def start(device: torch.device) -> Ranks:
    """Join the process group when running under torchrun; a single process is rank 0 of 1."""
    if not under_torchrun():
        return Ranks()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    ranks = Ranks.current()
    if device.type == "cpu":
        processes_here = int(os.environ.get("LOCAL_WORLD_SIZE", ranks.world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // processes_here))
    if not ranks.main:
        logging.getLogger().setLevel(logging.WARNING)
    return ranks


def finish() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
