import hashlib
import logging
import socket

import pytest

from fracture.core.errors import UserError
from fracture.data.sources.download import Retry, cache_name, digest_record, fetch
from tests.conftest import zip_bytes

FAST = Retry(attempts=3, backoff=0.01, timeout=5)
PAYLOAD = bytes(range(256)) * 4000  # about 1 MB


def test_normal_download_lands_whole_and_is_then_served_from_the_cache(tmp_path, file_server):
    file_server.files["/data/archive.zip"] = PAYLOAD
    path = fetch(f"{file_server.url}/data/archive.zip", tmp_path, retry=FAST)
    assert path.read_bytes() == PAYLOAD and path.name.endswith("-archive.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, f"{path.name}.sha256"], "no partial file left"
    assert digest_record(path).read_text() == f"{hashlib.sha256(PAYLOAD).hexdigest()}  {path.name}\n"
    assert fetch(f"{file_server.url}/data/archive.zip", tmp_path, retry=FAST) == path
    assert len(file_server.requests) == 1, "the second call did not touch the network"


def test_a_cut_connection_resumes_with_a_range_request(tmp_path, file_server):
    file_server.files["/cut.zip"] = PAYLOAD
    file_server.cut_once.add("/cut.zip")
    path = fetch(f"{file_server.url}/cut.zip", tmp_path, retry=FAST)
    assert path.read_bytes() == PAYLOAD
    assert file_server.requests[0][1] is None
    assert file_server.requests[1][1] == f"bytes={len(PAYLOAD) // 2}-"


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_a_matching_checksum_passes(tmp_path, file_server, algorithm):
    file_server.files["/ok.zip"] = PAYLOAD
    digest = hashlib.new(algorithm, PAYLOAD).hexdigest()
    assert fetch(f"{file_server.url}/ok.zip", tmp_path, f"{algorithm}:{digest}", FAST).read_bytes() == PAYLOAD


def test_a_checksum_mismatch_keeps_nothing(tmp_path, file_server):
    file_server.files["/bad.zip"] = PAYLOAD
    with pytest.raises(UserError, match="checksum mismatch") as error:
        fetch(f"{file_server.url}/bad.zip", tmp_path, "sha256:" + "0" * 64, FAST)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def _altered(tmp_path, file_server, checksum=""):
    """A download whose cached file is then changed (cut short, or rewritten) as a disk or a person might."""
    file_server.files["/f.zip"] = PAYLOAD
    cached = fetch(f"{file_server.url}/f.zip", tmp_path, checksum, FAST)
    cached.write_bytes(PAYLOAD[:1000])
    return f"{file_server.url}/f.zip", cached


@pytest.mark.parametrize("checksum, expected", [
    ("", f"expected sha256 {hashlib.sha256(PAYLOAD).hexdigest()}"),
    ("md5:" + hashlib.md5(PAYLOAD).hexdigest(), f"expected md5 {hashlib.md5(PAYLOAD).hexdigest()}")],
    ids=["recorded-sha256", "given-checksum"])
def test_a_cached_file_altered_after_its_download_is_one_line_and_is_kept(tmp_path, file_server, checksum, expected):
    url, cached = _altered(tmp_path, file_server, checksum)
    with pytest.raises(UserError) as error:
        fetch(url, tmp_path, checksum, FAST)
    message = str(error.value)
    algorithm = checksum.split(":")[0] or "sha256"
    assert message.startswith(f"the cached download {cached} does not match") and "\n" not in message
    assert expected in message and f"found {hashlib.new(algorithm, PAYLOAD[:1000]).hexdigest()}" in message
    assert "delete it to download it again" in message
    assert cached.read_bytes() == PAYLOAD[:1000], "neither deleted nor replaced"
    assert len(file_server.requests) == 1, "and not downloaded again behind the user's back"


def test_a_good_cache_is_used_without_the_network(tmp_path, file_server):
    url = f"{file_server.url}/f.zip"
    file_server.files["/f.zip"] = PAYLOAD
    first = fetch(url, tmp_path, retry=FAST)
    file_server.close()
    assert fetch(url, tmp_path, retry=FAST) == first
    assert fetch(url, tmp_path, "md5:" + hashlib.md5(PAYLOAD).hexdigest(), FAST) == first


def test_a_file_cached_before_records_were_kept_gets_one(tmp_path, file_server, caplog):
    url = f"{file_server.url}/f.zip"
    cached = tmp_path / cache_name(url)
    cached.write_bytes(PAYLOAD)
    with caplog.at_level(logging.WARNING, logger="fracture.data.sources.download"):
        assert fetch(url, tmp_path, retry=FAST) == cached
    assert f"{cached} has no record of its sha256" in caplog.text and not file_server.requests
    cached.write_bytes(b"changed")
    with pytest.raises(UserError, match="does not match the sha256 recorded in"):
        fetch(url, tmp_path, retry=FAST)


def test_404_names_the_url_and_the_alternative(tmp_path, file_server):
    with pytest.raises(UserError) as error:
        fetch(f"{file_server.url}/missing.zip", tmp_path, retry=FAST)
    assert f"{file_server.url}/missing.zip" in str(error.value) and "HTTP 404" in str(error.value)
    assert "data.path" in str(error.value)
    assert len(file_server.requests) == 1, "a 404 is not retried"


def test_offline_names_the_url_and_the_alternative(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mura.zip"
    with pytest.raises(UserError, match="cannot download .* after 3 attempts.*data.path") as error:
        fetch(url, tmp_path, retry=FAST)
    assert url in str(error.value)


def test_bad_checksum_params_are_rejected(tmp_path):
    with pytest.raises(UserError, match="data.checksum"):
        fetch("http://127.0.0.1:9/x", tmp_path, "crc32:abcd", FAST)


SIGN_IN = b"<!DOCTYPE html>\n<html><head><title>Sign in &ndash; Data portal</title></head><body>...</body></html>"


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream", None])
def test_a_web_page_instead_of_the_file_stops_before_the_cache(tmp_path, file_server, content_type):
    file_server.files["/data.zip"] = SIGN_IN
    if content_type:
        file_server.types["/data.zip"] = content_type
    with pytest.raises(UserError) as error:
        fetch(f"{file_server.url}/data.zip", tmp_path, retry=FAST)
    message = str(error.value)
    assert message.startswith(f"download of {file_server.url}/data.zip returned an HTML page titled "
                              f"'Sign in – Data portal'") and "set data.path" in message
    assert list(tmp_path.iterdir()) == [] and len(file_server.requests) == 1, "nothing cached, no retries"


def test_a_page_cached_by_an_earlier_version_is_downloaded_again(tmp_path, file_server):
    file_server.files["/data.zip"] = PAYLOAD
    url = f"{file_server.url}/data.zip"
    (tmp_path / cache_name(url)).write_bytes(SIGN_IN)
    assert fetch(url, tmp_path, retry=FAST).read_bytes() == PAYLOAD


def test_a_zip_mislabelled_as_text_html_is_still_a_zip(tmp_path, file_server):
    file_server.files["/mislabelled.zip"] = zip_bytes({"a.png": b"x"})
    file_server.types["/mislabelled.zip"] = "text/html"
    assert fetch(f"{file_server.url}/mislabelled.zip", tmp_path, retry=FAST).read_bytes()[:2] == b"PK"


def test_an_empty_answer_is_not_the_file(tmp_path, file_server):
    file_server.files["/empty.zip"] = b""
    with pytest.raises(UserError, match=r"empty.zip returned an empty answer, not the file"):
        fetch(f"{file_server.url}/empty.zip", tmp_path, retry=FAST)
    assert list(tmp_path.iterdir()) == []
