"""Reports: the recommendation TSV, the markdown tables and the decile plot."""

import math

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from kgrec.data.dataset import Dataset, Interactions
from kgrec.evaluate.metrics import evaluate
from kgrec.evaluate.report import markdown_table, plot_decile_recall, results_table, write_recs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def data():
    """3 users (ids "u10", "u20", "u30"), 4 items ("a".."d"); u30 has no test items."""
    splits = {
        "train": Interactions(np.array([0, 1, 2]), np.array([0, 0, 1])),
        "test": Interactions(np.array([0, 1, 1]), np.array([2, 1, 3])),
    }
    items = ["a", "b", "c", "d"]
    return Dataset("report", ["u10", "u20", "u30"], items, items, items, splits)


def test_write_recs_lists_every_evaluated_user_with_external_ids(data, tmp_path):
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0], [4.0, -math.inf, 1.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    result = evaluate(lambda users: scores[users], data, "test", ks=(2,), n_recs=3)
    path = tmp_path / "runs" / "recs.tsv"
    write_recs(path, data, result)
    # u10 (train a): b, c, d; u20 (train a, b ruled out by -inf): d, c only.
    assert path.read_text(encoding="utf-8").splitlines() == [
        "user_id\titem_id\trank",
        "u10\tb\t1",
        "u10\tc\t2",
        "u10\td\t3",
        "u20\td\t1",
        "u20\tc\t2",
    ]


def test_markdown_table_formats_floats_and_marks_missing_cells():
    rows = [{"model": "pop", "recall": 0.19781}, {"model": "ease", "recall": 0.4, "n": 3}]
    table = markdown_table(rows, ["model", "recall", "n"])
    assert table.splitlines() == [
        "| model | recall | n |",
        "|---|---|---|",
        "| pop | 0.1978 | — |",
        "| ease | 0.4000 | 3 |",
    ]
    assert markdown_table([{"x": 1 / 3}], ["x"], float_format="{:.1%}").splitlines()[2] == "| 33.3% |"


def test_results_table_has_a_row_per_split_in_order():
    metrics = {
        "test_cold": {"recall@20": 0.25, "ndcg@20": 0.125, "hit@20": 0.5, "coverage@20": 1.0},
        "test": {"recall@20": 0.5, "ndcg@20": 0.25, "hit@20": 0.75, "head_recall@20": 0.625,
                 "tail_recall@20": 0.0625, "coverage@20": 0.05, "tail_share@20": 0.01, "recall@10": 0.3},
    }
    lines = results_table(metrics).splitlines()
    columns = "recall@20 | ndcg@20 | hit@20 | head_recall@20 | tail_recall@20 | coverage@20 | tail_share@20"
    assert lines[0] == f"| split | {columns} |"
    assert lines[2] == "| test | 0.5000 | 0.2500 | 0.7500 | 0.6250 | 0.0625 | 0.0500 | 0.0100 |"
    assert lines[3] == "| test_cold | 0.2500 | 0.1250 | 0.5000 | — | — | 1.0000 | — |"
    assert len(lines) == 4
    assert results_table(metrics, k=10).splitlines()[2].startswith("| test | 0.3000 | — |")


def test_decile_plot_is_a_png(tmp_path):
    path = tmp_path / "plots" / "deciles.png"
    plot_decile_recall({"pop": [0.4, 0.1] + [0.0] * 8, "kgrec": [0.3, 0.2, 0.1, float("nan")] + [0.05] * 6}, path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)[..., :3]
    first_line_colour = np.array(to_rgb("C0"))  # the first model's line is drawn, not just the axes
    assert np.any(np.all(np.abs(pixels - first_line_colour) < 0.02, axis=-1))
    with pytest.raises(ValueError, match="one per decile"):
        plot_decile_recall({"pop": [0.1, 0.2]}, path)
