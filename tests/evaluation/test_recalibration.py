import numpy as np
import pytest
import torch

from fracture.evaluation.metrics import calibration
from fracture.evaluation.recalibration import fit_calibration
from fracture.inference.predictor import Calibration


def _films(scale: float, shift: float, count: int = 4000):
    """Labels drawn from log-odds z, and a network's probabilities of log-odds scale * z + shift."""
    rng = np.random.default_rng(0)
    logits = rng.normal(-1.5, 1.5, count)
    labels = (rng.random(count) < 1 / (1 + np.exp(-logits))).astype(int)
    said = scale * logits + shift
    return torch.softmax(torch.tensor(np.stack([np.zeros(count), said], 1)), dim=1).numpy(), labels


def _ranks(probabilities: np.ndarray) -> np.ndarray:
    return np.argsort(probabilities[:, 1], kind="stable")


def test_the_fitted_temperature_undoes_an_overconfident_network_and_keeps_every_rank():
    overconfident, labels = _films(scale=3.0, shift=0.0)
    fitted = fit_calibration("temperature", overconfident, labels)
    assert fitted.temperature == pytest.approx(3.0, rel=0.1) and fitted.bias == 0.0
    tempered = fitted.apply(torch.from_numpy(overconfident)).numpy()
    assert np.array_equal(_ranks(tempered), _ranks(overconfident))
    assert calibration(labels, tempered[:, 1])[1] < 0.5 * calibration(labels, overconfident[:, 1])[1]
    assert torch.equal(Calibration().apply(torch.from_numpy(overconfident)), torch.from_numpy(overconfident))


def test_platt_undoes_the_shift_that_class_weights_cause_where_a_temperature_cannot():
    shifted, labels = _films(scale=1.0, shift=1.7)  # class weights of ~5.5 say 0.6 where the frequency is 0.2
    platt, temperature = fit_calibration("platt", shifted, labels), fit_calibration("temperature", shifted, labels)
    assert platt.temperature == pytest.approx(1.0, abs=0.1) and platt.bias == pytest.approx(-1.7, abs=0.15)
    ece = {name: calibration(labels, fitted.apply(torch.from_numpy(shifted)).numpy()[:, 1])[1]
           for name, fitted in (("platt", platt), ("temperature", temperature), ("none", Calibration()))}
    assert ece["platt"] < 0.03 and ece["temperature"] > 0.1 and ece["none"] > 0.2, ece
    assert np.array_equal(_ranks(platt.apply(torch.from_numpy(shifted)).numpy()), _ranks(shifted))


def test_the_inverse_gives_back_the_networks_probabilities():
    said, _ = _films(scale=2.0, shift=-0.5, count=50)
    fitted = Calibration(0.6, -1.3)
    back = fitted.inverse().apply(fitted.apply(torch.from_numpy(said).double())).numpy()
    assert np.allclose(back, said, atol=1e-9)
