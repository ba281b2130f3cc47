"""Reading the CSVs that data sets and users bring (labels.csv, dataset.csv), whatever program wrote them.

Used by the sources and by `predict`. A file that cannot be used ends with
one line naming the file (as the user knows it) and the problem: empty,
binary, a ragged row, an empty path, a header without rows, a label that is
not a known word. A Windows export in Latin-1 (Windows-1252) or a UTF-16 one
is decoded, with a warning that says how to save it; a header separated by
semicolons or tabs (as spreadsheets in many locales write) sets the separator.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import pandas as pd

from fracture.core.errors import UserError
from fracture.data.folder import DataFolder, Entry

log = logging.getLogger(__name__)
LABELS_FILE = "labels.csv"
LABEL_WORDS = {
    0: {"0", "normal", "negative", "no_fracture", "nonfractured", "non_fractured", "non-fractured", "not_fractured"},
    1: {"1", "abnormal", "positive", "fracture", "fractured"},
}
# Bytes that no text file holds (tab, line feed and carriage return are text).
BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SEPARATORS = (",", ";", "\t")


def label_of(text: str) -> int | None:
    """0 or 1 for a known label word (`normal`, `fracture`, `1.0`, ...), else None."""
    word = text.strip().lower().replace(" ", "_")
    if word in ("0.0", "1.0"):
        word = word[0]
    return next((label for label, words in LABEL_WORDS.items() if word in words), None)


def _decode(data: bytes, shown: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if BINARY.search(data[:1 << 16]):
        raise UserError(f"{shown} is not a text file (it holds binary bytes); save the labels as CSV (UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning(f"{shown} is not UTF-8; read as Windows-1252 (Latin-1). Save it as 'CSV UTF-8' to be sure "
                    f"that accented names are read as written")
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def find_table(folder: DataFolder, name: str, what: str) -> str:
    """The shallowest file called `name` in `folder` (relative path); absent, or a link outside, is an error."""
    found = folder.find(name)
    if not found:
        raise UserError(f"no {name} in {folder.shown()}; {what}")
    return readable(folder, found[0])


def readable(folder: DataFolder, entry: Entry) -> str:
    """The entry's relative path; a link to outside the folder is an error, never read."""
    if entry.outside:
        raise UserError(f"{folder.shown(entry.relative)} is a link to outside the data folder and is not read; "
                        f"copy the file into the folder")
    return entry.relative


def _refuse_long_rows(text: str, separator: str, shown: str) -> None:
    """A row with more fields than the header: an unquoted separator in a value, which would shift its columns.

    (pandas would silently take a first such row's extra field as an index.)
    A shorter row is allowed: its missing trailing fields are empty.
    """
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    width = len(next(reader, []))
    for row in reader:
        if len(row) > width:
            raise UserError(f"{shown} line {reader.line_num} has {len(row)} fields but the header has {width}; "
                            f"quote a path or value that holds a '{separator}' (\"a{separator}b.png\")")


def read_table(path: Path, shown: str, required: tuple[str, ...] = ("path", "label")) -> pd.DataFrame:
    """The CSV as stripped text, column names lower-case; `shown` names it in errors.

    A `path` column, where required, must be filled on every row.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"{shown} cannot be read ({error.strerror})") from None
    if not data.strip():
        raise UserError(f"{shown} is empty; it needs a header line ({','.join(required)}) and a row per image")
    text = _decode(data, shown).lstrip()
    header = text.split("\n", 1)[0]
    separator = max(SEPARATORS, key=header.count)  # a European spreadsheet writes ';', a text export tabs
    separator = separator if separator in header else ","
    _refuse_long_rows(text, separator, shown)
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, index_col=False)
    except pd.errors.EmptyDataError:
        raise UserError(f"{shown} has no header line; it needs {','.join(required)}") from None
    except pd.errors.ParserError as error:
        raise UserError(f"{shown} is not a readable CSV ({str(error).strip().splitlines()[-1]})") from None
    table.columns = [str(column).strip().lower() for column in table.columns]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise UserError(f"{shown} lacks columns {', '.join(missing)}; it needs at least {','.join(required)} "
                        f"(found {', '.join(table.columns)})")
    if table.empty:
        raise UserError(f"{shown} has a header but no rows; add a row per image")
    table = table.apply(lambda column: column.str.strip())
    empty = table.index[table["path"] == ""] if "path" in required else []
    if len(empty):
        raise UserError(f"{shown} row {empty[0] + 2} has an empty path ({len(empty)} such rows); fill or delete them")
    return table


def labels_of(table: pd.DataFrame, shown: str, allow_empty: bool = False) -> pd.Series:
    """The label column as 0/1 (None where empty and allowed); an unknown word is an error naming its row."""
    text = table["label"] if "label" in table.columns else pd.Series("", index=table.index)
    labels = text.map(label_of)
    bad = table.index[labels.isna() & ~((text == "") & allow_empty)]
    if len(bad):
        first = bad[0]
        raise UserError(f"{shown} row {first + 2}: label {text[first]!r} is not 0/1 or normal/abnormal "
                        f"({len(bad)} such rows); fix the file")
    return labels
