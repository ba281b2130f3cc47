import json
import os
import stat

import pytest

from fracture.core.errors import UserError
from fracture.core.storage import OWNER_FILE, atomic_path, command_folder, refuse_foreign, refuse_overwrite, write_json


def test_a_failure_keeps_the_previous_output_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("stage crashed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["out.json"]


def test_directories_are_replaced_whole(tmp_path):
    target = tmp_path / "data"
    (target).mkdir()
    (target / "old.txt").write_text("old")
    with atomic_path(target, directory=True) as staging:
        (staging / "new.txt").write_text("new")
    assert os.listdir(target) == ["new.txt"]


def test_outputs_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {})
        with atomic_path(tmp_path / "d", directory=True):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_json_is_stable_and_rejects_nan(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1.5]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    with pytest.raises(ValueError):
        write_json(tmp_path / "nan.json", {"x": float("nan")})


def test_a_command_folder_is_refused_when_it_holds_a_users_files_and_nothing_in_it_is_touched(tmp_path):
    users = tmp_path / "results"
    (users / "deeper").mkdir(parents=True)
    (users / "deeper/thesis.docx").write_text("months of work")
    with pytest.raises(UserError, match=r"validate: .*results holds files this command did not write "
                                        r"\(e.g. deeper/thesis.docx\).*give a new or empty folder"):
        with command_folder(users, "validate") as staging:
            (staging / "metrics.json").write_text("{}")
    assert [path.name for path in users.rglob("*")] == ["deeper", "thesis.docx"]
    assert sorted(os.listdir(tmp_path)) == ["results"], "no staging folder is left behind"


def test_a_command_replaces_its_own_earlier_output_but_not_one_changed_since_or_another_commands(tmp_path):
    out = tmp_path / "out"
    for run in ("first", "second"):
        with command_folder(out, "validate") as staging:
            (staging / "plots").mkdir()
            (staging / "plots/roc.csv").write_text(run)
    assert (out / "plots/roc.csv").read_text() == "second" and (out / OWNER_FILE).is_file()
    with pytest.raises(UserError, match="compare: .* did not write"):
        refuse_foreign(out, "compare")
    (out / "plots/roc.csv").write_text("edited by hand")
    with pytest.raises(UserError, match=r"e.g. plots/roc.csv"):
        refuse_foreign(out, "validate")
    (out / "plots/roc.csv").write_text("second")
    (out / "notes.txt").write_text("the user's")
    with pytest.raises(UserError, match=r"e.g. notes.txt"):
        refuse_foreign(out, "validate")


def test_a_link_or_a_file_is_no_command_folder_and_an_empty_folder_is_one(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "file").write_text("x")
    for name, what in (("link", "a link"), ("file", "a file")):
        with pytest.raises(UserError, match=f"is {what}"):
            refuse_foreign(tmp_path / name, "validate")
    (tmp_path / "empty").mkdir()
    refuse_foreign(tmp_path / "empty", "validate")
    refuse_foreign(tmp_path / "new", "validate")


def test_a_csv_is_replaced_only_when_the_command_wrote_it(tmp_path):
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    ours.write_text("path,probability\nx.png,0.5\n")
    theirs.write_text("patient,diagnosis\n1,fracture\n")
    refuse_overwrite(ours, ["path", "probability"], "predict --out")
    refuse_overwrite(tmp_path / "new.csv", ["path", "probability"], "predict --out")
    with pytest.raises(UserError, match="predict --out: .*theirs.csv exists and is not a table this command wrote"):
        refuse_overwrite(theirs, ["path", "probability"], "predict --out")
    assert theirs.read_text() == "patient,diagnosis\n1,fracture\n"
