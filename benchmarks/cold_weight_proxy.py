"""Does the pseudo-cold proxy choose the cold text weight that truly cold items want? (issue 3)

`cold_text_weight=auto` chooses m on warm items made cold after training (kgrec/models/pseudo_cold.py).
Those items were trained warm, so the model may still know them. The check here needs no test pair: the
bundle without its own cold items, with a random 10% of its items made cold before training
(benchmarks/inductive.py's validation bundle: their train and valid pairs become its test_cold, their tags
and test pairs are dropped), trained with kgrec's defaults. On that one model, for each m:
- truly cold: the recall@20 of those held-out items' pairs, ranked among them (what m should maximise);
- the proxy as kgrec runs it, warm items made cold after training, drawn from all warm items;
- the same proxy with the items drawn only from the less popular half or quarter of the warm items (less
  trained, so perhaps more like cold ones).
Each proxy row averages the 5 draws that calibration uses.

    OMP_NUM_THREADS=1 python benchmarks/cold_weight_proxy.py ../shared/datasets/ml-100k/bundle --work /tmp/cwp
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from inductive import hold_out, split_bundle, train  # benchmarks/inductive.py
from kgrec.evaluate.metrics import evaluate
from kgrec.infer.recommender import Recommender
from kgrec.models.kgrec import COLD_TEXT_WEIGHTS, PSEUDO_COLD_DRAWS
from kgrec.models.pseudo_cold import SHARE

POOLS = {"all warm items (kgrec)": 1.0, "less popular half": 0.5, "less popular quarter": 0.25}


def curves(run: Recommender) -> dict[str, list[float]]:
    """recall@20 by cold text weight: of the truly cold items, and of each proxy pool."""
    model, data = run.model, run.data
    model.prepare_scoring()
    rows = {}
    truly_cold = []
    for factor in COLD_TEXT_WEIGHTS:
        model.cold_text_weight = factor
        truly_cold.append(evaluate(model.score, data, "test_cold", ks=(20,), n_recs=20).metrics["recall@20"])
    rows[f"truly cold ({len(data.splits['test_cold'])} pairs)"] = truly_cold
    popularity = data.item_popularity()
    warm = np.nonzero(popularity > 0)[0]
    for name, quantile in POOLS.items():
        pool = warm[popularity[warm] <= np.quantile(popularity[warm], quantile)]
        draws = [np.sort(np.random.default_rng(model.seed + draw).choice(
            pool, size=min(len(pool), round(SHARE * len(warm))), replace=False)) for draw in range(PSEUDO_COLD_DRAWS)]
        rows[f"proxy, {name}"] = np.mean([model._pseudo_cold_recalls(data, items, COLD_TEXT_WEIGHTS)
                                          for items in draws], axis=0).tolist()
    return rows


def check(bundle: Path, work: Path) -> None:
    if not (work / "validation").exists():
        split_bundle(bundle, work / "reduced", work / "added")
        hold_out(work / "reduced", work / "validation")
    process = train(work / "validation", work / "run")
    if process and process.wait():
        sys.exit("training failed:\n" + (work / "run.log").read_text()[-3000:])
    with torch.no_grad():
        rows = curves(Recommender.load(work / "run"))
    print(f"{bundle}: recall@20 by cold text weight m\n\n| items made cold | "
          + " | ".join(f"m = {factor:g}" for factor in COLD_TEXT_WEIGHTS) + " | best m |\n|---|"
          + "---|" * (len(COLD_TEXT_WEIGHTS) + 1))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{value:.4f}" for value in values)
              + f" | {COLD_TEXT_WEIGHTS[int(np.argmax(values))]:g} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="a bundle with cold items, e.g. ../shared/datasets/ml-100k/bundle")
    parser.add_argument("--work", type=Path, required=True,
                        help="the derived bundle and the run go here, and are reused (outside the repo)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    check(args.bundle, args.work)


if __name__ == "__main__":
    main()
