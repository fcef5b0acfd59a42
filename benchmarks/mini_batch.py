"""Mini-batch (neighbour-sampled) against full-graph kgrec on one bundle: test metrics, time and memory.

Both are plain `kgrec-train` runs with the defaults; the mini-batch run adds `model.neighbour_fanouts`.

    OMP_NUM_THREADS=1 python benchmarks/mini_batch.py --path ../shared/datasets/ml-100k/bundle \
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
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reuse", action="store_true", help="keep runs that already have a metrics.json in --out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [run_model("full_graph:kgrec", "bundle", args.path, [], args.out, args.reuse),
            run_model("mini_batch:kgrec", "bundle", args.path, [f"model.neighbour_fanouts={args.fanouts}"], args.out,
                      args.reuse)]
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    (args.out / "mini_batch.md").write_text(
        f"# Mini-batch vs full-graph kgrec on {Path(args.path).parent.name}\n\n"
        f"K = 20, test split (cold columns: test_cold). The mini-batch run samples neighbourhoods with fanouts "
        f"{args.fanouts} and trains with the sampled softmax; both score the full graph. Times in seconds on this "
        f"shared 2-core machine (OMP_NUM_THREADS={threads}), peak memory of each run's process in MB.\n\n"
        + markdown_table(rows, COLUMNS) + "\n\n"
        f"Command: `OMP_NUM_THREADS={threads} python benchmarks/mini_batch.py --path {args.path} --out {args.out}`\n")


if __name__ == "__main__":
    main()
