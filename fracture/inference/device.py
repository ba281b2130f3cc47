"""The device a model runs on, as the user asked for it."""

from __future__ import annotations

import torch

from fracture.core.errors import UserError


def resolve_device(requested: str, local_rank: int = 0, setting: str = "train.device") -> torch.device:
    """`auto` picks CUDA when there is a GPU; asking for CUDA without one is a user error that names `setting`, the
    param or option that asked."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{setting} = 'cuda' but no CUDA GPU is visible; use auto or cpu")
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)
