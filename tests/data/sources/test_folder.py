import numpy as np
import pytest

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder
from fracture.data.sources.folder import parse_folder
from tests.conftest import radiograph_like, write_dicom, write_png


def test_labels_csv_with_optional_columns_and_dicom(tmp_path):
    write_png(tmp_path / "img/a.png", radiograph_like(0))
    write_dicom(tmp_path / "img/b.dcm", (radiograph_like(1).astype(np.uint16) * 16))
    write_png(tmp_path / "img/c.png", radiograph_like(2))
    (tmp_path / "labels.csv").write_text(
        "path,label,region,patient_id,study_id,view\n"
        "img/a.png,1,Wrist,p1,s1,frontal\n"
        "img/b.dcm,normal,wrist,p1,s2,\n"
        "img/c.png,fractured,Hand,,,lateral\n")
    manifest = parse_folder(DataFolder(tmp_path)).set_index("image_id")
    assert manifest["label"].to_dict() == {"img/a": 1, "img/b": 0, "img/c": 1}
    assert manifest.loc["img/a", "region"] == "wrist" and manifest.loc["img/c", "region"] == "hand"
    assert manifest.loc["img/c", "patient_id"] == "img/c" and manifest.loc["img/c", "study_id"] == "img/c"
    assert manifest.loc["img/b", "path"] == "img/b.dcm"


def test_the_users_other_columns_travel_as_covariates_but_not_ones_that_name_images(tmp_path):
    names = [f"{index}.png" for index in range(25)]
    for index, name in enumerate(names):
        write_png(tmp_path / name, radiograph_like(index))
    (tmp_path / "labels.csv").write_text("path,label,Hardware,scanner,file\n" + "".join(
        f"{name},{index % 2},{index % 2},{'ab'[index % 3 == 0]},scan{index}\n" for index, name in enumerate(names)))
    manifest = parse_folder(DataFolder(tmp_path))
    assert [column for column in manifest.columns if column.startswith("cov_")] == ["cov_hardware", "cov_scanner"]
    assert manifest["cov_hardware"].tolist() == [str(index % 2) for index in range(25)]


def test_groups_fill_missing_patient_ids(tmp_path):
    for name in "abc":
        write_png(tmp_path / f"{name}.png", radiograph_like(ord(name)))
    (tmp_path / "labels.csv").write_text(
        "path,label,patient_id,pseudo_group\na.png,0,,G1\nb.png,1,,G1\nc.png,1,P9,G2\n")
    assert parse_folder(DataFolder(tmp_path))["patient_id"].tolist() == ["G1", "G1", "P9"]


def test_each_row_says_what_its_grouping_key_is(tmp_path):
    for name in "abcde":
        write_png(tmp_path / f"{name}.png", radiograph_like(ord(name)))
    (tmp_path / "labels.csv").write_text("path,label,patient_id,group,pseudo_group\n"
                                         "a.png,0,P1,,\nb.png,1,,G1,\nc.png,1,,,Q1\nd.png,0,Q2,,Q2\ne.png,0,,,\n")
    manifest = parse_folder(DataFolder(tmp_path))
    assert manifest["grouping"].tolist() == ["patient", "group", "pseudo_patient", "pseudo_patient", "image"]
    assert manifest["patient_id"].tolist() == ["P1", "G1", "Q1", "Q2", "e"]
    (tmp_path / "labels.csv").write_text("path,label,patient_id,group,pseudo_group\na.png,0,Q3,G3,Q3\n")
    assert parse_folder(DataFolder(tmp_path))[["patient_id", "grouping"]].values.tolist() == [["G3", "group"]], \
        "the key is the one its kind names"


def test_absolute_and_climbing_paths_are_kept_unread_for_the_filter_to_reject(tmp_path):
    outside = write_png(tmp_path / "outside.png", radiograph_like(0))
    write_png(tmp_path / "data/in.png", radiograph_like(1))
    (tmp_path / "data/labels.csv").write_text(f"path,label\nin.png,0\n../outside.png,1\n{outside},1\n")
    manifest = parse_folder(DataFolder(tmp_path / "data")).set_index("image_id")
    assert manifest.loc["../outside", "path"] == "../outside.png"
    assert manifest.loc[outside.with_suffix("").as_posix(), "path"] == str(outside)
    assert manifest.loc[["../outside", outside.with_suffix("").as_posix()], "sha256"].str.startswith("outside:").all()
    assert len(manifest.loc["in", "sha256"]) == 64


def test_class_folders(tmp_path):
    write_png(tmp_path / "normal/x.png", radiograph_like(0))
    write_png(tmp_path / "fracture/deep/y.jpg", radiograph_like(1))
    write_png(tmp_path / "notes/z.png", radiograph_like(2))
    manifest = parse_folder(DataFolder(tmp_path)).set_index("image_id")
    assert manifest["label"].to_dict() == {"fracture/deep/y": 1, "normal/x": 0}


def test_bad_labels_and_layouts_are_clear_errors(tmp_path):
    (tmp_path / "labels.csv").write_text("path,label\na.png,1\nb.png,maybe\n")
    with pytest.raises(UserError, match=r"row 3: label 'maybe' is not 0/1"):
        parse_folder(DataFolder(tmp_path))
    (tmp_path / "labels.csv").write_text("file,diagnosis\na.png,1\n")
    with pytest.raises(UserError, match="lacks columns path, label"):
        parse_folder(DataFolder(tmp_path))
    (tmp_path / "labels.csv").unlink()
    with pytest.raises(UserError, match="no labels.csv and no class folders"):
        parse_folder(DataFolder(tmp_path))


def _acquire(folder, target):
    """What the download stage does with a user's folder: copy it into `target` and list its images."""
    from fracture.data.sources import acquire, data_config
    from tests.conftest import tiny_params

    return acquire(data_config(tiny_params(**{"data.source": "folder", "data.path": str(folder)})), target)[0]


def test_a_tree_deeper_than_the_recursion_limit_is_one_warning_and_the_rest_is_read(tmp_path, caplog):
    import shutil
    import sys

    from fracture.data.folder import MAX_DEPTH

    films = tmp_path / "films"
    write_png(films / "normal/a.png", radiograph_like(0))
    write_png(films / ("fracture/" + "d/" * (MAX_DEPTH - 1) + "kept.png"), radiograph_like(1))
    deep, depth = films / "fracture", sys.getrecursionlimit() + 100
    for _ in range(depth):  # one level at a time: mkdir(parents=True) itself recurses
        deep = deep / "d"
        deep.mkdir(exist_ok=True)
    write_png(deep / "lost.png", radiograph_like(2))
    try:
        manifest = _acquire(films, tmp_path / "raw")
    finally:  # shutil.rmtree (and so pytest's clean-up) recurses once a level: the tree goes in pieces
        for level in range(500 * (depth // 500), 0, -500):
            films.joinpath("fracture", *["d"] * level).rename(tmp_path / f"piece{level}")
        for piece in [*tmp_path.glob("piece*"), films]:
            shutil.rmtree(piece)
    assert manifest["path"].tolist() == ["source/fracture/" + "d/" * (MAX_DEPTH - 1) + "kept.png",
                                         "source/normal/a.png"]
    assert f"{films / 'fracture'}{'/d' * MAX_DEPTH} lies over {MAX_DEPTH} folders deep; the files in it are left " \
           f"out" in caplog.text


def test_an_unreadable_subfolder_is_left_out_with_a_warning_naming_it(tmp_path, monkeypatch, caplog):
    import os

    films = tmp_path / "films"
    write_png(films / "normal/a.png", radiograph_like(0))
    write_png(films / "fracture/b.png", radiograph_like(1))
    write_png(films / "fracture/locked/c.png", radiograph_like(2))
    scandir = os.scandir

    def refusing(path="."):
        if os.fspath(path) == os.fspath(films / "fracture/locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)  # tests run as root, who may read anything
    manifest = _acquire(films, tmp_path / "raw")
    assert manifest["image_id"].tolist() == ["fracture/b", "normal/a"]
    assert f"{films / 'fracture/locked'} cannot be read (Permission denied); the files in it are left out" \
        in caplog.text
    monkeypatch.setattr(os, "scandir", lambda path=".": refusing(films / "fracture/locked"))
    with pytest.raises(UserError, match=r"cannot read the folder .*films \(Permission denied\); make it readable"):
        _acquire(films, tmp_path / "raw2")


def test_a_name_that_is_not_utf8_is_listed_by_its_text_form_unless_that_name_is_taken(tmp_path, caplog):
    import os

    from fracture.data.folder import walk

    films = tmp_path / "films"
    write_png(films / "normal/a.png", radiograph_like(0))
    write_png(films / "fracture/b.png", radiograph_like(1))
    os.rename(films / "fracture/b.png", os.fsencode(films) + b"/fracture/caf\xe9.png")  # a Latin-1 name
    write_png(films / "normal/x.png", radiograph_like(2))
    os.rename(films / "normal/x.png", os.fsencode(films) + b"/normal/na\xefve.png")
    write_png(films / "normal/na%EFve.png", radiograph_like(3))  # its text form is taken: that one is left out
    assert [entry.relative for entry in walk(films)] == ["fracture/caf%E9.png", "normal/a.png", "normal/na%EFve.png"]
    manifest = _acquire(films, tmp_path / "raw")
    assert manifest["path"].tolist() == ["source/fracture/caf%E9.png", "source/normal/a.png",
                                         "source/normal/na%EFve.png"]
    assert (tmp_path / "raw/source/fracture/caf%E9.png").read_bytes() == \
        (films / "fracture/caf\udce9.png").read_bytes()
    assert f"{films / 'normal'}: a name that is not UTF-8 would be listed as na%EFve.png, which is taken" in caplog.text
    assert "1 names under" in caplog.text and "e.g. fracture/caf%E9.png" in caplog.text
