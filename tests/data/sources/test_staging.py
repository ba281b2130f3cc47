"""Copying a user's folder into data/raw: the boundary holds against a folder that changes while it is copied."""

import logging
import os

import fracture.data.sources as sources
from fracture.data.folder import MISSING, OUTSIDE, unread_reason
from fracture.data.sources import DataConfig, acquire
from tests.conftest import png_bytes, radiograph_like, write_png, zip_bytes

MARKER = b"TOP-SECRET-MARKER-0f3a"  # stands for a file outside the folder that must never be copied


def _films(tmp_path):
    """A user's folder (a subfolder, a zip, an inside link) and, outside it, look-alikes holding the marker."""
    films, outside = tmp_path / "films", tmp_path / "elsewhere"
    write_png(films / "top.png", radiograph_like(0))
    write_png(films / "sub/film.png", radiograph_like(1))
    (films / "bundle.zip").write_bytes(zip_bytes({"zipped.png": png_bytes(radiograph_like(2))}))
    (films / "same.png").symlink_to("top.png")
    (films / "labels.csv").write_text("path,label\ntop.png,0\nsub/film.png,1\nzipped.png,1\nsame.png,0\n")
    (outside / "sub").mkdir(parents=True)
    (outside / "sub/film.png").write_bytes(MARKER)
    (outside / "bundle.zip").write_bytes(zip_bytes({"zipped.png": MARKER}))
    return films, outside


def _swapping_walk(swaps):
    """walk() as it is, except that just before it hands over an entry named in `swaps`, that entry's folder (or
    file) is replaced by a link to the outside: what a race between listing and opening would do."""
    listed = sources.walk

    def walk(root):
        for entry in listed(root):
            if entry.relative in swaps:
                inside, outside = swaps[entry.relative]
                os.rename(inside, inside.with_name(inside.name + ".moved"))
                inside.symlink_to(outside, target_is_directory=outside.is_dir())
            yield entry
    return walk


def test_a_folder_swapped_for_a_link_while_it_is_copied_lets_nothing_from_outside_in(tmp_path, monkeypatch, caplog):
    films, outside = _films(tmp_path)
    monkeypatch.setattr(sources, "walk", _swapping_walk({"sub/film.png": (films / "sub", outside / "sub"),
                                                         "bundle.zip": (films / "bundle.zip", outside / "bundle.zip")}))
    target = tmp_path / "raw"
    with caplog.at_level(logging.WARNING, logger="fracture.data.sources"):
        manifest, _ = acquire(DataConfig("folder", str(films)), target)
    staged = [path for path in target.rglob("*") if path.is_file()]
    assert staged and not any(MARKER in path.read_bytes() for path in staged), "nothing from outside was copied"
    reasons = {row.image_id: unread_reason(row.path, row.sha256) for row in manifest.itertuples()}
    assert reasons == {"top": None, "same": None, "sub/film": OUTSIDE, "zipped": MISSING}, \
        "the swapped film's row is rejected, the swapped zip is not unpacked; a link that stays inside is copied"
    warnings = [record.getMessage() for record in caplog.records]
    assert any(f"{films / 'sub/film.png'} led outside {films}" in warning for warning in warnings)
    assert any(f"{films / 'bundle.zip'} led outside {films}" in warning for warning in warnings)


def test_a_copy_keeps_the_files_bytes_mode_and_times(tmp_path):
    films, _ = _films(tmp_path)
    os.chmod(films / "top.png", 0o640)
    os.utime(films / "top.png", ns=(1_600_000_000_000_000_000, 1_500_000_000_123_456_789))
    acquire(DataConfig("folder", str(films)), tmp_path / "raw")
    copied, original = tmp_path / "raw/source/top.png", films / "top.png"
    assert copied.read_bytes() == original.read_bytes() == (tmp_path / "raw/source/same.png").read_bytes()
    assert copied.stat().st_mtime_ns == original.stat().st_mtime_ns and copied.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "raw/source/zipped.png").is_file()
