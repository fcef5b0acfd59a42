"""Full-ranking evaluation throughput on a large catalogue (issue 6: >= 2,000 users/s at 100k items on CPU).

A synthetic bundle (kgrec-synth) gives the catalogue, the users and their train/valid items to mask; the
scores are those of a trained embedding model at inference (user x item dot products of dim-64
embeddings), so the time is the evaluator's: scoring in user batches, masking, top-100 and every metric,
with and without kgrec's tail slots. A last row scores as kgrec does, adding its text match (a second
product, of the users' 384-dim text profiles with the items' texts).

    OMP_NUM_THREADS=2 python benchmarks/eval_throughput.py --out benchmarks/results/eval_throughput.md
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from kgrec.data.bundle import load_bundle
from kgrec.data.popularity import item_groups
from kgrec.data.synth import SynthConfig, generate_bundle
from kgrec.evaluate.metrics import evaluate
from kgrec.models.tail_slots import interleave_tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        generate_bundle(SynthConfig(users=args.users, items=args.items, interactions=args.interactions,
                                    triples=3 * args.items), directory)
        data = load_bundle(directory)
    generator = torch.Generator().manual_seed(0)
    user_h = torch.nn.functional.normalize(torch.randn(data.num_users, args.dim, generator=generator), dim=-1)
    item_h = torch.nn.functional.normalize(torch.randn(data.num_items, args.dim, generator=generator), dim=-1)
    tail = torch.as_tensor(item_groups(data)[1])

    profiles = torch.nn.functional.normalize(torch.randn(data.num_users, 384, generator=generator), dim=-1)
    item_text = torch.nn.functional.normalize(torch.randn(data.num_items, 384, generator=generator), dim=-1)

    def score(users: torch.Tensor) -> torch.Tensor:
        return (user_h[users] / 0.2) @ item_h.T  # the temperature on the small side, as kgrec

    def kgrec_score(users: torch.Tensor) -> torch.Tensor:
        return score(users) + profiles[users] @ item_text.T

    slots = lambda scores, width: interleave_tail(scores, tail, 6, width)
    rows = []
    for label, score_fn, top_lists in (("scores only", score, None), ("with tail slots (every 6th)", score, slots),
                                       ("kgrec's scores (text match), tail slots", kgrec_score, slots)):
        start = time.perf_counter()
        result = evaluate(score_fn, data, "test", ks=(10, 20, 50), n_recs=100, batch_size=args.batch_size,
                          top_lists=top_lists)
        seconds = time.perf_counter() - start
        users = len(result.users)
        rows.append(f"| {label} | {users:,} | {seconds:.1f} | {users / seconds:,.0f} |")
        print(rows[-1], flush=True)

    threads = os.environ.get("OMP_NUM_THREADS", "all")
    args.out.write_text(
        "# Evaluation throughput (issue 6)\n\n"
        f"Catalogue {data.num_items:,} items, {data.num_users:,} users, {len(data.train):,} train interactions "
        f"(kgrec-synth); full ranking of every item for each test user, train and valid items masked, top-100 "
        f"lists, recall/NDCG/hit/MRR/precision at 10, 20 and 50, head/tail/decile recall; user batches of "
        f"{args.batch_size}; dim-{args.dim} embedding scores; OMP_NUM_THREADS={threads} on the shared 2-core machine.\n\n"
        "| ranking | test users | seconds | users/s |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Command: `OMP_NUM_THREADS={threads} python benchmarks/eval_throughput.py --out {args.out}`\n")


if __name__ == "__main__":
    main()
