"""Where a run computes: its device and, under `torchrun ... trainer=ddp`, its rank among the processes.

One process (the default) trains and evaluates on one device, exactly as if this module did not exist.
Under torchrun every process holds the whole model and dataset. Each epoch's shuffled (user, item)
pairs are dealt out across the processes (the same permutation everywhere, disjoint shards) and
DistributedDataParallel averages the gradients, so that P processes take the steps one process would
take with the same global batch size. Evaluation deals out users and gathers the per-shard results into
exactly the metrics one process computes, so every rank takes the same early-stopping decision. Only
rank 0 writes files. Multi-node is torchrun's business (`--nnodes`, `--rdzv_endpoint`): nothing here
depends on where the ranks run.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from kgrec.data.dataset import Dataset
from kgrec.errors import KgrecError
from kgrec.data.popularity import item_groups
from kgrec.evaluate.metrics import EvalResult, ListFn, ScoreFn, evaluate, source_split, split_candidates, summarise
from kgrec.models.base import Recommender

DEVICES = ("auto", "cpu", "cuda")
#: trainer.precision -> the autocast dtype of the training step (None: plain fp32).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# Buffers are synchronised once, when DDP starts, not before every step (torch 2.13 renamed the option).
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """`auto` is the GPU when there is one. A process of a DDP run takes GPU `local_rank`; pick the GPUs
    a run may use with CUDA_VISIBLE_DEVICES."""
    if requested not in DEVICES:
        raise KgrecError(f"trainer.device={requested!r}: choose one of {', '.join(DEVICES)} "
                         "(select GPUs with CUDA_VISIBLE_DEVICES)")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise KgrecError(f"trainer.device=cuda, but CUDA is not available here (torch {torch.__version__}, "
                         f"CUDA build {torch.version.cuda}); use trainer.device=cpu or auto")
    if local_rank >= torch.cuda.device_count():
        raise KgrecError(f"process {local_rank} of this node needs GPU {local_rank}, but only "
                         f"{torch.cuda.device_count()} are visible; start at most that many processes per node")
    return torch.device("cuda", local_rank)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the training step runs in under autocast; mixed precision is for GPUs only."""
    if precision not in PRECISIONS:
        raise KgrecError(f"trainer.precision={precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision != "fp32" and device.type != "cuda":
        raise KgrecError(f"trainer.precision={precision} autocasts on a GPU only, and this run is on {device}; "
                         "use trainer.precision=fp32")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise KgrecError(f"trainer.precision=bf16: {torch.cuda.get_device_name(device)} has no bfloat16; use fp16")
    return PRECISIONS[precision]


class _Loss(torch.nn.Module):
    """DDP synchronises gradients of what its module's forward computes: here a model's own loss."""

    def __init__(self, model: Recommender):
        super().__init__()
        self.model = model

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.model.loss(users, items)


@dataclass(frozen=True)
class Processes:
    """This process's device and rank; `world_size` 1 is the plain single-process run."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """The one process that logs, checkpoints and writes the run's outputs."""
        return self.rank == 0

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's share of an epoch's permutation: every world_size-th pair, from the same number of
        pairs on every rank (so that all ranks take the same number of steps; at most world_size - 1
        pairs of the epoch sit it out, different ones each epoch)."""
        if self.world_size == 1:
            return order
        return order[self.rank : len(order) - len(order) % self.world_size : self.world_size]

    def local_batch_size(self, batch_size: int) -> int:
        """trainer.batch_size is the global batch: each rank takes its share of it."""
        return math.ceil(batch_size / self.world_size)

    def loss_fn(self, model: Recommender) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """`model.loss`, behind DistributedDataParallel when there are several processes. Buffers are
        not re-broadcast every step: kgrec's models only keep constants in them."""
        if self.world_size == 1:
            return model.loss
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(_Loss(model), device_ids=device_ids, **_NO_BUFFER_SYNC)

    def mean(self, value: float) -> float:
        """The mean of `value` over the ranks (e.g. an epoch's loss)."""
        if self.world_size == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return total.item() / self.world_size

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` (a picklable object), on every rank."""
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def evaluate(self, score_fn: ScoreFn, data: Dataset, split: str, ks: Sequence[int], head_share: float,
                 n_recs: int, batch_size: int, top_lists: ListFn | None = None) -> EvalResult:
        """`kgrec.evaluate.metrics.evaluate` over all users of `split`, each rank ranking its share of them."""
        if self.world_size == 1:
            return evaluate(score_fn, data, split, ks=ks, head_share=head_share, n_recs=n_recs,
                            batch_size=batch_size, device=self.device, top_lists=top_lists)
        mine = evaluate(score_fn, user_shard(data, split, self.rank, self.world_size), split, ks=ks,
                        head_share=head_share, n_recs=n_recs, batch_size=batch_size, device=self.device,
                        top_lists=top_lists)
        shards: list[EvalResult] = [None] * self.world_size  # type: ignore[list-item]
        dist.all_gather_object(shards, mine)
        return merge_results(data, split, shards, head_share)


def start(device: str, precision: str, distributed: bool) -> Processes:
    """This process's place in the run (trainer.device, trainer.precision and trainer.distributed are checked
    here, before any work): one process, or with trainer=ddp under torchrun one rank of a process group
    (NCCL between GPUs, gloo between CPUs)."""
    launched = int(os.environ.get("WORLD_SIZE", 0))  # set by torchrun
    if distributed and not launched:
        raise KgrecError("trainer=ddp runs under torchrun: torchrun --standalone --nproc_per_node=P "
                         "-m kgrec.train trainer=ddp ...")
    if launched > 1 and not distributed:
        raise KgrecError(f"torchrun started {launched} processes, but trainer.distributed is false: add trainer=ddp "
                         "(otherwise each process would train alone and write the same outputs)")
    placed = resolve_device(device, int(os.environ.get("LOCAL_RANK", 0)) if distributed else 0)
    autocast_dtype(precision, placed)
    if not distributed:
        return Processes(placed)
    if placed.type == "cuda":
        torch.cuda.set_device(placed)
    dist.init_process_group("nccl" if placed.type == "cuda" else "gloo")
    return Processes(placed, dist.get_rank(), dist.get_world_size())


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def to_device(model: Recommender, device: torch.device) -> Recommender:
    """`model.to(device)`, plus the constant tensors a model keeps as plain attributes (e.g. kgrec's sparse
    adjacency), which `Module.to` does not see."""
    model.to(device)
    for module in model.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, torch.Tensor):
                setattr(module, name, value.to(device))
    return model


def user_shard(data: Dataset, split: str, rank: int, world_size: int) -> Dataset:
    """`data` whose `split` keeps the pairs of every world_size-th of its users, starting at the rank-th."""
    split = source_split(split)
    pairs = data.splits[split]
    keep = np.isin(pairs.users, np.unique(pairs.users)[rank::world_size])
    return dataclasses.replace(data, splits={**data.splits, split: pairs.take(keep)})


def merge_results(data: Dataset, split: str, shards: Sequence[EvalResult], head_share: float) -> EvalResult:
    """The result `evaluate` returns for the whole `split`, from those of disjoint user shards: their per-user
    values are put back in user order and their per-item counts added up, then summarised as `evaluate` does."""
    users = np.concatenate([shard.users for shard in shards])
    order = np.argsort(users)

    def joined(arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays)[order]

    per_user = {key: joined([shard.per_user[key] for shard in shards]) for key in shards[0].per_user}
    decile_per_user = {k: joined([shard.decile_per_user[k] for shard in shards]) for k in shards[0].decile_per_user}
    item_counts = {k: sum(shard.item_counts[k] for shard in shards) for k in shards[0].item_counts}
    head, tail, cold = item_groups(data, head_share)
    metrics, decile_recall = summarise(split, per_user, decile_per_user, item_counts, head,
                                       split_candidates(data, split, tail, cold))
    top_items = joined([shard.top_items for shard in shards])
    return EvalResult(metrics, users[order], top_items, decile_recall, per_user, decile_per_user, item_counts)
