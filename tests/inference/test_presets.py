"""ModelInput: the one way uint8 films become a network's input, for training and every use after it."""

import torch

from fracture.imaging.preprocessing import Normalization
from fracture.inference.presets import ModelInput

CPU = torch.device("cpu")


def test_films_are_scaled_to_unit_then_standardised_by_the_checkpoints_normalisation():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).reshape(3, 1, 1, 1)
    batch = ModelInput(Normalization(0.2, 0.5), CPU)(images)
    assert batch.dtype == torch.float32
    assert torch.allclose(batch.flatten(), torch.tensor([(0 - 0.2) / 0.5, (0.2 - 0.2) / 0.5, (1 - 0.2) / 0.5]))


def test_training_augments_the_unit_batch_before_it_is_standardised():
    seen = []

    def augment(batch):
        seen.append(batch.clone())
        return batch.flip(-1)

    images = torch.arange(4, dtype=torch.uint8).reshape(1, 1, 1, 4) * 60
    inputs = ModelInput(Normalization(0.5, 0.25), CPU)
    augmented = inputs(images, augment)
    assert torch.equal(seen[0], images.float() / 255), "the augmentation sees 0..1 grey levels"
    assert torch.allclose(augmented, inputs(images).flip(-1)), "and its output is what gets standardised"


def test_inference_takes_channels_last_on_cuda_only_and_the_values_do_not_change():
    assert not ModelInput.on(Normalization(0.5, 0.25), CPU).channels_last
    assert ModelInput.on(Normalization(0.5, 0.25), torch.device("cuda")).channels_last
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    plain = ModelInput(Normalization(0.5, 0.25), CPU)(images)
    last = ModelInput(Normalization(0.5, 0.25), CPU, channels_last=True)(images)
    assert last.is_contiguous(memory_format=torch.channels_last) and torch.equal(plain, last)
