import stat
import zipfile

import pytest

from fracture.errors import UserError
from fracture.sources.archives import extract_zip


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
    extract_zip(archive, tmp_path / "out", max_bytes=1000)
    assert (tmp_path / "out/MURA-v1.1/train/a.png").read_bytes() == b"x" * 10


@pytest.mark.parametrize("name, reason", [("../escape.png", "'..'"), ("/etc/evil.png", "absolute"),
                                          ("C:/evil.png", "absolute"), ("a/../../b.png", "'..'")])
def test_entries_escaping_the_target_are_refused_before_writing(tmp_path, name, reason):
    archive = _zip(tmp_path / "bad.zip", [("good.png", b"x"), (name, b"x")])
    with pytest.raises(UserError, match=reason):
        extract_zip(archive, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists(), "nothing is written from an unsafe archive"


def test_symbolic_links_are_refused(tmp_path):
    link = zipfile.ZipInfo("link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip(tmp_path / "link.zip", [("link.png", link)])
    with pytest.raises(UserError, match="symbolic link"):
        extract_zip(archive, tmp_path / "out", max_bytes=1000)


def test_archives_over_the_size_limit_are_refused(tmp_path):
    archive = _zip(tmp_path / "big.zip", [("a.bin", b"\0" * 5000)])
    with pytest.raises(UserError, match="over the limit"):
        extract_zip(archive, tmp_path / "out", max_bytes=4000)


def test_a_file_that_is_not_a_zip_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(UserError, match="not a readable zip"):
        extract_zip(fake, tmp_path / "out", max_bytes=1000)
