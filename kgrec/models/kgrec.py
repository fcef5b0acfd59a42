"""kgrec: an LLM-embedded heterogeneous KG-GNN with a softmax scoring head, built for the long tail.

Every node (user, item, interest, category, entity) starts from

    x_v = MLP(t_v) + g_v * e_v

where t_v is the text encoder's embedding of the node's text (zero for nodes without text), e_v a
learned ID embedding and g_v a gate: for items g_i = n_i / (n_i + c) with n_i the item's train count,
so popular items use their ID embedding while tail and cold items (g = 0) rely on text and graph; for
nodes without text g = 1. Signal then flows through the union of all typed edges (user-item,
item-interest, user-interest, item-category, KG relations) by LightGCN propagation

    x^(l+1) = D^-1/2 A D^-1/2 x^(l),    h = a x^(0) + (1 - a) mean_{l>=1} x^(l)

so a tail item borrows from the popular items that share its interests, categories and KG
neighbours, while keeping a = `self_weight` (0.3; LightGCN's plain mean is a = 1/(L+1)) of its own
input. Scores are cosine similarities over a temperature plus a text match,

    s(u, i) = cos(h_u, h_i) / tau + w cos(p_u, t_i)

where p_u is the mean text embedding of the user's train items (in training, without the target item,
which is absent from p_u at test time) and w is learned (`text_match`, on by default): the raw encoder similarity,
without the projection's bottleneck, lets tail and cold items compete on what they are about. Everything
(MLP, ID embeddings, w) is trained end to end with a softmax over the catalogue: the full softmax when it
fits, else a sampled softmax with logQ correction. Two things are not negatives in that softmax: the user's
other train items (`mask_history`) and items nobody interacted with (`unseen_negatives=False`; pushing
them down would teach the text path that items like the cold ones are bad, which halved test_cold
recall on ml-100k). Two inference knobs trade head accuracy for tail exposure: `popularity_penalty`
beta subtracts beta * log(1 + n_i) from every score, and `tail_every` m gives every m-th list position
to the best tail item not already listed (kgrec.models.tail_slots); "auto" calibrates a knob on the
validation split. Cold items (no train interactions) are ordered among themselves by their score plus
(m - 1) w cos(p_u, t_i) more text match, m = `cold_text_weight`, on their own scale (see `_lean_on_text`);
"auto" has the trainer choose m on items held out of a twin model's training (kgrec.train.cold_weight),
because on some data the graph ranks cold items better than their text and on other data worse.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kgrec.data.dataset import Dataset
from kgrec.data.popularity import item_groups
from kgrec.errors import KgrecError
from kgrec.graph.adjacency import (entry_groups, normalized_adjacency, propagate, propagate_weighted, sparse_product,
                                   unique_pairs)
from kgrec.graph.build import build_graph, graph_summary
from kgrec.graph.sampling import sample_neighbourhood
from kgrec.models.base import Recommender
from kgrec.models.tail_slots import interleave_tail
from kgrec.text.encoder import TextEncoder
from kgrec.text.features import node_texts
from kgrec.text.finetune import TunableTextTower

log = logging.getLogger(__name__)

TextFeatures = dict[str, tuple[Tensor, Tensor]]


class KGRec(Recommender):
    trainable = True
    needs_text = True
    scores_unseen_items = True

    def __init__(
        self,
        data: Dataset,
        text_features: TextFeatures,
        dim: int = 64,
        layers: int = 2,
        temperature: float = 0.2,
        text_hidden: int = 256,
        id_gate: float = 1.0,
        id_dropout: float = 0.0,
        popularity_penalty: float | str = 0.0,
        tail_every: int | str = "auto",
        knob_tolerance: float = 0.02,
        full_softmax_max_items: int = 50_000,
        sampled_negatives: int = 4096,
        use_text: bool = True,
        use_kg: bool = True,
        use_interests: bool = True,
        use_id: bool = True,
        mask_history: bool = True,
        user_text: bool = False,
        text_match: bool = True,
        unseen_negatives: bool = False,
        self_weight: float | None = 0.3,
        cold_text_weight: float | str = "auto",
        relation_weights: bool = False,
        text_finetune_layers: int = 0,
        text_finetune_lr: float = 2e-4,
        neighbour_fanouts: list[int] | None = None,
        neighbour_budget: int | None = None,
        text_encoder: TextEncoder | None = None,
        seed: int = 2026,
    ):
        super().__init__(data)
        self.layers, self.temperature = layers, temperature
        # Weight of a node's own input x^(0) in the layer mean (None: 1 / (layers + 1), plain LightGCN).
        share = 1 / (layers + 1) if self_weight is None else self_weight
        self.layer_weights = [share] + [(1 - share) / max(layers, 1)] * layers
        self.popularity_penalty, self.tail_every = popularity_penalty, tail_every
        self.knob_tolerance = knob_tolerance
        self.cold_text_weight = cold_text_weight
        self.id_dropout = id_dropout
        self.mask_history = mask_history
        self.full_softmax = data.num_items <= full_softmax_max_items
        self.sampled_negatives = sampled_negatives
        # Mini-batch steps over sampled neighbourhoods (kgrec.graph.sampling) instead of the whole graph.
        self.neighbour_fanouts = None if neighbour_fanouts is None else [int(f) for f in neighbour_fanouts]
        if self.neighbour_fanouts is not None and (len(self.neighbour_fanouts) != layers
                                                   or min(self.neighbour_fanouts, default=1) < 1):
            raise KgrecError(f"neighbour_fanouts={list(neighbour_fanouts)} needs one positive fanout per layer "
                             f"({layers} layers), or null for full-graph steps")
        if neighbour_budget is not None and (self.neighbour_fanouts is None or int(neighbour_budget) < 1):
            raise KgrecError(f"neighbour_budget={neighbour_budget} needs neighbour_fanouts and a positive number "
                             "of nodes")
        self.neighbour_budget = None if neighbour_budget is None else int(neighbour_budget)
        if self.neighbour_fanouts is not None and relation_weights:
            raise KgrecError("neighbour_fanouts and relation_weights=true cannot be combined: sampled steps "
                             "propagate without relation weights")
        self.graph = build_graph(data, use_kg=use_kg, use_interests=use_interests)
        log.info("graph of %s\n%s", data.name, graph_summary(self.graph))

        self.node_types = list(self.graph.node_types)
        sizes = [self.graph[t].num_nodes for t in self.node_types]
        self.offsets = dict(zip(self.node_types, np.cumsum([0] + sizes[:-1]).tolist()))
        self.num_nodes = int(sum(sizes))
        pairs, relations, num_relations = self._union_edges()
        self.adjacency = normalized_adjacency(pairs[0], pairs[1], self.num_nodes)
        if relation_weights:
            self.register_buffer("entry_relation", entry_groups(self.adjacency, pairs[0], pairs[1], relations),
                                 persistent=False)
            self.register_buffer("entry_row", torch.repeat_interleave(
                torch.arange(self.num_nodes), self.adjacency.crow_indices().diff()), persistent=False)
            self.relation_logit = nn.Parameter(torch.zeros(num_relations))
        else:
            self.relation_logit = None

        text, has_text = self._node_text(text_features, use_text)
        if use_text and user_text:
            self._add_user_profiles(text, has_text, data)
        # Only nodes with text go through the projection (in ml-100k 5% of the nodes).
        self.register_buffer("text_nodes", has_text.nonzero().squeeze(1))
        self.register_buffer("text_row", torch.full((self.num_nodes,), -1).index_copy_(
            0, self.text_nodes, torch.arange(len(self.text_nodes))), persistent=False)  # -1: no text
        self.register_buffer("text", text[has_text], persistent=False)  # rebuilt from the cache on load
        # Optionally the text of those nodes comes from the encoder's top layers, tuned end to end (for GPUs:
        # every step replays those layers over every node text).
        self.text_tower = None
        if use_text and text_finetune_layers > 0:
            if text_encoder is None or user_text:
                raise KgrecError("text_finetune_layers > 0 needs the run's text encoder and user_text=false")
            self.text_tower = TunableTextTower(text_encoder, self._node_text_list(data), text_finetune_layers)
        self.text_finetune_lr = text_finetune_lr
        popularity = torch.as_tensor(data.item_popularity(), dtype=torch.float32)
        # The knob's penalty: log(1 + n_i) for items seen in train. Unseen items get the head's penalty, so
        # the knob moves exposure between items with evidence and never floods the lists with unseen ones.
        log_popularity = torch.log1p(popularity)
        self.register_buffer("log_popularity", log_popularity.masked_fill(popularity == 0, log_popularity.max()))
        # The softmax's columns: every item, or (unseen_negatives=False) only those seen in train, because items
        # nobody interacted with are unlabelled, not negatives. Leaving them out also makes the softmax cheaper.
        columns = torch.arange(self.num_items) if unseen_negatives else torch.nonzero(popularity > 0).squeeze(1)
        self.register_buffer("softmax_items", columns, persistent=False)
        self.register_buffer("softmax_column", torch.full((self.num_items,), -1).index_copy_(
            0, columns, torch.arange(len(columns))), persistent=False)
        weight = popularity[columns] + 1  # sampled softmax: negatives by popularity, corrected by log q
        self.register_buffer("negative_logq", torch.log(weight / weight.sum()), persistent=False)
        # Drawing by binary search in the cumulative distribution costs log(items) per draw, not a pass over them.
        self.register_buffer("negative_cdf", torch.cumsum(weight.double(), 0) / weight.sum(), persistent=False)
        self.register_buffer("tail_items", torch.as_tensor(item_groups(data)[1]), persistent=False)
        self.register_buffer("unseen_items", popularity == 0, persistent=False)  # cold to the model
        gate = (~has_text).float()  # nodes without text always need their ID embedding
        if use_id:
            item_gate = popularity / (popularity + id_gate)
            gate[self.offsets["item"]: self.offsets["item"] + self.num_items] = item_gate
            gate[self.offsets["user"]: self.offsets["user"] + self.num_users] = 1.0
        self.register_buffer("id_gate", gate.unsqueeze(1))

        # The text match: w, every item's normalised text (zero without text) and each user's sum of their train
        # items' texts, whose normalised value is p_u.
        match = use_text and text_match
        self.text_match_weight = nn.Parameter(torch.tensor(1.0)) if match else None
        item_text = F.normalize(text_features["item"][0], dim=-1) if match else None
        self.register_buffer("item_text", item_text, persistent=False)  # rebuilt from the cache on load
        self.register_buffer("profile_sum", _train_item_sums(item_text, data) if match else None, persistent=False)
        self.register_buffer("softmax_text", item_text[self.softmax_items] if match else None, persistent=False)
        if not match:
            self.cold_text_weight = 1  # it scales the text match: nothing to choose
        generator = torch.Generator().manual_seed(seed)
        self.id_embedding = nn.Parameter(torch.randn(self.num_nodes, dim, generator=generator) * 0.1)
        self.text_projection = nn.Sequential(
            nn.Linear(text.shape[1], text_hidden), nn.GELU(), nn.Linear(text_hidden, dim)
        ) if use_text else None
        self.sampler = torch.Generator().manual_seed(seed + 1)
        self._cache: Tensor | None = None
        order = np.lexsort((data.train.items, data.train.users))
        self.register_buffer("history_items", torch.as_tensor(data.train.items[order]), persistent=False)
        counts = torch.as_tensor(np.bincount(data.train.users, minlength=data.num_users))
        self.register_buffer("history_ptr", torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]),
                             persistent=False)

    def _union_edges(self) -> tuple[np.ndarray, Tensor, int]:
        """Every undirected node pair over all edge types, once (2 x n, sorted), the edge type of each (the
        first type naming that pair), and the number of edge types."""
        rows, cols, kinds = [], [], []
        edge_types = [edge_type for edge_type in self.graph.edge_types if not edge_type[1].startswith("rev_")]
        for kind, (source, relation, target) in enumerate(edge_types):  # normalized_adjacency adds reverses
            edges = self.graph[(source, relation, target)].edge_index
            rows.append(edges[0] + self.offsets[source])
            cols.append(edges[1] + self.offsets[target])
            kinds.append(torch.full((edges.shape[1],), kind))
        pairs, kinds = torch.sort(torch.stack([torch.cat(rows), torch.cat(cols)]), dim=0).values, torch.cat(kinds)
        # Inverse KG relations name the same node pair: one edge, of the first type that names it.
        pairs, inverse = unique_pairs(pairs[0], pairs[1])
        kinds = torch.full((pairs.shape[1],), len(edge_types)).scatter_reduce(0, torch.from_numpy(inverse), kinds,
                                                                                "amin")
        return pairs, kinds, len(edge_types)

    def _node_text(self, text_features: TextFeatures, use_text: bool) -> tuple[Tensor, Tensor]:
        """Text embeddings of all nodes in graph order, and which nodes have any."""
        dim = next(iter(text_features.values()))[0].shape[1]
        text = torch.zeros(self.num_nodes, dim)
        has_text = torch.zeros(self.num_nodes, dtype=torch.bool)
        if not use_text:
            return text, has_text
        for node_type in self.node_types:
            start, size = self.offsets[node_type], self.graph[node_type].num_nodes
            if node_type in ("item", "interest"):
                vectors, mask = text_features[node_type]
            elif node_type in ("category", "entity"):
                entity = self.graph[node_type].entity
                vectors, mask = text_features["entity"][0][entity], text_features["entity"][1][entity]
            else:
                continue
            text[start: start + size], has_text[start: start + size] = vectors, mask
        return text, has_text

    def _node_text_list(self, data: Dataset) -> list[str]:
        """The texts behind `self.text`, in its order (graph order, nodes without text left out)."""
        texts, ordered = node_texts(data), []
        for node_type in self.node_types:
            if node_type in ("item", "interest"):
                ordered += texts[node_type]
            elif node_type in ("category", "entity"):
                ordered += [texts["entity"][entity] for entity in self.graph[node_type].entity.tolist()]
        return [text for text in ordered if text is not None]

    def _add_user_profiles(self, text: Tensor, has_text: Tensor, data: Dataset) -> None:
        """A user's text is the mean text embedding of the items they liked in train."""
        profile = _train_item_sums(text[self.offsets["item"]: self.offsets["item"] + self.num_items], data)
        start = self.offsets["user"]
        text[start: start + self.num_users] = F.normalize(profile, dim=-1)
        has_text[start: start + self.num_users] = profile.norm(dim=-1) > 0

    def node_embeddings(self) -> Tensor:
        """Propagated, L2-normalised embeddings of every node."""
        return self.mix_layers(self.layer_embeddings())

    def mix_layers(self, layers: list[Tensor]) -> Tensor:
        """h from x^(0) .. x^(L): their weighted mean (`self_weight` on x^(0)), L2-normalised."""
        return F.normalize(sum(weight * x for weight, x in zip(self.layer_weights, layers)), dim=-1)

    def _users_items(self, h: Tensor) -> tuple[Tensor, Tensor]:
        user, item = self.offsets["user"], self.offsets["item"]
        return h[user: user + self.num_users], h[item: item + self.num_items]

    def user_profiles(self, users: Tensor) -> Tensor | None:
        """p_u of known users (None without the text match)."""
        return None if self.text_match_weight is None else F.normalize(self.profile_sum[users], dim=-1)

    def _training_profiles(self, users: Tensor, items: Tensor) -> Tensor:
        """p_u without the target item (absent from p_u at test time): one row per (user, item). Callers multiply
        by w only after the product with item texts, so w's gradient is elementwise, not a second product."""
        return F.normalize(self.profile_sum[users] - self.item_text[items], dim=-1)

    def loss(self, users: Tensor, items: Tensor) -> Tensor:
        targets = self.softmax_column[items]
        if self.full_softmax and self.neighbour_fanouts is None:
            user_h, column_h = self._batch_embeddings(users, self.softmax_items)
            query = user_h / self.temperature  # scales every logit, at a fraction of dividing them
            logits = query @ column_h.T
            if self.text_match_weight is not None:
                logits += self.text_match_weight * (self._training_profiles(users, items) @ self.softmax_text.T)
            if self.mask_history:
                self._mask_other_positives(logits, users, targets)
            return F.cross_entropy(logits, targets)
        uniform = torch.rand(self.sampled_negatives, generator=self.sampler, dtype=torch.float64)  # on the CPU
        negatives = torch.searchsorted(self.negative_cdf, uniform.to(users.device))
        negatives.clamp_(max=len(self.negative_cdf) - 1)  # a draw above the float sum of the last entry
        negative_items = self.softmax_items[negatives]
        user_h, positive_h, negative_h = self._batch_embeddings(users, items, negative_items)
        query = user_h / self.temperature
        positive = (query * positive_h).sum(-1, keepdim=True) - self.negative_logq[targets].unsqueeze(1)
        negative = query @ negative_h.T - self.negative_logq[negatives]
        if self.text_match_weight is not None:
            profiles = self._training_profiles(users, items)
            positive = positive + self.text_match_weight * (profiles * self.item_text[items]).sum(-1, keepdim=True)
            negative = negative + self.text_match_weight * (profiles @ self.item_text[negative_items].T)
        logits = torch.cat([positive, negative], dim=1)
        return F.cross_entropy(logits, torch.zeros(len(users), dtype=torch.long, device=users.device))

    def _batch_embeddings(self, users: Tensor, *item_lists: Tensor) -> list[Tensor]:
        """h of `users` and of each item list: from the whole graph, or (`neighbour_fanouts`) propagated over a
        neighbourhood sampled around them only, an estimate of the layers (unbiased without `neighbour_budget`) at
        a cost set by the batch."""
        if self.neighbour_fanouts is None:
            user_h, item_h = self._users_items(self.node_embeddings())
            return [user_h[users]] + [item_h[items] for items in item_lists]
        lists = [self.offsets["user"] + users] + [self.offsets["item"] + items for items in item_lists]
        seeds, inverse = torch.unique(torch.cat(lists), return_inverse=True)
        nodes, products = sample_neighbourhood(self.adjacency, seeds, self.neighbour_fanouts, self.sampler,
                                             self.neighbour_budget)
        layers = [self.layer_inputs(nodes)]
        for product in products:
            layers.append(sparse_product(product, layers[-1]))
        h = self.mix_layers([layer[: len(seeds)] for layer in layers])[inverse]
        return list(h.split([len(part) for part in lists]))

    def learning_rates(self) -> dict[nn.Parameter, float]:
        """The tuned text blocks are pretrained: at the trainer's rate (5e-3) Adam wrecks them within an epoch
        (kg_data on a GPU, 4 epochs: test recall@20 0.226 against 0.250 frozen, test_cold 0.271 against 0.359)."""
        if self.text_tower is None:
            return {}
        return {parameter: self.text_finetune_lr for parameter in self.text_tower.parameters()}

    def sparse_parameters(self) -> list[nn.Parameter]:
        """Sampled steps touch a few rows of the ID table: their update must not cost a pass over all of it."""
        return [] if self.neighbour_fanouts is None else [self.id_embedding]

    def _mask_other_positives(self, logits: Tensor, users: Tensor, targets: Tensor) -> None:
        """The user's other train items are not negatives: drop them from this row's softmax (in place)."""
        starts, ends = self.history_ptr[users], self.history_ptr[users + 1]
        counts = ends - starts
        rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), counts)
        within = torch.arange(int(counts.sum()), device=users.device) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
        columns = self.softmax_column[self.history_items[torch.repeat_interleave(starts, counts) + within]]
        keep = columns != targets[rows]
        minus_infinity = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)  # bf16 under autocast
        logits.index_put_((rows[keep], columns[keep]), minus_infinity)

    def prepare_scoring(self) -> None:
        self._cache = self.node_embeddings()

    def score(self, users: Tensor) -> Tensor:
        user_h, item_h = self._users_items(self._cache if self._cache is not None else self.node_embeddings())
        return self.score_embeddings(user_h[users], item_h, self.log_popularity, self.user_profiles(users),
                                     self.item_text, self.unseen_items)

    def top_lists(self, scores: Tensor, width: int) -> tuple[Tensor, Tensor]:
        """Tail slots; columns past the catalogue (items added at inference) are new, so never tail."""
        every = 0 if self.tail_every == "auto" else int(self.tail_every)
        tail = F.pad(self.tail_items, (0, scores.shape[1] - self.num_items))
        return interleave_tail(scores, tail, every, width)

    def get_extra_state(self) -> dict:
        """The calibrated knobs travel with the checkpoint, so a loaded run ranks exactly as it was evaluated."""
        return {"popularity_penalty": self.popularity_penalty, "tail_every": self.tail_every,
                "cold_text_weight": self.cold_text_weight}

    def set_extra_state(self, state: dict) -> None:
        # Runs saved before tail slots or the cold text weight existed ranked without them.
        self.popularity_penalty, self.tail_every = state["popularity_penalty"], state.get("tail_every", 0)
        self.cold_text_weight = state.get("cold_text_weight", 1)

    def calibrate(self, validate: Callable[[], float], data: Dataset) -> None:
        """Knobs set to "auto": the most tail exposure whose validation metric stays within `knob_tolerance`
        (relative) of no adjustment: the penalty beta, then the tail slots. (The cold text weight is chosen
        before, by the trainer: kgrec.train.cold_weight.)"""
        knobs = [(name, grid) for name, grid in (("popularity_penalty", (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)),
                                                 ("tail_every", (20, 10, 6, 5, 4, 3)))
                 if getattr(self, name) == "auto"]
        for name, _ in knobs:
            setattr(self, name, 0)
        floor = validate() * (1 - self.knob_tolerance)
        for name, grid in knobs:
            for value in grid:
                previous = getattr(self, name)
                setattr(self, name, value)
                if validate() < floor:
                    setattr(self, name, previous)
                    break
            log.info("%s=auto chose %s on the validation split", name, getattr(self, name))

    def train(self, mode: bool = True) -> "KGRec":
        self._cache = None  # parameters are about to change; the loop calls this every epoch
        return super().train(mode)

    # Inductive use at inference: nodes the model never trained on (new users, items added later).

    def layer_embeddings(self) -> list[Tensor]:
        """x^(0) .. x^(L) of every node (ID dropout while training): `node_embeddings` is their normalised mean."""
        layers = [self.layer_inputs()]
        for _ in range(self.layers):
            if self.relation_logit is None:
                layers.append(propagate(self.adjacency, layers[-1]))
            else:
                layers.append(propagate_weighted(self.adjacency, self.entry_row, self.entry_relation,
                                                 self.relation_logit.exp(), layers[-1]))
        return layers

    def layer_inputs(self, nodes: Tensor | None = None) -> Tensor:
        """x^(0) of `nodes` (all nodes when None), with ID dropout while training: full-graph and sampled
        steps start from here, and only the given nodes' texts go through the projection. Every one of them
        sends gradient to it: a sampled step that projected only its seeds and read the neighbours' MLP(t)
        from a table (historical embeddings) trained well on 1e5 interactions and not at all on 1e6 (test
        recall@20 0.009 against 0.22, most-popular 0.15), even with that table fresh at every step."""
        gate = self.id_gate if nodes is None else self.id_gate[nodes]
        # A sampled step gives the ID table a sparse gradient, for the rows of `nodes` only.
        ids = self.id_embedding if nodes is None else F.embedding(nodes, self.id_embedding, sparse=True)
        if self.training and self.id_dropout > 0:
            gate = gate * (torch.rand_like(gate) >= self.id_dropout)
        x = gate * ids
        if self.text_projection is None or not len(self.text_nodes):
            return x
        if nodes is None:
            targets, rows = self.text_nodes, None
        else:
            targets = (self.text_row[nodes] >= 0).nonzero().squeeze(1)
            rows = self.text_row[nodes[targets]]
            if not len(rows):
                return x
        if self.text_tower is not None:
            text = self.text_projection(self.text_tower(rows))
        else:
            text = self.text_projection(self.text if rows is None else self.text[rows])
        return x.index_add(0, targets, text.to(x.dtype))  # the MLP runs in bf16/fp16 under autocast

    def text_inputs(self, text: Tensor) -> Tensor:
        """Layer-0 inputs of new nodes described by text-encoder vectors, as a cold item's would be."""
        if self.text_projection is None:
            raise KgrecError("this kgrec model was trained without text (use_text=false): it cannot embed new text")
        return self.text_projection(text)

    def fold_in(self, inputs: Tensor, owners: Tensor, neighbours: Tensor, layers: list[Tensor]) -> Tensor:
        """Normalised embeddings of new nodes, propagated as if their edges (owners[k] -- neighbours[k], an
        existing node) had been in the graph: each layer sums the neighbours' previous layer, plus what the
        new node itself sent them one layer earlier. `layers` is `layer_embeddings()`."""
        if self.relation_logit is not None:
            raise KgrecError("new users and added items are not supported with relation_weights=true: the fold-in "
                             "does not know which relation a new edge has")
        degree = self.adjacency.crow_indices().diff().float() + 1  # every neighbour gains the new edge
        count = torch.bincount(owners, minlength=len(inputs)).float()
        weight = (count[owners] * degree[neighbours]).rsqrt().unsqueeze(1)
        echo = torch.zeros(len(inputs)).index_add(0, owners, weight.squeeze(1) ** 2).unsqueeze(1)
        own = [inputs]
        for layer in range(1, self.layers + 1):
            x = torch.zeros_like(inputs).index_add(0, owners, weight * layers[layer - 1][neighbours])
            own.append(x + echo * own[layer - 2] if layer >= 2 else x)
        return self.mix_layers(own)

    def score_embeddings(self, queries: Tensor, items: Tensor, log_popularity: Tensor,
                         profiles: Tensor | None = None, item_text: Tensor | None = None, cold: Tensor | None = None,
                         cold_text_weight: float | None = None) -> Tensor:
        """`score` for query and item embeddings from anywhere (folded-in users, added items); with the text
        match, also the queries' profiles p_u, the items' normalised texts and which items are cold (no train
        interactions: unseen catalogue items, added items), reordered by `cold_text_weight` (default: the
        model's)."""
        scores = (queries / self.temperature) @ items.T  # the scaling on the small side
        if self.text_match_weight is not None:
            match = profiles @ item_text.T
            scores += self.text_match_weight * match
            factor = self.cold_text_weight if cold_text_weight is None else cold_text_weight
            if cold is not None and factor not in ("auto", 1):
                self._lean_on_text(scores, match, cold, float(factor))
        penalty = self._penalty()
        return scores - penalty * log_popularity if penalty else scores

    def _lean_on_text(self, scores: Tensor, match: Tensor, cold: Tensor, factor: float) -> None:
        """Cold items ranked by their score plus (factor - 1) w cos(p_u, t_i) more text match, then put back on
        the row's mean and spread of their own scores (in place): they change places among themselves but
        reach the catalogue-wide lists as often as before."""
        columns = cold.nonzero().squeeze(1)
        if len(columns) < 2:
            return
        own = scores[:, columns]
        leaning = own + (factor - 1) * self.text_match_weight * match[:, columns]
        standard = (leaning - leaning.mean(1, keepdim=True)) / leaning.std(1, keepdim=True).clamp_min(1e-12)
        scores[:, columns] = own.mean(1, keepdim=True) + own.std(1, keepdim=True) * standard

    def _penalty(self) -> float:
        return 0.0 if self.popularity_penalty == "auto" else float(self.popularity_penalty)


def _train_item_sums(item_vectors: Tensor, data: Dataset) -> Tensor:
    """Per user, the sum of `item_vectors` (one row per item) over the user's train items: the text profiles of
    `user_text` and of the text match."""
    users, items = torch.as_tensor(data.train.users), torch.as_tensor(data.train.items)
    return torch.zeros(data.num_users, item_vectors.shape[1]).index_add_(0, users, item_vectors[items])
