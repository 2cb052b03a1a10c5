"""Multi-process data parallelism (``torchrun``) and the batch sampler that shards batches across ranks.

``torchrun --nproc_per_node N -m biosig.cli.main train biofame ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`init_distributed` joins them in a ``gloo`` process
group (CPU) when ``WORLD_SIZE > 1`` and does nothing otherwise, so one code path serves both.

Sharding is done per *batch* rather than per sample (as ``DistributedSampler`` does), because a batch must hold
windows of one channel layout: :class:`LayoutBatchSampler` shuffles each layout's windows, cuts them into
batches, shuffles the batch order (all from ``(seed, epoch)``, identical on every rank), pads the list to a
multiple of the world size by repeating its first batches (as ``DistributedSampler`` pads samples, so every rank
runs the same number of steps and DDP's all-reduce never waits for a missing rank) and gives rank ``r`` batches
``r, r + W, r + 2W, ...``. With one layout and one process it is ordinary shuffled batching.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["DistEnv", "LayoutBatchSampler", "all_gather_objects", "init_distributed", "state_hash"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """This process's ``rank`` among ``world_size``; ``is_main`` writes files and shows progress."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistEnv:
    """Join the ``torchrun`` process group (gloo) when ``WORLD_SIZE > 1``; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    rank = int(os.environ["RANK"])
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    log.info("joined process group: rank %d of %d (gloo)", rank, world)
    return DistEnv(rank, world)


def shutdown_distributed(env: DistEnv) -> None:
    """Leave the process group joined by :func:`init_distributed`."""
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_objects(value: Any, env: DistEnv) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]`` on every rank (``[value]`` without a process group)."""
    if not env.distributed:
        return [value]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, value)
    return out


def mean_across_ranks(value: float, env: DistEnv) -> float:
    """The mean of ``value`` over ranks (``value`` itself in one process)."""
    if not env.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / env.world_size


def any_rank(flag: bool, env: DistEnv) -> bool:
    """True on every rank when ``flag`` is True on any (so all ranks stop at the same step)."""
    if not env.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def state_hash(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and bytes: equal hashes mean bit-identical weights."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.float().numpy().tobytes())
    return digest.hexdigest()


class LayoutBatchSampler(Sampler[list[int]]):
    """Batches of window indices of one layout each, sharded across ranks (see the module docstring).

    Parameters
    ----------
    layout_of
        ``(n_windows,)`` int: the layout of each window.
    batch_size
        Windows per batch per process; a layout's last batch may be smaller.
    seed
        Shuffling seed; the order of epoch ``e`` depends only on ``(seed, e)``.
    rank, world_size
        This process's shard.
    """

    def __init__(
        self, layout_of: Sequence[int] | np.ndarray, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.layout_of = np.asarray(layout_of, dtype=np.int64)
        if self.layout_of.ndim != 1 or len(self.layout_of) == 0:
            raise ValueError(f"layout_of must be a non-empty 1-D array, got shape {self.layout_of.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank!r}")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.epoch = 0
        self._layouts = [np.flatnonzero(self.layout_of == k) for k in np.unique(self.layout_of)]
        n_batches = sum(-(-len(idx) // self.batch_size) for idx in self._layouts)
        self.n_padded = (-n_batches) % self.world_size
        self._len = (n_batches + self.n_padded) // self.world_size
        if self.n_padded:
            log.info("%d batch(es) repeated so that %d ranks run %d steps each", self.n_padded, world_size, self._len)

    def set_epoch(self, epoch: int) -> None:
        """Choose the shuffle of ``epoch`` (call before iterating, like ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def batches(self, epoch: int) -> list[list[int]]:
        """All ranks' batches of ``epoch`` before sharding (padded to a multiple of the world size)."""
        rng = np.random.default_rng([self.seed, epoch])
        batches: list[list[int]] = []
        for idx in self._layouts:
            shuffled = idx[rng.permutation(len(idx))]
            batches.extend(shuffled[i : i + self.batch_size].tolist() for i in range(0, len(shuffled), self.batch_size))
        order = rng.permutation(len(batches))
        batches = [batches[i] for i in order]
        return batches + [batches[i % len(batches)] for i in range(self.n_padded)]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)[self.rank :: self.world_size]

    def __len__(self) -> int:
        return self._len
