"""The GPU path on the embedded default data: evaluation on the GPU equals the CPU's, kgrec trained on the
GPU (fp32, and bf16/fp16 autocast) reaches the CPU's recall, and tuning the text encoder's top layer (the
GPU users' option) trains end to end. Skipped without CUDA; `benchmarks/gpu_check.sh` runs these first on a
GPU machine."""

import json

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kgrec.cli.train import CONFIG_DIR
from kgrec.data.load import load_dataset
from kgrec.evaluate.metrics import evaluate
from kgrec.text.encoder import TextEncoder
from kgrec.text.finetune import transformer_blocks
from kgrec.train.experiment import run_experiment

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# Small enough for seconds per run, trained enough that recall@20 is far from chance.
KGREC = ["model=kgrec", "model.train.epochs=4", "trainer.eval_every=4", "model.tail_every=0", "seed=5"]


def config(overrides):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def trained(out, cache_dir, overrides):
    run_experiment(config(KGREC + [f"cache_dir={cache_dir}"] + overrides), out)
    return json.loads((out / "metrics.json").read_text()), json.loads((out / "train_log.json").read_text())


def test_evaluation_on_the_gpu_equals_the_cpu(cache_dir):
    data = load_dataset(config([f"cache_dir={cache_dir}"])["data"])
    # A random permutation per user: no tied scores, whose order torch.topk leaves to the device.
    table = torch.rand(data.num_users, data.num_items, generator=torch.Generator().manual_seed(0)).argsort(1).float()

    def score(users):
        return table.to(users.device)[users]

    for split in ("valid", "test", "test_cold", "test_tail"):
        on_cpu = evaluate(score, data, split, batch_size=128, device="cpu")
        on_gpu = evaluate(score, data, split, batch_size=128, device="cuda")
        np.testing.assert_array_equal(on_gpu.top_items, on_cpu.top_items)
        assert on_gpu.metrics == pytest.approx(on_cpu.metrics, abs=1e-12, nan_ok=True)


@pytest.fixture(scope="module")
def gpu_fp32(tmp_path_factory, cache_dir):
    return trained(tmp_path_factory.mktemp("fp32"), cache_dir, ["trainer.device=cuda"])


def test_kgrec_trains_on_the_gpu_as_on_the_cpu(tmp_path, cache_dir, gpu_fp32):
    cpu_metrics, _ = trained(tmp_path, cache_dir, ["trainer.device=cpu"])
    gpu_metrics, gpu_log = gpu_fp32
    assert gpu_log["device"].startswith("cuda") and gpu_log["peak_gpu_memory_mb"] > 0
    assert cpu_metrics["test"]["recall@20"] > 0.1
    assert gpu_metrics["test"]["recall@20"] == pytest.approx(cpu_metrics["test"]["recall@20"], abs=0.02)


def test_mini_batch_training_on_the_gpu_as_on_the_cpu(tmp_path, cache_dir):
    sampled = ["model.neighbour_fanouts=[10,10]", "model.full_softmax_max_items=1000", "model.train.batch_size=1024"]
    cpu_metrics, _ = trained(tmp_path / "cpu", cache_dir, sampled + ["trainer.device=cpu"])
    gpu_metrics, _ = trained(tmp_path / "gpu", cache_dir, sampled + ["trainer.device=cuda"])
    assert cpu_metrics["test"]["recall@20"] > 0.1
    assert gpu_metrics["test"]["recall@20"] == pytest.approx(cpu_metrics["test"]["recall@20"], abs=0.02)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_reaches_the_fp32_recall(precision, tmp_path, cache_dir, gpu_fp32):
    mixed, log = trained(tmp_path, cache_dir, ["trainer.device=cuda", f"trainer.precision={precision}"])
    assert all(np.isfinite(epoch["loss"]) for epoch in log["epochs"])
    assert mixed["test"]["recall@20"] == pytest.approx(gpu_fp32[0]["test"]["recall@20"], abs=0.02)


def test_text_encoder_tuning_trains_end_to_end_on_the_gpu(tmp_path, cache_dir, gpu_fp32):
    tuned, log = trained(tmp_path, cache_dir, ["trainer.device=cuda", "model.text_finetune_layers=1"])
    assert all(np.isfinite(epoch["loss"]) for epoch in log["epochs"])
    assert tuned["test"]["recall@20"] == pytest.approx(gpu_fp32[0]["test"]["recall@20"], abs=0.02)
    assert tuned["test_cold"]["recall@20"] == pytest.approx(gpu_fp32[0]["test_cold"]["recall@20"], abs=0.03)
    # The saved top block moved away from the pretrained one.
    state = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    prefix = "text_tower.blocks.0."
    block = {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}
    pretrained = transformer_blocks(TextEncoder().model)[0][-1].state_dict()
    assert block.keys() == pretrained.keys()
    assert any(not torch.equal(value, pretrained[key]) for key, value in block.items())
