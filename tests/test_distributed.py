"""DDP: epochs and evaluations shared out across processes give what one process computes, and a 2-process
gloo run under torchrun writes its run directory once (rank 0) with metrics close to a 1-process run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kgrec.cli.train import CONFIG_DIR
from kgrec.data.bundle import load_bundle
from kgrec.evaluate.metrics import evaluate
from kgrec.models.ease import EASE
from kgrec.train.distributed import Processes, merge_results, user_shard
from kgrec.train.experiment import run_experiment

OUTPUTS = {"metrics.json", "deciles.json", "train_log.json", "checkpoint.pt", "config.yaml", "results.md", "recs",
           "checkpoints", ".hydra", "train.log"}


def bundle_without_kg(source, root, max_user=None):
    """`source`'s catalogue and splits (users up to `max_user`, if given) without its KG: loads in a second."""
    for name in ("items.tsv", "cold_items.txt"):
        (root / name).write_text((source / name).read_text())
    for name in ("train.tsv", "valid.tsv", "test.tsv", "test_cold.tsv"):
        header, *rows = (source / name).read_text().splitlines(keepends=True)
        kept = rows if max_user is None else [row for row in rows if int(row.split("\t", 1)[0]) <= max_user]
        (root / name).write_text(header + "".join(kept))
    return root


@pytest.fixture(scope="module")
def ml100k_ease(ml100k_bundle, tmp_path_factory):
    data = load_bundle(bundle_without_kg(ml100k_bundle, tmp_path_factory.mktemp("ml100k")))
    model = EASE(data, reg=250.0)
    model.fit(data)
    return data, model


@pytest.mark.parametrize("split, world_size", [("valid", 2), ("test", 3), ("test_cold", 2), ("test_tail", 2)])
def test_evaluation_shared_out_by_user_equals_one_process(ml100k_ease, split, world_size):
    data, model = ml100k_ease
    options = dict(ks=(10, 20, 50), head_share=0.2, batch_size=256)
    whole = evaluate(model.score, data, split, n_recs=30, **options)
    # Each shard ranks its users as Processes.evaluate asks: the same n_recs as the whole.
    shards = [evaluate(model.score, user_shard(data, split, rank, world_size), split, n_recs=30, **options)
              for rank in range(world_size)]
    assert sum(len(shard.users) for shard in shards) == len(whole.users)
    merged = merge_results(data, split, shards, head_share=0.2)

    np.testing.assert_array_equal(merged.users, whole.users)
    np.testing.assert_array_equal(merged.top_items, whole.top_items)
    assert list(merged.metrics) == list(whole.metrics)
    assert merged.metrics == pytest.approx(whole.metrics, rel=1e-12, nan_ok=True)
    for k, values in whole.decile_recall.items():
        assert merged.decile_recall[k] == pytest.approx(values, rel=1e-12, nan_ok=True)


@pytest.mark.parametrize("world_size", [2, 3])
def test_epoch_shards_are_disjoint_equal_and_cover_all_but_a_remainder(world_size):
    order = torch.randperm(1001, generator=torch.Generator().manual_seed(0))
    shards = [Processes(torch.device("cpu"), rank, world_size).shard(order) for rank in range(world_size)]
    assert len({len(shard) for shard in shards}) == 1  # every rank takes the same number of steps
    dealt = torch.cat(shards)
    assert len(dealt.unique()) == len(dealt) > len(order) - world_size
    assert Processes(torch.device("cpu")).shard(order) is order


@pytest.fixture(scope="module")
def small_bundle(ml100k_bundle, tmp_path_factory):
    """ml-100k's first 300 users with the whole catalogue: a run takes seconds."""
    return bundle_without_kg(ml100k_bundle, tmp_path_factory.mktemp("small"), max_user=300)


def overrides(bundle, *extra):
    return ["data=bundle", f"data.path={bundle}", "model=bpr", "model.dim=32", "model.train.epochs=20",
            "model.train.lr=0.005", "model.train.batch_size=1024", "eval.n_recs=20", *extra]


def test_two_gloo_processes_write_once_and_match_one_process(small_bundle, tmp_path):
    torch.set_num_threads(1)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        config = OmegaConf.to_container(compose("config", overrides=overrides(small_bundle)), resolve=True)
    single = run_experiment(config, tmp_path / "one")

    started_in = tmp_path / "cwd"
    started_in.mkdir()
    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "kgrec.train",
         *overrides(small_bundle, "trainer=ddp", f"hydra.run.dir={out}")],
        cwd=started_in, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    assert {path.name for path in out.iterdir()} == OUTPUTS
    assert list(started_in.iterdir()) == []  # rank 1 made no run directory, log or .hydra of its own
    assert result.stdout.count("## BPRMF") == 1  # one results table: rank 1 prints nothing
    log = json.loads((out / "train_log.json").read_text())
    assert log["processes"] == 2 and log["device"] == "cpu"
    assert log["best_epoch"] > 1  # the run learned: validation improved after the first epoch
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.keys() == single.keys()
    for split in metrics:
        assert metrics[split]["users"] == single[split]["users"]
    # BPR is ID-only: on test_cold it only breaks ties, so only valid and test say how well it trained.
    for split in ("valid", "test"):
        assert metrics[split]["recall@20"] == pytest.approx(single[split]["recall@20"], abs=0.03), split
    # The written lists cover every evaluated user once, 20 items each.
    lines = (out / "recs" / "test.tsv").read_text().splitlines()[1:]
    assert len(lines) == metrics["test"]["users"] * 20
