"""Terms as plain string keys, interned once into integer ids for the whole ingestion.

A key is an IRI as itself, a blank node as "_:" plus a label unique to its file, or a literal as
'"value"' followed by '@language' (lower case: tags are case-insensitive) or '^^<datatype>'
(xsd:string literals are plain ones). Equal RDF terms get equal keys whichever parser read them, so
the integer graph does not depend on the reader.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def intern(parts: Sequence[Statements]) -> CodedTriples:
    """One vocabulary for every file, built in bulk by Arrow rather than a Python dict per term.

    Subjects, predicates and objects are hashed on separate threads (Arrow releases the GIL), then
    their three small dictionaries are merged: the ids are those of one pass over all the keys.
    """
    columns = [[part.subjects for part in parts], [part.predicates for part in parts], [part.objects for part in parts]]
    with ThreadPoolExecutor(2) as pool:
        encoded = list(pool.map(lambda chunks: pc.dictionary_encode(
            pa.chunked_array(chunks, type=pa.large_string()).combine_chunks()), columns))
    merged = pc.dictionary_encode(pa.concat_arrays([column.dictionary for column in encoded]))
    merged_ids = merged.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.empty((len(encoded[0]), 3), dtype=np.int64)
    start = 0
    for k, column in enumerate(encoded):
        rows[:, k] = merged_ids[start + column.indices.to_numpy(zero_copy_only=False)]
        start += len(column.dictionary)
    return CodedTriples(merged.dictionary, rows)
