import numpy as np
import pytest

from fracture.imaging.preprocessing import Preprocessing
from fracture.inference.map_boxes import map_boxes, on_film


def test_each_region_over_one_half_is_a_box_scored_by_its_peak_highest_first():
    logits = np.full((32, 32), -5.0)
    logits[4:8, 10:20] = 1.0
    logits[6, 12] = 3.0
    logits[20:30, 2:5] = 2.0
    boxes = map_boxes(logits)
    assert [item["box"] for item in boxes] == [[10.0, 4.0, 10.0, 4.0], [2.0, 20.0, 3.0, 10.0]]
    assert boxes[0]["score"] == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert map_boxes(np.full((8, 8), -1.0)) == []


@pytest.mark.parametrize("fit", ["letterbox", "stretch"])
def test_boxes_move_back_onto_the_film_they_were_placed_from(fit):
    preprocessing, shape = Preprocessing(64, fit=fit), (200, 120)
    placed = preprocessing.place(shape, [{"box": [30.0, 50.0, 40.0, 60.0], "polygons": []}])[0]["box"]
    back = on_film([{"box": placed, "score": 0.7}], shape, preprocessing)
    assert back[0]["box"] == pytest.approx([30.0, 50.0, 40.0, 60.0], abs=1.0) and back[0]["score"] == 0.7
    assert on_film([{"box": [0.0, 0.0, 5.0, 5.0], "score": 0.9}], (200, 50), Preprocessing(64)) == [], \
        "a box wholly in the letterbox padding lies on no film"
