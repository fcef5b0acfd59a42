"""KGAT/KGIN knowledge graphs: kg_final.txt holds `head relation tail` integer ids, one triple a line.

KGAT ships entity_list.txt and relation_list.txt (`org_id remap_id` after a header line) and
item_list.txt (`org_id remap_id freebase_id`; item k is entity k). When present they name the ids,
so the graph speaks the source's IRIs; an id no list names becomes urn:kgat:entity:<id> (or
relation). The ids are turned into term keys, so the graph is built as any RDF file's would be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.data.problems import Problems
from kgrec.errors import DataError
from kgrec.ingest.fast import check_utf8, read_bytes
from kgrec.ingest.graph import flags
from kgrec.ingest.terms import Statements

_ID = r"[0-9]{1,18}"  # fits an int64
_TRIPLE = rf"^[ \t]*{_ID}[ \t]+{_ID}[ \t]+{_ID}[ \t]*\r?\n$"
_BLANK = r"^[ \t]*\r?\n$"


def read_kgat(path: Path, problems: Problems) -> Statements:
    """The triples of kg_final.txt as term keys, named by the id lists beside it."""
    lines = _line_array(path, read_bytes(path))
    triple = flags(pc.match_substring_regex(lines, _TRIPLE))
    for number in np.flatnonzero(~triple & ~flags(pc.match_substring_regex(lines, _BLANK))).tolist():
        problems.bad_row(DataError(path, number + 1, "malformed KGAT triple (want three integer ids: head relation "
                                                     f"tail): {lines[number].as_py().strip()[:80]!r}"))
    tokens = pc.split_pattern_regex(pc.utf8_trim_whitespace(lines.filter(triple)), r"[ \t]+")
    ids = pc.cast(pc.list_flatten(tokens), pa.int64()).to_numpy().reshape(-1, 3)
    entities = _names(path.parent / "entity_list.txt", 2, problems)
    if entities is None:
        entities = _names(path.parent / "item_list.txt", 3, problems, name_column=2)
    relations = _names(path.parent / "relation_list.txt", 2, problems)
    return Statements(_keys(ids[:, 0], entities, "entity"), _keys(ids[:, 1], relations, "relation"),
                      _keys(ids[:, 2], entities, "entity"))


def _line_array(path: Path, data: bytes) -> pa.LargeStringArray:
    """The file's lines (each with its newline) as one Arrow array over the bytes, checked to be UTF-8."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    offsets = np.concatenate([[0], ends + 1]).astype(np.int64)
    lines = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        lines.validate(full=True)  # UTF-8, several times faster than decoding to a str
    except pa.ArrowInvalid:
        check_utf8(path, data)  # names the line
    return lines


def _names(path: Path, columns: int, problems: Problems, name_column: int = 0) -> pa.Array | None:
    """names[id] from a KGAT list file (null where no line names the id); None without the file."""
    if not path.is_file():
        return None
    names: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < columns or not fields[1].isdigit():
            problems.bad_row(DataError(path, number, f"want {columns} fields, the second an integer id: {line[:80]!r}"))
        elif int(fields[1]) in names:
            problems.bad_row(DataError(path, number, f"id {fields[1]} is already named {names[int(fields[1])]!r}"))
        else:
            names[int(fields[1])] = fields[name_column]
    dense = [None] * (max(names, default=-1) + 1)
    for remap_id, name in names.items():
        dense[remap_id] = name
    return pa.array(dense, pa.large_string())


def _keys(ids: np.ndarray, names: pa.Array | None, kind: str) -> pa.Array:
    prefix, empty = pa.scalar(f"urn:kgat:{kind}:", pa.large_string()), pa.scalar("", pa.large_string())
    fallback = pc.binary_join_element_wise(prefix, pc.cast(pa.array(ids), pa.large_string()), empty)
    if names is None:
        return fallback
    listed = pa.array(np.where(ids < len(names), ids, len(names)))  # len(names): past the end, unnamed
    named = pa.concat_arrays([names, pa.nulls(1, pa.large_string())]).take(listed)
    return pc.coalesce(named, fallback)
