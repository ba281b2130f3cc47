import pytest

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder
from fracture.data.sources.mura import parse_mura
from tests.conftest import radiograph_like, write_png


def test_labels_ids_region_and_split_come_from_the_path(tmp_path):
    write_png(tmp_path / "MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/image1.png", radiograph_like(0))
    write_png(tmp_path / "MURA-v1.1/train/XR_WRIST/patient00001/study2_negative/image1.png", radiograph_like(1))
    write_png(tmp_path / "MURA-v1.1/valid/XR_ELBOW/patient11185/study1_negative/image2.png", radiograph_like(2))
    manifest = parse_mura(DataFolder(tmp_path)).set_index("image_id")
    first = manifest.loc["train/XR_WRIST/patient00001/study1_positive/image1"]
    assert (first["label"], first["region"], first["patient_id"], first["source_split"]) == \
        (1, "wrist", "patient00001", "train")
    assert first["study_id"] == "train/XR_WRIST/patient00001/study1"
    assert first["path"] == "MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/image1.png"
    assert manifest.loc["valid/XR_ELBOW/patient11185/study1_negative/image2", "source_split"] == "valid"
    assert manifest["study_id"].nunique() == 3
    assert len(manifest["sha256"].iloc[0]) == 64


def test_hidden_and_unrelated_files_are_ignored(tmp_path):
    write_png(tmp_path / "MURA-v1.1/train/XR_HAND/patient00002/study1_negative/image1.png", radiograph_like(0))
    write_png(tmp_path / "MURA-v1.1/train/XR_HAND/patient00002/study1_negative/._image1.png", radiograph_like(1))
    write_png(tmp_path / "MURA-v1.1/notes/picture.png", radiograph_like(2))
    (tmp_path / "MURA-v1.1/train_image_paths.csv").write_text("whatever\n")
    assert len(parse_mura(DataFolder(tmp_path))) == 1


def test_a_folder_without_mura_images_is_a_clear_error(tmp_path):
    write_png(tmp_path / "elsewhere/image.png", radiograph_like(0))
    with pytest.raises(UserError, match="no MURA images"):
        parse_mura(DataFolder(tmp_path))
