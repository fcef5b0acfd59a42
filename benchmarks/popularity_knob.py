"""The two knobs' trade-off curves: kgrec trained once, then ranked with each knob setting in turn.

The popularity penalty (score - beta * log(1 + train count), beta = 0 ... 1) and the tail slots (every
m-th list position to a tail item, m = 20 ... 3) both move exposure from head to tail items. This writes
OUT/popularity_knob.md (valid and test recall / tail recall / coverage per setting, and what the `auto`
knobs pick on valid) and OUT/popularity_knob.png (test recall@20 against tail recall@20, one curve a knob).

    python benchmarks/popularity_knob.py --path ../shared/datasets/ml-100k/bundle --out benchmarks/results/ml-100k \
        --run benchmarks/results/ml-100k/runs/kgrec      # rank with head_tail.py's kgrec run instead of training
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from omegaconf import OmegaConf

from kgrec.cli.train import CONFIG_DIR
from kgrec.data.dataset import Dataset
from kgrec.data.load import load_dataset
from kgrec.evaluate.metrics import evaluate
from kgrec.evaluate.report import markdown_table
from kgrec.models.base import Recommender
from kgrec.train.experiment import fit, model_builder, seed_everything
from kgrec.train.loop import TrainingLog, trainer_config

BETAS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0]
EVERY = [20, 10, 6, 5, 4, 3, 2]


def train_kgrec(path: str, overrides: list[str]) -> tuple[dict, Dataset, Recommender, TrainingLog]:
    """kgrec trained in this process on the bundle at `path`, as kgrec-train would with `overrides`, and
    fitted (early stopping and knob calibration on valid); returns the resolved config too."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        config = compose("config", overrides=["data=bundle", f"data.path={Path(path).resolve()}", "model=kgrec",
                                              *overrides])
    config = OmegaConf.to_container(config, resolve=True)
    seed_everything(config["seed"])
    data = load_dataset(config["data"])
    trainer = trainer_config({**config["trainer"], **config["model"]["train"], "seed": config["seed"]})
    build = model_builder(config)
    model = build(data)
    history = fit(model, data, trainer, config["eval"], build_twin=build)
    return config, data, model, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, help="a bundle directory")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run", type=Path, help="a kgrec-train run of kgrec on that bundle (e.g. head_tail.py's "
                                                 "OUT/runs/kgrec) to rank with, instead of training one")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model.temperature=0.15")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.run:
        from kgrec.infer import Recommender

        loaded = Recommender.load(args.run)  # with the knobs its training calibrated on valid
        config, data, model = loaded.config, loaded.data, loaded.model
    else:
        config, data, model, _ = train_kgrec(args.path, args.overrides)  # calibrates the `auto` knobs on valid
    chosen = (model.popularity_penalty, model.tail_every)

    settings = [("penalty", beta, 0) for beta in BETAS] + [("tail slots", 0.0, every) for every in EVERY]
    rows = []
    with torch.no_grad():
        for knob, beta, every in settings:
            model.popularity_penalty, model.tail_every = beta, every
            row = {"knob": knob, "beta": f"{beta:.2f}", "every": str(every) if every else "off",
                   "auto": "yes" if (beta, every) == chosen else ""}
            for split in ("valid", "test"):
                metrics = evaluate(model.score, data, split, ks=(20,), n_recs=20, top_lists=model.top_lists).metrics
                for key in ("recall@20", "tail_recall@20", "coverage@20", "tail_share@20"):
                    row[f"{split}_{key}"] = metrics[key]
            rows.append(row)
    columns = list(rows[0])
    command = "python benchmarks/popularity_knob.py " + " ".join(
        [f"--path {args.path}", f"--out {args.out}", *([f"--run {args.run}"] if args.run else []), *args.overrides])
    report = (f"# Popularity knobs on {Path(args.path).parent.name}\n\nkgrec trained once (defaults); each row ranks "
              f"with one knob setting: the penalty score - beta * log(1 + train count), or tail slots (every m-th "
              f"position of the list holds the best tail item not yet listed). `auto` = the defaults' choice on valid: "
              f"the most tail exposure whose valid recall@20 stays within {config['model']['knob_tolerance']:.0%} of "
              f"no adjustment (chosen: beta {chosen[0]}, m {chosen[1]}).\n\n"
              f"{markdown_table(rows, columns)}\n\n![test recall vs tail recall](popularity_knob.png)\n\nCommand: `{command}`\n")
    (args.out / "popularity_knob.md").write_text(report)
    print(report)

    figure = Figure(figsize=(6, 4.5))
    axes = figure.subplots()
    for knob, label in (("penalty", "beta"), ("tail slots", "every")):
        curve = [row for row in rows if row["knob"] == knob]
        axes.plot([row["test_tail_recall@20"] for row in curve], [row["test_recall@20"] for row in curve],
                  marker="o", label=f"{knob} (labels: {label})")
        for row in curve:
            axes.annotate(row[label], (row["test_tail_recall@20"], row["test_recall@20"]), fontsize=8)
    axes.set_xlabel("test tail recall@20")
    axes.set_ylabel("test recall@20")
    axes.set_title(f"kgrec knobs on {Path(args.path).parent.name}")
    axes.legend()
    axes.grid(alpha=0.3)
    FigureCanvasAgg(figure).print_png(str(args.out / "popularity_knob.png"))


if __name__ == "__main__":
    main()
