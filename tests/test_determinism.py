"""`seed` fixes every source of randomness: two runs with the same seed write identical metrics and losses,
and another seed changes them (so the comparison can fail)."""

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kgrec.cli.train import CONFIG_DIR
from kgrec.train.experiment import run_experiment
from test_bundle import bundle  # noqa: F401  (a small consistent slice of the ml-100k bundle, in tmp_path)


def run(out, overrides):
    torch.set_num_threads(1)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        config = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)
    run_experiment(config, out)
    return (json.loads((out / "metrics.json").read_text()),
            [record["loss"] for record in json.loads((out / "train_log.json").read_text())["epochs"]])


@pytest.fixture
def kg_data_bpr():
    """The default data: a random per-user split and cold-item holdout under the seed; BPR samples negatives."""
    return ["model=bpr", "model.train.epochs=2", "model.dim=16"]


@pytest.fixture
def bundle_kgrec_with_dropout(bundle, tmp_path):  # noqa: F811
    """The long-tail model with ID dropout (torch's global generator) and its own negative sampler."""
    return ["data=bundle", f"data.path={bundle}", "model=kgrec", "model.id_dropout=0.3", "model.dim=16",
            "model.text_hidden=32", "model.unseen_negatives=true", "model.train.epochs=3", f"cache_dir={tmp_path / 'cache'}"]


@pytest.mark.parametrize("setup", ["kg_data_bpr", "bundle_kgrec_with_dropout"])
def test_the_same_seed_gives_identical_runs(setup, request, tmp_path):
    overrides = request.getfixturevalue(setup)
    first = run(tmp_path / "first", overrides + ["seed=11"])
    second = run(tmp_path / "second", overrides + ["seed=11"])
    other = run(tmp_path / "other", overrides + ["seed=12"])
    assert first == second
    assert len(first[1]) > 1
    assert other[1] != first[1]
