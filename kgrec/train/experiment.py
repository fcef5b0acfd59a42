"""One experiment, start to finish: load data, build and fit a model, evaluate, write the run directory.

Plain data in (a resolved config dict), plain files out:
  metrics.json      {"valid": {...}, "test": {...}, "test_cold": {...}}
  recs/<split>.tsv  user_id item_id rank: the top `eval.n_recs` unseen items of every evaluated user
  deciles.json      recall@K per popularity decile, per split (for plots)
  train_log.json    epochs, seconds, peak memory
  checkpoints/last.pt  the last finished epoch of gradient training, for trainer.resume=true
  checkpoint.pt     the model's state_dict;  config.yaml  the resolved config;  results.md  the table

Under `torchrun ... trainer=ddp` every process runs this (see kgrec.train.distributed); rank 0 alone writes.
"""

from __future__ import annotations

import inspect
import json
import logging
import random
import resource
import typing
from dataclasses import dataclass
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from kgrec.data.dataset import Dataset
from kgrec.data.load import load_dataset
from kgrec.errors import KgrecError
from kgrec.evaluate.metrics import EvalResult
from kgrec.evaluate.report import results_table, write_recs
from kgrec.models.base import Recommender
from kgrec.train.checkpoint import atomic_write, config_fingerprint
from kgrec.train.cold_weight import choose_cold_text_weight
from kgrec.train.distributed import Processes, resolve_device, start, stop, to_device
from kgrec.train.loop import TrainerConfig, TrainingLog, train, trainer_config

log = logging.getLogger(__name__)

EVAL_SPLITS = ("valid", "test", "test_cold")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(model_config: dict[str, Any], data: Dataset, encoder_config: dict, cache_dir: str) -> Recommender:
    """Instantiate `conf/model/<name>.yaml`; text features are computed (or read from cache) only if needed."""
    hyperparameters = {key: value for key, value in model_config.items() if key != "train"}
    model_class = get_class(hyperparameters["_target_"])
    extra = {}
    if model_class.needs_text:
        from kgrec.text.cache import EmbeddingCache
        from kgrec.text.encoder import TextEncoder
        from kgrec.text.features import node_text_features

        encoder = TextEncoder(**encoder_config)
        extra["text_features"] = node_text_features(data, encoder, EmbeddingCache(cache_dir))
        if hyperparameters.get("text_finetune_layers", 0) > 0:
            extra["text_encoder"] = encoder
    return instantiate(hyperparameters, _partial_=True)(data, **extra)


def model_builder(config: dict[str, Any]) -> Callable[[Dataset], Recommender]:
    """The run's model, built on any data: its own, or the held-out copy a twin trains on."""
    return lambda data: build_model(config["model"], data, config["encoder"], config["cache_dir"])


def fit(model: Recommender, data: Dataset, trainer: TrainerConfig, eval_config: dict,
        run_dir: str | Path | None = None, fingerprint: str = "", processes: Processes | None = None,
        build_twin: Callable[[Dataset], Recommender] | None = None) -> TrainingLog:
    """Closed-form fit or gradient training with early stopping, then calibration, all on the validation split.

    Gradient training checkpoints every epoch into `run_dir` (see kgrec.train.loop). The model is moved
    to the device of `processes` (default: this one process on `trainer.device`). A kgrec model with
    `cold_text_weight: auto` needs `build_twin` (the same model built on other data): a twin trained with
    items held out chooses it (kgrec.train.cold_weight)."""
    monitor = eval_config["monitor"]
    processes = processes or Processes(resolve_device(trainer.device))
    to_device(model, processes.device)

    def validate() -> float:
        return processes.evaluate(model.score, data, "valid", ks=eval_config["ks"],
                                  head_share=eval_config["head_share"], n_recs=max(eval_config["ks"]),
                                  batch_size=eval_config["batch_size"], top_lists=model.top_lists).metrics[monitor]

    started = time.perf_counter()
    model.fit(data)
    history = (train(model, data, trainer, validate, monitor=f"valid_{monitor}", run_dir=run_dir,
                     fingerprint=fingerprint, processes=processes) if model.trainable
               else TrainingLog(seconds=time.perf_counter() - started))
    if getattr(model, "cold_text_weight", None) == "auto":
        if build_twin is None:
            raise KgrecError("cold_text_weight=auto is chosen by training a twin model: pass fit(build_twin=...), "
                             "or set the weight (1 = no extra lean on text)")
        model.cold_text_weight = choose_cold_text_weight(build_twin, data, trainer, history.best_epoch, processes,
                                                         eval_config)
    with torch.no_grad():
        model.prepare_scoring()
        model.calibrate(validate, data)
    return history


def _write_json(path: Path, payload: Any) -> None:
    atomic_write(path, lambda handle: handle.write((json.dumps(payload, indent=2, allow_nan=True) + "\n").encode()))


def _refuse_unset(config: dict[str, Any], prefix: str = "") -> None:
    """Hydra leaves a mandatory value nobody gave as '???': name it before any work starts."""
    for key, value in config.items():
        if isinstance(value, dict):
            _refuse_unset(value, f"{prefix}{key}.")
        elif value == "???":
            raise KgrecError(f"{prefix}{key} is not set: give it on the command line, e.g. {prefix}{key}=...")


def check_options(group: str, target: type, options: dict[str, Any], ignored: frozenset[str] = frozenset()) -> None:
    """A misspelt or mistyped option of `group` fails here, before any data is read, not deep inside `target`."""
    accepted = set(inspect.signature(target).parameters) - {"self", "data", "text_features", "text_encoder"}
    unknown = sorted(set(options) - accepted - ignored)
    if unknown:
        raise KgrecError(f"{group}: unknown option(s) {unknown}; {target.__name__} takes {sorted(accepted)}")
    hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target)
    for name in accepted & set(options):
        kinds = [typing.get_origin(kind) or kind for kind in typing.get_args(hints.get(name)) or (hints.get(name),)]
        allowed = tuple(kind for kind in kinds if isinstance(kind, type))  # list[int] -> list
        value = options[name]
        if float in allowed and isinstance(value, int):
            continue  # 1 for 1.0
        if allowed and not isinstance(value, allowed):
            expected = " or ".join(kind.__name__ for kind in allowed)
            raise KgrecError(f"{group}.{name}: expected {expected}, got {value!r} ({type(value).__name__})")


@dataclass
class EvalSettings:
    """The `eval` group (conf/eval/default.yaml), checked like the model and encoder groups."""

    ks: list
    head_share: float
    n_recs: int
    batch_size: int
    monitor: str
    report_k: int


def run_experiment(config: dict[str, Any], out_dir: str | Path) -> dict[str, dict[str, float]]:
    """Run the experiment described by the resolved `config`; returns the metrics written to metrics.json
    (on every process of a DDP run, where rank 0 alone writes them)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _refuse_unset(config)
    model_config = config["model"]
    model_class = get_class(model_config["_target_"])
    check_options("model", model_class, model_config, ignored=frozenset({"_target_", "train"}))
    if model_class.needs_text:  # the encoder group is read only then
        from kgrec.text.encoder import TextEncoder

        check_options("encoder", TextEncoder, config["encoder"])
    check_options("eval", EvalSettings, config["eval"])
    trainer = trainer_config({**config["trainer"], **model_config.get("train", {}), "seed": config["seed"]})
    processes = start(trainer.device, trainer.precision, trainer.distributed)
    try:
        # Every rank reads rank 0's run directory (trainer.resume), whatever directory Hydra gave it.
        return _run(config, trainer, processes, Path(processes.broadcast(str(out_dir))))
    finally:
        stop()


def _run(config: dict[str, Any], trainer: TrainerConfig, processes: Processes,
         out_dir: Path) -> dict[str, dict[str, float]]:
    seed_everything(config["seed"])
    data = load_dataset(config["data"])
    build = model_builder(config)
    model = build(data)
    log.info("model %s on %s (%s, %d process%s)", type(model).__name__, data.name, processes.device,
             processes.world_size, "es" if processes.world_size > 1 else "")

    history = fit(model, data, trainer, config["eval"], out_dir, config_fingerprint(config), processes, build)
    model.eval()
    eval_config = config["eval"]
    eval_start = time.perf_counter()
    with torch.no_grad():
        model.prepare_scoring()
        results = {split: processes.evaluate(model.score, data, split, ks=eval_config["ks"],
                                             head_share=eval_config["head_share"], n_recs=eval_config["n_recs"],
                                             batch_size=eval_config["batch_size"], top_lists=model.top_lists)
                   for split in EVAL_SPLITS if len(data.splits.get(split, ()))}
    eval_seconds = time.perf_counter() - eval_start
    if processes.is_main:
        _write_run(out_dir, config, model, data, history, results, eval_seconds, processes)
    return {split: result.metrics for split, result in results.items()}


def _write_run(out_dir: Path, config: dict[str, Any], model: Recommender, data: Dataset, history: TrainingLog,
               results: dict[str, EvalResult], eval_seconds: float, processes: Processes) -> None:
    """Everything the module docstring lists, and the results table on stdout."""
    metrics = {split: result.metrics for split, result in results.items()}
    for split, result in results.items():
        if split != "valid":
            write_recs(out_dir / "recs" / f"{split}.tsv", data, result)
    _write_json(out_dir / "metrics.json", metrics)
    _write_json(out_dir / "deciles.json", {split: {f"recall@{k}": values for k, values in result.decile_recall.items()}
                                           for split, result in results.items()})
    gpu = processes.device.type == "cuda"
    _write_json(out_dir / "train_log.json", {
        "model": type(model).__name__, "dataset": data.name, "scores_unseen_items": model.scores_unseen_items,
        "popularity_penalty": getattr(model, "popularity_penalty", None), "tail_every": getattr(model, "tail_every", None),
        "device": str(processes.device), "processes": processes.world_size,
        "train_seconds": history.seconds,
        "seconds_per_epoch": history.seconds_per_epoch, "best_epoch": history.best_epoch,
        "eval_seconds": eval_seconds, "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_memory_mb": torch.cuda.max_memory_allocated(processes.device) / 2**20 if gpu else None,
        "epochs": history.epochs,
    })
    atomic_write(out_dir / "checkpoint.pt", lambda handle: torch.save(model.state_dict(), handle))
    atomic_write(out_dir / "config.yaml", lambda handle: handle.write(OmegaConf.to_yaml(config).encode()))
    eval_config = config["eval"]
    table = (f"## {type(model).__name__} on {data.name}\n\n"
             + results_table(metrics, k=eval_config["report_k"])
             + f"\n\ntrain {history.seconds:.1f} s, evaluation {eval_seconds:.1f} s\n")
    if "test_cold" in metrics and not model.scores_unseen_items:
        table += "test_cold: this ID-only model scores every cold item alike; its numbers only reflect tie-breaking.\n"
    (out_dir / "results.md").write_text(table)
    print(table)
