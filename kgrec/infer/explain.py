"""Why an item was recommended: the strongest short path from the user's side of the graph to the item.

The heterogeneous graph of kgrec.graph.build (users, items, interests, categories, KG entities) is held as
an undirected networkx graph whose nodes are numbered like the model's (node types in graph order). A
path's cost is the sum of log(degree) of its inner nodes, Adamic-Adar style: a director shared by three
films says more than the English language shared by 1,400. The search is bounded: at most three hops,
through KG entities, categories and interests first: the shortest path wins, and among two-hop paths the
source that shares the most specific neighbours with the item (Adamic-Adar); three-hop paths meet in the
middle at the sources' neighbours. Only when no such path exists, two hops through other users ("liked by
12 users who also liked ..."). Entities without a label are
named by their IRI's local name and the number of items they connect.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import networkx as nx
from torch_geometric.data import HeteroData

from kgrec.data.dataset import Dataset
from kgrec.graph.build import relation_names

MAX_HOPS = 3
EDGE_NAMES = {"interacts": "liked", "has_interest": "tag", "uses_interest": "uses tag"}


def relation_phrase(iri: str) -> str:
    """Readable relation from a predicate IRI: its local name's last dotted part ("film.film.directed_by" ->
    "directed by", "schema.org/genre" -> "genre")."""
    local = re.split(r"[#/]", iri.rstrip("/#"))[-1] or iri
    return local.split(".")[-1].replace("_", " ") or local


def _local_name(iri: str) -> str:
    return re.split(r"[#/]", iri.rstrip("/#"))[-1] or iri


class PathExplainer:
    """Explains recommendations over the graph of one dataset; the networkx graph is built on first use."""

    def __init__(self, data: Dataset, graph: HeteroData):
        self.data, self.hetero = data, graph
        sizes = [graph[t].num_nodes for t in graph.node_types]
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        self.offsets = dict(zip(graph.node_types, starts))
        self.num_nodes = sum(sizes)
        self.names: dict[int, str] = {}  # added items
        self._pending: list[tuple[int, str, list[tuple[int, str, bool]]]] = []
        self._graph: nx.Graph | None = None

    # Node numbering -------------------------------------------------------------------------------

    def item_node(self, item: int) -> int:
        return self.offsets["item"] + item

    def user_node(self, user: int) -> int:
        return self.offsets["user"] + user

    def is_user(self, node: int) -> bool:
        start = self.offsets["user"]
        return start <= node < start + self.data.num_users

    def is_item(self, node: int) -> bool:
        start = self.offsets["item"]
        return start <= node < start + self.data.num_items or node >= self.num_nodes

    def entity_nodes(self) -> dict[str, int]:
        """IRI -> node for every KG entity in the graph (an entity linked to an item is that item's node)."""
        kg, nodes = self.data.kg, {}
        for kind in ("category", "entity"):
            if kind in self.hetero.node_types:
                for local, entity in enumerate(self.hetero[kind].entity.tolist()):
                    nodes[kg.entities[entity]] = self.offsets[kind] + local
        for item, entity in enumerate(kg.item_entity.tolist()):
            if entity >= 0:
                nodes[kg.entities[entity]] = self.item_node(item)
        return nodes

    def add_item(self, node: int, title: str, edges: list[tuple[int, str, bool]]) -> None:
        """An item added after training: `edges` are (neighbour node, relation phrase, the item is the head)."""
        self.names[node] = title
        if self._graph is None:
            self._pending.append((node, title, edges))
        else:
            self._link(node, edges)

    # The graph ------------------------------------------------------------------------------------

    @property
    def graph(self) -> nx.Graph:
        if self._graph is None:
            self._graph = self._build()
            for node, _, edges in self._pending:
                self._link(node, edges)
            self._pending = []
        return self._graph

    def _build(self) -> nx.Graph:
        phrases = dict(zip(relation_names(self.data.kg.relations), map(relation_phrase, self.data.kg.relations)))
        phrases.update(EDGE_NAMES)
        graph = nx.Graph()
        graph.add_nodes_from(range(self.num_nodes))
        # Inverse KG predicates (film.director.film) are one undirected edge with film.film.directed_by:
        # item-headed types go last so that their reading ("directed by") is the one kept.
        edge_types = sorted((t for t in self.hetero.edge_types if not t[1].startswith("rev_")),
                            key=lambda t: t[0] == "item")
        for source, relation, target in edge_types:
            heads, tails = self.hetero[(source, relation, target)].edge_index
            heads, tails = heads + self.offsets[source], tails + self.offsets[target]
            attributes = {"relation": phrases.get(relation, relation)}
            graph.add_edges_from((h, t, {**attributes, "head": h}) for h, t in zip(heads.tolist(), tails.tolist()))
        return graph

    def _link(self, node: int, edges: list[tuple[int, str, bool]]) -> None:
        self._graph.add_node(node)
        for neighbour, relation, item_is_head in edges:
            self._graph.add_edge(node, neighbour, relation=relation, head=node if item_is_head else neighbour)

    def _cost(self, node: int) -> float:
        return math.log(max(self.graph.degree(node), 2))

    # Names ----------------------------------------------------------------------------------------

    def name(self, node: int) -> str:
        if node in self.names:
            return self.names[node]
        kind = max((t for t in self.offsets if self.offsets[t] <= node and self.hetero[t].num_nodes),
                   key=self.offsets.get)
        local = node - self.offsets[kind]
        if kind == "item":
            return self.data.item_titles[local]
        if kind == "user":
            return f"user {self.data.user_ids[local]}"
        if kind == "interest":
            return f"'{self.data.tags.names[local]}'"
        entity = int(self.hetero[kind].entity[local])
        label = self.data.kg.labels[entity]
        if label:
            return label
        items = sum(1 for neighbour in self.graph.adj[node] if self.is_item(neighbour))
        return f"{_local_name(self.data.kg.entities[entity])} ({items:,} items)"

    # Search ---------------------------------------------------------------------------------------

    def strongest_path(self, item: int, sources: set[int]) -> list[int] | None:
        """The shortest path item -> source through non-user nodes (at most MAX_HOPS hops) and, among
        equally short ones, the strongest; else two hops through the most users who share the item and a
        source; else None."""
        adjacency = self.graph.adj
        inner = sorted((x for x in adjacency[item] if not self.is_user(x)), key=self._cost)
        direct = [x for x in inner if x in sources]
        if direct:
            return [item, direct[0]]
        # Two hops: the source sharing the most (and most specific) neighbours with the item (Adamic-Adar).
        strength: dict[int, float] = defaultdict(float)
        via: dict[int, int] = {}
        for x in inner:
            neighbours = adjacency[x]
            shared = ([s for s in sources if s in neighbours] if len(neighbours) > len(sources)
                      else [y for y in neighbours if y in sources])  # whichever side is smaller
            for source in shared:
                strength[source] += 1 / self._cost(x)
                via.setdefault(source, x)
        if strength:
            source = max(strength, key=strength.get)
            return [item, via[source], source]
        return self._three_hops(item, inner, sources) or self._collaborative_path(item, sources)

    def _three_hops(self, item: int, inner: list[int], sources: set[int]) -> list[int] | None:
        """The cheapest item - x - y - source path, meeting in the middle at the sources' neighbours."""
        adjacency = self.graph.adj
        reach = {y: source for source in sources for y in adjacency[source] if not self.is_user(y)}
        best_cost, best = math.inf, None
        for x in inner:  # sorted by cost: once x alone costs more than the best path, stop
            cost_x = self._cost(x)
            if cost_x >= best_cost:
                break
            for y in adjacency[x]:
                if y in reach and y != item and not self.is_user(y) and cost_x + self._cost(y) < best_cost:
                    best_cost, best = cost_x + self._cost(y), [item, x, y, reach[y]]
        return best

    def _collaborative_path(self, item: int, sources: set[int]) -> list[int] | None:
        shared: dict[int, list[int]] = defaultdict(list)
        for user in (x for x in self.graph.adj[item] if self.is_user(x)):
            for source in sources.intersection(self.graph.adj[user]):
                shared[source].append(user)
        if not shared:
            return None
        source = max(shared, key=lambda s: len(shared[s]))
        return [item, shared[source][0], source]

    # Sentences ------------------------------------------------------------------------------------

    def explain(self, item: int, because: dict[int, str]) -> str:
        """One sentence on the strongest path from a source node (key of `because`, value its reason, such as
        "which you liked") to `item`."""
        if item in because:
            return f"{self.name(item)} itself, {because[item]}"
        if not self.graph.adj[item]:
            return "not linked in the graph: scored from its text alone"
        path = self.strongest_path(item, set(because))
        if path is None:
            return f"no path of at most {MAX_HOPS} hops in the graph links it to your items"
        source = path[-1]
        anchor = f"{self.name(source)}, {because[source]}"
        if len(path) == 3 and self.is_user(path[1]):
            users = sum(1 for user in self.graph.adj[item] if self.is_user(user) and self.graph.has_edge(user, source))
            return f"liked by {users:,} user{'s' if users > 1 else ''} who also liked {anchor}"
        if len(path) == 3:
            return f"shares {self._shared(item, source)} with {anchor}"
        return f"{anchor}: {self._chain(list(reversed(path)))}"

    def _shared(self, item: int, source: int) -> str:
        """The (at most three) most specific relations item and source share, e.g. "directed by X and genre Y"."""
        adjacency = self.graph.adj
        common = sorted((x for x in adjacency[item] if x in adjacency[source] and not self.is_user(x)), key=self._cost)
        groups: dict[str, list[int]] = defaultdict(list)
        for x in common:
            groups[adjacency[item][x]["relation"]].append(x)
        parts = []
        for relation, nodes in list(groups.items())[:3]:
            names = ", ".join(self.name(x) for x in nodes[:2])
            parts.append(f"{relation} {names}" + (f" and {len(nodes) - 2} more" if len(nodes) > 2 else ""))
        return "; ".join(parts)

    def _chain(self, path: list[int]) -> str:
        """"A -sequel-> B <-directed by- C": each arrow points from the relation's head to its tail."""
        text = self.name(path[0])
        for a, b in zip(path, path[1:]):
            edge = self.graph.adj[a][b]
            arrow = f" -{edge['relation']}-> " if edge["head"] == a else f" <-{edge['relation']}- "
            text += arrow + self.name(b)
        return text
