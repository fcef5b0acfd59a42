"""Top-K evaluation with the benchmark's metric definitions (shared/datasets/README.md, "Metric definitions").

Each batch of users is scored once; the user's train (and valid) items and every non-candidate are set to
-inf and one `torch.topk` serves every cut-off. Per-user values are kept and averaged once at the end, so
the result does not depend on the batch size. A -inf item is never a recommendation: a user with fewer
eligible items than K gets a shorter list.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from kgrec.data.dataset import Dataset, Interactions
from kgrec.data.popularity import item_groups, popularity_order
from kgrec.errors import KgrecError
from kgrec.evaluate.top_k import top_k

#: Splits that can be evaluated, and the splits whose items each one excludes from a user's ranking.
#: valid_tail and test_tail are valid and test restricted to tail items, ranked among the tail items alone: how
#: well a model orders the tail, whatever it thinks of the head (what its tail slots, or a list of tail items
#: only, could reach).
EXCLUDED = {"valid": ("train",), "test": ("train", "valid"), "test_cold": ("train", "valid"),
            "valid_tail": ("train",), "test_tail": ("train", "valid")}
TAIL_SPLITS = {"valid_tail": "valid", "test_tail": "test"}
#: Per-user metrics, averaged over every evaluated user.
USER_METRICS = ("recall", "ndcg", "hit", "mrr", "precision")
#: Popularity groups of `decile_recall`.
DECILES = 10

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
ListFn = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class EvalResult:
    """Metrics of one split plus what the reports need: every user's top list and the per-decile recall.

    `top_items[r]` is the ranking of user `users[r]`, best first; it is padded with -1 where the user has
    fewer eligible items than the list is wide. `decile_recall[k][d]` is recall@k on the items of
    popularity decile d + 1 (decile 1 = most popular), NaN where no user has a split item there.
    The metrics are `summarise`d from per-user values (row r: user `users[r]`; NaN where undefined) and
    per-item top-k counts, so results for disjoint sets of users can be merged exactly.
    """

    metrics: dict[str, float]
    users: np.ndarray
    top_items: np.ndarray
    decile_recall: dict[int, list[float]]
    per_user: dict[tuple[str, int], np.ndarray]
    decile_per_user: dict[int, np.ndarray]
    item_counts: dict[int, np.ndarray]


def evaluate(
    score_fn: ScoreFn,
    data: Dataset,
    split: str,
    ks: Sequence[int] = (10, 20, 50),
    head_share: float = 0.2,
    n_recs: int = 100,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
    top_lists: ListFn | None = None,
) -> EvalResult:
    """Rank the candidate pool for every user with items in `split` and score the top lists.

    `score_fn(users)` returns scores of shape (len(users), data.num_items); higher is better.
    `top_lists(masked_scores, width)`, a model's `top_lists`, makes each user's list (default: by score).
    """
    if min(ks) < 1 or n_recs < 1:
        raise ValueError(f"cut-offs and n_recs must be positive, got ks={tuple(ks)}, n_recs={n_recs}")
    head, tail, cold = item_groups(data, head_share)
    positives = _split(data, split, tail)
    users = np.unique(positives.users)
    candidates = split_candidates(data, split, tail, cold)
    if not candidates.any():
        raise KgrecError(f"split {split!r} has no candidate items (the dataset has no "
                         f"{'tail' if split in TAIL_SPLITS else 'cold'} items)")
    seen = [data.splits[name] for name in EXCLUDED[split] if name in data.splits]
    seen_ptr, seen_items = _user_rows(
        users, np.concatenate([s.users for s in seen]), np.concatenate([s.items for s in seen])
    )
    # A pair listed twice is one relevant item (the group counts below count pairs).
    pair_keys = np.unique(positives.users.astype(np.int64) * data.num_items + positives.items)
    pos_ptr, pos_items = _user_rows(users, pair_keys // data.num_items, pair_keys % data.num_items)

    device = torch.device(device)
    width = min(max(n_recs, *ks), int(candidates.sum()))
    non_candidates = torch.from_numpy(~candidates).to(device) if not candidates.all() else None
    head_tail_labels = torch.from_numpy(np.where(head, 0, np.where(tail, 1, -1))).to(device)
    decile_labels = torch.from_numpy(_decile_labels(data)).to(device)
    head_tail, deciles = _one_hot(head_tail_labels, 2), _one_hot(decile_labels, DECILES)

    per_user = {(name, k): np.empty(len(users)) for name in USER_METRICS + ("head_recall", "tail_recall") for k in ks}
    decile_per_user = {k: np.empty((len(users), DECILES)) for k in ks}
    counts = {k: torch.zeros(data.num_items, dtype=torch.long, device=device) for k in ks}
    top_items = np.empty((len(users), min(n_recs, width)), dtype=np.int64)

    progress = tqdm(total=len(users), desc=f"evaluate {split}", file=sys.stderr, disable=not sys.stderr.isatty())
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            stop = min(start + batch_size, len(users))
            scores = _scores(score_fn, users[start:stop], data.num_items, device)
            scores.index_put_(_row_pairs(seen_ptr, seen_items, start, stop, device),
                              torch.tensor(-math.inf, dtype=scores.dtype, device=device))
            if non_candidates is not None:
                scores.masked_fill_(non_candidates, -math.inf)
            values, top = (top_lists or _by_score)(scores, width)
            eligible = values > -math.inf
            # The positives stay (row, item) pairs; a hit is a listed (row, item) among them.
            pairs = _row_pairs(pos_ptr, pos_items, start, stop, device)
            rows = torch.arange(stop - start, device=device).unsqueeze(1)
            hits = torch.isin(rows * data.num_items + top, pairs[0] * data.num_items + pairs[1]) & eligible
            top_items[start:stop] = torch.where(eligible, top, -1)[:, : top_items.shape[1]].cpu().numpy()

            n_relevant = torch.bincount(pairs[0], minlength=stop - start).double()
            head_tail_relevant = _group_counts(pairs, head_tail_labels, 2, stop - start)
            decile_relevant = _group_counts(pairs, decile_labels, DECILES, stop - start)
            for k in ks:
                top_k, hits_k = top[:, :k], hits[:, :k].double()
                for name, value in _user_metrics(hits_k, n_relevant, k).items():
                    per_user[name, k][start:stop] = value.cpu().numpy()
                head_tail_recall = _group_recall(head_tail_relevant, top_k, hits_k, head_tail).cpu().numpy()
                per_user["head_recall", k][start:stop] = head_tail_recall[:, 0]
                per_user["tail_recall", k][start:stop] = head_tail_recall[:, 1]
                decile_per_user[k][start:stop] = _group_recall(decile_relevant, top_k, hits_k, deciles).cpu().numpy()
                counts[k] += torch.bincount(top_k[eligible[:, :k]], minlength=data.num_items)
            progress.update(stop - start)
    progress.close()
    item_counts = {k: counts[k].cpu().numpy() for k in ks}
    metrics, decile_recall = summarise(split, per_user, decile_per_user, item_counts, head, candidates)
    return EvalResult(metrics, users, top_items, decile_recall, per_user, decile_per_user, item_counts)


def summarise(split: str, per_user: dict[tuple[str, int], np.ndarray], decile_per_user: dict[int, np.ndarray],
              item_counts: dict[int, np.ndarray], head: np.ndarray,
              candidates: np.ndarray) -> tuple[dict[str, float], dict[int, list[float]]]:
    """The split's metrics and per-decile recall from per-user values and per-item top-k counts."""
    # Every cold item and every tail-split candidate is non-head: head/tail metrics would say nothing there.
    head_tail_apply = split != "test_cold" and split not in TAIL_SPLITS
    metrics = {}
    for k, counts in item_counts.items():
        for name in USER_METRICS:
            metrics[f"{name}@{k}"] = float(per_user[name, k].mean())
        if head_tail_apply:
            metrics[f"head_recall@{k}"] = _mean_defined(per_user["head_recall", k])
            metrics[f"tail_recall@{k}"] = _mean_defined(per_user["tail_recall", k])
        metrics[f"coverage@{k}"] = float(np.mean(counts[candidates] > 0))
        if head_tail_apply:
            filled = counts.sum()
            metrics[f"tail_share@{k}"] = float(counts[~head].sum() / filled) if filled else math.nan
        metrics[f"gini@{k}"] = _gini(counts[candidates])
    metrics["users"] = float(len(next(iter(decile_per_user.values()))))
    decile_recall = {k: [_mean_defined(values[:, d]) for d in range(DECILES)] for k, values in decile_per_user.items()}
    return metrics, decile_recall


def _split(data: Dataset, split: str, tail: np.ndarray) -> Interactions:
    if split not in EXCLUDED:
        raise KgrecError(f"cannot evaluate split {split!r}; choose one of {', '.join(EXCLUDED)}")
    source = source_split(split)
    if source not in data.splits:
        raise KgrecError(f"dataset {data.name!r} has no {source!r} split")
    pairs = data.splits[source]
    if split in TAIL_SPLITS:
        pairs = pairs.take(tail[pairs.items])
    if len(pairs) == 0:
        raise KgrecError(f"split {split!r} of dataset {data.name!r} is empty: there is nothing to evaluate")
    return pairs


def _user_rows(users: np.ndarray, pair_users: np.ndarray, pair_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR of the pairs by row of `users` (sorted), so a batch of rows is one contiguous slice.

    Pairs of users outside `users` are not needed by this evaluation and are left out.
    """
    rows = np.searchsorted(users, pair_users)
    keep = rows < len(users)
    keep[keep] = users[rows[keep]] == pair_users[keep]
    order = np.argsort(rows[keep], kind="stable")
    return np.searchsorted(rows[keep][order], np.arange(len(users) + 1)), pair_items[keep][order]


def source_split(split: str) -> str:
    """The entry of `Dataset.splits` whose pairs `split` evaluates (valid for valid_tail, test for test_tail)."""
    return TAIL_SPLITS.get(split, split)


def split_candidates(data: Dataset, split: str, tail: np.ndarray, cold: np.ndarray) -> np.ndarray:
    """The items ranked for `split` (a mask): the cold items for test_cold, the tail items for valid_tail and
    test_tail, every item otherwise."""
    if split == "test_cold":
        return cold
    return tail if split in TAIL_SPLITS else np.ones(data.num_items, dtype=bool)


def _by_score(scores: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(top_k(scores, width))


def _row_pairs(ptr: np.ndarray, items: np.ndarray, start: int, stop: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(row within the batch, item) of every pair in the CSR rows start..stop."""
    rows = np.repeat(np.arange(stop - start), np.diff(ptr[start : stop + 1]))
    return torch.from_numpy(rows).to(device), torch.from_numpy(items[ptr[start] : ptr[stop]]).to(device)


def _group_counts(pairs: tuple[torch.Tensor, torch.Tensor], labels: torch.Tensor, n_groups: int,
                  n_rows: int) -> torch.Tensor:
    """(n_rows, n_groups) counts of each row's items per group; items labelled -1 belong to no group."""
    rows, items = pairs
    group = labels[items]
    member = group >= 0
    counts = torch.zeros(n_rows, n_groups, dtype=torch.double, device=labels.device)
    return counts.index_put_((rows[member], group[member]), torch.ones(int(member.sum()), dtype=torch.double,
                                                                      device=labels.device), accumulate=True)


def _scores(score_fn: ScoreFn, users: np.ndarray, num_items: int, device) -> torch.Tensor:
    scores = score_fn(torch.from_numpy(users).to(device))
    if scores.shape != (len(users), num_items):
        raise KgrecError(f"score_fn returned shape {tuple(scores.shape)}, expected ({len(users)}, {num_items})")
    if scores.is_floating_point() and torch.isnan(scores.amax()):  # one reduction: the max of any NaN is NaN
        raise KgrecError("score_fn returned NaN scores")
    # Masking writes in place: a view (e.g. of a model's cached scores) or a non-float tensor is copied first.
    fresh = scores._base is None and scores.is_floating_point() and scores.device == torch.device(device)
    return scores if fresh else scores.to(device=device, dtype=torch.float if not scores.is_floating_point()
                                          else scores.dtype, copy=True)


def _decile_labels(data: Dataset) -> np.ndarray:
    """Popularity decile (0 = most popular) of every non-cold item, -1 for cold items."""
    labels = np.full(data.num_items, -1)
    for decile, members in enumerate(np.array_split(popularity_order(data), DECILES)):
        labels[members] = decile
    return labels


def _one_hot(labels: torch.Tensor, n_groups: int) -> torch.Tensor:
    """(num_items, n_groups) membership matrix; items labelled -1 belong to no group."""
    member = torch.nonzero(labels >= 0).squeeze(1)
    one_hot = torch.zeros(len(labels), n_groups, device=labels.device)
    one_hot[member, labels[member]] = 1.0
    return one_hot


def _user_metrics(hits: torch.Tensor, n_relevant: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Recall, NDCG, hit, MRR and precision of each user's top k (`hits` may be narrower than k)."""
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, device=hits.device, dtype=torch.double))
    ideal = discount.cumsum(0)[n_relevant.clamp(max=k).long() - 1]
    n_hits = hits.sum(1)
    reciprocal_rank = 1.0 / torch.arange(1, hits.shape[1] + 1, device=hits.device, dtype=torch.double)
    return {
        "recall": n_hits / n_relevant,
        "ndcg": (hits * discount[: hits.shape[1]]).sum(1) / ideal,
        "hit": (n_hits > 0).double(),
        "mrr": (hits * reciprocal_rank).amax(1),
        "precision": n_hits / k,
    }


def _group_recall(
    n_relevant: torch.Tensor, top: torch.Tensor, hits: torch.Tensor, groups: torch.Tensor
) -> torch.Tensor:
    """Per user and group: hits among the user's relevant items of the group / their number (NaN if none).

    `n_relevant` is (users, groups), `top` and `hits` are (users, k), `groups` is the (items, groups) one-hot.
    """
    n_hits = (groups[top].double() * hits.unsqueeze(-1)).sum(1)
    return n_hits / n_relevant


def _gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts: 0 when even, (n - 1) / n when one item takes everything."""
    if counts.sum() == 0:
        return math.nan
    ranked = np.sort(counts).astype(np.float64)
    n = len(ranked)
    return float(2.0 * np.sum(np.arange(1, n + 1) * ranked) / (n * ranked.sum()) - (n + 1) / n)


def _mean_defined(values: np.ndarray) -> float:
    """Mean over the users for whom the value is defined (NaN when there are none)."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else math.nan
