import numpy as np
import pytest
import torch

from fracture.imaging.filters import FilterStep, fit_square
from fracture.imaging.preprocessing import Normalization, Preprocessing

CLAHE = FilterStep("clahe", {"clip_limit": 2.0, "tile_grid": 4})
MEDIAN = FilterStep("median", {"kernel": 3})


def test_steps_letterbox_then_filter_in_order():
    image = np.random.default_rng(1).integers(0, 256, (40, 32), dtype=np.uint8)
    stages, box = Preprocessing(32, (CLAHE, MEDIAN)).steps(image)
    boxed = fit_square(image, 32)
    np.testing.assert_array_equal(stages[0], boxed)
    np.testing.assert_array_equal(stages[1], CLAHE.apply(boxed))
    np.testing.assert_array_equal(stages[2], MEDIAN.apply(CLAHE.apply(boxed)))
    assert not np.array_equal(stages[2], CLAHE.apply(MEDIAN.apply(boxed))), "order matters"
    assert (box.height, box.width) == (32, 26)


def test_calling_it_gives_the_last_stage_and_no_filter_the_letterbox():
    image = np.random.default_rng(2).integers(0, 256, (50, 50), dtype=np.uint8)
    np.testing.assert_array_equal(Preprocessing(24, (CLAHE,))(image), CLAHE.apply(fit_square(image, 24)))
    np.testing.assert_array_equal(Preprocessing(24)(image), fit_square(image, 24))


@pytest.mark.parametrize("normalization", [None, Normalization(0.25, 0.125)])
def test_round_trip_through_json_and_a_folder(tmp_path, normalization):
    preprocessing = Preprocessing(64, (MEDIAN, CLAHE), normalization, fit="stretch")
    preprocessing.write(tmp_path)
    assert Preprocessing.read(tmp_path) == preprocessing
    assert Preprocessing.from_dict(preprocessing.to_dict()).normalized(Normalization(0.5, 0.25)).normalization \
        == Normalization(0.5, 0.25)


def test_stretch_fills_the_square_so_no_padding_edge_shows_the_films_shape():
    tall = np.full((200, 80), 200, dtype=np.uint8)
    assert (Preprocessing(32, fit="stretch")(tall) == 200).all()
    assert (Preprocessing(32)(tall)[:, 0] == 0).all(), "the letterbox pads the sides"
    assert Preprocessing.from_dict({"image_size": 32, "filters": [], "normalization": None}).fit == "letterbox", \
        "a checkpoint written before `fit` letterboxed"


def test_normalization_of_uint8_images_matches_their_float_statistics():
    images = torch.randint(0, 256, (7, 1, 13, 11), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    values = images.to(torch.float64) / 255.0
    normalization = Normalization.of(images)
    assert normalization.mean == pytest.approx(float(values.mean()), rel=1e-12)
    assert normalization.std == pytest.approx(float(values.std()), rel=1e-12)
    assert Normalization.of(torch.full((2, 1, 4, 4), 9, dtype=torch.uint8)).std == 1e-6, "a flat image set"


@pytest.mark.parametrize("fit", ["letterbox", "stretch"])
@pytest.mark.parametrize("shape, size", [((200, 100), 64), ((90, 300), 128), ((57, 57), 224)])
def test_a_box_drawn_into_an_image_lands_where_its_annotation_says_after_preprocessing(shape, size, fit):
    x, y, width, height = int(shape[1] * 0.3), int(shape[0] * 0.55), int(shape[1] * 0.2), int(shape[0] * 0.25)
    image = np.zeros(shape, dtype=np.uint8)
    image[y:y + height, x:x + width] = 255  # the annotation is the drawn box's pixel edges
    outline = [x, y, x + width, y, x + width, y + height]
    placed = Preprocessing(size, (CLAHE,), fit=fit).place(shape, [{"box": [x, y, width, height],
                                                                   "polygons": [outline]}])[0]
    square = Preprocessing(size, fit=fit)(image)
    rows, columns = np.nonzero(square > 127)
    left, top, box_width, box_height = placed["box"]
    assert left - 1 <= columns.min() and columns.max() + 1 <= left + box_width + 1
    assert top - 1 <= rows.min() and rows.max() + 1 <= top + box_height + 1
    assert abs(columns.mean() + 0.5 - (left + box_width / 2)) < 1
    assert abs(rows.mean() + 0.5 - (top + box_height / 2)) < 1
    assert placed["polygons"][0][:2] == pytest.approx([left, top]) and placed["polygons"][0][4:] == pytest.approx(
        [left + box_width, top + box_height])
