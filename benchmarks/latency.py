"""Latency of `Recommender.load` and of one `recommend` for a known user, with and without explanations.

The catalogue is grown to ~10k items by adding another dataset's items (text only) with --add-items,
so that scoring runs over a realistic catalogue size:

    python benchmarks/latency.py /tmp/run_ml100k --add ../shared/datasets/ml-latest-small/bundle/items.tsv
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kgrec.infer.recommender import Recommender


def _added_catalogue(items_tsv: Path, directory: Path) -> Path:
    """The other dataset's items with prefixed ids, as an --add-items TSV."""
    path = directory / "added.tsv"
    with open(items_tsv, encoding="utf-8") as source, open(path, "w", encoding="utf-8") as target:
        rows = csv.DictReader(source, delimiter="\t")
        target.write("item_id\ttitle\ttext\n")
        target.writelines(f"added-{row['item_id']}\t{row['title']}\t{row['text']}\n" for row in rows)
    return path


def _milliseconds(run, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--add", type=Path, help="an items.tsv whose items are added to grow the catalogue")
    parser.add_argument("--users", type=int, default=200, help="known users timed (one query each)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    recommender = Recommender.load(args.run_dir)
    load_seconds = time.perf_counter() - start
    add_seconds = 0.0
    if args.add:
        with tempfile.TemporaryDirectory() as directory:
            start = time.perf_counter()
            recommender.add_items(_added_catalogue(args.add, Path(directory)))
            add_seconds = time.perf_counter() - start
    users = recommender.data.user_ids[: args.users]
    start = time.perf_counter()
    recommender.recommend(users[0], k=10)  # builds the explanation graph once
    graph_seconds = time.perf_counter() - start

    plain = [t for user in users for t in _milliseconds(lambda: recommender.recommend(user, k=10, explain=False), 1)]
    explained = [t for user in users for t in _milliseconds(lambda: recommender.recommend(user, k=10), 1)]
    p50 = statistics.median
    p95 = lambda times: statistics.quantiles(times, n=20)[-1]
    print(f"| catalogue | {len(recommender.item_ids):,} items ({type(recommender.model).__name__}, "
          f"{recommender.data.name}{' + added' if args.add else ''}), {args.threads} thread(s) |\n|---|---|\n"
          f"| load (data, model) | {load_seconds:.1f} s |\n"
          f"| add items (encode text, fold in) | {add_seconds:.1f} s |\n"
          f"| first explanation (builds the networkx graph) | {graph_seconds:.2f} s |\n"
          f"| recommend, k=10, no explanations | p50 {p50(plain):.1f} ms, p95 {p95(plain):.1f} ms |\n"
          f"| recommend, k=10, with explanations | p50 {p50(explained):.1f} ms, p95 {p95(explained):.1f} ms |")


if __name__ == "__main__":
    main()
