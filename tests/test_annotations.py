"""The COCO reader on made-up files: what it keeps, what it counts as left out, and the one-line errors."""

import json

import pytest

from fracture.annotations import read_coco
from fracture.errors import UserError

IMAGE_IDS = {"images/a.png": "images/a", "images/b.png": "images/b"}


def _coco(path, images=None, annotations=None, **extra):
    document = {"images": images if images is not None else [
        {"id": 1, "file_name": "images/a.png", "width": 100, "height": 80},
        {"id": 2, "file_name": "images/b.png", "width": 50, "height": 50},
        {"id": 3, "file_name": "images/not_in_data.png", "width": 50, "height": 50}],
        "annotations": annotations or [], **extra}
    path.write_text(json.dumps(document))
    return path


def test_boxes_and_outlines_are_kept_per_image_id_and_bad_ones_are_counted(tmp_path):
    outline = [10, 10, 30, 10, 30, 20, 10, 20]
    path = _coco(tmp_path / "annotations.json", annotations=[
        {"id": 1, "image_id": 1, "bbox": [10, 10, 20, 10], "segmentation": [outline, [1, 2], "junk"]},
        {"id": 2, "image_id": 1, "bbox": [60, 50, 41, 31], "segmentation": []},       # 1 px over: tolerated
        {"id": 3, "image_id": 2, "bbox": [40, 40, 20, 20], "segmentation": []},       # 10 px outside
        {"id": 4, "image_id": 2, "bbox": [5, 5, 0, 10], "segmentation": []},          # no area
        {"id": 5, "image_id": 2, "bbox": ["5", 5, 10, 10], "segmentation": []},       # not numbers
        {"id": 6, "image_id": 3, "bbox": [1, 1, 5, 5], "segmentation": []},           # an image the data lacks
        {"id": 7, "image_id": 99, "bbox": [1, 1, 5, 5], "segmentation": []},          # no such COCO image
        {"id": 8, "image_id": 2, "bbox": [1, 1, float("nan"), 5], "segmentation": []}])
    found, left_out = read_coco(path, "annotations.json", IMAGE_IDS)
    assert found == {"images/a": [{"box": [10.0, 10.0, 20.0, 10.0], "polygons": [[float(v) for v in outline]]},
                                  {"box": [60.0, 50.0, 41.0, 31.0], "polygons": []}]}
    assert left_out == {"unknown_image": 2, "bad_box": 3, "box_outside_image": 1}


@pytest.mark.parametrize("content, message", [
    (b"{not json", "is not a JSON file"),
    (b"\xff\xfe\x00garbage", "is not a JSON file"),
    (b'{"images": []}', "is not COCO annotations: it needs 'images' and 'annotations' lists"),
    (b"[1, 2]", "is not COCO annotations"),
    (b'{"images": [{"file_name": "a.png"}], "annotations": []}', "images[0] lacks an id or a file_name"),
    (b'{"images": [{"id": 1, "file_name": "a.png", "width": 0, "height": 5}], "annotations": []}',
     "images[0] (a.png) has no positive width and height"),
])
def test_a_file_that_is_not_usable_coco_is_one_line_naming_it(tmp_path, content, message):
    (tmp_path / "annotations.json").write_bytes(content)
    with pytest.raises(UserError) as error:
        read_coco(tmp_path / "annotations.json", "/data/films/annotations.json", IMAGE_IDS)
    assert str(error.value).startswith("/data/films/annotations.json") and message in str(error.value)
    assert "\n" not in str(error.value)
