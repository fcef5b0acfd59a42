"""Terms as plain string keys, interned into integer ids (kgrec.ingest.vocabulary) for the whole ingestion.

A key is an IRI as itself, a blank node as "_:" plus a label unique to its file, or a literal as
'"value"' followed by '@language' (lower case: tags are case-insensitive) or '^^<datatype>'
(xsd:string literals are plain ones). Equal RDF terms get equal keys whichever parser read them, so
the integer graph does not depend on the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa

from kgrec.ingest.vocabulary import Vocabulary

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


def literal_key(value: str, language: str | None, datatype: str | None) -> str:
    if language:
        return f'"{value}"@{language.lower()}'
    if datatype and datatype != XSD_STRING:
        return f'"{value}"^^<{datatype}>'
    return f'"{value}"'


@dataclass
class Statements:
    """Subject, predicate and object keys of every statement read, in file order, duplicates kept."""

    subjects: pa.Array
    predicates: pa.Array
    objects: pa.Array

    @classmethod
    def of_keys(cls, subjects: Sequence[str], predicates: Sequence[str], objects: Sequence[str]) -> Statements:
        return cls(*(pa.array(column, type=pa.large_string()) for column in (subjects, predicates, objects)))

    def __len__(self) -> int:
        return len(self.subjects)


@dataclass
class CodedTriples:
    """`rows[k]` = (subject, predicate, object) ids into `terms`, a vocabulary without repeats."""

    terms: pa.Array
    rows: np.ndarray
    vocabulary: Vocabulary  # the same keys, hashed: looks up a few of them faster than a scan of `terms`


def key_ids(vocabulary: Vocabulary, keys: pa.Array, add: bool = True) -> np.ndarray:
    """The ids of string keys (an Arrow array without nulls): new keys numbered on, or -1 when not `add`."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    return np.frombuffer((vocabulary.intern if add else vocabulary.find)(*string_buffers(keys)), dtype=np.int64)


def string_buffers(strings: pa.Array) -> tuple[np.ndarray, pa.Buffer]:
    """The offsets (n + 1 int64, after the array's slice offset) and the data buffer of an Arrow string array."""
    strings = strings.cast(pa.large_string())
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[strings.offset:strings.offset + len(strings) + 1]
    return offsets, strings.buffers()[2] or pa.py_buffer(b"")


def statement_rows(vocabulary: Vocabulary, statements: Statements) -> np.ndarray:
    columns = (statements.subjects, statements.predicates, statements.objects)
    return np.stack([key_ids(vocabulary, column) for column in columns], axis=1).reshape(-1, 3)


def arrow_ids(ids: np.ndarray) -> pa.Array:
    """`ids` as an Arrow int64 array, without pa.array's test for numpy masked arrays (it imports numpy.ma: 15 ms)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(ids), [None, pa.py_buffer(ids)])


def term_array(vocabulary: Vocabulary) -> pa.LargeStringArray:
    """Every key of the vocabulary, id k at position k."""
    offsets, data = vocabulary.terms()
    return pa.LargeStringArray.from_buffers(len(vocabulary), pa.py_buffer(offsets), pa.py_buffer(data))


def coded_triples(vocabulary: Vocabulary, parts: Sequence[np.ndarray]) -> CodedTriples:
    rows = parts[0] if len(parts) == 1 else np.concatenate([*parts, np.zeros((0, 3), dtype=np.int64)])
    return CodedTriples(term_array(vocabulary), rows, vocabulary)
