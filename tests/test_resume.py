"""Checkpoints and resume: a run killed with SIGKILL and resumed ends exactly where an uninterrupted one does,
and a checkpoint that is corrupt or from another config is refused without touching the model."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from kgrec.data.bundle import load_bundle
from kgrec.errors import KgrecError
from kgrec.evaluate.metrics import evaluate
from kgrec.models.bpr import BPRMF
from kgrec.train.checkpoint import check_fits
from kgrec.train.loop import LAST_CHECKPOINT, TrainerConfig, train
from slices import first_items

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def kgrec_train(bundle, out, *overrides):
    return subprocess.Popen([sys.executable, "-m", "kgrec.train", "data=bundle", f"data.path={bundle}", "model=bpr",
                             "model.train.epochs=12", "model.train.patience=3", f"hydra.run.dir={out}", *overrides],
                            cwd=out.parent, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finished(process) -> str:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def test_a_run_killed_mid_training_resumes_to_the_same_metrics(ml100k_bundle, tmp_path):
    whole = kgrec_train(ml100k_bundle, tmp_path / "whole")
    killed = kgrec_train(ml100k_bundle, tmp_path / "killed")
    checkpoint = tmp_path / "killed" / LAST_CHECKPOINT
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    finished(whole)
    assert checkpoint.exists() and not (tmp_path / "killed" / "metrics.json").exists(), "not killed mid-training"
    done = torch.load(checkpoint, weights_only=True)["epochs"][-1]["epoch"]
    assert done < 12

    finished(kgrec_train(ml100k_bundle, tmp_path / "killed", "trainer.resume=true"))
    expected = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert resumed.keys() == expected.keys()
    for split, metrics in expected.items():
        assert resumed[split] == pytest.approx(metrics, abs=1e-4), split
    whole_log, resumed_log = (json.loads((tmp_path / run / "train_log.json").read_text()) for run in ("whole", "killed"))
    assert [record["epoch"] for record in resumed_log["epochs"]] == [record["epoch"] for record in whole_log["epochs"]]
    assert [record["loss"] for record in resumed_log["epochs"]] == pytest.approx(
        [record["loss"] for record in whole_log["epochs"]], abs=1e-6)


@pytest.fixture(scope="module")
def data(ml100k_bundle):
    return first_items(load_bundle(ml100k_bundle), 300)


def trained(data, run_dir, fingerprint="config-a", resume=False, epochs=4):
    """A BPR-MF model after `epochs` epochs (checkpointed into run_dir), and its training log."""
    torch.set_num_threads(1)
    model = BPRMF(data, dim=16, seed=7)
    validate = lambda: evaluate(model.score, data, "valid", ks=(20,), n_recs=20).metrics["recall@20"]
    config = TrainerConfig(epochs=epochs, batch_size=1024, lr=1e-2, patience=2, seed=7, resume=resume)
    return model, train(model, data, config, validate, run_dir=run_dir, fingerprint=fingerprint)


def test_resuming_a_finished_run_trains_no_further(data, tmp_path):
    model, history = trained(data, tmp_path)
    again, resumed = trained(data, tmp_path, resume=True)
    assert resumed.epochs == history.epochs and resumed.best_epoch == history.best_epoch
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name


def test_resume_without_a_checkpoint_starts_from_the_first_epoch(data, tmp_path):
    _, history = trained(data, tmp_path, resume=True)
    assert history.epochs[0]["epoch"] == 1 and (tmp_path / LAST_CHECKPOINT).exists()


def fresh_weights(data):
    return BPRMF(data, dim=16, seed=7).state_dict()


def corrupt_by_truncation(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def corrupt_by_garbage(path):
    path.write_bytes(b"not a checkpoint at all\n")


@pytest.mark.parametrize("spoil, fingerprint, words", [
    (None, "config-b", "written under another config"),
    (corrupt_by_truncation, "config-a", "unreadable"),
    (corrupt_by_garbage, "config-a", "unreadable"),
])
def test_a_bad_checkpoint_is_refused_and_nothing_is_loaded(data, tmp_path, spoil, fingerprint, words):
    trained(data, tmp_path, epochs=2)
    if spoil:
        spoil(tmp_path / LAST_CHECKPOINT)
    model = BPRMF(data, dim=16, seed=7)
    config = TrainerConfig(epochs=4, resume=True)
    with pytest.raises(KgrecError, match=words) as caught:
        train(model, data, config, lambda: 0.0, run_dir=tmp_path, fingerprint=fingerprint)
    assert str(tmp_path / LAST_CHECKPOINT) in str(caught.value)
    for name, value in fresh_weights(data).items():
        assert torch.equal(model.state_dict()[name], value), name


def test_a_checkpoint_of_another_model_shape_is_refused(data, tmp_path):
    trained(data, tmp_path, epochs=1)
    model = BPRMF(data, dim=8, seed=7)
    with pytest.raises(KgrecError, match="does not fit this model"):
        train(model, data, TrainerConfig(epochs=2, resume=True), lambda: 0.0, run_dir=tmp_path,
              fingerprint="config-a")



class _WithSettings(torch.nn.Module):
    """A module that keeps a plain setting in its state dict, as KGRec keeps its calibrated knob."""

    def __init__(self, knob):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))
        self.knob = knob

    def get_extra_state(self):
        return {"knob": self.knob}

    def set_extra_state(self, state):
        self.knob = state["knob"]


def test_checkpoints_of_models_with_extra_state_fit_and_reload(tmp_path):
    saved = _WithSettings(0.3).state_dict()
    model = _WithSettings("auto")
    check_fits(tmp_path / "last.pt", model, saved)
    model.load_state_dict(saved)
    assert model.knob == 0.3
    with pytest.raises(KgrecError, match="does not fit"):
        check_fits(tmp_path / "last.pt", model, {"weight": torch.zeros(3), "_extra_state": {"knob": 0.3}})


def test_sampled_kgrec_resumes_with_its_sparse_optimiser_state(ml100k_500, ml100k_500_text, tmp_path):
    from kgrec.models.kgrec import KGRec

    def run(epochs, run_dir, resume=False):
        torch.set_num_threads(1)
        torch.manual_seed(0)  # the text projection's initial weights
        model = KGRec(ml100k_500, ml100k_500_text, neighbour_fanouts=[4, 4], sampled_negatives=256)
        validate = lambda: evaluate(model.score, ml100k_500, "valid", ks=(20,), n_recs=20).metrics["recall@20"]
        config = TrainerConfig(epochs=epochs, batch_size=2048, lr=5e-3, patience=9, seed=3, resume=resume)
        return train(model, ml100k_500, config, validate, run_dir=run_dir, fingerprint="sampled")

    whole = run(4, tmp_path / "whole")
    run(2, tmp_path / "resumed")
    resumed = run(4, tmp_path / "resumed", resume=True)
    assert [record["loss"] for record in resumed.epochs] == pytest.approx([record["loss"] for record in whole.epochs],
                                                                         abs=1e-6)
