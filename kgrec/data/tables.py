"""Strict reading of delimited tables (CSV/TSV, optionally gzipped) and Parquet.

Every row keeps its physical line number (header = line 1) so that later checks (unknown ids, bad
numbers) can name the exact line. Harmless oddities are accepted: a BOM, CRLF line endings, blank
lines, extra columns (named in a warning).
"""

from __future__ import annotations

import csv
import gzip
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from kgrec.data.problems import Problems
from kgrec.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Table:
    """Columns of strings, plus the physical line number each row came from."""

    path: Path
    columns: dict[str, list[str]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.lines)


def _separator(path: Path, sep: str | None) -> str:
    if sep is not None:
        return sep
    suffixes = [s.lower() for s in path.suffixes]
    if ".csv" in suffixes:
        return ","
    return "\t"


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _decoded_lines(path: Path, encoding: str, position: list[int]) -> Iterator[str]:
    """Decode line by line so that a bad byte is reported on its own line; position[0] is the current line."""
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    with _open_binary(path) as handle:
        for raw in handle:
            position[0] += 1
            try:
                yield raw.decode(codec if position[0] == 1 else encoding)
            except UnicodeDecodeError as error:
                raise DataError(path, position[0], f"bytes that are not valid {encoding} ({error.reason} at "
                                f"byte {error.start} of the line)", hint="set data.encoding, e.g. data.encoding=latin-1") from None


def read_rows(path: str | Path, sep: str | None = None, encoding: str = "utf-8") -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for every non-blank row, header included.

    Both CSV and TSV go through the csv module, so quoted fields (as Python's csv writes them, also with
    tabs) are unquoted; a row's line number is the physical line it starts on.
    """
    path = Path(path)
    position = [0]
    reader = csv.reader(_decoded_lines(path, encoding, position), delimiter=_separator(path, sep), strict=True)
    while True:
        start = position[0] + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataError(path, start, f"malformed quoting ({error})") from None
        if any(field.strip() for field in fields):
            yield start, fields


def read_table(
    path: str | Path,
    required: Sequence[str],
    optional: Sequence[str] = (),
    *,
    sep: str | None = None,
    encoding: str = "utf-8",
    problems: Problems | None = None,
) -> Table:
    """Read the `required` (and any present `optional`) columns of a headed table; others are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, required, optional)
    problems = problems or Problems()
    rows = read_rows(path, sep, encoding)
    header_line, header = next(rows, (None, None))
    if header is None:
        raise DataError(path, None, "file is empty (expected a header row)")
    header = [name.strip() for name in header]
    wanted = _wanted_columns(path, header_line, header, required, optional)
    positions = [header.index(name) for name in wanted]
    columns: dict[str, list[str]] = {name: [] for name in wanted}
    lines: list[int] = []
    for line_number, fields in rows:
        if len(fields) < len(header):
            problems.bad_row(DataError(path, line_number, f"expected {len(header)} fields, found {len(fields)}"))
            continue
        for name, position in zip(wanted, positions):
            columns[name].append(fields[position].strip())
        lines.append(line_number)
    return Table(path, columns, lines)


def _wanted_columns(path: Path, header_line: int, header: list[str], required: Sequence[str],
                    optional: Sequence[str] = ()) -> list[str]:
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(path, header_line, f"missing column(s) {missing}; the header has {header}")
    wanted = list(required) + [name for name in optional if name in header and name not in required]
    extra = [name for name in header if name not in wanted and name not in optional]
    if extra:
        log.warning("%s: ignoring extra column(s) %s", path, extra)
    return wanted


# Bytes a plain TSV may hold for the bulk reader: printable ASCII, tab and newline, but no quote.
_PLAIN = np.zeros(256, dtype=bool)
_PLAIN[32:127] = _PLAIN[9] = _PLAIN[10] = True
_PLAIN[ord('"')] = False


def read_plain_tsv(path: str | Path, required: Sequence[str]) -> dict[str, pa.Array] | None:
    """The `required` columns of a headed TSV as whitespace-trimmed pyarrow strings, parsed in bulk (about 10x
    `read_table` on millions of rows), or None when any row needs `read_table` to judge it: bytes other than
    printable ASCII, tab and newline (a BOM, CR, other encodings), quotes, a row of another width, an empty
    value (also of a blank row). `read_table` then reads the file and names the line, exactly as before.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    data = path.read_bytes() if path.suffix.lower() == ".tsv" else b""
    if not data or data.startswith(b"\n") or not _PLAIN[np.frombuffer(data, dtype=np.uint8)].all():
        return None
    raw_header = data[: data.find(b"\n") if b"\n" in data else len(data)].decode("ascii").split("\t")
    header = [name.strip() for name in raw_header]
    if len(set(header)) != len(header):
        return None
    wanted = _wanted_columns(path, 1, header, required)
    raw_names = [raw_header[header.index(name)] for name in wanted]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=raw_header, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(include_columns=raw_names,
                                                 column_types={name: pa.string() for name in raw_names}))
    except pa.ArrowInvalid:  # a row of another width
        return None
    columns = {name: pc.ascii_trim_whitespace(table.column(raw).combine_chunks())
               for name, raw in zip(wanted, raw_names)}
    if any(pc.any(pc.equal(pc.binary_length(column), 0)).as_py() for column in columns.values()):
        return None
    return columns


def _read_parquet(path: Path, required: Sequence[str], optional: Sequence[str]) -> Table:
    """Parquet has no lines: rows are numbered from 1 and reported as lines of the file."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(path, None, "reading Parquet needs pyarrow", hint="pip install 'kgrec[parquet]'") from None
    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for unreadable files
        raise DataError(path, None, f"not a readable Parquet file ({error})") from None
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise DataError(path, None, f"missing column(s) {missing}; the file has {table.column_names}")
    wanted = list(required) + [name for name in optional if name in table.column_names and name not in required]
    columns = {name: ["" if value is None else str(value) for value in table.column(name).to_pylist()] for name in wanted}
    return Table(path, columns, list(range(1, table.num_rows + 1)))
