import numpy as np
import pandas as pd
import pytest

from fracture.evaluation.detection import (
    AveragePrecision,
    detection_difference,
    detection_report,
    froc,
    froc_marks,
    froc_summary,
)
from fracture.evaluation.intervals import wilson

# Three films: one fracture found at once, a normal film with a false box, two fractures of which one is found.
TRUTH = [[[10, 10, 10, 10]], [], [[0, 0, 4, 4], [20, 20, 5, 5]]]
FOUND = [[{"box": [10, 10, 10, 10], "score": 0.9}], [{"box": [1, 1, 3, 3], "score": 0.8}],
         [{"box": [20, 20, 5, 5], "score": 0.7}, {"box": [50, 50, 3, 3], "score": 0.6}]]


def test_average_precision_is_cocos_101_point_interpolation_as_computed_by_hand():
    # Ranked: hit (P 1, R 1/3), false (1/2, 1/3), hit (2/3, 2/3), false (1/2, 2/3). COCO's 101 recall points take
    # the best precision at or beyond each: 1 on the 34 points up to 1/3, 2/3 on the 33 up to 2/3, 0 beyond.
    expected = (34 * 1 + 33 * 2 / 3) / 101
    scores = AveragePrecision(TRUTH, FOUND)(np.arange(3))
    assert scores["ap50"] == pytest.approx(expected) and scores["ap50_95"] == pytest.approx(expected)
    assert AveragePrecision(TRUTH, FOUND)(np.array([0, 0, 1])) == {"ap50": 1.0, "ap50_95": 1.0}, \
        "a resample repeats films: the found fracture twice, before the false box"
    shifted = [[{"box": [12, 12, 10, 10], "score": 0.9}], [], []]  # IoU 64/136: a miss at 0.5
    assert AveragePrecision(TRUTH, shifted)(np.arange(3))["ap50"] == 0.0


def test_froc_counts_fractures_found_against_false_boxes_per_film_by_hand():
    marks = [froc_marks(truth, found) for truth, found in zip(TRUTH, FOUND)]
    assert marks == [[(0.9, 1)], [(0.8, 0)], [(0.7, 1), (0.6, 0)]]
    # 3 films: 0.5 FP a film allows 1 false box (2 of 3 fractures found by then), 1 and 2 allow both.
    assert froc(marks, [1, 0, 2], np.arange(3)) == pytest.approx({"froc_0.5": 2 / 3, "froc_1": 2 / 3, "froc_2": 2 / 3})
    assert froc(marks, [1, 0, 2], np.array([1])) == {}, "no fracture among the films"
    twice = froc_marks([[0, 0, 10, 10]], [{"box": [2, 2, 4, 4], "score": 0.9}, {"box": [3, 3, 4, 4], "score": 0.5}])
    assert twice == [(0.9, 1)], "a second box on a found fracture is neither found nor false"


def test_the_report_scores_normal_films_leaves_out_unannotated_fractures_and_gives_intervals():
    rng = np.random.default_rng(0)
    ids = [f"f{index}" for index in range(60)]
    truth = {image_id: [{"box": [20.0, 20.0, 10.0, 10.0]}] for image_id in ids[:20]}
    found = {image_id: [{"box": [21.0, 20.0, 10.0, 10.0], "score": float(rng.random())}] for image_id in ids[:20]}
    found.update({image_id: [{"box": [60.0, 60.0, 8.0, 8.0], "score": float(rng.random())}] for image_id in ids[20:]})
    rows = pd.DataFrame({"image_id": ids, "patient_id": [f"p{index // 2}" for index in range(60)],
                         "label": [1] * 30 + [0] * 30})  # f20..f29: fractured without boxes, left out
    report = detection_report(rows, truth, found, 200, 0, 0.95)
    assert report["films"] == 50 and report["fractured_films"] == 20 and report["fractures"] == 20
    assert report["boxes"] == 50
    assert report["froc_2"]["value"] == 1.0 and report["ap50"]["low"] < report["ap50"]["value"] < report["ap50"]["high"]
    assert detection_report(rows, {}, found, 200, 0, 0.95) is None
    summary = froc_summary(rows, truth, found)  # what choosing a box rule reads: the same films and FROC
    assert summary == {"films": 50, "fractures": 20, "boxes": 50,
                       **{key: report[key]["value"] for key in ("froc_0.5", "froc_1", "froc_2")}}


def test_a_paired_difference_of_boxes_is_zero_against_itself_and_sees_a_better_model_on_the_same_films():
    rng = np.random.default_rng(1)
    ids = [f"f{index}" for index in range(80)]
    rows = pd.DataFrame({"image_id": ids, "patient_id": [f"p{index // 2}" for index in range(80)],
                         "label": [1] * 40 + [0] * 40})
    truth = {image_id: [{"box": [20.0, 20.0, 10.0, 10.0]}] for image_id in ids[:40]}
    false = {image_id: [{"box": [60.0, 60.0, 8.0, 8.0], "score": float(rng.random())}] for image_id in ids[40:]}
    on_it = {image_id: [{"box": [20.0, 20.0, 10.0, 10.0], "score": float(0.5 + rng.random() / 2)}]
             for image_id in ids[:40]}
    off_third = {image_id: boxes if index % 3 else [{"box": [80.0, 5.0, 6.0, 6.0], "score": boxes[0]["score"]}]
                 for index, (image_id, boxes) in enumerate(on_it.items())}  # 14 of the 40 fractures missed
    same = detection_difference(rows, (truth, on_it | false), (truth, on_it | false), 200, 0, 0.95)
    assert all(same[key]["value"] == 0.0 for key in ("ap50", "ap50_95", "froc_0.5", "froc_1", "froc_2"))
    better = detection_difference(rows, (truth, on_it | false), (truth, off_third | false), 200, 0, 0.95)
    assert better["films"] == 80 and better["fractures"] == 40
    assert better["froc_2"]["value"] == pytest.approx(14 / 40) and better["froc_2"]["low"] > 0
    assert better["ap50"]["value"] > 0 and better["ap50"]["low"] > 0
    doubled = {image_id: [{**box, "box": [2 * value for value in box["box"]]} for box in boxes]
               for image_id, boxes in (truth | on_it | false).items()}
    larger = ({key: doubled[key] for key in truth}, {key: doubled[key] for key in on_it | false})
    paired = detection_difference(rows, larger, (truth, on_it | false), 200, 0, 0.95)
    assert all(paired[key]["value"] == 0.0 for key in ("ap50", "froc_2")), "twice the size, against its own truth"


def test_an_ap_of_zero_gets_the_wilson_bound_of_its_recall_not_a_missing_interval():
    ids = [f"f{index}" for index in range(40)]
    rows = pd.DataFrame({"image_id": ids, "patient_id": [f"p{index // 2}" for index in range(40)],
                         "label": [1] * 20 + [0] * 20})
    truth = {image_id: [{"box": [20.0, 20.0, 10.0, 10.0]}] for image_id in ids[:20]}
    beside = {image_id: [{"box": [16.0, 16.0, 18.0, 18.0], "score": 0.9}] for image_id in ids[:20]}  # IoU 0.31
    report = detection_report(rows, truth, beside, 200, 0, 0.95)
    low, high = wilson(0, 20)
    assert report["ap50"] == {"value": 0.0, "low": low, "high": high, "method": "wilson"}
    assert report["ap50_95"]["high"] == high and report["froc_2"]["value"] == 1.0, "centres inside: found"
