import hashlib
import json

import pytest

import fracture.data.sources as sources
from fracture.core.errors import UserError
from fracture.data.folder import DataFolder
from fracture.data.sources import acquire, data_config
from fracture.data.sources.fracatlas import conservative_groups, parse_fracatlas
from tests.conftest import radiograph_like, tiny_params, write_png, zip_bytes

HEADER = "image_id,hand,leg,hip,shoulder,mixed,hardware,multiscan,fractured,fracture_count,frontal,lateral,oblique\n"
ROWS = [  # id, hand, leg, hip, shoulder, fractured, frontal, lateral
    ("IMG0000010.jpg", 1, 0, 0, 0, 1, 1, 0),
    ("IMG0000011.jpg", 1, 0, 0, 0, 1, 0, 1),   # consecutive, same region: same patient as 10
    ("IMG0000012.jpg", 0, 1, 0, 0, 0, 1, 0),   # consecutive but another region: new group
    ("IMG0000020.jpg", 1, 0, 0, 1, 0, 1, 0),   # two regions: mixed
    ("IMG0000030.jpg", 0, 0, 1, 0, 0, 1, 0),   # exact copy of 12: joins its group
]


COCO = {"images": [{"id": 1, "file_name": "IMG0000010.jpg", "width": 96, "height": 96},
                   {"id": 2, "file_name": "IMG0000011.jpg", "width": 96, "height": 96}],
        "annotations": [{"id": 1, "image_id": 1, "bbox": [10, 20, 30, 15], "segmentation": [[10, 20, 40, 20, 40, 35]]},
                        {"id": 2, "image_id": 2, "bbox": [90, 90, 30, 30], "segmentation": []}],
        "categories": [{"id": 1, "name": "fracture"}]}


def _layout(root):
    lines = [f"{i},{h},{leg},{hp},{s},{int(h + leg + hp + s > 1)},0,0,{f},{f},{fr},{la},0"
             for i, h, leg, hp, s, f, fr, la in ROWS]
    (root / "FracAtlas").mkdir(parents=True)
    (root / "FracAtlas/dataset.csv").write_text(HEADER + "\n".join(lines) + "\n")
    for index, (image_id, *_, fractured, _frontal, _lateral) in enumerate(ROWS):
        folder = "Fractured" if fractured else "Non_fractured"
        seed = 2 if image_id == "IMG0000030.jpg" else index
        write_png(root / f"FracAtlas/images/{folder}/{image_id}", radiograph_like(seed))
    (root / "FracAtlas/Annotations/COCO JSON").mkdir(parents=True)
    (root / "FracAtlas/Annotations/COCO JSON/COCO_fracture_masks.json").write_text(json.dumps(COCO))
    return root


def test_labels_regions_views_and_conservative_groups(tmp_path):
    manifest = parse_fracatlas(DataFolder(_layout(tmp_path))).set_index("image_id")
    assert manifest["label"].to_dict() == {"IMG0000010": 1, "IMG0000011": 1, "IMG0000012": 0, "IMG0000020": 0,
                                           "IMG0000030": 0}
    assert manifest.loc["IMG0000020", "region"] == "mixed" and manifest.loc["IMG0000012", "region"] == "leg"
    assert manifest.loc["IMG0000011", "view"] == "lateral"
    groups = manifest["patient_id"]
    assert groups["IMG0000010"] == groups["IMG0000011"] != groups["IMG0000012"]
    assert groups["IMG0000030"] == groups["IMG0000012"], "an exact duplicate joins its copy's group"
    assert (manifest["grouping"] == "pseudo_patient").all()
    assert (manifest["study_id"] == manifest.index).all(), "no studies: each image is its own"
    assert manifest.loc["IMG0000010", "path"] == "FracAtlas/images/Fractured/IMG0000010.jpg"
    assert (manifest[["cov_hardware", "cov_multiscan"]] == "0").all().all(), "carried as covariates"


def test_runs_break_on_gaps_and_regions():
    groups = conservative_groups([1, 2, 4, 5, 6], [{"hand"}, {"hand"}, {"hand"}, {"leg"}, {"leg", "hip"}],
                                 ["a", "b", "c", "d", "e"])
    assert groups[0] == groups[1] != groups[2] and groups[2] != groups[3] and groups[3] == groups[4]


def test_the_public_archive_url_is_fetched_and_unpacked(tmp_path, file_server, monkeypatch):
    archive_root = _layout(tmp_path / "made")
    entries = {path.relative_to(archive_root).as_posix(): path.read_bytes()
               for path in archive_root.rglob("*") if path.is_file()}
    file_server.files["/ndownloader/files/43283628"] = zip_bytes(entries)
    monkeypatch.chdir(tmp_path)
    params = tiny_params(**{"data.source": "fracatlas", "data.url": f"{file_server.url}/ndownloader/files/43283628"})
    manifest, annotations = acquire(data_config(params), tmp_path / "raw")
    assert len(manifest) == len(ROWS)
    assert (tmp_path / "raw" / manifest["path"].iloc[0]).is_file()
    assert manifest["path"].str.startswith("source/FracAtlas/images/").all()
    assert annotations["images"]["IMG0000010"] == [{"box": [10.0, 20.0, 30.0, 15.0],
                                                     "polygons": [[10.0, 20.0, 40.0, 20.0, 40.0, 35.0]]}]
    assert annotations["left_out"]["box_outside_image"] == 1
    assert annotations["file"].startswith("FracAtlas/Annotations/COCO JSON/COCO_fracture_masks.json in "), \
        "named as the user knows it: the entry of the downloaded archive"


def test_without_path_or_url_the_figshare_archive_is_the_default():
    config = data_config(tiny_params(**{"data.source": "fracatlas"}))
    assert config.urls == ["https://figshare.com/ndownloader/files/43283628"]


def test_the_publishers_checksum_is_pinned_per_url_and_data_checksum_overrides_it(tmp_path, file_server, monkeypatch):
    """A public archive is checked against the checksum pinned for its URL (what figshare lists), unless the user
    gives data.checksum; a mismatch is one line and nothing is kept."""
    archive = zip_bytes({"FracAtlas/dataset.csv": b"x"})
    url = f"{file_server.url}/ndownloader/files/43283628"
    file_server.files["/ndownloader/files/43283628"] = archive
    monkeypatch.setattr(sources, "PUBLIC_URLS", {"fracatlas": [url]})
    monkeypatch.setattr(sources, "PUBLIC_CHECKSUMS", {url: "md5:" + "0" * 32})
    monkeypatch.chdir(tmp_path)
    params = tiny_params(**{"data.source": "fracatlas", "data.retries": 1})
    assert data_config(params).checksums == ["md5:" + "0" * 32]
    with pytest.raises(UserError) as error:
        acquire(data_config(params), tmp_path / "raw")
    assert str(error.value) == (f"checksum mismatch for {url}: expected md5 {'0' * 32}, got "
                                f"{hashlib.md5(archive).hexdigest()}; the download was corrupt (run again) or "
                                f"data.checksum is wrong")
    assert not any((tmp_path / "data/downloads").iterdir())
    given = "sha256:" + hashlib.sha256(archive).hexdigest()
    assert data_config(tiny_params(**{"data.source": "fracatlas", "data.checksum": given})).checksums == [given]
