"""The C vocabulary (interning and the canonical N-Triples lines) against its Python twin and the full grammar."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgrec.data.problems import Problems
from kgrec.errors import DataError
from kgrec.ingest import fast
from kgrec.ingest.fast import read_rows
from kgrec.ingest.terms import term_array
from kgrec.ingest.vocabulary import PythonVocabulary, python_first_occurrences

native = pytest.importorskip("kgrec.ingest._vocabulary", reason="the C extension was not compiled")
SHARED_KG = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k" / "bundle" / "kg.nt"
EX = "http://example.org/"
XSD = "http://www.w3.org/2001/XMLSchema#"

# Terms and separators that the canonical form takes, and ones that only the full grammar takes or nobody does.
NODES = [f"<{EX}a>", f"<{EX}caf\u00e9>", "_:b1", "_:x.y-z", f"<{EX}caf\\u00e9>", "_:b.", "_:\u00e9t\u00e9",
         f"<{EX}a b>", "<>", "_:", f"<{EX}a", f"<{EX}\\U0001F600>", f"<{EX}\\u00>", f"<{EX}a\\n>"]
PREDICATES = [f"<{EX}p>", f"<{EX}q>", "<http://www.w3.org/2000/01/rdf-schema#label>", "_:p", f"<{EX}p\\u0071>"]
LITERALS = ['"x"', '"x"@en', '"x"@EN-gb', '"x"@en-', f'"x"^^<{XSD}string>', f'"x"^^<{XSD}integer>', '"x y . <z>"',
            '"tab\there"', '"esc\\"aped"', '"caf\u00e9"', '"x"^^', '"x', '""@fr-CA-1994', '"\\U00110000"',
            '"\\uD800"', '"a\\\\"', '"\\u00E9\\t\\n\\r\\f\\b"@EN', '"x\\\\\\"y"', '"bad \\x"', f'"x"^^<{EX}d\\u0061>',
            '"q\\\'s\\U0001F600"^^<http://www.w3.org/2001/XMLSchema#string>']
SEPARATORS = [" ", " ", " ", "  ", "\t"]
ENDINGS = [" .\n", " .\n", " .\r\n", ".\n", " . # comment\n", " .", " .x\n", " .\r\r\n", "\n", " <g> .\n", " _:g .\n"]
LINE = st.tuples(st.sampled_from(NODES), st.sampled_from(SEPARATORS), st.sampled_from(PREDICATES),
                 st.sampled_from(SEPARATORS), st.sampled_from(NODES + LITERALS), st.sampled_from(ENDINGS)).map("".join)
SPACED = st.tuples(st.sampled_from(NODES), st.sampled_from(PREDICATES), st.sampled_from(NODES + LITERALS)).map(
    lambda terms: " ".join(terms) + " .\n")  # every term alone: the separators and endings canonical
EXTRA_LINES = st.sampled_from(["# a comment\n", "\n", "   \n", "\ufeff", "<a> <b> \xff .\n"])
FILE = st.lists(st.one_of(LINE, SPACED, SPACED, EXTRA_LINES), max_size=12).map("".join)


def _keys(path: Path, vocabulary, on_error: str = "raise"):
    """(the statements as key triples, problems) or the DataError raised."""
    problems = Problems(on_error)
    try:
        rows = read_rows(path, vocabulary, problems=problems)
    except DataError as error:
        return str(error)
    terms = term_array(vocabulary).to_pylist()
    return [tuple(terms[k] for k in row) for row in rows.tolist()], problems.skipped, list(problems.examples)


def _both(path: Path, on_error: str = "raise"):
    return _keys(path, native.Vocabulary(), on_error), _keys(path, PythonVocabulary(), on_error)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=FILE, suffix=st.sampled_from([".nt", ".nq"]), on_error=st.sampled_from(["raise", "skip"]),
       parts=st.booleans())
def test_the_c_reader_gives_the_full_grammars_keys_and_errors(tmp_path, monkeypatch, text, suffix, on_error, parts):
    """Every line either parsed alike by both (the C fast path or its fallback) or refused alike, same line."""
    if parts:  # a file in five parts on five threads, renumbered into one vocabulary
        monkeypatch.setattr(fast, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(fast.os, "cpu_count", lambda: 5)
    path = tmp_path / f"g{suffix}"
    path.write_bytes(text.replace("\xff", "\udcff").encode("utf-8", "surrogateescape"))
    c_reader, python_reader = _both(path, on_error)
    assert c_reader == python_reader


def test_canonical_lines_never_reach_python_and_keys_are_normalised():
    lines = (f'<{EX}a> <{EX}p> "x"@EN-Gb .\n'
             f'<{EX}a> <{EX}p> "x"^^<{XSD}string> .\r\n'
             f'_:b1 <{EX}p> <{EX}caf\u00e9> <{EX}graph> .\n'
             f'<{EX}a> <{EX}p> "x"^^<{XSD}integer> .\n'
             f'<{EX}caf\\u00E9> <{EX}p> "say \\"\\u00e9\\"\\n\\\\"@FR .').encode()
    vocabulary = native.Vocabulary()
    rows, others = vocabulary.parse_lines(lines, b"_:7.", True)
    assert len(others) == 0
    terms = term_array(vocabulary).to_pylist()
    keys = [[terms[k] for k in row] for row in np.frombuffer(rows, dtype=np.int64).reshape(-1, 3).tolist()]
    assert [key[2] for key in keys] == ['"x"@en-gb', '"x"', EX + "caf\u00e9", f'"x"^^<{XSD}integer>',
                                        '"say "\u00e9"\n\\"@fr']
    assert keys[4][0] == EX + "caf\u00e9"  # escapes decoded in C too
    assert keys[2][0] == "_:7.b1" and keys[0][0] == EX + "a"
    _, others = native.Vocabulary().parse_lines(lines, b"_:7.", False)  # a graph name is not N-Triples
    assert np.frombuffer(others, dtype=np.int64).reshape(-1, 3)[:, 0].tolist() == [2]


def test_interning_numbers_keys_by_first_appearance_in_both_types():
    keys = [b"b", b"a", b"b", b"", "\u00e9".encode(), b"a"]
    offsets = np.cumsum([0] + [len(key) for key in keys]).astype(np.int64)
    for vocabulary in native.Vocabulary(), PythonVocabulary():
        ids = np.frombuffer(vocabulary.intern(offsets.tobytes(), b"".join(keys)), dtype=np.int64)
        assert ids.tolist() == [0, 1, 0, 2, 3, 1] and len(vocabulary) == 4
        assert term_array(vocabulary).to_pylist() == ["b", "a", "", "\u00e9"]


def test_a_real_kg_reads_alike_in_one_part_or_several(monkeypatch):
    if not SHARED_KG.exists():
        pytest.skip(f"{SHARED_KG} is absent")
    whole = _keys(SHARED_KG, native.Vocabulary())
    monkeypatch.setattr(fast, "PARALLEL_BYTES", 0)
    for cores in (2, 7):
        monkeypatch.setattr(fast.os, "cpu_count", lambda: cores)
        assert _keys(SHARED_KG, native.Vocabulary()) == whole
    assert whole == _keys(SHARED_KG, PythonVocabulary())
    assert len(whole[0]) == SHARED_KG.read_bytes().count(b"\n")


def test_find_looks_keys_up_without_adding_them():
    keys = [b"a", b"zz", b""]
    offsets = np.cumsum([0] + [len(key) for key in keys]).astype(np.int64).tobytes()
    for vocabulary in native.Vocabulary(), PythonVocabulary():
        vocabulary.intern(np.array([0, 1], dtype=np.int64).tobytes(), b"a")
        assert np.frombuffer(vocabulary.find(offsets, b"azz"), dtype=np.int64).tolist() == [0, -1, -1]
        assert len(vocabulary) == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 3)] * 3), max_size=40), st.integers(0, 2 ** 40))
def test_first_occurrences_marks_the_first_of_every_distinct_row(rows, scale):
    rows = np.array(rows, dtype=np.int64).reshape(-1, 3) * scale  # big ids too: hashing, not a dense table
    expected = [row not in rows[:k].tolist() for k, row in enumerate(rows.tolist())]
    assert np.frombuffer(native.first_occurrences(rows), dtype=np.uint8).astype(bool).tolist() == expected
    assert python_first_occurrences(rows).astype(bool).tolist() == expected
