
import numpy as np
import pandas as pd
import pytest

from fracture.core.errors import ParamError, UserError
from fracture.data.enhance import enhance, enhance_config, montage_rows
from tests.conftest import default_params, radiograph_like, with_overrides, write_png


def _config(**overrides):
    return enhance_config(with_overrides(default_params(), {f"enhance.{k}": v for k, v in overrides.items()}))


def _manifest(tmp_path, count=4):
    rows = []
    for index in range(count):
        write_png(tmp_path / f"{index}.png", radiograph_like(index, size=80))
        rows.append({"image_id": str(index), "path": f"{index}.png", "region": "wrist", "label": index % 2,
                     "split": "train"})
    return pd.DataFrame(rows)


def _enhance(manifest, root, config, workers=1):
    images = np.zeros((len(manifest), config.preprocessing.image_size, config.preprocessing.image_size), np.uint8)
    return images, enhance(manifest, root, config, images, workers)[0]


def test_chain_output_is_stored_and_scored_per_step_and_per_filter(tmp_path):
    manifest = _manifest(tmp_path)
    config = _config(filters=["median", "clahe"], image_size=32)
    images, report = _enhance(manifest, tmp_path, config)
    assert images.shape == (4, 32, 32) and images.dtype == np.uint8
    assert list(report["chain"]) == ["step1_median", "step2_clahe"]
    assert set(report["alone"]) == {"clahe", "bilateral", "median"}
    assert report["chain"]["step1_median"]["psnr"]["mean"] == pytest.approx(report["alone"]["median"]["psnr"]["mean"])
    assert report["chain"]["step2_clahe"]["psnr"]["count"] == 4
    assert 0 < report["chain"]["step2_clahe"]["ssim"]["mean"] < 1


def test_no_filter_stores_the_resized_image(tmp_path):
    manifest = _manifest(tmp_path, count=2)
    images, report = _enhance(manifest, tmp_path, _config(filters=["none"], image_size=80))
    np.testing.assert_array_equal(images[0], radiograph_like(0, size=80))
    assert report["filters"] == ["none"] and report["chain"] == {}


def test_score_images_limits_the_scored_sample(tmp_path):
    manifest = _manifest(tmp_path, count=4)
    _, report = _enhance(manifest, tmp_path, _config(image_size=32, score_images=2))
    assert report["scored_images"] == 2 and report["alone"]["clahe"]["psnr"]["count"] == 2


def test_worker_processes_give_the_same_arrays_and_scores_in_the_same_order(tmp_path):
    manifest = _manifest(tmp_path, count=9)
    config = _config(filters=["clahe", "median"], image_size=32, score_images=5)
    one_images, one_report = _enhance(manifest, tmp_path, config, workers=1)
    three_images, three_report = _enhance(manifest, tmp_path, config, workers=3)
    np.testing.assert_array_equal(one_images, three_images)
    assert one_report == three_report
    assert len({image.tobytes() for image in three_images}) == 9, "each row holds its own image"


def test_an_image_unreadable_since_the_filter_stage_is_one_line_naming_it(tmp_path):
    manifest = _manifest(tmp_path, count=3)
    (tmp_path / "1.png").write_bytes(b"not a png any more")
    with pytest.raises(UserError, match=r"^1.png became unreadable after filtering \(not_an_image\); rerun dvc repro$"):
        _enhance(manifest, tmp_path, _config(image_size=32), workers=2)


def test_montage_has_both_classes_and_a_column_per_step(tmp_path):
    manifest = _manifest(tmp_path)
    rows, columns, titles = montage_rows(manifest, tmp_path, _config(filters=["clahe", "median"], image_size=32,
                                                                     montage_images=2))
    assert columns == ["unfiltered", "clahe", "median"] and len(rows) == 2 and len(rows[0]) == 3
    assert {"wrist normal", "wrist abnormal"} == set(titles)


@pytest.mark.parametrize("overrides, message", [
    ({"filters": ["sharpen"]}, "enhance.filters = 'sharpen' is not valid; choose from: none, clahe, bilateral, median"),
    ({"median.kernel": 4}, "enhance.median.kernel = 4 is not valid; expected an odd integer"),
    ({"image_size": 8}, "enhance.image_size = 8 is not valid"),
    ({"median.kernel": 999}, "enhance.median.kernel = 999 is not valid; expected an integer from 3 to 255"),
    ({"filters": ["clahe"] * 9}, r"enhance.filters = .* is not valid; expected at most 8 filters"),
])
def test_bad_enhance_params_name_the_key(overrides, message):
    with pytest.raises(ParamError, match=message):
        _config(**overrides)


def test_annotations_follow_the_images_that_reach_the_stage_into_their_squares(tmp_path):
    from fracture.data.enhance import placed_annotations

    manifest = _manifest(tmp_path, count=2)
    config = _config(image_size=40, filters=["none"])
    images = np.zeros((2, 40, 40), np.uint8)
    _, shapes = enhance(manifest, tmp_path, config, images)
    assert shapes == [(80, 80), (80, 80)]
    annotations = {"1": [{"box": [8.0, 16.0, 20.0, 10.0], "polygons": [[8.0, 16.0, 28.0, 16.0, 28.0, 26.0]]}],
                   "filtered-out": [{"box": [0.0, 0.0, 1.0, 1.0], "polygons": []}]}
    placed = placed_annotations(manifest, shapes, annotations, config.preprocessing)
    assert placed == {"1": [{"box": [4.0, 8.0, 10.0, 5.0], "polygons": [[4.0, 8.0, 14.0, 8.0, 14.0, 13.0]]}]}
