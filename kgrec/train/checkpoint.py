"""Training checkpoints that a killed run resumes from: written atomically, loaded whole or not at all.

A checkpoint holds everything the next epoch depends on (model and optimiser state, every random
generator, the early-stopping state), so a resumed run takes the same steps as one never stopped. It
also holds a fingerprint of the config: resuming a run directory under another config is refused.
Files are read with `torch.load(weights_only=True)`, which cannot execute code from the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
import torch

from kgrec.errors import KgrecError

# Config keys that do not change what training computes, so a resume may differ in them.
RUN_ONLY_KEYS = {("trainer", "resume"), ("cache_dir",)}


def config_fingerprint(config: dict[str, Any]) -> str:
    """A hash of the resolved config, apart from RUN_ONLY_KEYS."""
    def strip(value: Any, prefix: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {key: strip(item, prefix + (key,)) for key, item in value.items() if prefix + (key,) not in RUN_ONLY_KEYS}
        return value

    text = json.dumps(strip(config, ()), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_generators(model: torch.nn.Module) -> dict[str, torch.Generator]:
    """The torch.Generator objects a model keeps for its own sampling (negatives, init), by attribute path."""
    return {f"{prefix}{'.' if prefix else ''}{name}": value
            for prefix, module in model.named_modules()
            for name, value in vars(module).items() if isinstance(value, torch.Generator)}


def global_rng_state() -> dict[str, Any]:
    """Torch's, numpy's and Python's global generators, in types that weights_only loading accepts."""
    numpy_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": numpy_state["state"]["pos"], "has_gauss": numpy_state["has_gauss"],
                  "gauss": numpy_state["gauss"]},
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
                         "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]})
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["internal"].tolist()), python_state["gauss"]))


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a temporary file beside `path`, sync it, then rename it over `path`: a kill at any
    moment leaves either the previous file or the new one, never a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def save_checkpoint(path: str | Path, payload: dict[str, Any], fingerprint: str) -> None:
    """Write `payload` (tensors, numbers, strings, nested dicts and lists) to `path` atomically."""
    atomic_write(path, lambda handle: torch.save({"fingerprint": fingerprint, **payload}, handle))


def load_checkpoint(path: str | Path, fingerprint: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The payload saved at `path`; a KgrecError if it is unreadable, lacks a `required` key, or was
    written under another config. Nothing is applied here, so a refused checkpoint changes nothing."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        raise KgrecError(f"checkpoint {path} is unreadable ({type(error).__name__}: {str(error).splitlines()[0]}); "
                         "delete it to start over, or run without trainer.resume=true") from None
    missing = [key for key in ("fingerprint", *required) if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise KgrecError(f"checkpoint {path} is not a kgrec training checkpoint (missing {missing})")
    if payload["fingerprint"] != fingerprint:
        raise KgrecError(f"checkpoint {path} was written under another config (fingerprint {payload['fingerprint']}, "
                         f"this run {fingerprint}); resume with the run's own config.yaml, or use a new run dir")
    return payload


def check_fits(path: Path, model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Refuse a model state whose keys or shapes differ, before anything is copied into the model."""
    expected = {name: _shape(value) for name, value in model.state_dict().items()}
    found = {name: _shape(value) for name, value in state.items()}
    if expected != found:
        differing = sorted(set(expected.items()) ^ set(found.items()))[:3]
        raise KgrecError(f"checkpoint {path} does not fit this model (differing entries, first: {differing})")


def _shape(value) -> tuple | str:
    """A tensor's shape; a module's extra state (plain settings such as a calibrated knob) only by its type."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
