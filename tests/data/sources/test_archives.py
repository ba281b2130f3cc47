import zipfile

import pytest

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder
from fracture.data.sources.archives import unpack_zip
from tests.conftest import patch_zip_field, zip_with_links


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in entries:
            if isinstance(data, zipfile.ZipInfo):
                bundle.writestr(data, b"target")
            else:
                bundle.writestr(name, data)
    return path


def test_normal_archive_unpacks(tmp_path):
    archive = _zip(tmp_path / "ok.zip", [("MURA-v1.1/train/a.png", b"x" * 10), ("MURA-v1.1/b.csv", b"y")])
    unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=1000)
    assert (tmp_path / "out/MURA-v1.1/train/a.png").read_bytes() == b"x" * 10


@pytest.mark.parametrize("name, reason", [("../escape.png", "'..'"), ("/etc/evil.png", "absolute"),
                                          ("C:/evil.png", "absolute"), ("a/../../b.png", "'..'"),
                                          (".", "no usable name")])
def test_entries_escaping_the_target_are_refused_before_writing(tmp_path, name, reason):
    archive = _zip(tmp_path / "bad.zip", [("good.png", b"x"), (name, b"x")])
    with pytest.raises(UserError, match=reason):
        unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=1000)
    assert not (tmp_path / "out").exists(), "nothing is written from an unsafe archive"


def test_links_inside_the_archive_are_followed_and_links_out_of_it_are_listed_never_written(tmp_path):
    archive = zip_with_links(tmp_path / "links.zip", [
        ("data/a.png", b"image a"), ("data/sub/b.png", b"image b"),
        ("data/copy.png", "a.png"), ("data/folder", "sub"), ("data/up.png", "../data/a.png"),
        ("data/passwd.png", "/etc/passwd"), ("data/escape.png", "../../outside.png"), ("data/loop", "loop")])
    (tmp_path / "outside.png").write_bytes(b"outside")
    folder = DataFolder(tmp_path / "out/source")
    unpack_zip(archive, folder, max_bytes=1000)
    files = {path.relative_to(folder.root).as_posix(): path.read_bytes()
             for path in folder.root.rglob("*") if path.is_file()}
    assert files == {"data/a.png": b"image a", "data/sub/b.png": b"image b", "data/copy.png": b"image a",
                     "data/folder/b.png": b"image b", "data/up.png": b"image a"}
    assert not [path for path in folder.root.rglob("*") if path.is_symlink()], "no link reaches the copy"
    assert folder.outside == {"data/passwd.png", "data/escape.png"}
    assert folder.problem("data/passwd.png") == "outside_data_folder"
    assert folder.digest("data/escape.png") == "outside:data/escape.png"
    assert list((tmp_path / "out").iterdir()) == [folder.root], "the scratch folder is gone"


def test_a_link_cannot_redirect_a_later_entry_out_of_the_target(tmp_path):
    archive = zip_with_links(tmp_path / "evil.zip", [("evil", str(tmp_path / "victim")), ("evil/x.png", b"x")])
    (tmp_path / "victim").mkdir()
    with pytest.raises(UserError, match=r"evil.zip: refusing entry 'evil', which is both a file \(or link\)"):
        unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=1000)
    assert list((tmp_path / "victim").iterdir()) == []


@pytest.mark.parametrize("entries, message", [
    ([("a", b"file"), ("a/b.png", b"x")], r"refusing entry 'a', which is both a file"),
    ([("a.png", b"1"), ("a.png", b"2")], r"refusing entry 'a.png', which appears twice"),
])
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_clashing_entries_are_one_line_naming_archive_and_entry(tmp_path, entries, message):
    archive = _zip(tmp_path / "clash.zip", entries)
    with pytest.raises(UserError, match=f"{archive}: {message}"):
        unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=1000)


@pytest.mark.parametrize("fields, value, message", [
    ((6, 8), 0x1, r"refusing entry 'a.png', which is encrypted"),
    ((8, 10), 9, r"refusing entry 'a.png', which is compressed with method 9 \(Deflate64\) that Python cannot"),
    ((8, 10), 93, r"refusing entry 'a.png', which is compressed with method 93 \(Zstandard\)"),
])
def test_encrypted_entries_and_unreadable_methods_are_one_line(tmp_path, fields, value, message):
    archive = patch_zip_field(_zip(tmp_path / "odd.zip", [("a.png", b"x" * 100)]), fields, value)
    with pytest.raises(UserError, match=f"{archive}: {message}"):
        unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=1000)
    assert not (tmp_path / "out").exists()


def test_damaged_entry_data_names_the_entry(tmp_path):
    archive = _zip(tmp_path / "crc.zip", [("a.png", b"x" * 100)])
    data = bytearray(archive.read_bytes())
    data[data.find(b"x" * 100)] = ord("y")  # stored, so the CRC no longer matches
    archive.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"crc.zip: entry 'a.png' cannot be read \(Bad CRC-32"):
        unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=1000)


def test_archives_over_the_size_limit_are_refused(tmp_path):
    archive = _zip(tmp_path / "big.zip", [("a.bin", b"\0" * 5000)])
    with pytest.raises(UserError, match="over the limit"):
        unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=4000)


def test_a_file_that_is_not_a_zip_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(UserError, match="not a readable zip"):
        unpack_zip(fake, DataFolder(tmp_path / "out"), max_bytes=1000)


def test_a_name_the_file_system_refuses_is_one_line(tmp_path):
    archive = _zip(tmp_path / "long.zip", [("x" * 300 + ".png", b"x")])
    with pytest.raises(UserError, match=r"long.zip: cannot unpack entry 'x{300}.png' \(File name too long\)"):
        unpack_zip(archive, DataFolder(tmp_path / "out"), max_bytes=1000)


def test_names_flagged_utf8_that_are_not_are_one_line(tmp_path):
    archive = tmp_path / "films.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("caf\u00e9.png", b"x")  # written as UTF-8, with the flag that says so
    archive.write_bytes(archive.read_bytes().replace(b"caf\xc3\xa9", b"caf\xe9_"))  # now Latin-1 under that flag
    with pytest.raises(UserError, match="films.zip marks its file names as UTF-8 but they are not; re-create"):
        unpack_zip(archive, DataFolder(tmp_path / "out"), 1 << 20)
