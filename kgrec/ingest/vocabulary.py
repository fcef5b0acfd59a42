"""`Vocabulary`: term keys numbered in order of first appearance, in C where it was compiled.

kgrec/ingest/_vocabulary.c is the fast one (interning, and the N-Triples lines of the canonical form).
`PythonVocabulary` has the same methods and leaves every line to the full grammar of kgrec.ingest.fast:
slower, never different, and the reference the C type is tested against.
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
        bounds = np.frombuffer(offsets, dtype=np.int64).tolist()
        data = bytes(data)
        ids = [self._ids.setdefault(data[start:stop], len(self._ids)) for start, stop in zip(bounds, bounds[1:])]
        return bytearray(np.array(ids, dtype=np.int64).tobytes())

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


try:
    from kgrec.ingest._vocabulary import Vocabulary
except ImportError:  # installed without a C compiler
    logging.getLogger(__name__).warning("kgrec.ingest._vocabulary was not compiled at install: RDF ingestion runs "
                                        "in Python, several times slower (reinstall kgrec with a C compiler)")
    Vocabulary = PythonVocabulary
