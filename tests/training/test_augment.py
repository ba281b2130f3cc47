import torch

from fracture.training.augment import AugmentConfig, augment


def _batch():
    return torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def test_no_augmentation_returns_the_batch():
    batch = _batch()
    assert augment(batch, AugmentConfig(), torch.Generator().manual_seed(0)) is batch


def test_flip_only_mirrors_each_image_or_leaves_it():
    batch = _batch()
    out = augment(batch, AugmentConfig(hflip=True), torch.Generator().manual_seed(3))
    for original, augmented in zip(batch, out):
        assert torch.allclose(augmented, original, atol=1e-5) or torch.allclose(augmented, original.flip(-1), atol=1e-5)


def test_same_generator_seed_same_augmentation_and_values_stay_in_range():
    config = AugmentConfig(rotation=15, scale=0.1, shear=5, translate=0.05, brightness=0.2, hflip=True)
    first = augment(_batch(), config, torch.Generator().manual_seed(1))
    second = augment(_batch(), config, torch.Generator().manual_seed(1))
    assert torch.equal(first, second)
    assert first.min() >= 0 and first.max() <= 1
    assert not torch.equal(first, augment(_batch(), config, torch.Generator().manual_seed(2)))
