"""How well each model orders the tail: its tail-only recall@m, the tail items ranked among themselves.

A list ranked by one score holds, among its top 20, the model's m best tail items, m being however many tail
items made it in; tail slots (model.tail_every) hold them too. So a user's tail recall@20 is exactly the
model's recall@m on the test_tail split (its tail-only recall@m) for the m positions that user's list gives to
the tail, and tail-only recall@20 (a list of tail items alone) is the most tail recall the model's scores can
reach. This reads head_tail.py's runs, ranks the tail with each, and writes OUT/tail_ceiling.md (the table) and
OUT/tail_ceiling.png (tail-only recall@m against m, one line a model, with the issue's tail target if given).

    python benchmarks/tail_ceiling.py --runs benchmarks/results/ml-latest-small/runs \
        --out benchmarks/results/ml-latest-small --tail-target 0.05
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kgrec.evaluate.metrics import evaluate
from kgrec.evaluate.report import markdown_table
from kgrec.infer import Recommender

SLOTS = list(range(1, 21))
SHOWN = [5, 10, 20]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, required=True, help="a directory of kgrec-train runs, one per model")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tail-target", type=float, help="a tail recall@20 to draw across the plot")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    rows, curves, name = [], {}, None
    for run in sorted(path for path in args.runs.iterdir() if (path / "metrics.json").is_file()):
        loaded = Recommender.load(run)
        name = loaded.data.name
        with torch.no_grad():
            ranked = evaluate(loaded.model.score, loaded.data, "test_tail", ks=SLOTS, n_recs=max(SLOTS))
        test = json.loads((run / "metrics.json").read_text())["test"]
        curves[run.name] = [ranked.metrics[f"recall@{m}"] for m in SLOTS]
        rows.append({"model": run.name, "recall@20": test["recall@20"], "tail_recall@20": test["tail_recall@20"],
                     "tail_share@20": test["tail_share@20"],
                     **{f"tail_only_recall@{m}": ranked.metrics[f"recall@{m}"] for m in SHOWN}})

    command = f"python benchmarks/tail_ceiling.py --runs {args.runs} --out {args.out}" + (
        f" --tail-target {args.tail_target}" if args.tail_target is not None else "")
    report = (f"# How far into the tail each model ranks, {name}\n\n"
              "recall@20, tail_recall@20, tail_share@20: the run's test metrics (kgrec with the tail slots its "
              "calibration chose). tail_only_recall@m: recall@m of the test_tail split, i.e. of the test "
              "pairs on tail items, each user's tail items ranked among the tail alone (train and valid items "
              "excluded): the tail recall@20 a list of that model reaches when m of its 20 positions go to the "
              "tail.\n\n"
              f"{markdown_table(rows, list(rows[0]))}\n\n![tail-only recall@m](tail_ceiling.png)\n\n"
              f"Command: `{command}`\n")
    (args.out / "tail_ceiling.md").write_text(report)
    print(report)

    figure = Figure(figsize=(6, 4.5))
    axes = figure.subplots()
    for model, recalls in curves.items():
        axes.plot(SLOTS, recalls, marker=".", label=model)
    if args.tail_target is not None:
        axes.axhline(args.tail_target, color="grey", linestyle="--", label="tail target")
    axes.set_xlabel("tail positions m in a top-20 list")
    axes.set_ylabel("tail-only recall@m (test_tail split)")
    axes.set_title(f"How far into the tail each model ranks, {name}")
    axes.set_xticks([1, 5, 10, 15, 20])
    axes.grid(alpha=0.3)
    axes.legend()
    FigureCanvasAgg(figure).print_png(str(args.out / "tail_ceiling.png"))


if __name__ == "__main__":
    main()
