import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.ops import box_convert, box_iou

from fracture.data.processed import SplitData, box_table
from fracture.evaluation.localisation import pointing_hit, tolerance_pixels
from fracture.imaging.preprocessing import Normalization, Preprocessing
from fracture.inference.gradcam import cam_maps
from fracture.inference.map_boxes import map_boxes
from fracture.inference.predictor import predict_maps
from fracture.inference.presets import ModelInput
from fracture.models.architectures import build_model
from fracture.models.fracture_map import HeadSpec
from fracture.training.augment import AugmentConfig, augment
from fracture.training.config import train_config
from fracture.training.loop import Splits, fit
from fracture.training.map_targets import MapTargets, box_masks, box_targets, each_box_mask, supervised_films
from tests.conftest import tiny_params


@pytest.mark.parametrize("fit_mode", ["letterbox", "stretch"])
def test_a_map_target_lands_where_the_box_says_on_the_film_the_model_sees(fit_mode):
    shape, size = (150, 90), 64
    x, y, width, height = 20, 80, 30, 25
    film = np.zeros(shape, dtype=np.uint8)
    film[y:y + height, x:x + width] = 255
    preprocessing = Preprocessing(size, fit=fit_mode)
    placed = preprocessing.place(shape, [{"box": [x, y, width, height], "polygons": []}])
    boxes, annotated = box_table(["film"], {"film": placed})
    mask = box_masks(boxes, size)[0, 0].numpy().astype(bool)
    bright = preprocessing(film) > 127
    assert annotated.tolist() == [True]
    assert (mask & bright).sum() / bright.sum() > 0.9 and (mask & bright).sum() / mask.sum() > 0.9


def test_masks_follow_their_film_through_the_augmentation_and_keep_their_values():
    images = torch.zeros(2, 1, 32, 32)
    images[:, :, 4:10, 20:28] = 1.0
    masks = box_masks(torch.tensor([[[20.0, 4, 8, 6]], [[20.0, 4, 8, 6]]]), 32)
    assert torch.equal(masks, images), "the box and the drawn rectangle are the same pixels"
    config = AugmentConfig(rotation=30, translate=0.1, brightness=0.5, hflip=True)
    warped = augment(torch.cat([images * 0.5, masks], dim=1), config, torch.Generator().manual_seed(3))
    film, mask = warped[:, :1], warped[:, 1:]
    assert torch.equal(film > 0, mask > 0), "warped by the same affine"
    assert not torch.equal(film[mask > 0.99], torch.full_like(film[mask > 0.99], 0.5)), "the film got brighter"
    assert mask.max() <= 1.0 and torch.allclose(mask[mask > 0.99], torch.ones(1)), "the mask kept its values"


def test_the_loss_teaches_boxes_on_fractured_films_and_nothing_on_fractured_films_without_them():
    labels, annotated = torch.tensor([0, 1, 1]), torch.tensor([False, True, False])
    supervised = supervised_films(labels, annotated)
    assert supervised.tolist() == [True, True, False]
    masks = torch.zeros(3, 1, 16, 16)
    masks[1, :, :8, :8] = 1
    right = torch.full((3, 1, 4, 4), -6.0)
    right[1, :, :2, :2] = 6.0
    wrong = right.clone()
    wrong[2] = 6.0  # the unannotated fractured film's map does not count
    targets = MapTargets(masks, supervised, 2.0)
    assert targets.loss(right).item() == pytest.approx(targets.loss(wrong).item())
    assert targets.loss(right).item() < 0.01 < targets.loss(-right).item()
    assert MapTargets(masks, torch.zeros(3, dtype=torch.bool), 1.0).loss(right).item() == 0.0


def test_each_cell_a_box_touches_learns_that_box_and_the_smallest_where_boxes_overlap():
    boxes = torch.tensor([[[2.0, 2.0, 20.0, 12.0], [10.0, 4.0, 4.0, 4.0]], [[0.0, 0.0, 0.0, 0.0]] * 2])
    targets, assigned = box_targets(each_box_mask(boxes, 32), (4, 4))
    assert assigned[0].nonzero().tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]] and not assigned[1].any()
    assert targets[0, :, 0, 0].tolist() == [2.0, 2.0, 22.0, 14.0]
    assert targets[0, :, 0, 1].tolist() == [10.0, 4.0, 14.0, 8.0], "the small box inside the large one"
    masks = torch.cat([box_masks(boxes, 32), each_box_mask(boxes, 32)], dim=1)
    right = torch.cat([torch.full((2, 1, 4, 4), -6.0), targets], dim=1)
    right[0, 0, :2, :3] = 6.0
    wrong = right.clone()
    wrong[0, 1:, 0, 0] = torch.tensor([6.0, 6.0, 10.0, 10.0])
    supervised = torch.tensor([True, True])
    for weight in (1.0, 2.0):
        with_boxes, map_only = MapTargets(masks, supervised, weight), MapTargets(masks[:, :1], supervised, weight)
        assert with_boxes.loss(right).item() == pytest.approx(map_only.loss(right[:, :1]).item(), abs=1e-6)
        assert with_boxes.loss(wrong).item() > map_only.loss(right[:, :1]).item() + 0.01 * weight


def _marked_films(count: int, seed: int, size: int = 96) -> SplitData:
    """Noise, and on every fractured film one small bright mark: its only sign, and its box."""
    generator = torch.Generator().manual_seed(seed)
    images = (torch.rand(count, 1, size, size, generator=generator) * 60 + 40).to(torch.uint8)
    labels = torch.arange(count) % 2
    boxes = torch.zeros(count, 1, 4)
    for index in torch.nonzero(labels).flatten():
        x, y = torch.randint(4, size - 10, (2,), generator=generator).tolist()
        images[index, 0, y:y + 5, x:x + 5] = 170
        boxes[index, 0] = torch.tensor([x, y, 5.0, 5.0])
    return SplitData(images, labels, pd.DataFrame({"image_id": [str(i) for i in range(count)]}), boxes, labels == 1)


@functools.lru_cache(maxsize=None)
def _trained_maps(head: str, crop: int = 0, stride: int = 8, box: str = "extent") -> tuple[np.ndarray, torch.Tensor]:
    """The test films' maps (N x C x H x W; Grad-CAM, one channel, for the global head) of a model trained on marked
    films, and their boxes; trained once for the tests that read them."""
    torch.manual_seed(0)
    config = dataclasses.replace(train_config(tiny_params(**{"model.width": 8, "train.batch_size": 16})),
                                 augment=AugmentConfig(), epochs=12, lr=0.01, patience=12,
                                 head=HeadSpec(head, stride=stride, box=box), crop=crop,
                                 # validation's AUC is 1 from the first epoch on; regressed boxes learn for longer
                                 monitor="val_loss" if box == "regressed" else "val_auc")
    train, val, test = _marked_films(160, 1), _marked_films(40, 2), _marked_films(60, 3)
    model = build_model("simple_cnn", 2, width=8, head=config.head)
    inputs = ModelInput(Normalization.of(train.images), torch.device("cpu"))
    model.load_state_dict(fit(model, Splits(train, val, 2), inputs, config).best_state)
    fractured = torch.nonzero(test.labels).flatten()
    heat = predict_maps(model, test.images[fractured], inputs).numpy() if head == "map" else \
        cam_maps(model, test.images[fractured], inputs, [1] * len(fractured))[:, None]
    return heat, test.boxes[fractured, 0]


def _hit_rate(head: str, crop: int = 0) -> float:
    heat, boxes = _trained_maps(head, crop)
    return float(np.mean([pointing_hit(one[0], [{"box": box.tolist()}], tolerance_pixels(96))
                          for one, box in zip(heat, boxes)]))


def test_the_map_finds_a_small_mark_on_nearly_every_fractured_film_and_grad_cam_of_the_global_head_less_often():
    mapped, global_cam = _hit_rate("map"), _hit_rate("global")
    assert mapped >= 0.95 and global_cam < mapped, (mapped, global_cam)


def test_a_map_trained_on_crops_finds_the_mark_on_the_whole_film():
    assert _hit_rate("map", crop=48) >= 0.9


def _overlap(found: list[float], truth: list[float]) -> float:
    """Intersection over union of two x y w h boxes."""
    boxes = box_convert(torch.tensor([found, truth]), "xywh", "xyxy")
    return float(box_iou(boxes[:1], boxes[1:]))


def _top_box_overlap(stride: int = 8, box: str = "extent") -> float:
    """The mean overlap of each marked test film's top box with its mark."""
    heat, boxes = _trained_maps("map", stride=stride, box=box)
    # these maps are far surer than a real film's (peak logits near 50), so the cut sits lower under the peak
    found = [map_boxes(one, level=0.0, drop=4.0) for one in heat]
    return float(np.mean([_overlap(one[0]["box"], box.tolist()) if one else 0.0 for one, box in zip(found, boxes)]))


def test_a_stride_4_map_boxes_a_mark_smaller_than_a_stride_8_cell_tighter_than_a_stride_8_map():
    overlaps = {stride: _top_box_overlap(stride) for stride in (8, 4)}
    assert overlaps[4] >= 0.5 and overlaps[4] > overlaps[8] + 0.2, overlaps


def test_a_stride_8_map_that_regresses_its_boxes_boxes_a_small_mark_tighter_than_its_extent():
    regressed, extent = _top_box_overlap(box="regressed"), _top_box_overlap()
    assert regressed >= 0.5 and regressed > extent + 0.2, (regressed, extent)
