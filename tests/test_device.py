"""trainer.device, trainer.precision and trainer.distributed: checked before any work, with a clear error."""

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from kgrec.cli.train import CONFIG_DIR
from kgrec.errors import KgrecError
from kgrec.models.kgrec import KGRec
from kgrec.models.lightgcn import LightGCN
from kgrec.train.distributed import autocast_dtype, resolve_device, start
from kgrec.train.experiment import run_experiment

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")


def test_auto_is_the_gpu_when_there_is_one():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@no_cuda
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(KgrecError, match=r"trainer.device=cuda, but CUDA is not available.*trainer.device=cpu"):
        resolve_device("cuda")


def test_unknown_device_and_precision_name_the_choices():
    with pytest.raises(KgrecError, match=r"trainer.device='gpu0': choose one of auto, cpu, cuda"):
        resolve_device("gpu0")
    with pytest.raises(KgrecError, match=r"trainer.precision='fp8': choose one of fp32, bf16, fp16"):
        autocast_dtype("fp8", torch.device("cpu"))


def test_mixed_precision_is_for_gpus_only():
    assert autocast_dtype("fp32", torch.device("cpu")) is None
    with pytest.raises(KgrecError, match="trainer.precision=bf16 autocasts on a GPU only"):
        autocast_dtype("bf16", torch.device("cpu"))


def test_ddp_needs_torchrun_and_torchrun_needs_ddp(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(KgrecError, match="trainer=ddp runs under torchrun"):
        start("cpu", "fp32", distributed=True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(KgrecError, match="torchrun started 2 processes, but trainer.distributed is false"):
        start("cpu", "fp32", distributed=False)


@no_cuda
@pytest.mark.parametrize("option", ["trainer.device=cuda", "trainer.precision=fp16"])
def test_a_run_stops_on_the_option_before_reading_any_data(option, tmp_path):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        config = compose("config", overrides=["data=bundle", f"data.path={tmp_path / 'absent'}", "model=bpr", option])
    with pytest.raises(KgrecError, match=option.split("=")[0]):  # not the missing bundle's error
        run_experiment(OmegaConf.to_container(config, resolve=True), tmp_path / "out")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("options", [{}, {"text_match": True, "relation_weights": True},
                                     {"neighbour_fanouts": [5, 5], "full_softmax_max_items": 100}, "lightgcn"])
def test_training_steps_run_under_autocast(options, dtype, ml100k_500, ml100k_500_text):
    """trainer.precision=bf16|fp16 autocasts the step on a GPU; torch autocasts on the CPU too, so mixed dtypes
    (a bf16 MLP output added into float32 embeddings, sparse products without bf16 kernels) fail here first."""
    model = LightGCN(ml100k_500) if options == "lightgcn" else KGRec(ml100k_500, ml100k_500_text, **options)
    model.fit(ml100k_500)
    model.train()
    users, items = (torch.as_tensor(column[:256]) for column in (ml100k_500.train.users, ml100k_500.train.items))
    with torch.autocast("cpu", dtype=dtype):
        loss = model.loss(users, items)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    grads = [parameter.grad for parameter in model.parameters() if parameter.grad is not None]
    assert grads and all(torch.isfinite(grad.coalesce().values() if grad.is_sparse else grad).all() for grad in grads)
