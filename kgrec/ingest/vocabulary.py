"""`Vocabulary` (term keys numbered in order of first appearance) and `first_occurrences`, in C where compiled.

kgrec/ingest/_vocabulary.c is the fast one (interning, the N-Triples lines of the canonical form,
duplicate rows). `PythonVocabulary` has the same methods and leaves every line to the full grammar of
kgrec.ingest.fast, and `python_first_occurrences` sorts: slower, never different, and the reference
the C code is tested against.
"""

from __future__ import annotations

import logging

import numpy as np


class PythonVocabulary:
    def __init__(self):
        self._ids: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def intern(self, offsets, data) -> bytearray:
        return _ids_of(offsets, data, lambda key: self._ids.setdefault(key, len(self._ids)))

    def find(self, offsets, data) -> bytearray:
        return _ids_of(offsets, data, lambda key: self._ids.get(key, -1))

    def parse_lines(self, data, blank_prefix: bytes, quads: bool) -> tuple[bytearray, bytearray]:
        text = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(text == ord("\n"))
        if len(text) and text[-1] != ord("\n"):
            ends = np.append(ends, len(text))
        starts = np.concatenate([[0], ends + 1])[:len(ends)].astype(np.int64)
        others = np.stack([np.arange(len(ends)), starts, ends], axis=1).astype(np.int64)
        return bytearray(np.full(3 * len(ends), -1, dtype=np.int64).tobytes()), bytearray(others.tobytes())

    def terms(self) -> tuple[bytes, bytes]:
        keys = list(self._ids)
        offsets = np.concatenate([[0], np.cumsum([len(key) for key in keys], dtype=np.int64)]).astype(np.int64)
        return offsets.tobytes(), b"".join(keys)


def _ids_of(offsets, data, id_of) -> bytearray:
    """`id_of` each key data[offsets[k]:offsets[k + 1]], as the C type returns ids."""
    bounds, data = np.frombuffer(offsets, dtype=np.int64).tolist(), bytes(data)
    return bytearray(np.array([id_of(data[start:stop]) for start, stop in zip(bounds, bounds[1:])],
                              dtype=np.int64).tobytes())


def python_first_occurrences(rows) -> np.ndarray:
    """1 where a row of three int64 is the first of its value (np.unique's indices are first occurrences)."""
    rows = np.frombuffer(rows, dtype=np.int64).reshape(-1, 3)
    first = np.zeros(len(rows), dtype=np.uint8)
    first[np.unique(rows, axis=0, return_index=True)[1]] = 1
    return first


try:
    from kgrec.ingest._vocabulary import Vocabulary, first_occurrences
except ImportError:  # installed without a C compiler
    logging.getLogger(__name__).warning("kgrec.ingest._vocabulary was not compiled at install: RDF ingestion runs "
                                        "in Python, several times slower (reinstall kgrec with a C compiler)")
    Vocabulary, first_occurrences = PythonVocabulary, python_first_occurrences
