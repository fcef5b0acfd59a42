"""Text features of graph nodes: what each item, interest point (tag) and KG entity says about itself.

Nodes without text get a zero row and a False mask entry, so models can learn a fallback for them
instead of treating the embedding of an empty string as meaningful.
"""

from __future__ import annotations

import torch

from kgrec.data.dataset import Dataset
from kgrec.errors import KgrecError
from kgrec.text.cache import EmbeddingCache
from kgrec.text.encoder import TextEncoder


def _text_or_none(*candidates: str | None) -> str | None:
    for text in candidates:
        if text and text.strip():
            return text
    return None


def node_texts(data: Dataset) -> dict[str, list[str | None]]:
    """One text (or None) per node of each type, indexed like the dataset's own indices."""
    if len(data.kg.labels) != len(data.kg.entities):
        raise KgrecError(
            f"{data.name}: the knowledge graph has {len(data.kg.entities)} entities "
            f"but {len(data.kg.labels)} labels"
        )
    # An entity linked to an item is that item's graph node, which speaks through the item text:
    # its label is not encoded a second time.
    item_linked = set(data.kg.item_entity[data.kg.item_entity >= 0].tolist()) if len(data.kg.item_entity) else set()
    return {
        "item": [_text_or_none(text, title) for text, title in zip(data.item_texts, data.item_titles)],
        "interest": [_text_or_none(name) for name in data.tags.names],
        "entity": [None if entity in item_linked else _text_or_none(label)
                   for entity, label in enumerate(data.kg.labels)],
    }


def node_text_features(
    data: Dataset, encoder: TextEncoder, cache: EmbeddingCache | None = None
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per node type: float32 features (n, dim), zero where a node has no text, and the bool has-text mask (n,)."""
    features = {}
    for node_type, texts in node_texts(data).items():
        mask = torch.tensor([text is not None for text in texts], dtype=torch.bool)
        present = [text for text in texts if text is not None]
        vectors = cache.embed(encoder, present) if cache is not None else encoder.encode(present)
        embedded = torch.zeros(len(texts), encoder.dim, dtype=torch.float32)
        embedded[mask] = torch.from_numpy(vectors)
        features[node_type] = (embedded, mask)
    return features
