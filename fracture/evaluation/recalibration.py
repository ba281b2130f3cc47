"""Calibration fitted on validation: what makes a network's probabilities readable as frequencies.

A network trained with class weights on a rare class says 0.6 where the
frequency is 0.2 (the recommended FracAtlas recipe's pooled ECE was 0.27).
Temperature scaling (Guo et al., 2017) fits one divisor T of the log-odds by
the validation films' negative log-likelihood; it can sharpen or soften but
not move the log-odds' centre, so it cannot undo the class weights' shift in
prevalence. Platt scaling (Platt, 1999) fits z / T + b, both by the same
likelihood. Either keeps every film's rank, so the AUC, and the thresholds
are then chosen on the calibrated validation probabilities.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize, minimize_scalar

from fracture.inference.metadata import CALIBRATION_BIAS, TEMPERATURE
from fracture.inference.predictor import Calibration


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray, calibration: Calibration) -> float:
    calibrated = calibration.apply(torch.as_tensor(probabilities, dtype=torch.float64)).numpy()
    return float(-np.log(np.clip(calibrated[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_calibration(method: str, probabilities: np.ndarray, labels: np.ndarray) -> Calibration:
    """The calibration of `method` within the metadata's bounds that minimises the negative log-likelihood of
    `labels` (class indices) under `probabilities` (N x classes); Platt's needs two classes."""
    labels = np.asarray(labels, dtype=int)
    log_t = (math.log(TEMPERATURE.minimum), math.log(TEMPERATURE.maximum))
    if method == "none":
        return Calibration()
    if method == "temperature":
        result = minimize_scalar(lambda x: negative_log_likelihood(probabilities, labels, Calibration(math.exp(x))),
                                 bounds=log_t, method="bounded", options={"xatol": 1e-4})
        return Calibration(float(math.exp(result.x)))
    if method == "platt" and probabilities.shape[1] == 2:
        result = minimize(lambda x: negative_log_likelihood(probabilities, labels, Calibration(math.exp(x[0]), x[1])),
                          x0=np.zeros(2), method="L-BFGS-B",
                          bounds=[log_t, (CALIBRATION_BIAS.minimum, CALIBRATION_BIAS.maximum)])
        return Calibration(float(math.exp(result.x[0])), float(result.x[1]))
    raise ValueError(f"calibration {method} of {probabilities.shape[1]} classes")
