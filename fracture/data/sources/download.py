"""Fetching a source archive over HTTP(S) the way a flaky network demands.

A transfer lands in `<name>.part` and resumes from there with a Range request
after a cut connection; failures are retried with exponential backoff; the
file is verified against a checksum when one is given and only then renamed
into place, its sha256 recorded beside it (`<file>.sha256`). A cached file is
used without touching the network, but only after it is checked again, every
time: against the checksum when one is given, else against the recorded
sha256, so a file truncated or altered in the cache is caught. A mismatch is
one line naming the file and both digests; the file is never deleted or
replaced behind the user's back. A server that answers with a web page (a
sign-in or quota page, served with status 200) is caught from its content
type or its first bytes before anything is written, and the download stops
with one line naming the URL and what came back.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from tqdm import tqdm

from fracture.core.errors import UserError
from fracture.core.storage import atomic_path

log = logging.getLogger(__name__)
CHUNK = 1 << 20
PERMANENT_HTTP_ERRORS = {400, 401, 403, 404, 410}
PAGE_TYPES = ("text/html", "application/xhtml+xml")
PAGE_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")
TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class NotTheFile(Exception):
    """The server answered, but with a web page instead of the file."""


def page_description(first_bytes: bytes, content_type: str = "") -> str | None:
    """'an HTML page titled ...' when a response is a web page rather than a data file, else None."""
    start = first_bytes.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    declared = content_type.split(";")[0].strip().lower() in PAGE_TYPES
    markup = start.startswith(PAGE_STARTS) and (not start.startswith(b"<?xml") or b"<html" in start[:1024])
    if not (markup or (declared and start.startswith(b"<"))):  # a zip mislabelled text/html is still a zip
        return None
    title = TITLE.search(first_bytes)
    named = f" titled {html.unescape(title.group(1).decode('utf-8', 'replace')).strip()[:80]!r}" if title else ""
    return f"an HTML page{named} ({content_type or 'no content type'})"


@dataclass(frozen=True)
class Retry:
    attempts: int = 5
    backoff: float = 2.0
    timeout: float = 60.0


def cache_name(url: str) -> str:
    """A file name for `url` in the cache: readable, and distinct for distinct URLs."""
    base = Path(urlparse(url).path).name or "download"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{base}"


def parse_checksum(text: str) -> tuple[str, str] | None:
    """`sha256:<hex>` or `md5:<hex>` (a bare 64-digit hex is sha256); '' for none."""
    text = text.strip().lower()
    if not text:
        return None
    algorithm, _, digest = text.rpartition(":")
    algorithm = algorithm or ("sha256" if len(digest) == 64 else "md5" if len(digest) == 32 else "")
    if algorithm not in ("sha256", "md5") or not all(c in "0123456789abcdef" for c in digest):
        raise UserError(f"params.yaml: data.checksum = {text!r} is not valid; expected sha256:<hex> or md5:<hex>")
    return algorithm, digest


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, cache_dir: Path, checksum: str = "", retry: Retry = Retry()) -> Path:
    """The file at `url`, from the cache when complete there, else downloaded (resuming) and verified."""
    expected = parse_checksum(checksum)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / cache_name(url)
    if final.is_file() and _first_bytes_are_a_page(final):
        log.warning(f"{final} is a web page, not the file (an earlier download); downloading {url} again")
        final.unlink()
    if final.is_file():
        _check_cached(final, expected)
        log.info(f"using cached {final}")
        return final
    partial = final.with_name(final.name + ".part")
    if partial.is_file() and _first_bytes_are_a_page(partial):
        partial.unlink()
    for attempt in range(1, retry.attempts + 1):
        try:
            _transfer(url, partial, retry.timeout)
            break
        except NotTheFile as error:
            raise UserError(f"download of {url} returned {error}, not the file; the link may need a sign-in, or a "
                            f"quota is exhausted: download the file in a browser and set data.path to it") from None
        except HTTPError as error:
            if error.code in PERMANENT_HTTP_ERRORS:
                raise UserError(f"download of {url} failed: HTTP {error.code} {error.reason}; download the file "
                                f"yourself and set data.path to it") from None
            reason = f"HTTP {error.code}"
        except (URLError, OSError, http.client.HTTPException) as error:
            reason = str(getattr(error, "reason", error)) or type(error).__name__
        if attempt == retry.attempts:
            raise UserError(f"cannot download {url} ({reason}) after {attempt} attempts; check the network, or "
                            f"download the file yourself and set data.path to it")
        wait = retry.backoff * 2 ** (attempt - 1)
        log.warning(f"download of {url} interrupted ({reason}); resuming in {wait:.1f}s "
                    f"(attempt {attempt + 1} of {retry.attempts})")
        time.sleep(wait)
    if expected is not None:
        actual = file_digest(partial, expected[0])
        if actual != expected[1]:
            partial.unlink()
            raise UserError(f"checksum mismatch for {url}: expected {expected[0]} {expected[1]}, got {actual}; "
                            f"the download was corrupt (run again) or data.checksum is wrong")
    with atomic_path(digest_record(final)) as record:
        record.write_text(f"{file_digest(partial, 'sha256')}  {final.name}\n")
    os.replace(partial, final)
    return final


def digest_record(path: Path) -> Path:
    """Where the sha256 of a completed download is kept, in `sha256sum` format."""
    return path.with_name(path.name + ".sha256")


def _check_cached(path: Path, expected: tuple[str, str] | None) -> None:
    """Use a cached file only while it is what was downloaded: it matches the checksum given, or else the sha256
    recorded when its download completed (a file cached before records were kept gets one now)."""
    record = digest_record(path)
    if expected is None and not record.is_file():
        log.warning(f"{path} has no record of its sha256 (an earlier version downloaded it); recording it now")
        with atomic_path(record) as temporary:
            temporary.write_text(f"{file_digest(path, 'sha256')}  {path.name}\n")
        return
    if expected is None:
        recorded = record.read_bytes().decode("ascii", "replace").split()
        expected, against = ("sha256", recorded[0].lower() if recorded else ""), f"the sha256 recorded in {record}"
    else:
        against = "the checksum given for it (data.checksum, or the source's published one)"
    found = file_digest(path, expected[0])
    if found != expected[1]:
        raise UserError(f"the cached download {path} does not match {against}: expected {expected[0]} {expected[1]}, "
                        f"found {found}; it was altered or cut short in the cache, so it is not used: delete it to "
                        f"download it again")


def _first_bytes_are_a_page(path: Path) -> bool:
    with open(path, "rb") as handle:
        return page_description(handle.read(4096)) is not None


def _transfer(url: str, partial: Path, timeout: float) -> None:
    """Continue `partial` from where it stops; raise IncompleteRead if the server stops early, NotTheFile for a page."""
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"User-Agent": "fracture-pipeline", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as error:
        if error.code == 416 and have:  # nothing left to send: a previous attempt already got it all
            return
        raise
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored the range: start over
        block = response.read(CHUNK)
        page = None if have else page_description(block, response.headers.get("Content-Type", ""))
        if page or not (have or block):
            raise NotTheFile(page or "an empty answer")
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(partial, "ab" if have else "wb") as sink, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=Path(urlparse(url).path).name) as bar:
            while block:
                sink.write(block)
                bar.update(len(block))
                block = response.read(CHUNK)
    size = partial.stat().st_size
    if total is not None and size < total:
        raise http.client.IncompleteRead(b"", total - size)
