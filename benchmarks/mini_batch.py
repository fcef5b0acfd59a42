"""Mini-batch (neighbour-sampled) against full-graph kgrec on one bundle: test metrics, time and memory.

Both are plain `kgrec-train` runs with the defaults; the mini-batch run adds `model.neighbour_fanouts`, and
with `--budget` a third run adds `model.neighbour_budget` too (the price of a step's bounded sample).

    OMP_NUM_THREADS=1 python benchmarks/mini_batch.py --path ../shared/datasets/ml-100k/bundle --budget 1024 \
        --out benchmarks/results/mini_batch
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from head_tail import COLUMNS, run_model
from kgrec.evaluate.report import markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, help="bundle directory")
    parser.add_argument("--fanouts", default="[10,10]", help="model.neighbour_fanouts of the mini-batch run")
    parser.add_argument("--budget", type=int, help="also run with this model.neighbour_budget")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reuse", action="store_true", help="keep runs that already have a metrics.json in --out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sampled = [f"model.neighbour_fanouts={args.fanouts}"]
    rows = [run_model("full_graph:kgrec", "bundle", args.path, [], args.out, args.reuse),
            run_model("mini_batch:kgrec", "bundle", args.path, sampled, args.out, args.reuse)]
    if args.budget:
        rows.append(run_model(f"mini_batch_budget_{args.budget}:kgrec", "bundle", args.path,
                              sampled + [f"model.neighbour_budget={args.budget}"], args.out, args.reuse))
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    budget = (f"; mini_batch_budget_{args.budget} keeps about {args.budget} new nodes per hop "
              "(`model.neighbour_budget`)") if args.budget else ""
    (args.out / "mini_batch.md").write_text(
        f"# Mini-batch vs full-graph kgrec on {Path(args.path).parent.name}\n\n"
        f"K = 20, test split (cold columns: test_cold). The mini-batch run samples neighbourhoods with fanouts "
        f"{args.fanouts} and trains with the sampled softmax{budget}; all score the full graph. Times in seconds on "
        f"this shared 2-core machine (OMP_NUM_THREADS={threads}), peak memory of each run's process in MB.\n\n"
        + markdown_table(rows, COLUMNS) + "\n\n"
        f"Command: `OMP_NUM_THREADS={threads} python benchmarks/mini_batch.py --path {args.path}"
        f"{f' --budget {args.budget}' if args.budget else ''} --out {args.out}`\n")


if __name__ == "__main__":
    main()
