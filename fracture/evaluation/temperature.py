"""Temperature scaling: one divisor of the log-probabilities, fitted on validation, that makes them readable.

A network trained with class weights on a rare class says 0.6 where the
frequency is 0.2 (the recommended FracAtlas recipe's pooled ECE was 0.27).
Guo et al. (2017) fit one temperature T by the validation films' negative
log-likelihood; dividing by it keeps every film's rank, so the AUC, and
changes the probabilities the thresholds are then chosen on.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from fracture.inference.metadata import TEMPERATURE
from fracture.inference.predictor import temper


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    tempered = temper(torch.as_tensor(probabilities, dtype=torch.float64), temperature).numpy()
    return float(-np.log(np.clip(tempered[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature within TEMPERATURE's bounds that minimises the negative log-likelihood of `labels` (class
    indices) under `probabilities` (N x classes)."""
    labels = np.asarray(labels, dtype=int)
    result = minimize_scalar(lambda log_t: negative_log_likelihood(probabilities, labels, math.exp(log_t)),
                             bounds=(math.log(TEMPERATURE.minimum), math.log(TEMPERATURE.maximum)),
                             method="bounded", options={"xatol": 1e-4})
    return float(math.exp(result.x))
