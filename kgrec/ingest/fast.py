"""Reading RDF files into statement keys without an rdflib Graph.

N-Triples and N-Quads are parsed in bulk by Arrow: lines in the canonical one-space form without
escapes (nearly every line a dump holds) are checked by one RE2 pattern and split in C++; only the
other lines (comments, tabs, escapes, errors) take the Python path, with the full W3C grammar.
Turtle and TriG go through pyoxigraph's Rust parser. RDF/XML, JSON-LD and N3 stay with rdflib.
"""

from __future__ import annotations

import bz2
import gzip
import re
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.data.problems import Problems
from kgrec.errors import DataError
from kgrec.ingest.terms import XSD_STRING, Statements, literal_key

# rdflib's format names, so that a format= given for the rdflib loader means the same here.
FORMATS = {".nt": "nt", ".nq": "nquads", ".ttl": "turtle", ".trig": "trig", ".rdf": "xml", ".owl": "xml",
           ".xml": "xml", ".jsonld": "json-ld", ".json-ld": "json-ld", ".n3": "n3",
           ".kg": "recbole"}  # not RDF, but a KG all the same: RecBole's NAME.kg and KGAT's kg_final.txt
KGAT_NAME = "kg_final.txt"  # KGAT's and KGIN's integer triples, beside entity_list.txt and relation_list.txt
LINE_FORMATS = {"nt": "N-Triples", "ntriples": "N-Triples", "nt11": "N-Triples", "nquads": "N-Quads"}
OXIGRAPH_FORMATS = {"turtle": "TURTLE", "ttl": "TURTLE", "trig": "TRIG"}
# Below this many lines a second thread costs more than it saves.
PARALLEL_LINES = 100_000
DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {".gz": gzip.decompress, ".bz2": bz2.decompress}

# The W3C N-Triples grammar. Non-ASCII name characters are accepted as a block, as rdflib does.
_IRI_CHAR = r'[^\x00-\x20<>"{}|^`\\]'
_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_NAME_START = "A-Za-z0-9_:\u00b7\u00c0-\U0010ffff"
_BLANK = rf"_:[{_NAME_START}](?:[{_NAME_START}.\-]*[{_NAME_START}\-])?"
_CANONICAL_BLANK = r"_:[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_\-])?"  # ASCII: RE2 runs it much faster
_LANGUAGE = r"@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*"
_CANONICAL_IRI = f"<{_IRI_CHAR}*>"
_CANONICAL_LITERAL = rf'"[^"\\\n\r]*"(?:{_LANGUAGE}|\^\^{_CANONICAL_IRI})?'
_CANONICAL = (f"^(?:{_CANONICAL_IRI}|{_CANONICAL_BLANK}) {_CANONICAL_IRI} "
              f"(?:{_CANONICAL_IRI}|{_CANONICAL_BLANK}|{_CANONICAL_LITERAL})"
              r"{graph} \.\r?\n$")
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


def check_utf8(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(path, line, f"bytes that are not valid UTF-8 ({error.reason})",
                        hint="RDF text formats must be UTF-8") from None


def read_statements(path: str | Path, *, format: str | None = None, problems: Problems | None = None,
                    file_number: int = 0) -> Statements:
    """Every statement of one RDF file as keys (graph names dropped); blank nodes are prefixed by `file_number`."""
    path = Path(path)
    format = rdf_format(path, format)
    problems = problems or Problems()
    if format in LINE_FORMATS:
        return _read_lines(path, read_bytes(path), format, problems, f"_:{file_number}.")
    if format in OXIGRAPH_FORMATS:
        return _read_with_oxigraph(path, read_bytes(path), format, f"_:{file_number}.")
    if format == "kgat":
        from kgrec.ingest.kgat import read_kgat

        return read_kgat(path, problems)
    if format == "recbole":
        from kgrec.data.recbole import read_kg_rows

        return Statements.of_keys(*zip(*read_kg_rows(path, "utf-8", problems)) or ([], [], []))
    from kgrec.data.rdf import read_triples, triple_keys  # rdflib is slow to import: only for these formats

    return Statements.of_keys(*zip(*map(triple_keys, read_triples(path, format=format, problems=problems)))
                              or ([], [], []))


def line_array(path: Path, data: bytes) -> pa.LargeStringArray:
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


def _read_lines(path: Path, data: bytes, format: str, problems: Problems, blank_prefix: str) -> Statements:
    lines = line_array(path, data)
    # Arrow's kernels and numpy release the GIL, so the two halves of a big file are parsed on two cores at once.
    bounds = [0, len(lines)] if len(lines) < PARALLEL_LINES else [0, len(lines) // 2, len(lines)]
    with ThreadPoolExecutor(len(bounds) - 1) as pool:
        parsed = list(pool.map(lambda start, stop: _parse_canonical(lines, start, stop, format == "nquads",
                                                                    blank_prefix), bounds[:-1], bounds[1:]))
    canonical = np.concatenate([mask for mask, _ in parsed])
    subjects, predicates, objects = (pa.concat_arrays([keys[k] for _, keys in parsed]) for k in range(3))
    others = np.flatnonzero(~canonical)
    if len(others) == 0:
        return Statements(subjects, predicates, objects)
    slow = _parse_slowly(path, lines.take(others).to_pylist(), others + 1, format, problems, blank_prefix)
    order = np.argsort(np.concatenate([np.flatnonzero(canonical), slow.pop()]), kind="stable")
    return Statements(*(pa.concat_arrays([fast, pa.array(extra, pa.large_string())]).take(order)
                        for fast, extra in zip((subjects, predicates, objects), slow)))


def _parse_canonical(lines: pa.LargeStringArray, start: int, stop: int, quads: bool,
                     blank_prefix: str) -> tuple[np.ndarray, list[pa.Array]]:
    """Which of lines[start:stop] are canonical, and the subject, predicate and object keys of those lines.

    A canonical line is `S P O[ G] .`, where S and P hold no space: the first two spaces of the line
    end them, found by one search over the positions of all spaces. The three terms become one Arrow
    array over the file's bytes with offsets (S, gap, P, gap, O, gap, ...), from which each is taken.
    """
    graph = f"(?: (?:{_CANONICAL_IRI}|{_CANONICAL_BLANK}))?" if quads else ""
    canonical = pc.match_substring_regex(lines.slice(start, stop - start), _CANONICAL.replace("{graph}", graph))
    canonical = canonical.to_numpy(zero_copy_only=False)
    offsets, data = np.frombuffer(lines.buffers()[1], dtype=np.int64), lines.buffers()[2]
    text = np.frombuffer(data, dtype=np.uint8)
    begins, ends = offsets[start:stop][canonical], offsets[start + 1:stop + 1][canonical]
    spaces = np.flatnonzero(text[offsets[start]:offsets[stop]] == ord(" ")) + offsets[start]
    first = np.searchsorted(spaces, begins)
    subject_ends, predicate_ends = spaces[first], spaces[first + 1]
    object_ends = ends - 3 - (text[ends - 2] == ord("\r"))  # before " .\n" or " .\r\n"
    bounds = np.stack([begins, subject_ends, subject_ends + 2, predicate_ends - 1, predicate_ends + 1, object_ends],
                      axis=1).ravel()
    terms = pa.LargeStringArray.from_buffers(max(len(bounds) - 1, 0), pa.py_buffer(bounds), data)
    subjects, predicates, objects = (terms.take(pa.array(np.arange(k, len(bounds) - 1, 6))) for k in (0, 2, 4))
    if quads:  # a graph name is the only space-separated token after a canonical object
        objects = pc.replace_substring_regex(objects, f" (?:{_CANONICAL_IRI}|{_CANONICAL_BLANK})$", "")
    return canonical, [_node_keys(subjects, blank_prefix), predicates, _object_keys(objects, blank_prefix)]


def _node_keys(terms: pa.Array, blank_prefix: str) -> pa.Array:
    iris = pc.utf8_slice_codeunits(terms, 1, -1)
    blank = pc.starts_with(terms, "_:")
    if not pc.any(blank).as_py():
        return iris
    labels = pc.binary_join_element_wise(_large(blank_prefix), pc.utf8_slice_codeunits(terms, 2), _large(""))
    return pc.if_else(blank, labels, iris)


def _object_keys(terms: pa.Array, blank_prefix: str) -> pa.Array:
    """Literal keys are normalised on the few literals alone, then put back in place of the node keys."""
    literal = pc.starts_with(terms, '"')
    if not pc.any(literal).as_py():
        return _node_keys(terms, blank_prefix)
    literals = terms.filter(literal)
    literals = pc.replace_substring_regex(literals, rf'\^\^<{re.escape(XSD_STRING)}>$', "")
    uppercase_tag = pc.match_substring_regex(literals, r'"@[^"]*[A-Z][^"]*$')
    if pc.any(uppercase_tag).as_py():
        literals = pc.if_else(uppercase_tag, _lower_tags(literals), literals)
    return pc.replace_with_mask(_node_keys(terms, blank_prefix), literal, literals)


def _lower_tags(literals: pa.Array) -> pa.Array:
    tags = pc.extract_regex(literals, r'^(?P<value>(?s:.*)")(?P<tag>@[^"]*)?$')
    tag = pc.utf8_lower(pc.fill_null(tags.field("tag"), _large("")))
    return pc.binary_join_element_wise(tags.field("value"), tag, _large(""))


def _large(text: str) -> pa.Scalar:
    """Every key column is large_string (dumps pass 2 GiB), and Arrow's kernels want matching types."""
    return pa.scalar(text, pa.large_string())


def _parse_slowly(path: Path, lines: list[str], numbers: np.ndarray, format: str, problems: Problems,
                  blank_prefix: str) -> list[list]:
    """The full grammar for the few lines the bulk pattern leaves; returns key columns and line numbers."""
    pattern = _full_grammar(format == "nquads")
    subjects, predicates, objects, kept = [], [], [], []
    for text, number in zip(lines, numbers.tolist()):
        text = text.rstrip("\r\n")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        match = pattern.fullmatch(text)
        if match is None or "\\" in text and _has_bad_escape(match):
            problems.bad_row(DataError(path, number, f"malformed {LINE_FORMATS[format]} statement: "
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
        kept.append(number - 1)
    return [subjects, predicates, objects, np.array(kept, dtype=np.int64)]


def _has_bad_escape(match: re.Match) -> bool:
    """A \\u escape that names a surrogate is no character at all."""
    return any(0xD800 <= int(code, 16) <= 0xDFFF for code in re.findall(r"\\u([0-9A-Fa-f]{4})", match.group(0)))


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)) if m.group(3) is None
                       else _ECHAR[m.group(3)], text)


def _read_with_oxigraph(path: Path, data: bytes, format: str, blank_prefix: str) -> Statements:
    import pyoxigraph

    text = check_utf8(path, data)
    subjects, predicates, objects = [], [], []

    def key(term) -> str:
        if isinstance(term, pyoxigraph.NamedNode):
            return term.value
        if isinstance(term, pyoxigraph.BlankNode):
            return blank_prefix + term.value
        if isinstance(term, pyoxigraph.Literal):
            return literal_key(term.value, term.language, term.datatype.value)
        raise DataError(path, None, f"RDF-star quoted triples are not supported ({term})")

    try:
        for quad in pyoxigraph.parse(text, format=getattr(pyoxigraph.RdfFormat, OXIGRAPH_FORMATS[format]),
                                     base_iri=path.resolve().as_uri()):
            subjects.append(key(quad.subject))
            predicates.append(quad.predicate.value)
            objects.append(key(quad.object))
    except SyntaxError as error:
        line = error.lineno
        offending = text.splitlines()[line - 1].strip()[:80] if line and line <= text.count("\n") + 1 else ""
        raise DataError(path, line, f"not valid {format}: {str(error.msg).split(': ', 1)[-1]} near {offending!r}") \
            from None
    return Statements.of_keys(subjects, predicates, objects)


@cache
def _full_grammar(quads: bool) -> re.Pattern:
    """Compiled on first use: most files need it for a few lines, and compiling costs a tenth of a second."""
    return re.compile(_FULL.replace("{graph}", _GRAPH if quads else ""))
