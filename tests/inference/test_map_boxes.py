import numpy as np
import pytest

from fracture.imaging.preprocessing import Preprocessing
from fracture.inference.map_boxes import map_boxes, on_film


def test_each_peak_of_a_region_is_a_box_of_its_extent_scored_by_it_highest_first():
    logits = np.full((32, 32), -5.0)
    logits[4:8, 10:20] = 0.0  # one region above the cut, with two peaks a dip apart and a shoulder
    logits[5:7, 11:13] = 3.0
    logits[6, 12] = 3.2
    logits[4:6, 17:19] = 3.1
    logits[7, 15] = 2.5  # more than PEAK_DROP under the region's peak: part of no box
    logits[20:30, 2:5] = -0.5  # a flat region: its whole extent is its peak
    logits[0:3, 28:31] = -1.5  # under the cut: no box
    boxes = map_boxes(logits)
    assert [item["box"] for item in boxes] == [[11.0, 5.0, 2.0, 2.0], [17.0, 4.0, 2.0, 2.0], [2.0, 20.0, 3.0, 10.0]]
    assert [item["score"] for item in boxes] == pytest.approx(list(1 / (1 + np.exp(-np.array([3.2, 3.1, -0.5])))))
    assert map_boxes(np.full((8, 8), -2.0)) == []
    whole = map_boxes(logits, drop=np.inf)  # each region's whole extent, as the first rule boxed it
    assert [item["box"] for item in whole] == [[10.0, 4.0, 10.0, 4.0], [2.0, 20.0, 3.0, 10.0]]
    assert whole[0]["score"] == pytest.approx(1 / (1 + np.exp(-3.2)))


def test_a_regressed_map_boxes_each_peak_with_the_box_its_pixel_regressed_and_drops_overlapping_ones():
    film_map = np.zeros((5, 32, 32))
    film_map[0] = -5.0
    film_map[0, 4:8, 10:20] = 0.0  # one region with two peaks, whose pixels regressed the same fracture
    film_map[0, 6, 12], film_map[0, 5, 17] = 3.2, 3.1
    film_map[0, 20:23, 2:5], film_map[0, 21, 3] = 0.0, 1.0  # another region, its box partly off the square
    film_map[1:, 6, 12] = [9.0, 3.0, 21.0, 9.0]
    film_map[1:, 5, 17] = [10.0, 3.0, 21.0, 8.0]  # IoU 0.8 with the first: the lower score is dropped
    film_map[1:, 21, 3] = [-4.0, 18.0, 6.0, 26.0]
    boxes = map_boxes(film_map)
    assert [item["box"] for item in boxes] == [[9.0, 3.0, 12.0, 6.0], [0.0, 18.0, 6.0, 8.0]]
    assert [item["score"] for item in boxes] == pytest.approx(list(1 / (1 + np.exp(-np.array([3.2, 1.0])))))
    film_map[1:, 5, 17] = [25.0, 3.0, 30.0, 8.0]  # apart: both kept
    assert len(map_boxes(film_map)) == 3
    assert map_boxes(film_map[:1]) == map_boxes(film_map[0]), "one channel: the extent rule"


@pytest.mark.parametrize("fit", ["letterbox", "stretch"])
def test_boxes_move_back_onto_the_film_they_were_placed_from(fit):
    preprocessing, shape = Preprocessing(64, fit=fit), (200, 120)
    placed = preprocessing.place(shape, [{"box": [30.0, 50.0, 40.0, 60.0], "polygons": []}])[0]["box"]
    back = on_film([{"box": placed, "score": 0.7}], shape, preprocessing)
    assert back[0]["box"] == pytest.approx([30.0, 50.0, 40.0, 60.0], abs=1.0) and back[0]["score"] == 0.7
    assert on_film([{"box": [0.0, 0.0, 5.0, 5.0], "score": 0.9}], (200, 50), Preprocessing(64)) == [], \
        "a box wholly in the letterbox padding lies on no film"
