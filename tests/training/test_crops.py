import torch

from fracture.training.crops import BOX_CROP_SHARE, crop_batch, crop_labels, crop_origins
from fracture.training.map_targets import box_masks


def _films_with_a_box(count: int, size: int = 96, box=(70.0, 10.0, 6.0, 6.0)) -> torch.Tensor:
    masks = box_masks(torch.tensor([[box]] * count), size)
    films = torch.rand(count, 1, size, size, generator=torch.Generator().manual_seed(0))
    return torch.cat([films, masks], dim=1)


def test_a_box_crop_holds_the_box_and_the_rest_fall_anywhere_on_the_film():
    batch = _films_with_a_box(400)
    crops = crop_batch(batch, 32, torch.Generator().manual_seed(1))
    assert crops.shape == (400, 2, 32, 32)
    whole = (crops[:, 1].flatten(1) > 0.5).sum(1) == 36
    assert BOX_CROP_SHARE <= whole.float().mean() < BOX_CROP_SHARE + 0.15, "box crops, and random ones that hit"
    origins = crop_origins(torch.zeros(400, 1, 96, 96), 32, torch.Generator().manual_seed(2))
    assert origins.min() == 0 and origins.max() == 64, "a film without boxes is cut anywhere, edges included"


def test_a_crop_is_the_films_own_pixels_and_the_same_for_the_same_seed():
    batch = _films_with_a_box(8)
    first = crop_batch(batch, 40, torch.Generator().manual_seed(3))
    assert torch.equal(first, crop_batch(batch, 40, torch.Generator().manual_seed(3)))
    top, left = crop_origins(batch[:, 1:], 40, torch.Generator().manual_seed(3))[0].tolist()
    assert torch.equal(first[0], batch[0, :, top:top + 40, left:left + 40])


def test_a_crop_is_labelled_by_what_it_shows():
    labels = torch.tensor([0, 1, 1, 1])
    annotated = torch.tensor([False, True, True, False])
    masks = torch.zeros(4, 1, 8, 8)
    masks[1, :, 2:4, 2:4] = 1.0  # this crop holds its film's box; the third film's box fell outside its crop
    assert crop_labels(labels, annotated, masks).tolist() == [0, 1, 0, 1]
