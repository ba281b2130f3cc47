"""An exponential moving average of a model's weights, validated and kept in place of the raw weights.

As timm's ModelEma keeps it: after every optimizer step each floating-point
weight and buffer moves a (1 - decay) share towards the trained model's, and
integer buffers are copied. A short fine-tuning run takes a few hundred
steps, so the decay is warmed up as TensorFlow's ExponentialMovingAverage
does it, min(decay, (1 + n) / (10 + n)) after n updates: otherwise a decay of
0.999 would leave the average mostly the pretrained weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        trained = model.state_dict()
        for name, average in self.model.state_dict().items():
            if average.is_floating_point():
                average.lerp_(trained[name].to(average.dtype), 1 - decay)
            else:
                average.copy_(trained[name])

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.updates = saved["updates"]
