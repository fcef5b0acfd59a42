"""Terms as plain string keys, interned once into integer ids for the whole ingestion.

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
    """One vocabulary for every file, built in bulk by Arrow rather than a Python dict per term."""
    columns = [part.subjects for part in parts] + [part.predicates for part in parts] + [part.objects for part in parts]
    keys = pa.chunked_array(columns, type=pa.large_string()).combine_chunks()
    encoded = pc.dictionary_encode(keys)
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return CodedTriples(encoded.dictionary, ids.reshape(3, -1).T.copy())
