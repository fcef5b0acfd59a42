"""Reading RDF files into rows of term ids without an rdflib Graph.

N-Triples and N-Quads lines of the canonical form (nearly every line of a dump) are parsed and
interned in C (kgrec.ingest.vocabulary), escapes decoded; only the other lines (comments, tabs, errors)
take the Python path, with the full W3C grammar. Turtle and TriG are parsed and written as N-Triples by
pyoxigraph (Rust), then read the same way; RDF/XML, JSON-LD and N3 stay with rdflib.
"""

from __future__ import annotations

import bz2
import gzip
import mmap
import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from kgrec.data.problems import Problems
from kgrec.errors import DataError
from kgrec.ingest.terms import Statements, key_ids, literal_key, statement_rows, term_array
from kgrec.ingest.vocabulary import Vocabulary

# rdflib's format names, so that a format= given for the rdflib loader means the same here.
FORMATS = {".nt": "nt", ".nq": "nquads", ".ttl": "turtle", ".trig": "trig", ".rdf": "xml", ".owl": "xml",
           ".xml": "xml", ".jsonld": "json-ld", ".json-ld": "json-ld", ".n3": "n3",
           ".kg": "recbole"}  # not RDF, but a KG all the same: RecBole's NAME.kg and KGAT's kg_final.txt
KGAT_NAME = "kg_final.txt"  # KGAT's and KGIN's integer triples, beside entity_list.txt and relation_list.txt
LINE_FORMATS = {"nt": "N-Triples", "ntriples": "N-Triples", "nt11": "N-Triples", "nquads": "N-Quads"}
OXIGRAPH_FORMATS = {"turtle": "TURTLE", "ttl": "TURTLE", "trig": "TRIG"}
# A file is read on up to one thread per core, each part at least this long.
PARALLEL_BYTES = 4_000_000
DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {".gz": gzip.decompress, ".bz2": bz2.decompress}

# The W3C N-Triples grammar. Non-ASCII name characters are accepted as a block, as rdflib does.
_IRI_CHAR = r'[^\x00-\x20<>"{}|^`\\]'
_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_NAME_START = "A-Za-z0-9_:\u00b7\u00c0-\U0010ffff"
_BLANK = rf"_:[{_NAME_START}](?:[{_NAME_START}.\-]*[{_NAME_START}\-])?"
_LANGUAGE = r"@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*"
_IRI = f"<((?:{_IRI_CHAR}|{_UCHAR})*)>"
_FULL = (
    rf"[ \t]*(?:{_IRI}|({_BLANK}))[ \t]*{_IRI}[ \t]*"
    rf'(?:{_IRI}|({_BLANK})|"((?:[^"\\\n\r]|\\[tbnrf"\'\\]|{_UCHAR})*)"(?:({_LANGUAGE})|\^\^{_IRI})?)'
    r"{graph}[ \t]*\.[ \t]*(?:#.*)?")
_GRAPH = rf"(?:[ \t]*(?:<(?:{_IRI_CHAR}|{_UCHAR})*>|{_BLANK}))?"
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_ECHAR = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def rdf_format(path: Path, format: str | None) -> str:
    """The format named by `format`, else by the extension under any .gz/.bz2 (kg_final.txt: KGAT's)."""
    if format:
        return format
    if path.name.startswith(KGAT_NAME):
        return "kgat"
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in DECOMPRESS:
        suffixes.pop()
    if not suffixes or suffixes[-1] not in FORMATS:
        raise DataError(path, None, "cannot tell the RDF format from the file name",
                        hint="use .nt, .nq, .ttl, .trig, .rdf, .jsonld (optionally .gz/.bz2), .kg, kg_final.txt "
                             "or pass format=")
    return FORMATS[suffixes[-1]]


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed by extension."""
    if not path.is_file():
        raise DataError(path, None, "file not found")
    data = path.read_bytes()
    decompress = DECOMPRESS.get(path.suffix.lower())
    if decompress:
        try:
            data = decompress(data)
        except (OSError, EOFError, ValueError) as error:
            raise DataError(path, None, f"cannot decompress ({error})") from None
    return data


@contextmanager
def mapped_bytes(path: Path) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes, mapped into memory when uncompressed: the parser reads them without a copy."""
    if path.suffix.lower() in DECOMPRESS or not path.is_file() or not path.stat().st_size:
        yield read_bytes(path)
        return
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        yield data


def check_utf8(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(path, line, f"bytes that are not valid UTF-8 ({error.reason})",
                        hint="RDF text formats must be UTF-8") from None


def read_rows(path: str | Path, vocabulary: Vocabulary, *, format: str | None = None,
              problems: Problems | None = None, file_number: int = 0) -> np.ndarray:
    """Every statement of one RDF file as a (subject, predicate, object) row of term ids, in file order.

    Graph names are dropped, duplicates kept; blank nodes are prefixed by `file_number`.
    """
    path = Path(path)
    format = rdf_format(path, format)
    problems = problems or Problems()
    if format in LINE_FORMATS:
        with mapped_bytes(path) as data:
            return _read_lines(path, data, format, problems, vocabulary, f"_:{file_number}.")
    if format in OXIGRAPH_FORMATS:
        return _read_with_oxigraph(path, read_bytes(path), format, vocabulary, f"_:{file_number}.")
    if format == "kgat":
        from kgrec.ingest.kgat import read_kgat

        statements = read_kgat(path, problems)
    elif format == "recbole":
        from kgrec.data.recbole import read_kg_rows

        statements = Statements.of_keys(*zip(*read_kg_rows(path, "utf-8", problems)) or ([], [], []))
    else:
        from kgrec.data.rdf import read_triples, triple_keys  # rdflib is slow to import: only for these formats

        statements = Statements.of_keys(*zip(*map(triple_keys, read_triples(path, format=format, problems=problems)))
                                        or ([], [], []))
    return statement_rows(vocabulary, statements)


def _read_lines(path: Path, data: bytes | mmap.mmap, format: str, problems: Problems, vocabulary: Vocabulary,
                blank_prefix: str) -> np.ndarray:
    """Canonical lines by the vocabulary's fast path (a big file in a part per core, on parallel threads), the
    rest by the full grammar."""
    with memoryview(data) as view:
        return _read_view(path, view, format, problems, vocabulary, blank_prefix)


def _read_view(path: Path, data: memoryview, format: str, problems: Problems, vocabulary: Vocabulary,
               blank_prefix: str) -> np.ndarray:
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0  # a byte order mark
    bounds = _part_bounds(data.obj, start, len(data))
    quads, prefix = format == "nquads", blank_prefix.encode()

    # The first part is read into `vocabulary`, every other one (same type: C, or the Python twin if the caller
    # chose it) into its own, renumbered afterwards: a Vocabulary is used by one thread at a time.
    vocabularies = [vocabulary] + [type(vocabulary)() for _ in bounds[2:]]

    def parse(part: Vocabulary, begin: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        rows, others = part.parse_lines(data[begin:end], prefix, quads)
        return np.frombuffer(rows, dtype=np.int64).reshape(-1, 3), np.frombuffer(others, dtype=np.int64).reshape(-1, 3)

    with ThreadPoolExecutor(len(vocabularies)) as pool:
        parts = list(pool.map(parse, vocabularies, bounds[:-1], bounds[1:]))
    rows, others, lines = [], [], 0
    for part, begin, (part_rows, part_others) in zip(vocabularies, bounds, parts):
        if part is not vocabulary:  # in place; mode="wrap" takes ids[-1] for -1, a row left to the full grammar
            np.take(np.append(key_ids(vocabulary, term_array(part)), -1), part_rows, out=part_rows, mode="wrap")
        rows.append(part_rows)
        others.append(part_others + [lines, begin, begin])
        lines += len(part_rows)
    rows, others = np.concatenate(rows) if len(rows) > 1 else rows[0], np.concatenate(others)
    if not len(others):
        return rows
    numbers, keys = _parse_slowly(path, data, others, format, problems, blank_prefix)
    rows[numbers] = statement_rows(vocabulary, keys)
    return rows[rows[:, 0] >= 0]


def _part_bounds(data: bytes | mmap.mmap, start: int, end: int) -> list[int]:
    """Where data[start:end] is cut to be read on parallel threads: at line ends, a part per core, each part at
    least PARALLEL_BYTES long (a thread and a renumbering cost more than a small part saves)."""
    parts = max(1, min(os.cpu_count() or 1, (end - start) // max(PARALLEL_BYTES, 1)))
    bounds = [start]
    for part in range(1, parts):
        cut = data.find(b"\n", start + (end - start) * part // parts) + 1  # 0 when no line ends after that point
        if bounds[-1] < cut < end:
            bounds.append(cut)
    return bounds + [end]


def _parse_slowly(path: Path, data: memoryview, lines: np.ndarray, format: str, problems: Problems,
                  blank_prefix: str) -> tuple[np.ndarray, Statements]:
    """The full grammar for the lines (index, start, end) the fast path left: their keys, and which they were."""
    pattern = _full_grammar(format == "nquads")
    subjects, predicates, objects, kept = [], [], [], []
    for index, start, end in lines.tolist():
        try:
            text = str(data[start:end], "utf-8").rstrip("\r")
        except UnicodeDecodeError as error:
            raise DataError(path, index + 1, f"bytes that are not valid UTF-8 ({error.reason})",
                            hint="RDF text formats must be UTF-8") from None
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        match = pattern.fullmatch(text)
        if match is None or "\\" in text and any(map(_has_bad_escape, match.groups())):
            problems.bad_row(DataError(path, index + 1, f"malformed {LINE_FORMATS[format]} statement: "
                                                        f"{text.strip()[:80]!r}"))
            continue
        s_iri, s_blank, p_iri, o_iri, o_blank, value, language, datatype = match.groups()
        subjects.append(_unescape(s_iri) if s_iri is not None else blank_prefix + s_blank[2:])
        predicates.append(_unescape(p_iri))
        if o_iri is not None:
            objects.append(_unescape(o_iri))
        elif o_blank is not None:
            objects.append(blank_prefix + o_blank[2:])
        else:
            objects.append(literal_key(_unescape(value), language and language[1:],
                                       datatype and _unescape(datatype)))
        kept.append(index)
    return np.array(kept, dtype=np.int64), Statements.of_keys(subjects, predicates, objects)


def _has_bad_escape(term: str | None) -> bool:
    """A \\u or \\U escape that names a surrogate or lies past U+10FFFF is no character at all."""
    codes = [escape.group(1) or escape.group(2) for escape in _ESCAPE.finditer(term or "")]
    return any(0xD800 <= int(code, 16) <= 0xDFFF or int(code, 16) > 0x10FFFF for code in codes if code)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)) if m.group(3) is None
                       else _ECHAR[m.group(3)], text)


def _read_with_oxigraph(path: Path, data: bytes, format: str, vocabulary: Vocabulary, blank_prefix: str) -> np.ndarray:
    """Turtle and TriG: pyoxigraph parses and writes N-Triples (N-Quads) in Rust, and the C reader takes it from
    there. Iterating pyoxigraph's Python objects per triple instead took 2.6 s per million triples."""
    import pyoxigraph

    text = check_utf8(path, data)
    quads = format == "trig"
    try:
        lines = pyoxigraph.serialize(
            pyoxigraph.parse(data.removeprefix(b"\xef\xbb\xbf"),  # a byte order mark, as check_utf8 drops it
                             format=getattr(pyoxigraph.RdfFormat, OXIGRAPH_FORMATS[format]),
                             base_iri=path.resolve().as_uri()),
            format=pyoxigraph.RdfFormat.N_QUADS if quads else pyoxigraph.RdfFormat.N_TRIPLES)
    except SyntaxError as error:
        line, lines = error.lineno, text.splitlines()
        offending = lines[line - 1].strip()[:80] if line and line <= len(lines) else ""
        raise DataError(path, line, f"not valid {format}: {str(error.msg).split(': ', 1)[-1]} near {offending!r}") \
            from None
    try:  # pyoxigraph writes valid N-Triples: a line the reader refuses holds an RDF 1.2 triple term
        return _read_lines(path, lines, "nquads" if quads else "nt", Problems(), vocabulary, blank_prefix)
    except DataError as error:
        raise DataError(path, None, f"RDF-star triple terms are not supported ({error.problem})") from None


@cache
def _full_grammar(quads: bool) -> re.Pattern:
    """Compiled on first use: most files need it for a few lines, and compiling costs a tenth of a second."""
    return re.compile(_FULL.replace("{graph}", _GRAPH if quads else ""))
