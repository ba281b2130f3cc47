import json
import os
import stat

import pytest

from fracture.storage import atomic_path, write_json


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
