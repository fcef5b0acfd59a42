"""A trained run, loaded for queries: known users, new users (free text, a few liked items), added items.

`Recommender.load(run_dir)` rebuilds the model of a `kgrec-train` run directory from config.yaml (data,
model, encoder, text cache) and checkpoint.pt (which carries the calibrated inference knobs). Known users work for every
model. New users and items added after training are embedded inductively with kgrec's `fold_in` (text
projection plus propagation over their edges; added items lean on their text, see `embed_items`), so they
need a kgrec run. Lists are the model's `top_lists` (e.g. with tail slots), as in the evaluator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from tqdm import tqdm

from kgrec.data.dataset import Dataset
from kgrec.data.tables import read_table
from kgrec.errors import DataError, KgrecError
from kgrec.graph.build import build_graph
from kgrec.infer.explain import PathExplainer, relation_phrase
from kgrec.models.base import Recommender as Model
from kgrec.models.kgrec import KGRec

log = logging.getLogger(__name__)

#: A user's text stands for this many items: those whose own text matches it best.
TEXT_ANCHORS = 10
#: An added item's embedding: this share from the fold-in over its KG edges, the rest from its text alone,
#: and only KG neighbours of at most this degree (None: all). Chosen on a validation hold-out of warm items
#: by benchmarks/inductive.py: shared hubs (genres, countries) pull added items toward popular ones.
KG_SHARE = 0.25
MAX_DEGREE: int | None = 100


@dataclass
class Recommendation:
    item_id: str
    title: str
    score: float
    explanation: str


@dataclass
class NewItems:
    """Items to add after training, read and encoded; `edges` per item: (existing node, relation, item is head)."""
    ids: list[str]
    titles: list[str]
    text: torch.Tensor  # the encoder's vectors as the model's text input (through tuned layers, if any)
    edges: list[list[tuple[int, str, bool]]]
    match_text: torch.Tensor  # the encoder's plain vectors, normalised, for kgrec's text match


class Recommender:
    """Ranks the catalogue (plus any added items) for one query at a time, or for every known user."""

    def __init__(self, config: dict, data: Dataset, model: Model):
        self.config, self.data, self.model = config, data, model
        self.item_ids, self.titles = list(data.item_ids), list(data.item_titles)
        self.item_index = {item: k for k, item in enumerate(self.item_ids)}
        self.user_index = {user: k for k, user in enumerate(data.user_ids)}
        seen = [data.splits[name] for name in ("train", "valid") if name in data.splits]
        users, items = np.concatenate([s.users for s in seen]), np.concatenate([s.items for s in seen])
        order = np.argsort(users, kind="stable")
        self._seen_items = items[order]
        self._seen_ptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=data.num_users))])
        self.explainer = PathExplainer(data, model.graph if isinstance(model, KGRec) else build_graph(data))
        self._encoder = None
        if self.inductive:
            with torch.no_grad():
                self._layers = model.layer_embeddings()
                h = model.mix_layers(self._layers)
            self.user_h = h[model.offsets["user"]: model.offsets["user"] + data.num_users]
            self.item_h = h[model.offsets["item"]: model.offsets["item"] + data.num_items]
            self.log_popularity = model.log_popularity
            self.item_text = model.item_text  # None without the text match
            self.cold_items = model.unseen_items  # scored as cold: no train interactions (added items too)

    @classmethod
    def load(cls, run_dir: str | Path) -> "Recommender":
        from kgrec.data.load import load_dataset
        from kgrec.train.experiment import build_model

        run_dir = Path(run_dir)
        for name in ("config.yaml", "checkpoint.pt"):
            if not (run_dir / name).is_file():
                raise KgrecError(f"{run_dir} is not a kgrec-train run directory: it has no {name}")
        config = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)
        data = load_dataset(config["data"])
        model = build_model(config["model"], data, config["encoder"], config["cache_dir"])
        try:
            model.load_state_dict(torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True))
        except RuntimeError as error:
            raise KgrecError(f"{run_dir / 'checkpoint.pt'} does not fit the model built from {run_dir / 'config.yaml'} "
                             f"(has the dataset changed since training?): {str(error).splitlines()[0]}") from None
        model.eval()
        with torch.no_grad():
            model.prepare_scoring()
        log.info("loaded %s on %s from %s", type(model).__name__, data.name, run_dir)
        return cls(config, data, model)

    @property
    def inductive(self) -> bool:
        """Whether new users and new items can be embedded (kgrec runs)."""
        return isinstance(self.model, KGRec)

    def _require_inductive(self, what: str) -> KGRec:
        if not self.inductive:
            raise KgrecError(f"{what} needs a kgrec run: {type(self.model).__name__} only scores the users and "
                             "items it was trained on")
        return self.model

    def _encode(self, texts: list[str], tuned: bool = False) -> torch.Tensor:
        """The encoder's vectors of `texts`; `tuned`: as the model's item text input, i.e. through its
        fine-tuned top layers when it has them (text_finetune_layers > 0)."""
        if self._encoder is None:
            from kgrec.text.encoder import TextEncoder

            self._encoder = TextEncoder(**self.config["encoder"])
        tower = getattr(self.model, "text_tower", None)
        if not (tuned and tower is not None):
            return torch.from_numpy(self._encoder.encode(texts))
        from kgrec.text.finetune import TunableTextTower

        new = TunableTextTower(self._encoder, texts, len(tower.blocks))
        new.load_state_dict(tower.state_dict())
        with torch.no_grad():
            return new()

    # Queries --------------------------------------------------------------------------------------

    def recommend(
        self,
        user: str | None = None,
        *,
        items: Sequence[str] = (),
        text: str | None = None,
        k: int = 10,
        candidates: Sequence[str] | None = None,
        categories: Sequence[str] = (),
        explain: bool = True,
    ) -> list[Recommendation]:
        """The best (at most) `k` items for a known `user`, or for a new user given by liked `items` and/or
        `text`; items the user already has are excluded. `candidates` and `categories` restrict the pool."""
        if k < 1:
            raise KgrecError(f"k must be at least 1, got {k}")
        if (user is None) == (not items and not text):
            raise KgrecError("give either a known user, or liked items and/or a text for a new user")
        if user is not None:
            index = self._user(user)
            scores = self.user_scores(torch.tensor([index]))[0]
            exclude = self._seen_items[self._seen_ptr[index]: self._seen_ptr[index + 1]]
            because = self._user_sources(index)
        else:
            liked = self._items(items, "--items", catalogue_only=True)
            scores, because = self._new_user(liked, text)
            exclude = np.asarray(liked, dtype=np.int64)
        pool = self._pool(candidates, categories)
        pool[exclude] = False
        scores = scores.masked_fill(~torch.from_numpy(pool), float("-inf"))
        listed = self._top(scores.unsqueeze(0), k)[0]
        return [Recommendation(self.item_ids[i], self.titles[i], float(scores[i]),
                               self.explainer.explain(self._node(i), because) if explain else "")
                for i in listed[listed >= 0].tolist()]

    def _top(self, masked: torch.Tensor, k: int) -> torch.Tensor:
        """The item indices of each row's list of (at most) k, in the order of the model's `top_lists` (e.g.
        tail slots; most models list by score); -1 pads rows that run short."""
        values, items = self.model.top_lists(masked, k)
        return items.masked_fill(values == float("-inf"), -1)

    def user_scores(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of known users (indices) for the catalogue and any added items."""
        with torch.no_grad():
            if self.inductive:
                return self.model.score_embeddings(self.user_h[users], self.item_h, self.log_popularity,
                                                   self.model.user_profiles(users), self.item_text, self.cold_items)
            return self.model.score(users)

    def _new_user(self, liked: list[int], text: str | None) -> tuple[torch.Tensor, dict[int, str]]:
        """A new user is folded in over their liked items and, for a text, the items whose own text matches
        it best: on ml-100k this beat feeding the projected text in as the user's input (see
        benchmarks/results/latency.md)."""
        model = self._require_inductive("a new user (--items/--text)")
        described = self._encode([text]) if text else torch.zeros(0, model.text.shape[1])
        anchors = [i for i in self._text_anchors(described[0]) if i not in liked] if text else []
        because = {self.explainer.item_node(i): "which matches your description" for i in anchors}
        because.update({self.explainer.item_node(i): "which you liked" for i in liked})
        neighbours = model.offsets["item"] + torch.as_tensor(liked + anchors, dtype=torch.long)
        with torch.no_grad():
            inputs = torch.zeros(1, self._layers[0].shape[1])
            embedding = model.fold_in(inputs, torch.zeros(len(neighbours), dtype=torch.long), neighbours, self._layers)
            # p_u of a new user: the texts of the liked items and of the description, as a known user's items
            profile = None if self.item_text is None else F.normalize(
                self.item_text[liked].sum(0, keepdim=True) + described.sum(0, keepdim=True), dim=-1)
            scores = model.score_embeddings(embedding, self.item_h, self.log_popularity, profile, self.item_text,
                                            self.cold_items)
            return scores[0], because

    def _text_anchors(self, query: torch.Tensor) -> list[int]:
        """The catalogue items whose own text is closest to the query (the encoder's vectors are normalised)."""
        model = self.model
        start = model.offsets["item"]
        is_item = (model.text_nodes >= start) & (model.text_nodes < start + self.data.num_items)
        similarity = model.text[is_item] @ query
        best = torch.topk(similarity, min(TEXT_ANCHORS, len(similarity))).indices
        return (model.text_nodes[is_item][best] - start).tolist()

    def _user_sources(self, user: int) -> dict[int, str]:
        history = self._seen_items[self._seen_ptr[user]: self._seen_ptr[user + 1]]
        because = {self.explainer.item_node(int(i)): "which you liked" for i in history}
        if "interest" in self.explainer.offsets:
            tags = self.data.tags
            for tag in np.unique(tags.tags[tags.users == user]).tolist():
                because[self.explainer.offsets["interest"] + tag] = "a tag you use"
        return because

    def _node(self, item: int) -> int:
        """Explainer node of a catalogue or added item."""
        if item < self.data.num_items:
            return self.explainer.item_node(item)
        return self.explainer.num_nodes + item - self.data.num_items

    def _user(self, user: str) -> int:
        if user not in self.user_index:
            raise KgrecError(f"unknown user {user!r}: {self.data.name} has no such user in train, valid or test "
                             "(hint: describe a new user with --items and/or --text)")
        return self.user_index[user]

    def _items(self, ids: Sequence[str], option: str, catalogue_only: bool = False) -> list[int]:
        limit = self.data.num_items if catalogue_only else len(self.item_ids)
        unknown = [item for item in ids if self.item_index.get(item, limit) >= limit]
        if unknown:
            where = "the trained catalogue" if catalogue_only else "the catalogue or the added items"
            raise KgrecError(f"{option}: unknown item id(s) {', '.join(map(repr, unknown[:5]))}"
                             + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "") + f" (not in {where})")
        return [self.item_index[item] for item in ids]

    def _pool(self, candidates: Sequence[str] | None, categories: Sequence[str]) -> np.ndarray:
        pool = np.ones(len(self.item_ids), dtype=bool)
        if candidates is not None:
            pool[:] = False
            pool[self._items(candidates, "--candidates")] = True
        if categories:
            pool &= self._in_categories(categories)
        return pool

    def _in_categories(self, names: Sequence[str]) -> np.ndarray:
        """Items linked to a KG category named (label, IRI or its local name; case-insensitive) in `names`."""
        explainer = self.explainer
        if "category" not in explainer.offsets:
            raise KgrecError(f"{self.data.name}'s knowledge graph has no categories to filter by")
        start, kg = explainer.offsets["category"], self.data.kg
        known = {}
        for local, entity in enumerate(explainer.hetero["category"].entity.tolist()):
            for name in (kg.labels[entity], kg.entities[entity], kg.entities[entity].rstrip("/#").split("/")[-1]):
                if name:
                    known[name.lower()] = start + local
        missing = [name for name in names if name.lower() not in known]
        if missing:
            examples = sorted({explainer.name(node) for node in known.values()})[:8]
            raise KgrecError(f"unknown categor{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing))} "
                             f"(hint: categories include {', '.join(examples)})")
        chosen = np.zeros(len(self.item_ids), dtype=bool)
        for name in names:
            for neighbour in explainer.graph.adj[known[name.lower()]]:
                if explainer.is_item(neighbour):
                    chosen[neighbour - explainer.offsets["item"] if neighbour < explainer.num_nodes
                           else neighbour - explainer.num_nodes + self.data.num_items] = True
        return chosen

    # Items added after training ---------------------------------------------------------------------

    def add_items(self, path: str | Path, kg_path: str | Path | None = None) -> list[str]:
        """Add the items of a TSV (`item_id title text [entity]`, with a header) and, optionally, their
        triples from an RDF file; they are embedded from text and KG edges without retraining."""
        new = self.read_items(path, kg_path)
        embeddings = self.embed_items(new)
        first = len(self.item_ids)
        for k, (item, title, links) in enumerate(zip(new.ids, new.titles, new.edges)):
            self.item_index[item] = first + k
            self.explainer.add_item(self._node(first + k), title, links)
        self.item_ids += new.ids
        self.titles += new.titles
        self.item_h = torch.cat([self.item_h, embeddings])
        if self.item_text is not None:
            self.item_text = torch.cat([self.item_text, new.match_text])
        # As for unseen catalogue items: the head's penalty, so the knob never floods lists with new items.
        self.log_popularity = torch.cat([self.log_popularity, self.log_popularity.max().expand(len(new.ids))])
        self.cold_items = torch.cat([self.cold_items, torch.ones(len(new.ids), dtype=torch.bool)])
        log.info("added %d items from %s (%d KG edges)", len(new.ids), path, sum(map(len, new.edges)))
        return new.ids

    def read_items(self, path: str | Path, kg_path: str | Path | None = None) -> NewItems:
        """The items of an --add-items TSV (and their --add-kg triples), checked and text-encoded."""
        self._require_inductive("--add-items")
        table = read_table(path, ["item_id", "title", "text"], ["entity"])
        ids, titles, texts, entities = [], [], [], {}
        for k, line in enumerate(table.lines):
            item, title, text = (table.columns[name][k] for name in ("item_id", "title", "text"))
            if not item:
                raise DataError(path, line, "empty item_id")
            if item in self.item_index or item in ids:
                raise DataError(path, line, f"item {item!r} is already in the catalogue",
                                hint="added items need new ids")
            if not (text or title):
                raise DataError(path, line, f"item {item!r} has neither title nor text",
                                hint="an added item is scored from its text")
            ids.append(item), titles.append(title or item), texts.append(text or title)
            if table.columns.get("entity", [""] * len(table))[k]:
                entities[table.columns["entity"][k]] = len(ids) - 1
        if not ids:
            raise DataError(path, None, "no items")
        edges = self._added_edges(kg_path, entities, len(ids)) if kg_path else [[] for _ in ids]
        tuned = self._encode(texts, tuned=True)
        # The text match compares plain encoder vectors; they differ from `tuned` only behind tuned layers.
        plain = self._encode(texts) if self.item_text is not None and self.model.text_tower is not None else tuned
        return NewItems(ids, titles, tuned, edges, F.normalize(plain, dim=-1))

    def embed_items(self, new: NewItems, kg_share: float = KG_SHARE,
                    max_degree: int | None = MAX_DEGREE) -> torch.Tensor:
        """Embeddings of added items: `kg_share` of the fold-in over their KG edges to nodes of degree at most
        `max_degree`, the rest from their text alone (see benchmarks/results/inductive.md for the choice)."""
        model = self._require_inductive("--add-items")
        degree = model.adjacency.crow_indices().diff()
        links = [(k, node) for k, edges in enumerate(new.edges) for node, _, _ in edges
                 if max_degree is None or degree[node] <= max_degree]
        owners = torch.tensor([k for k, _ in links], dtype=torch.long)
        neighbours = torch.tensor([node for _, node in links], dtype=torch.long)
        with torch.no_grad():
            inputs = model.text_inputs(new.text)
            text_only = F.normalize(inputs, dim=-1)
            if not links or kg_share == 0:
                return text_only
            folded = model.fold_in(inputs, owners, neighbours, self._layers)
            return F.normalize(kg_share * folded + (1 - kg_share) * text_only, dim=-1)

    def _added_edges(self, kg_path, entities: dict[str, int], count: int) -> list[list[tuple[int, str, bool]]]:
        """Per added item: (existing node, relation phrase, item is the head) for each usable triple."""
        from kgrec.data.rdf import read_triples

        known = self.explainer.entity_nodes()
        edges: list[list[tuple[int, str, bool]]] = [[] for _ in range(count)]
        skipped = {"literal object": 0, "not about an added item": 0, "other end not in the trained graph": 0}
        for subject, predicate, obj in read_triples(kg_path):
            if not isinstance(obj, str):
                skipped["literal object"] += 1
            elif (subject in entities) == (obj in entities):
                skipped["not about an added item"] += 1  # neither, or both: added items are folded in one by one
            elif (obj if subject in entities else subject) not in known:
                skipped["other end not in the trained graph"] += 1
            elif subject in entities:
                edges[entities[subject]].append((known[obj], relation_phrase(predicate), True))
            else:
                edges[entities[obj]].append((known[subject], relation_phrase(predicate), False))
        if any(skipped.values()):
            log.warning("%s: skipped %s", kg_path, ", ".join(f"{n:,} triples with {why}" if why == "literal object"
                                                             else f"{n:,} {why}" for why, n in skipped.items() if n))
        return edges

    # Batch export ---------------------------------------------------------------------------------

    def recommend_all(self, k: int, out: str | Path, batch_size: int = 256) -> int:
        """Top `k` unseen items of every known user to `out` (.parquet, else TSV `user_id item_id rank score`);
        returns the number of rows written."""
        if k < 1:
            raise KgrecError(f"k must be at least 1, got {k}")
        users, items, ranks, scores = [], [], [], []
        for start in tqdm(range(0, self.data.num_users, batch_size), desc="recommending", unit="batch"):
            batch = torch.arange(start, min(start + batch_size, self.data.num_users))
            batch_scores = self.user_scores(batch).clone()
            for row, user in enumerate(batch.tolist()):
                seen = self._seen_items[self._seen_ptr[user]: self._seen_ptr[user + 1]]
                batch_scores[row, torch.from_numpy(seen)] = float("-inf")
            top = self._top(batch_scores, k)
            valid = top >= 0
            users.append(np.repeat(batch.numpy(), valid.sum(1).numpy()))
            items.append(top[valid].numpy())
            ranks.append((torch.arange(top.shape[1]).expand_as(valid)[valid] + 1).numpy())
            scores.append(batch_scores.gather(1, top.clamp(min=0))[valid].numpy())
        users, items, ranks, scores = map(np.concatenate, (users, items, ranks, scores))
        _write_table(Path(out), {"user_id": np.asarray(self.data.user_ids, dtype=object)[users],
                                 "item_id": np.asarray(self.item_ids, dtype=object)[items],
                                 "rank": ranks, "score": scores})
        return len(users)


def _write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({name: pa.array(values.tolist() if values.dtype == object else values)
                                 for name, values in columns.items()}), path)
        return
    with open(path, "w", encoding="utf-8") as file:
        file.write("\t".join(columns) + "\n")
        for row in zip(*columns.values()):
            file.write("\t".join(f"{value:.6g}" if isinstance(value, float) else str(value) for value in row) + "\n")
