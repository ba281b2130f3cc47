import pandas as pd
import pytest

from fracture.data.grouping import grouping_summary, has_studies


def _manifest(kinds, source="folder", studies=None):
    return pd.DataFrame({"image_id": [f"i{n}" for n in range(len(kinds))], "grouping": kinds, "source": source,
                         "study_id": studies or [f"i{n}" for n in range(len(kinds))]})


def test_fracatlas_pseudo_patients_name_their_heuristic_and_have_no_studies():
    summary = grouping_summary(_manifest(["pseudo_patient"] * 3, source="fracatlas"))
    assert summary["unit"] == "pseudo-patient groups" and not summary["has_studies"]
    assert summary["description"].startswith("pseudo-patient groups (heuristic: consecutive image numbers")


def test_no_grouping_says_leakage_cannot_be_ruled_out():
    summary = grouping_summary(_manifest(["image", "image"]))
    assert summary["description"] == "images: no grouping, so leakage between one patient's films cannot be ruled out"


def test_mixed_kinds_are_listed_with_their_images():
    summary = grouping_summary(_manifest(["patient", "patient", "image"], studies=["s1", "s1", "s2"]))
    assert summary["kinds"] == {"patient": 2, "image": 1} and summary["has_studies"]
    assert summary["description"] == ("patients (2 images); images: no grouping, so leakage between one patient's "
                                      "films cannot be ruled out (1 images)")
    assert summary["unit"] == "groups (patients, images)"


def test_studies_exist_only_where_a_study_has_several_images():
    assert has_studies(_manifest(["patient"] * 2, studies=["s", "s"]))
    assert not has_studies(_manifest(["patient"] * 2))


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown grouping"):
        grouping_summary(_manifest(["family"]))
