import numpy as np
import pytest
import torch

from fracture.evaluation.metrics import calibration
from fracture.evaluation.temperature import fit_temperature
from fracture.inference.predictor import temper


def test_the_fitted_temperature_undoes_an_overconfident_network_and_keeps_every_rank():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, 4000)
    labels = (rng.random(4000) < 1 / (1 + np.exp(-logits))).astype(int)  # calibrated at temperature 1
    overconfident = torch.softmax(torch.tensor(np.stack([np.zeros(4000), 3 * logits], 1)), dim=1).numpy()
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    tempered = temper(torch.from_numpy(overconfident), temperature).numpy()
    assert np.array_equal(np.argsort(tempered[:, 1], kind="stable"), np.argsort(overconfident[:, 1], kind="stable"))
    assert calibration(labels, tempered[:, 1])[1] < 0.5 * calibration(labels, overconfident[:, 1])[1]
    assert torch.equal(temper(torch.from_numpy(overconfident), 1.0), torch.from_numpy(overconfident))
