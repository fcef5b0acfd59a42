"""Fine-tuning the top layers of the text encoder end to end with a recommender (off by default, for GPU users).

The texts of the graph's nodes never change, so the frozen lower layers would compute the same states every
step: they run once, at construction, and each step replays only the top transformer blocks and the
encoder's pooling. The tuned blocks are copies, so the encoder itself and its embedding cache stay those of
the pretrained model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from kgrec.errors import KgrecError
from kgrec.text.encoder import TextEncoder, pool

# Where decoder models keep the norm they apply after their last block (BERT-like encoders have none).
FINAL_NORMS = ("norm", "ln_f", "final_norm", "final_layer_norm", "final_layernorm")


def transformer_blocks(model: nn.Module) -> tuple[nn.ModuleList, nn.Module | None]:
    """The model's stack of blocks (the one ModuleList of `num_hidden_layers` modules of one class, wherever it
    lives: encoder.layer in BERT, layers in Llama, h in GPT-2) and the final norm beside it, if any."""
    depth = getattr(model.config, "num_hidden_layers", None)
    found = [
        (name, module) for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == depth and len({type(block) for block in module}) == 1
    ]
    if len(found) != 1:
        raise KgrecError(
            f"cannot fine-tune {type(model).__name__}: found {len(found)} stacks of {depth} transformer blocks, "
            "expected exactly one (hint: set text_finetune_layers=0 to use the frozen encoder)"
        )
    name, blocks = found[0]
    owner = model.get_submodule(name.rpartition(".")[0])
    final_norm = next((getattr(owner, attribute) for attribute in FINAL_NORMS
                       if isinstance(getattr(owner, attribute, None), nn.Module)), None)
    return blocks, final_norm


@dataclass
class _FrozenBatch:
    """What the first tuned block received for one batch of texts: its hidden states and its other inputs
    (attention mask in the model's own format, rotary position embeddings, ...), replayed as they were."""

    hidden: Tensor
    token_mask: Tensor
    args: tuple
    kwargs: dict[str, Any]


class TunableTextTower(nn.Module):
    """Embeddings of a fixed list of texts, trainable through the encoder's top `layers` blocks.

    `forward(index)` returns the pooled embeddings of texts[index] (all texts when None) in the encoder's
    format (same pooling and normalisation as `TextEncoder.encode`), so with untouched weights it equals
    `encoder.encode(texts)[index]`. Texts are replayed in the length-sorted batches of `batch_size` they were
    frozen in; an index touching part of a batch runs that whole batch.

    Memory: the frozen states take texts x tokens x hidden x (4 bytes in float32), tokens being the padded
    length of each text's batch: 2,000 ml-latest-small item texts (22 tokens on average) in MiniLM (hidden
    384) take 64 MiB. The encoder is not referenced afterwards, so deleting it frees the frozen model.

    Only the tuned blocks (and a decoder's final norm) are parameters, so `state_dict` holds just them: a
    checkpoint is restored by building the tower again from the same encoder and texts (which recomputes
    the frozen states from the pretrained weights) and loading the state dict into it. Dropout in the tuned
    blocks follows train()/eval(); the tower starts in eval mode, like the encoder.
    """

    def __init__(self, encoder: TextEncoder, texts: list[str], layers: int, batch_size: int = 64):
        super().__init__()
        blocks, final_norm = transformer_blocks(encoder.model)
        if not 1 <= layers <= len(blocks):
            raise KgrecError(
                f"text_finetune_layers={layers}: the text encoder has {len(blocks)} layers, so choose 1 to "
                f"{len(blocks)} (0 means no fine-tuning: use the cached embeddings instead of a tower)"
            )
        if not texts:
            raise KgrecError("no node has text, so there is no text encoder to fine-tune (set text_finetune_layers=0)")
        self.pooling, self.normalize, self.batch_size = encoder.pooling, encoder.normalize, batch_size
        self.blocks = copy.deepcopy(blocks[len(blocks) - layers:]).requires_grad_(True)
        self.final_norm = copy.deepcopy(final_norm).requires_grad_(True) if final_norm is not None else None
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]), reverse=True)
        # position[k]: where text k sits in the length-sorted order, so its batch is position // batch_size.
        self.register_buffer("position", torch.empty(len(texts), dtype=torch.long), persistent=False)
        self.position[order] = torch.arange(len(texts))
        self._frozen, reference = self._freeze(encoder, [texts[k] for k in order], blocks[len(blocks) - layers])
        self.eval()
        self._check_replay(reference, encoder)

    def _freeze(
        self, encoder: TextEncoder, texts: list[str], first_tuned: nn.Module
    ) -> tuple[list[_FrozenBatch], Tensor]:
        """Runs the pretrained model once over all batches, keeping the first tuned block's inputs; also returns
        the encoder's own embeddings of the first batch, to check the replay against."""
        captured = []

        def capture(module, args, kwargs):
            captured.append((args, kwargs))

        frozen, reference = [], None
        # No KV cache: it would be captured too and grow with every replay.
        options = {"use_cache": False} if getattr(encoder.model.config, "use_cache", False) else {}
        hook = first_tuned.register_forward_pre_hook(capture, with_kwargs=True)
        try:
            with torch.no_grad():  # not inference_mode: the kept tensors feed autograd later
                for start in range(0, len(texts), self.batch_size):
                    tokens = encoder.tokenize(texts[start: start + self.batch_size])
                    output = encoder.model(**tokens, **options).last_hidden_state
                    if reference is None:
                        reference = pool(output, tokens["attention_mask"], self.pooling, self.normalize)
                    args, kwargs = captured.pop()
                    kwargs = dict(kwargs)
                    hidden = args[0] if args else kwargs.pop("hidden_states")
                    frozen.append(_FrozenBatch(hidden, tokens["attention_mask"], args[1:], kwargs))
        finally:
            hook.remove()
        return frozen, reference

    def _check_replay(self, reference: Tensor, encoder: TextEncoder) -> None:
        """A model that does more after its blocks than the norms kgrec knows would be tuned wrongly: stop."""
        with torch.no_grad():
            replayed = self._replay(self._frozen[0])
        if not torch.allclose(replayed, reference, atol=1e-4):
            raise KgrecError(
                f"cannot fine-tune {type(encoder.model).__name__}: replaying its top {len(self.blocks)} blocks "
                "does not reproduce its output (hint: set text_finetune_layers=0 to use the frozen encoder)"
            )

    def _replay(self, batch: _FrozenBatch) -> Tensor:
        hidden = batch.hidden
        for block in self.blocks:
            hidden = block(hidden, *batch.args, **batch.kwargs)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden  # older blocks return (states, ...)
        if self.final_norm is not None:
            hidden = self.final_norm(hidden)
        return pool(hidden, batch.token_mask, self.pooling, self.normalize)

    def forward(self, index: Tensor | None = None) -> Tensor:
        position = self.position if index is None else self.position[index]
        batch = position.div(self.batch_size, rounding_mode="floor")
        touched = batch.unique()  # sorted; only the last batch can be short, so offsets below hold
        pooled = torch.cat([self._replay(self._frozen[b]) for b in touched.tolist()])
        return pooled[torch.searchsorted(touched, batch) * self.batch_size + position % self.batch_size]

    def __len__(self) -> int:
        return len(self.position)

    def _apply(self, fn, recurse=True):
        """.to(device) and friends move the frozen states along with the parameters."""
        super()._apply(fn, recurse)
        self._frozen = [
            _FrozenBatch(*(_map_tensors(fn, part) for part in (batch.hidden, batch.token_mask, batch.args, batch.kwargs)))
            for batch in self._frozen
        ]
        return self


def _map_tensors(fn, value):
    """fn applied to every tensor inside nested tuples, lists and dicts (a block's captured inputs)."""
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_map_tensors(fn, item) for item in value)
    if isinstance(value, dict):
        return {key: _map_tensors(fn, item) for key, item in value.items()}
    return value
