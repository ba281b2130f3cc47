"""The COCO reader on made-up files: what it keeps, what it counts as left out, and the one-line errors."""

import json

import pytest

from fracture.core.errors import UserError
from fracture.data import annotations
from fracture.data.annotations import MAX_OUTLINE_POINTS, read_coco
from tests.conftest import radiograph_like, run_stage_here, tiny_params, write_png

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
    assert left_out == {"unknown_image": 2, "bad_box": 3, "box_outside_image": 1, "outline_too_long": 0}


@pytest.mark.parametrize("content, message", [
    (b"{not json", "is not a JSON file"),
    (b"\xff\xfe\x00garbage", "is not a JSON file"),
    (b'{"images": []}', "is not COCO annotations: it needs 'images' and 'annotations' lists"),
    (b"[1, 2]", "is not COCO annotations"),
    (b'{"images": [{"file_name": "a.png"}], "annotations": []}', "images[0] lacks an id or a file_name"),
    (b'{"images": [{"id": 1, "file_name": "a.png", "width": 0, "height": 5}], "annotations": []}',
     "images[0] ('a.png') has no positive width and height"),
    (b"[" * 100_000 + b"]" * 100_000, "nests lists or objects too deeply"),
    (b'{"images": [{"id": 1, "file_name": "a.png", "width": ' + b"9" * 5000 + b', "height": 5}], "annotations": []}',
     "holds a number of more than 4300 digits"),
    (b'{"images": [{"id": 1, "file_name": "a.png", "width": ' + b"9" * 400 + b', "height": 5}], "annotations": []}',
     "images[0] ('a.png') has no positive width and height (finite numbers)"),
    (b'{"images": [{"id": [1], "file_name": "a.png", "width": 5, "height": 5}], "annotations": []}',
     "images[0] ('a.png') has an id that is not an integer or a string"),
    (b'{"images": [{"id": 1, "file_name": "a\\n.png", "width": 0, "height": 5}], "annotations": []}',
     "images[0] ('a\\n.png') has no positive width"),
])
def test_a_file_that_is_not_usable_coco_is_one_line_naming_it(tmp_path, content, message):
    (tmp_path / "annotations.json").write_bytes(content)
    with pytest.raises(UserError) as error:
        read_coco(tmp_path / "annotations.json", "/data/films/annotations.json", IMAGE_IDS)
    assert str(error.value).startswith("/data/films/annotations.json") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_file_over_the_size_cap_is_one_line_before_it_is_parsed(tmp_path, monkeypatch):
    path = _coco(tmp_path / "annotations.json")
    monkeypatch.setattr(annotations, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(UserError, match=r"^annotations.json is over 0 MiB, more than COCO annotations"):
        read_coco(path, "annotations.json", IMAGE_IDS)


def test_annotations_with_hostile_fields_are_counted_and_left_out(tmp_path):
    too_long = [float(value % 50) for value in range(2 * MAX_OUTLINE_POINTS + 2)]
    path = _coco(tmp_path / "annotations.json", annotations=[
        {"id": 1, "image_id": [1], "bbox": [1, 1, 5, 5]},                               # an unhashable id
        {"id": 2, "image_id": {"id": 1}, "bbox": [1, 1, 5, 5]},
        {"id": 3, "image_id": True, "bbox": [1, 1, 5, 5]},                              # True == 1, but no id
        {"id": 4, "image_id": 1, "bbox": [1, 1, 10 ** 400, 5]},                         # too large for a float
        {"id": 5, "image_id": 1, "bbox": [1, 1, 5, 5], "segmentation": [too_long]},
        {"id": 6, "image_id": 1, "bbox": [1, 1, 5, 5], "segmentation": [too_long[:2 * MAX_OUTLINE_POINTS]]}])
    found, left_out = read_coco(path, "annotations.json", IMAGE_IDS)
    assert left_out == {"unknown_image": 3, "bad_box": 1, "box_outside_image": 0, "outline_too_long": 1}
    assert [len(item["polygons"][0]) for item in found["images/a"]] == [2 * MAX_OUTLINE_POINTS], "the cap is kept"


def test_a_hostile_annotations_file_stops_the_download_stage_with_one_line(tmp_path):
    folder = tmp_path / "films"
    write_png(folder / "a.png", radiograph_like(1))
    (folder / "labels.csv").write_text("path,label\na.png,1\n")
    (folder / "annotations.json").write_text("[" * 100_000 + "]" * 100_000)
    result = run_stage_here("download", tmp_path, tiny_params(**{"data.source": "folder", "data.path": str(folder)}))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (f"error: {folder / 'annotations.json'} nests lists or objects "
                                                      f"too deeply for COCO annotations; it is not one")
    assert not (tmp_path / "data/raw").exists(), "nothing half-written"
