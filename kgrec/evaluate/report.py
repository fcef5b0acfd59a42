"""What a run leaves behind for people: the recommendation lists, markdown tables and the decile plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kgrec.data.dataset import Dataset
from kgrec.evaluate.metrics import DECILES, EvalResult

#: Splits shown by `results_table`, in this order.
TABLE_SPLITS = ("valid", "test", "test_cold")
#: Metrics shown by `results_table` (at one cut-off).
TABLE_METRICS = ("recall", "ndcg", "hit", "head_recall", "tail_recall", "coverage", "tail_share")
MISSING = "—"


def write_recs(path: str | Path, data: Dataset, result: EvalResult) -> None:
    """TSV `user_id item_id rank` (rank 1 = best) with external ids, so the lists can be read without kgrec."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, ranks = np.nonzero(result.top_items >= 0)
    user_ids = np.asarray(data.user_ids, dtype=object)[result.users[rows]]
    item_ids = np.asarray(data.item_ids, dtype=object)[result.top_items[rows, ranks]]
    lines = [f"{user}\t{item}\t{rank}" for user, item, rank in zip(user_ids, item_ids, ranks + 1)]
    path.write_text("\n".join(["user_id\titem_id\trank", *lines]) + "\n", encoding="utf-8")


def markdown_table(rows: list[dict], columns: list[str], float_format: str = "{:.4f}") -> str:
    """GitHub markdown table; a column a row lacks shows as "—"."""

    def cell(row: dict, column: str) -> str:
        if column not in row:
            return MISSING
        value = row[column]
        return float_format.format(value) if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row, column) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def results_table(metrics: dict[str, dict[str, float]], k: int = 20) -> str:
    """One run at a glance: a row per evaluated split (`metrics[split]` as in `EvalResult.metrics`)."""
    columns = [f"{name}@{k}" for name in TABLE_METRICS]
    rows = [
        {"split": split, **{column: metrics[split][column] for column in columns if column in metrics[split]}}
        for split in TABLE_SPLITS
        if split in metrics
    ]
    return markdown_table(rows, ["split", *columns])


def plot_decile_recall(curves: dict[str, list[float]], path: str | Path, k: int = 20) -> None:
    """PNG of recall@k per popularity decile, one line per model: how far into the long tail each one reaches."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    deciles = np.arange(1, DECILES + 1)
    for model, recalls in curves.items():
        if len(recalls) != DECILES:
            raise ValueError(f"curve {model!r} has {len(recalls)} values, expected one per decile ({DECILES})")
        axes.plot(deciles, recalls, marker="o", label=model)
    axes.set_xticks(deciles)
    axes.set_xlabel("item popularity decile (1 = most popular)")
    axes.set_ylabel(f"recall@{k}")
    axes.grid(alpha=0.3)
    if curves:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=120)
