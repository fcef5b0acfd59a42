"""On-disk embedding store, so that a rerun encodes nothing and a grown catalogue encodes only its new texts.

Each encoder identity gets its own subdirectory holding one `store.npz`: the sha256 keys of the texts,
their vectors, the identity and a checksum over both. The file is replaced atomically, so a crash leaves
the previous store; a file that fails to load or to verify is discarded with a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kgrec.text.encoder import TextEncoder

log = logging.getLogger(__name__)


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256(keys.tobytes())
    digest.update(np.ascontiguousarray(vectors).tobytes())
    return digest.hexdigest()


def _directory_name(identity: str) -> str:
    """Readable and filesystem-safe; the hash keeps identities that slug alike apart."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", identity).strip("_")[-100:]
    return f"{slug}-{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:12]}"


class EmbeddingCache:
    """Embeddings of texts per encoder identity, stored under `directory`."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def store_path(self, encoder: TextEncoder) -> Path:
        return self.directory / _directory_name(encoder.identity) / "store.npz"

    def embed(self, encoder: TextEncoder, texts: list[str]) -> np.ndarray:
        """`encoder.encode(texts)`, encoding only the texts the store does not hold yet."""
        path = self.store_path(encoder)
        keys, vectors = self._load(path, encoder.identity, encoder.dim)
        row = {key: k for k, key in enumerate(keys.tolist())}
        wanted = [text_key(text) for text in texts]
        missing = {}
        for key, text in zip(wanted, texts):
            if key not in row:
                missing.setdefault(key, text)
        if missing:
            keys = np.concatenate([keys, np.array(list(missing), dtype=keys.dtype)])
            vectors = np.concatenate([vectors, encoder.encode(list(missing.values()))])
            self._save(path, encoder.identity, keys, vectors)
            for key in missing:
                row[key] = len(row)
        log.info("embedding cache %s: %d texts, %d newly encoded", path.parent.name, len(texts), len(missing))
        return vectors[[row[key] for key in wanted]]

    @staticmethod
    def _load(path: Path, identity: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        empty = np.zeros(0, dtype="S64"), np.zeros((0, dim), dtype=np.float32)
        if not path.exists():
            return empty
        try:
            with np.load(path, allow_pickle=False) as store:
                keys, vectors = store["keys"], store["vectors"]
                stored_identity, checksum = str(store["identity"]), str(store["checksum"])
        except Exception as error:  # a damaged zip can fail in many ways; all mean "rebuild"
            problem = f"cannot be read ({type(error).__name__}: {error})"
        else:
            if stored_identity != identity:
                problem = f"belongs to encoder {stored_identity!r}"
            elif keys.dtype != np.dtype("S64") or vectors.dtype != np.float32:
                problem = f"has key type {keys.dtype} and vector type {vectors.dtype}"
            elif vectors.shape != (len(keys), dim):
                problem = f"holds vectors of shape {vectors.shape} for {len(keys)} keys of dimension {dim}"
            elif checksum != _checksum(keys, vectors):
                problem = "fails its checksum"
            else:
                return keys, vectors
        warnings.warn(f"embedding cache {path} {problem}; rebuilding it", RuntimeWarning, stacklevel=3)
        return empty

    @staticmethod
    def _save(path: Path, identity: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".store-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, keys=keys, vectors=vectors, identity=identity, checksum=_checksum(keys, vectors))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
