import pandas as pd
import pytest

from fracture.core.errors import UserError
from fracture.data.manifest import COLUMNS, read_manifest, write_manifest


def _row(**changes):
    row = {"image_id": "a", "path": "a.png", "patient_id": "p1", "study_id": "s1", "region": "wrist", "label": 1,
           "view": "", "source": "test", "source_split": "", "sha256": "0" * 64, "grouping": "patient"}
    return {**row, **changes}


def test_round_trip_keeps_ids_as_text_and_empty_strings_empty(tmp_path):
    frame = pd.DataFrame([_row(patient_id="00012", view=""), _row(image_id="b", label=0)])
    write_manifest(frame.assign(split=["train", "test"]), tmp_path / "m.csv")
    back = read_manifest(tmp_path / "m.csv")
    assert list(back.columns) == COLUMNS + ["split"]
    assert back.loc[0, "patient_id"] == "00012" and back.loc[0, "view"] == ""
    assert back["label"].tolist() == [1, 0]


def test_grouping_keys_may_not_be_empty(tmp_path):
    with pytest.raises(ValueError, match="patient_id"):
        write_manifest(pd.DataFrame([_row(patient_id="")]), tmp_path / "m.csv")


def test_missing_file_or_columns_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_manifest(tmp_path / "none.csv")
    pd.DataFrame([{"image_id": "a", "label": 1}]).to_csv(tmp_path / "thin.csv", index=False)
    with pytest.raises(UserError, match="lacks columns"):
        read_manifest(tmp_path / "thin.csv")
