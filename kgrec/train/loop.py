"""The gradient-training loop: shuffled (user, positive item) batches, Adam, early stopping on validation.

Models own their loss (BPR, softmax, ...); this loop owns epochs, the optimiser, progress reporting,
keeping the best validation state and, given a run directory, a checkpoint after every epoch that
`resume` continues from (kgrec.train.checkpoint).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from tqdm.auto import tqdm

from kgrec.data.dataset import Dataset
from kgrec.errors import KgrecError
from kgrec.models.base import Recommender
from kgrec.train.checkpoint import (check_fits, global_rng_state, load_checkpoint, model_generators, save_checkpoint,
                                    set_global_rng_state)
from kgrec.train.distributed import Processes, autocast_dtype, resolve_device, to_device

log = logging.getLogger(__name__)

#: Where a run directory keeps the checkpoint of its last finished epoch.
LAST_CHECKPOINT = Path("checkpoints") / "last.pt"


@dataclass
class TrainerConfig:
    epochs: int = 50
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5          # evaluations without improvement before stopping
    eval_every: int = 1        # epochs between validations
    seed: int = 2026
    device: str = "auto"       # auto | cpu | cuda (auto: cuda when available)
    precision: str = "fp32"    # fp32 | bf16 | fp16: autocast of the training step, on GPU only
    distributed: bool = False  # DDP under torchrun (conf/trainer/ddp.yaml)
    resume: bool = False       # continue from the run directory's last checkpoint


def trainer_config(values: dict[str, Any]) -> TrainerConfig:
    """`values` checked against TrainerConfig, so that a misspelt key or a wrong type stops the run with one
    line before any data is read, rather than a TypeError (or nothing) later."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainerConfig), values))
    except OmegaConfBaseException as error:
        problem = error.msg.splitlines()[0].replace(" not in 'TrainerConfig'", " is not a trainer option")
        raise KgrecError(f"trainer.{error.full_key} (or model.train.{error.full_key}): {problem}; "
                         f"the options are {list(TrainerConfig.__dataclass_fields__)}") from None


@dataclass
class TrainingLog:
    """What happened during training, for the results table and the benchmark reports."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: float = float("-inf")
    seconds: float = 0.0

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(len(self.epochs), 1)


@dataclass
class _Progress:
    """Everything besides the model, optimiser and generators that the next epoch depends on."""

    history: TrainingLog
    best_state: dict[str, torch.Tensor]
    stale: int = 0             # evaluations since the best one

    @property
    def epoch(self) -> int:
        return self.history.epochs[-1]["epoch"] if self.history.epochs else 0


def train(
    model: Recommender,
    data: Dataset,
    config: TrainerConfig,
    validate: Callable[[], float] | None,
    monitor: str = "valid",
    run_dir: str | Path | None = None,
    fingerprint: str = "",
    processes: Processes | None = None,
) -> TrainingLog:
    """Train `model` by gradient steps on the device of `processes`; `validate()` returns the metric to
    maximise (higher is better), the same on every process. Without `validate`, all `config.epochs` run and
    the model keeps its last state.

    With `run_dir`, each epoch ends by saving `run_dir/checkpoints/last.pt`, tagged with `fingerprint`
    (of the run's config); `config.resume` continues from that file, refusing one of another config.
    `processes` (default: this one process on `config.device`) shards the epochs of a DDP run. The
    model ends in its best-validation state.
    """
    processes = processes or Processes(resolve_device(config.device))
    to_device(model, processes.device)
    generator = torch.Generator().manual_seed(config.seed)
    generators = {"loop": generator, **model_generators(model)}
    users = torch.as_tensor(data.train.users, dtype=torch.long, device=processes.device)
    items = torch.as_tensor(data.train.items, dtype=torch.long, device=processes.device)
    loss_fn = processes.loss_fn(model)
    optimizers = _optimizers(model, config)
    dtype = autocast_dtype(config.precision, processes.device)
    scaler = torch.amp.GradScaler(processes.device.type, enabled=config.precision == "fp16")
    checkpoint = None if run_dir is None else Path(run_dir) / LAST_CHECKPOINT
    progress = _Progress(TrainingLog(), copy.deepcopy(model.state_dict()))
    if config.resume and checkpoint is not None:
        progress = _resume(checkpoint, fingerprint, model, optimizers, generators) or progress
    history = progress.history
    start = time.perf_counter() - history.seconds
    first = progress.epoch + 1 if progress.stale < config.patience else config.epochs + 1
    bar = tqdm(range(first, config.epochs + 1), desc=f"train {type(model).__name__}", unit="epoch",
               disable=not processes.is_main)
    for epoch in bar:
        model.train()
        order = processes.shard(torch.randperm(len(users), generator=generator)).to(processes.device)
        total, batches = 0.0, 0
        for batch in order.split(processes.local_batch_size(config.batch_size)):
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            with (torch.autocast(processes.device.type, dtype=dtype) if dtype else contextlib.nullcontext()):
                loss = loss_fn(users[batch], items[batch])
            scaler.scale(loss).backward()
            for optimizer in optimizers:
                scaler.step(optimizer)
            scaler.update()
            total += loss.item()
            batches += 1
        record = {"epoch": epoch, "loss": processes.mean(total / max(batches, 1))}
        if validate is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
            model.eval()
            with torch.no_grad():
                model.prepare_scoring()
                record[monitor] = value = validate()
            if value > history.best_valid:
                history.best_valid, history.best_epoch, progress.stale = value, epoch, 0
                progress.best_state = copy.deepcopy(model.state_dict())
            else:
                progress.stale += 1
        record["seconds"] = history.seconds = time.perf_counter() - start
        history.epochs.append(record)
        if checkpoint is not None and processes.is_main:
            _save(checkpoint, fingerprint, model, optimizers, generators, progress)
        bar.set_postfix({key: f"{value:.4f}" for key, value in record.items() if key not in ("epoch", "seconds")})
        if progress.stale >= config.patience:
            log.info("early stopping at epoch %d (best %s %.4f at epoch %d)", epoch, monitor, history.best_valid,
                     history.best_epoch)
            break
    history.seconds = time.perf_counter() - start
    if validate is not None:
        model.load_state_dict(progress.best_state)
    model.eval()
    return history


def _optimizers(model: Recommender, config: TrainerConfig) -> list[torch.optim.Optimizer]:
    """Adam, and SparseAdam for the model's sparse parameters (kgrec's ID table in sampled steps): it updates
    only the rows a step touched, where Adam would pass over the whole table every step."""
    sparse = model.sparse_parameters()
    dense = [parameter for parameter in model.parameters() if all(parameter is not s for s in sparse)]
    if sparse and config.weight_decay:
        raise KgrecError(f"trainer.weight_decay={config.weight_decay}: {type(model).__name__} trains sparse "
                         "parameters here (SparseAdam), which take no weight decay; set it to 0")
    own_rates = model.learning_rates()
    groups = [{"params": [p for p in dense if p not in own_rates]}]
    groups += [{"params": [p for p in dense if own_rates.get(p) == lr], "lr": lr} for lr in sorted(set(own_rates.values()))]
    optimizers = [torch.optim.Adam([group for group in groups if group["params"]], lr=config.lr,
                                   weight_decay=config.weight_decay)]
    if sparse:
        optimizers.append(torch.optim.SparseAdam(sparse, lr=config.lr))
    return optimizers


def _save(path: Path, fingerprint: str, model: Recommender, optimizers: list[torch.optim.Optimizer],
          generators: dict[str, torch.Generator], progress: _Progress) -> None:
    history = progress.history
    save_checkpoint(path, {
        "model": model.state_dict(), "optimizers": [optimizer.state_dict() for optimizer in optimizers],
        "generators": {name: generator.get_state() for name, generator in generators.items()},
        "rng": global_rng_state(), "best_state": progress.best_state, "stale": progress.stale,
        "epochs": history.epochs, "best_epoch": history.best_epoch, "best_valid": history.best_valid,
        "seconds": history.seconds,
    }, fingerprint)


def _resume(path: Path, fingerprint: str, model: Recommender, optimizers: list[torch.optim.Optimizer],
            generators: dict[str, torch.Generator]) -> _Progress | None:
    """Restore the state `_save` wrote; None (train from the start) when there is no checkpoint yet."""
    if not path.exists():
        log.warning("trainer.resume: no checkpoint at %s yet, training from the first epoch", path)
        return None
    saved = load_checkpoint(path, fingerprint, required=("model", "optimizers", "generators", "rng", "best_state",
                                                         "stale", "epochs", "best_epoch", "best_valid", "seconds"))
    if set(saved["generators"]) != set(generators):
        raise KgrecError(f"checkpoint {path} holds generators {sorted(saved['generators'])}, "
                         f"this model {sorted(generators)}")
    check_fits(path, model, saved["model"])
    check_fits(path, model, saved["best_state"])
    model.load_state_dict(saved["model"])
    for optimizer, state in zip(optimizers, saved["optimizers"], strict=True):  # the fingerprint fixed the model
        optimizer.load_state_dict(state)
    for name, generator in generators.items():
        generator.set_state(saved["generators"][name])
    set_global_rng_state(saved["rng"])
    history = TrainingLog(saved["epochs"], saved["best_epoch"], saved["best_valid"], saved["seconds"])
    log.info("resuming from %s after epoch %d", path, history.epochs[-1]["epoch"] if history.epochs else 0)
    return _Progress(history, saved["best_state"], saved["stale"])
