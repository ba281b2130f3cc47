"""Hostile and broken inputs through the real stages: nothing outside the data folder is read, every bad file
or CSV is one line (or a reasoned rejection), never a traceback, and nothing already written is lost."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import (
    copy_project,
    dvc,
    edit_dicom,
    patch_zip_field,
    png_bytes,
    radiograph_like,
    run_stage,
    tiny_params,
    write_dicom,
    write_png,
    zip_bytes,
    zip_with_links,
)

pytestmark = pytest.mark.e2e

MARKER = b"TOP-SECRET-MARKER-0f3a"  # stands for /etc/passwd: a file that must never be copied anywhere


def _folder_params(path, **overrides) -> dict:
    return tiny_params(**{"data.source": "folder", "data.path": str(path), "filter.regions": ["all"], **overrides})


def _one_line_error(result, *fragments):
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in last, f"{fragment!r} not in {last!r}"
    return last


def _files_under(*folders):
    return [path for folder in folders if folder.exists() for path in folder.rglob("*") if path.is_file()]


def test_links_out_of_a_data_folder_reach_neither_data_nor_the_dvc_cache(tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "more").mkdir(parents=True)
    (outside / "passwd").write_bytes(MARKER)
    secret_image = write_png(outside / "secret.png", radiograph_like(99))
    write_png(outside / "more/also.png", radiograph_like(98))
    films = tmp_path / "films"
    for index in range(4):
        write_png(films / f"in{index}.png", radiograph_like(index))
    (films / "passwd.png").symlink_to(outside / "passwd")
    (films / "secret.png").symlink_to(secret_image)
    (films / "away").symlink_to(outside / "more", target_is_directory=True)
    (films / "same.png").symlink_to("in0.png")  # stays inside: followed
    (films / "loop").symlink_to(".", target_is_directory=True)  # an ancestor: not entered again
    zip_with_links(films / "bundle.zip", [("zipped.png", png_bytes(radiograph_like(5))),
                                          ("zipped_link.png", str(outside / "passwd"))])
    (films / "labels.csv").write_text("path,label\n" + "".join(f"in{index}.png,{index % 2}\n" for index in range(4))
                                      + "passwd.png,1\nsecret.png,0\naway/also.png,1\nsame.png,0\nzipped.png,1\n"
                                        "zipped_link.png,0\n")
    project = copy_project(tmp_path / "project", _folder_params(films))
    dvc(project, "repro", "filter")
    rejected = pd.read_csv(project / "data/filtered/rejected.csv")
    assert dict(zip(rejected["image_id"], rejected["reason"])) == {
        "passwd": "outside_data_folder", "secret": "outside_data_folder", "away/also": "outside_data_folder",
        "zipped_link": "outside_data_folder", "same": "duplicate"}, "an inside link is followed (and is a copy)"
    kept = set(pd.read_csv(project / "data/filtered/manifest.csv")["image_id"])
    assert kept == {"in0", "in1", "in2", "in3", "zipped"}
    secret_hash = hashlib.sha256(secret_image.read_bytes()).hexdigest()
    stored = _files_under(project / "data", project / ".dvc/cache")
    assert stored and not any(MARKER in path.read_bytes() for path in stored), "the secret was copied"
    assert not any(hashlib.sha256(path.read_bytes()).hexdigest() == secret_hash for path in stored)
    assert not [path for path in (project / "data").rglob("*") if path.is_symlink()]


@pytest.mark.parametrize("name, content, fragments", [
    ("random", bytes(range(256)) * 3, ["is not a text file"]),
    ("empty", b"", ["is empty"]),
    ("ragged", b"path,label\na.png,1\nb,c.png,0\n", ["line 3 has 3 fields but the header has 2", "quote"]),
    ("ragged_first", b"path,label\nb,c.png,1\na.png,0\n", ["line 2 has 3 fields but the header has 2"]),
    ("empty_path", b"path,label\na.png,1\n,0\n", ["row 3 has an empty path"]),
    ("header_only", b"path,label\n", ["has a header but no rows"]),
    ("unknown_label", b"path,label\na.png,broken?\n", ["row 2: label 'broken?' is not 0/1"]),
])
def test_a_labels_csv_that_cannot_be_used_is_one_line_naming_the_users_file(tmp_path, name, content, fragments):
    folder = tmp_path / name
    write_png(folder / "a.png", radiograph_like(0))
    (folder / "labels.csv").write_bytes(content)
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/manifest.csv").write_text("an earlier download")
    line = _one_line_error(run_stage("download", tmp_path, _folder_params(folder)), str(folder / "labels.csv"),
                           *fragments)
    assert ".raw." not in line, "the user's file, not the stage's staging copy"
    assert (tmp_path / "data/raw/manifest.csv").read_text() == "an earlier download", "nothing written is lost"


def test_two_labels_csv_at_one_depth_are_refused_and_a_latin1_semicolon_export_is_read(tmp_path):
    folder = tmp_path / "two"
    for part in ("train", "test"):
        write_png(folder / part / "a.png", radiograph_like(0))
        (folder / part / "labels.csv").write_text("path,label\na.png,1\n")
    _one_line_error(run_stage("download", tmp_path, _folder_params(folder)), "2 labels.csv files at the same depth",
                    str(folder / "test/labels.csv"), str(folder / "train/labels.csv"))
    latin = tmp_path / "latin"
    write_png(latin / "Radius_é.png", radiograph_like(1))
    write_png(latin / "Ulna.png", radiograph_like(2))
    # a spreadsheet's "CSV" in a European locale: Windows-1252 and semicolons
    (latin / "labels.csv").write_bytes("path;label\nRadius_é.png;fracture\nUlna.png;normal\n".encode("cp1252"))
    result = run_stage("download", tmp_path, _folder_params(latin))
    assert result.returncode == 0 and "is not UTF-8; read as Windows-1252" in result.stderr, result.stderr
    manifest = pd.read_csv(tmp_path / "data/raw/manifest.csv")
    assert manifest.set_index("image_id")["label"].to_dict() == {"Radius_é": 1, "Ulna": 0}
    assert not manifest["sha256"].str.startswith("missing:").any(), "the accented name found its file"


@pytest.mark.parametrize("entries, patch, fragments", [
    ({"a": b"file", "a/b.png": b"x"}, None, ["refusing entry 'a', which is both a file"]),
    ({"a.png": b"x" * 100}, ((6, 8), 0x1), ["refusing entry 'a.png', which is encrypted"]),
    ({"a.png": b"x" * 100}, ((8, 10), 9), ["refusing entry 'a.png', which is compressed with method 9 (Deflate64)",
                                           "that Python cannot read"]),
])
def test_archives_that_cannot_be_unpacked_are_one_line_naming_archive_and_entry(tmp_path, entries, patch, fragments):
    archive = tmp_path / "data.zip"
    archive.write_bytes(zip_bytes(entries))
    if patch:
        patch_zip_field(archive, *patch)
    _one_line_error(run_stage("download", tmp_path, _folder_params(archive)), f"{archive}: ", *fragments)


def test_a_damaged_zip_and_a_labels_csv_linked_from_outside_are_one_line_naming_the_users_file(tmp_path):
    archive = tmp_path / "data.zip"
    archive.write_bytes(zip_bytes({"normal/a.png": png_bytes(radiograph_like(0))})[:-30])
    _one_line_error(run_stage("download", tmp_path, _folder_params(archive)), f"{archive} is not a readable zip")
    folder = tmp_path / "films"
    write_png(folder / "normal/a.png", radiograph_like(0))
    (tmp_path / "secret.csv").write_bytes(b"path,label\n" + MARKER + b",1\n")
    (folder / "labels.csv").symlink_to(tmp_path / "secret.csv")
    _one_line_error(run_stage("download", tmp_path, _folder_params(folder)),
                    f"{folder / 'labels.csv'} is a link to outside the data folder and is not read")


def test_a_web_page_instead_of_the_archive_stops_download_and_is_not_cached(tmp_path, file_server):
    file_server.files["/data.zip"] = b"<html><head><title>Quota exceeded</title></head></html>"
    file_server.types["/data.zip"] = "text/html"
    params = _folder_params("", **{"data.url": f"{file_server.url}/data.zip", "data.retries": 2})
    _one_line_error(run_stage("download", tmp_path, params), f"download of {file_server.url}/data.zip returned an "
                                                             f"HTML page titled 'Quota exceeded'")
    assert not list((tmp_path / "data/downloads").glob("*")), "nothing entered the cache"


def test_dicom_edge_cases_are_read_or_rejected_with_their_reason(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLSLossless

    films = tmp_path / "films"
    pixels = radiograph_like(0).astype(np.uint16) * 16
    edit_dicom(write_dicom(films / "fracture/empty_tags.dcm", pixels), WindowCenter="", WindowWidth="",
               RescaleSlope="", RescaleIntercept="")
    write_dicom(films / "fracture/1.2.840.113619.2.55.3", radiograph_like(1).astype(np.uint16) * 16)
    edit_dicom(write_dicom(films / "normal/huge.dcm", pixels), Rows=50000, Columns=50000)
    edit_dicom(write_dicom(films / "normal/jpegls.dcm", radiograph_like(2).astype(np.uint16)),
               TransferSyntaxUID=JPEGLSLossless, PixelData=encapsulate([b"\xff\xd8 not decoded \xff\xd9"]))
    write_png(films / "normal/plain.png", radiograph_like(3))
    params = _folder_params(films)
    for stage in ("download", "filter"):
        result = run_stage(stage, tmp_path, params)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    rejected = pd.read_csv(tmp_path / "data/filtered/rejected.csv", keep_default_na=False).set_index("image_id")
    expected = {"normal/huge": "too_large"}
    if not get_decoder(JPEGLSLossless).is_available:
        expected["normal/jpegls"] = "no_decoder"
        assert "JPEG-LS" in rejected.loc["normal/jpegls", "detail"]
    assert rejected["reason"].to_dict() == expected
    kept = set(pd.read_csv(tmp_path / "data/filtered/manifest.csv")["image_id"])
    assert kept == {"fracture/empty_tags", "fracture/1.2.840.113619.2.55.3", "normal/plain"}, "found by content"
    assert json.loads((tmp_path / "reports/filter.json").read_text())["rejected"]["too_large"] == 1


@pytest.mark.parametrize("key, value, fragments", [
    ("filter.min_szie", 3, ["filter.min_szie is not a param any stage knows; did you mean filter.min_size?"]),
    ("trian", {"epochs": 3}, ["trian is not a param", "did you mean train?"]),
    ("train", 5, ["train must be a section of keys (seed, epochs,", "not 5"]),
    ("filter.min_std", float("inf"), ["filter.min_std = inf is not valid; expected a number >= 0.0 (finite)"]),
    ("filter.min_std", float("nan"), ["filter.min_std = nan is not valid; expected a number >= 0.0 (finite)"]),
])
def test_unknown_keys_and_non_finite_numbers_are_one_line(tmp_path, key, value, fragments):
    params = tiny_params()
    *parents, last = key.split(".")
    node = params
    for parent in parents:
        node = node[parent]
    node[last] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    _one_line_error(run_stage("filter", tmp_path), *fragments)


def test_annotations_beside_labels_csv_reach_data_raw_and_bad_ones_are_one_line_or_counted(tmp_path):
    folder = tmp_path / "films"
    for name in ("a", "b"):
        write_png(folder / f"images/{name}.png", radiograph_like(ord(name)))
    (folder / "labels.csv").write_text("path,label\nimages/a.png,1\nimages/b.png,0\n")
    coco = {"images": [{"id": 7, "file_name": "images/a.png", "width": 96, "height": 96}],
            "annotations": [{"id": 1, "image_id": 7, "bbox": [10, 12, 20, 8],
                             "segmentation": [[10, 12, 30, 12, 30, 20]]},
                            {"id": 2, "image_id": 7, "bbox": [80, 80, 40, 40], "segmentation": []}]}
    (folder / "annotations.json").write_text(json.dumps(coco))
    result = run_stage("download", tmp_path, _folder_params(folder))
    assert result.returncode == 0 and "left out: box_outside_image 1" in result.stderr, result.stderr
    stored = json.loads((tmp_path / "data/raw/annotations.json").read_text())
    assert stored["images"] == {"images/a": [{"box": [10.0, 12.0, 20.0, 8.0], "polygons": [[10.0, 12.0, 30.0, 12.0,
                                                                                          30.0, 20.0]]}]}
    assert stored["left_out"]["box_outside_image"] == 1 and stored["file"] == str(folder / "annotations.json")
    (folder / "annotations.json").write_text('{"images": [], "annot')
    _one_line_error(run_stage("download", tmp_path, _folder_params(folder)),
                    f"{folder / 'annotations.json'} is not a JSON file")
    (folder / "annotations.json").unlink()
    (tmp_path / "elsewhere.json").write_text(json.dumps(coco))
    (folder / "annotations.json").symlink_to(tmp_path / "elsewhere.json")
    _one_line_error(run_stage("download", tmp_path, _folder_params(folder)),
                    f"{folder / 'annotations.json'} is a link to outside the data folder and is not read")


def test_a_file_name_that_is_not_utf8_reaches_the_manifest_by_its_text_form(tmp_path):
    import os

    films = tmp_path / "films"
    for index in range(3):
        write_png(films / f"normal/n{index}.png", radiograph_like(index))
        write_png(films / f"fracture/f{index}.png", radiograph_like(10 + index))
    os.rename(films / "normal/n0.png", os.fsencode(films) + b"/normal/caf\xe9.png")  # a Latin-1 disk's name
    result = run_stage("download", tmp_path, _folder_params(films))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "are not UTF-8" in result.stderr and "e.g. normal/caf%E9.png" in result.stderr
    manifest = pd.read_csv(tmp_path / "data/raw/manifest.csv", keep_default_na=False).set_index("image_id")
    assert manifest.loc["normal/caf%E9", "path"] == "source/normal/caf%E9.png" and len(manifest) == 6
    assert hashlib.sha256((films / "normal/caf\udce9.png").read_bytes()).hexdigest() == \
        manifest.loc["normal/caf%E9", "sha256"], "the film itself, copied under its text name"
