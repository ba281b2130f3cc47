"""The command line's outputs: `predict --out`, `predict --cam` and `compare --out` never replace or delete a user's
files; each refusal is one line, given before any work is done."""

import pytest

from fracture.__main__ import main
from tests.commands.test_predict import _model
from tests.conftest import radiograph_like, write_png


def _one_line(capsys, exit_status, *fragments) -> str:
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_status.value.code == 1 and error.startswith("error: ") and "Traceback" not in error
    for fragment in fragments:
        assert fragment in error, error
    return error


def test_predict_writes_its_overlays_and_table_only_where_they_replace_nothing_of_the_users(tmp_path, monkeypatch,
                                                                                          capsys):
    monkeypatch.chdir(tmp_path)
    _model(tmp_path / "model.pt")
    write_png(tmp_path / "films/a.png", radiograph_like(0))
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos/holiday.jpg").write_bytes(b"a user's file")
    (tmp_path / "table.csv").write_text("patient,diagnosis\n1,fracture\n")
    for args, fragments in [(["--out", "out.csv", "--cam", "photos"], ("predict --cam: photos holds files",)),
                            (["--out", "out.csv", "--cam", "."], ("predict --cam: . holds files",)),
                            (["--out", "table.csv"], ("predict --out: table.csv exists and is not a table",))]:
        with pytest.raises(SystemExit) as exit_status:
            main(["predict", "--model", "model.pt", *args, "films"])
        _one_line(capsys, exit_status, *fragments)
    assert (tmp_path / "photos/holiday.jpg").read_bytes() == b"a user's file"
    assert (tmp_path / "table.csv").read_text() == "patient,diagnosis\n1,fracture\n"
    assert not (tmp_path / "out.csv").exists()
    for _ in range(2):  # its own table and overlays are replaced on the next run
        main(["predict", "--model", "model.pt", "--out", "out.csv", "--cam", "cams", "films"])
    assert len(list((tmp_path / "cams").glob("*.png"))) == 1 and (tmp_path / "out.csv").is_file()


def test_compare_refuses_a_folder_of_the_users_files_before_reading_any_experiment(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/draft.md").write_text("mine")
    with pytest.raises(SystemExit) as exit_status:
        main(["compare", "--out", "notes", "--revs", "a", "b"])
    _one_line(capsys, exit_status, "compare: notes holds files this command did not write (e.g. draft.md)")
    assert (tmp_path / "notes/draft.md").read_text() == "mine"
