"""On-disk embedding store, so that a rerun encodes nothing and a grown catalogue encodes only its new texts.

Each encoder identity gets its own subdirectory: `keys-V.npy` (the sha256 keys of the texts, in the order
they were first encoded), `vectors-V.npy` (their vectors) and `store.json` (the identity, the version V in
use and a checksum over keys and vectors). The vectors are memory-mapped, so a run reads the rows of its own
texts, not every vector the store ever held. A new version is written beside the old one and `store.json`
is replaced atomically, so a crash leaves the previous store; a store that fails to load or to verify is
discarded with a warning and rebuilt. Writers take a lock and merge what others saved meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:
    from kgrec.text.encoder import TextEncoder

log = logging.getLogger(__name__)

KEY = np.dtype("S64")
COPY_ROWS = 65_536  # rows copied at a time when a store grows, so growing it never loads it whole


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256(keys.tobytes())
    digest.update(vectors)  # a memory map is hashed through its buffer, page by page, never copied whole
    return digest.hexdigest()


def _directory_name(identity: str) -> str:
    """Readable and filesystem-safe; the hash keeps identities that slug alike apart."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", identity).strip("_")[-100:]
    return f"{slug}-{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:12]}"


def _find(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The row of each wanted key in `keys` (distinct, any order), -1 where it is absent."""
    if not len(keys):
        return np.full(len(wanted), -1)
    order = np.argsort(keys)
    rows = order[np.searchsorted(keys[order], wanted).clip(max=len(keys) - 1)]
    return np.where(keys[rows] == wanted, rows, -1)


def _version(path: Path) -> str | None:
    """The version `store.json` names now, None when there is no readable one."""
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["version"])
    except Exception:  # absent or damaged: nothing to clean up
        return None


class EmbeddingCache:
    """Embeddings of texts per encoder identity, stored under `directory`."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def store_path(self, encoder: TextEncoder) -> Path:
        """The store's index, `store.json`; its keys and vectors files lie beside it."""
        return self.directory / _directory_name(encoder.identity) / "store.json"

    def embed(self, encoder: TextEncoder, texts: list[str]) -> np.ndarray:
        """`encoder.encode(texts)`, encoding only the texts the store does not hold yet."""
        path = self.store_path(encoder)
        version, keys, vectors = self._load(path, encoder.identity, encoder.dim)
        wanted = np.array([text_key(text) for text in texts], dtype=KEY)
        rows = _find(keys, wanted)
        absent = np.flatnonzero(rows < 0)
        new_keys, first = np.unique(wanted[absent], return_index=True)
        new_keys, first = new_keys[np.argsort(first)], np.sort(first)  # encoded in the order they came
        if len(new_keys):
            new_vectors = encoder.encode([texts[k] for k in absent[first]])
            keys, vectors = self._save(path, encoder.identity, (version, keys, vectors), new_keys, new_vectors)
            rows = _find(keys, wanted)
        log.info("embedding cache %s: %d texts, %d newly encoded", path.parent.name, len(texts), len(new_keys))
        return np.asarray(vectors[rows], dtype=np.float32).reshape(len(texts), encoder.dim)

    @staticmethod
    def _load(path: Path, identity: str, dim: int) -> tuple[str | None, np.ndarray, np.ndarray]:
        """The version, the keys (in memory) and the vectors (memory-mapped) of the store, or an empty store
        (version None)."""
        empty = None, np.zeros(0, dtype=KEY), np.zeros((0, dim), dtype=np.float32)
        if not path.exists():
            return empty
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            keys = np.load(path.parent / f"keys-{index['version']}.npy", allow_pickle=False)
            vectors = np.load(path.parent / f"vectors-{index['version']}.npy", mmap_mode="r", allow_pickle=False)
        except Exception as error:  # a damaged store can fail in many ways; all mean "rebuild"
            problem = f"cannot be read ({type(error).__name__}: {error})"
        else:
            if index.get("identity") != identity:
                problem = f"belongs to encoder {index.get('identity')!r}"
            elif keys.dtype != KEY or vectors.dtype != np.float32:
                problem = f"has key type {keys.dtype} and vector type {vectors.dtype}"
            elif vectors.shape != (len(keys), dim):
                problem = f"holds vectors of shape {vectors.shape} for {len(keys)} keys of dimension {dim}"
            elif index.get("checksum") != _checksum(keys, vectors):
                problem = "fails its checksum"
            else:
                return str(index["version"]), keys, vectors
        warnings.warn(f"embedding cache {path} {problem}; rebuilding it", RuntimeWarning, stacklevel=3)
        return empty

    @staticmethod
    def _save(path: Path, identity: str, loaded: tuple[str | None, np.ndarray, np.ndarray], new_keys: np.ndarray,
              new_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write a new version holding the store's rows then the new ones, point `store.json` at it, drop the old
        version's files; returns the new keys and memory-mapped vectors.

        `loaded` is the store as `_load` gave it to this run. Under a lock, a store another run saved since
        then is read again, so that its rows are kept: two runs filling one store at once lose nothing
        (without the lock the last `store.json` won).
        """
        directory = path.parent
        directory.mkdir(parents=True, exist_ok=True)
        with _exclusive(directory / "lock"):
            replaced = _version(path)
            _, keys, vectors = loaded if replaced == loaded[0] else EmbeddingCache._load(path, identity,
                                                                                         new_vectors.shape[1])
            fresh = _find(keys, new_keys) < 0  # another run may have saved some of these meanwhile
            new_keys, new_vectors = new_keys[fresh], new_vectors[fresh]
            all_keys = np.concatenate([keys, new_keys])
            version = os.urandom(8).hex()
            np.save(directory / f"keys-{version}.npy", all_keys)
            written = np.lib.format.open_memmap(directory / f"vectors-{version}.npy", mode="w+", dtype=np.float32,
                                                shape=(len(all_keys), new_vectors.shape[1]))
            for start in range(0, len(keys), COPY_ROWS):
                stop = min(start + COPY_ROWS, len(keys))
                written[start:stop] = vectors[start:stop]
            written[len(keys):] = new_vectors
            written.flush()
            index = {"identity": identity, "version": version, "checksum": _checksum(all_keys, written)}
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=".store-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(index, file)
            os.replace(temporary, path)
            # The version this one replaced goes; a run still reading it has its vectors mapped already.
            for stale in ([f"keys-{replaced}.npy", f"vectors-{replaced}.npy"] if replaced else []):
                (directory / stale).unlink(missing_ok=True)
        return all_keys, np.load(directory / f"vectors-{version}.npy", mmap_mode="r")


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """One writer at a time per store: an advisory lock where the platform has one (POSIX), else none."""
    try:
        import fcntl
    except ImportError:  # Windows: writers are not serialised, and the last store.json wins
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield
