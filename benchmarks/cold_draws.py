"""How much does the one draw of cold items in a bundle decide kgrec's test_cold race with text kNN? (issue 3)

A bundle's cold items are one random draw of 10% of its items, and test_cold recall is carried by few of them
(the popular ones hold most pairs). To see how far another draw would move the comparison, without any test
pair: one kgrec model (defaults, early stopping on valid) and text kNN are fitted on the bundle with a random
30% of its warm items held out like cold items (kgrec.train.cold_weight.without_items: their train and valid
pairs are the targets, their tags dropped). The pool is cut into three disjoint folds of 10% per repeat; on each
fold both models rank that fold's items only, as test_cold ranks the cold items, kgrec at every cold text
weight m. "m chosen on another fold" is the twin's procedure (choose m where one 10% draw was held out, apply
it to another draw): each fold uses the m that was best on the next fold of its repeat (or, in one row, on
the two other folds together: a hold-out twice as large).

    OMP_NUM_THREADS=2 python benchmarks/cold_draws.py --path /tmp/synth-2k --out benchmarks/results/synth-2k
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kgrec.cli.train import CONFIG_DIR
from kgrec.data.dataset import Dataset
from kgrec.data.load import load_dataset
from kgrec.evaluate.metrics import evaluate
from kgrec.evaluate.report import markdown_table
from kgrec.train.cold_weight import FACTORS, without_items
from kgrec.train.experiment import fit, model_builder, seed_everything
from kgrec.train.loop import trainer_config

POOL, FOLDS, K = 0.3, 3, 20


def run_config(path: str, *overrides: str) -> dict:
    """kgrec-train's config (model kgrec unless overridden) for the bundle at `path`, resolved."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        config = compose("config", overrides=["data=bundle", f"data.path={Path(path).resolve()}", *overrides])
    return OmegaConf.to_container(config, resolve=True)


def effective_items(pair_items: np.ndarray) -> float:
    """(sum of pairs)^2 / sum of squared pairs per item: how many equally used items the pairs are worth."""
    counts = np.bincount(pair_items).astype(float)
    return counts.sum() ** 2 / (counts ** 2).sum()


def fold_data(held: Dataset, items: np.ndarray) -> Dataset:
    """`held` with only `items` as the cold candidates and their pairs as test_cold."""
    pairs = held.splits["test_cold"]
    return dataclasses.replace(held, cold_items=np.sort(items),
                               splits={**held.splits, "test_cold": pairs.take(np.isin(pairs.items, items))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, help="a bundle directory")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=8, help="random cuts of the pool into folds")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    config = run_config(args.path)
    seed_everything(config["seed"])
    data = load_dataset(config["data"])
    rng = np.random.default_rng(config["seed"])
    warm = np.nonzero(data.item_popularity() > 0)[0]
    size = round(len(warm) * POOL / FOLDS)
    pool = rng.choice(warm, size=size * FOLDS, replace=False)
    held = without_items(data, np.sort(pool))

    # m is set per fold below; the tail knob does not touch cold items.
    kgrec = model_builder(run_config(args.path, "model.cold_text_weight=1", "model.tail_every=0"))(held)
    trainer = trainer_config({**config["trainer"], **config["model"]["train"], "seed": config["seed"]})
    fit(kgrec, held, trainer, config["eval"])
    text = model_builder(run_config(args.path, "model=textknn"))(held)
    text.fit(held)

    def recall(score, fold: Dataset) -> float:
        return evaluate(score, fold, "test_cold", ks=(K,), n_recs=K).metrics[f"recall@{K}"]

    folds = []  # one dict per fold
    with torch.no_grad():
        kgrec.prepare_scoring()
        for repeat in range(args.repeats):
            cut = []
            for items in np.split(rng.permutation(pool), FOLDS):
                fold = fold_data(held, items)
                by_factor = []
                for factor in FACTORS:
                    kgrec.cold_text_weight = factor
                    by_factor.append(recall(kgrec.score, fold))
                cut.append({"repeat": repeat, "effective items": round(effective_items(fold.splits["test_cold"].items)),
                            "text kNN": recall(text.score, fold), "by factor": np.array(by_factor)})
            for fold, row in enumerate(cut):
                others = [cut[(fold + step) % FOLDS]["by factor"] for step in range(1, FOLDS)]
                row["m, another fold"] = FACTORS[int(np.argmax(others[0]))]
                row["m, other folds"] = FACTORS[int(np.argmax(np.mean(others, axis=0)))]
                row["kgrec"] = row["by factor"][FACTORS.index(row["m, another fold"])]
                row["kgrec minus text kNN"] = row["kgrec"] - row["text kNN"]
            folds += cut
            print(markdown_table(cut, ["repeat", "effective items", "text kNN", "m, another fold", "kgrec"]),
                  flush=True)

    def at(key: str) -> np.ndarray:
        return np.array([row["by factor"][FACTORS.index(row[key])] for row in folds])

    text_recalls = np.array([row["text kNN"] for row in folds])
    rankers = [(f"kgrec, m = {f}", np.array([row["by factor"][i] for row in folds])) for i, f in enumerate(FACTORS)]
    rankers += [("kgrec, m chosen on another fold", at("m, another fold")),
                ("kgrec, m chosen on the two other folds", at("m, other folds")), ("text kNN", text_recalls)]
    table = []
    for name, values in rankers:
        difference = values - text_recalls
        table.append({"ranker": name, f"mean recall@{K}": float(values.mean()), "sd": float(values.std(ddof=1)),
                      "min": float(values.min()), "max": float(values.max()),
                      "mean minus text kNN": float(difference.mean()), "sd of that": float(difference.std(ddof=1)),
                      "folds at or above text kNN": f"{int((difference >= 0).sum())} / {len(difference)}"})
    bundle_effective = effective_items(data.splits["test_cold"].items)
    per_fold = markdown_table(sorted(folds, key=lambda row: row["effective items"]), [
        "repeat", "effective items", "text kNN", "m, another fold", "kgrec", "kgrec minus text kNN", "m, other folds"])
    report = (
        f"# Cold items drawn again: kgrec vs text kNN on {Path(args.path).name}\n\n"
        f"{__doc__.split(chr(10) + chr(10))[1]}\n\n"
        f"{len(pool)} warm items held out ({len(held.splits['test_cold'])} pairs), {args.repeats} repeats x {FOLDS} "
        f"folds of {size} items; test_cold recall@{K} among each fold's items. The bundle's own test_cold pairs are "
        f"worth {bundle_effective:.0f} equally used items ((sum of pairs)^2 / sum of squared pairs per item).\n\n"
        f"{markdown_table(table, list(table[0]))}\n\n"
        f"Every fold, fewest effective items first (kgrec: m chosen on another fold):\n\n"
        f"{per_fold}\n\n"
        f"Command: `OMP_NUM_THREADS=2 python benchmarks/cold_draws.py --path {args.path} --out {args.out}"
        f"{'' if args.repeats == 8 else f' --repeats {args.repeats}'}`\n")
    (args.out / "cold_draws.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
