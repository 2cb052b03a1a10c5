"""The pretraining loop: AdamW, seeds, progress, JSON-lines metrics, resumable state, DDP, Ctrl-C, final checkpoint.

What a run writes to its output folder (rank 0 only):

* ``config.json`` the resolved config, with the model's full config and the command;
* ``metrics.jsonl`` one line every ``run.log_every`` steps: ``step``, ``epoch``, ``loss`` (mean over the steps
  since the previous line and over ranks), ``lr``, ``samples_per_s`` (all ranks), ``elapsed_s`` (since this process started training);
* ``resume.pt`` resumable state (model, optimiser, step, config) every ``run.checkpoint_every`` steps, at the end
  and on Ctrl-C / SIGTERM;
* ``model.pt`` the final self-describing checkpoint (:func:`biosig.models.save_checkpoint`) with the input
  scaling in ``extra["input_scaling"]``;
* ``summary.json`` status, steps, losses, throughput, data description and each rank's final weight hash.

**Exact resume.** Every random draw of step ``k`` on rank ``r`` (masking, dropout, modality dropout) comes from
generators re-seeded from ``(seed, r, k)`` at the start of the step, and the data order of an epoch depends only
on ``(seed, epoch)``; so the resumable state needs no RNG snapshot, and ``--resume`` from step ``k`` reproduces
the uninterrupted run's weights bit for bit (same world size and thread count; tested).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from biosig.models import create_model, modality_dropout, modality_groups, save_checkpoint
from biosig.training.config import TrainConfig, config_to_dict, save_config_json
from biosig.training.data import PretrainData, build_pretrain_data, collate_windows
from biosig.training.distributed import (
    DistEnv,
    LayoutBatchSampler,
    all_gather_objects,
    any_rank,
    init_distributed,
    mean_across_ranks,
    state_hash,
)
from biosig.training.state import (
    MODEL_FILE,
    RESUME_FILE,
    STATE_FORMAT,
    StopRequest,
    atomic_torch_save,
    config_differences,
    load_state,
    trim_metrics,
)

__all__ = ["RESUME_FILE", "MODEL_FILE", "PretrainObjective", "TrainResult", "lr_at", "resolve_model_overrides", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train` did: ``status`` ``"completed"`` or ``"interrupted"``, the step reached, the files."""

    status: str
    rank: int
    step: int
    total_steps: int
    out_dir: Path
    resume_path: Path
    model_path: Path | None
    summary: dict[str, Any] = field(default_factory=dict)


class PretrainObjective(nn.Module):
    """``forward(x, channel_ids, generator) -> loss``: the model's ``pretrain_loss`` behind a ``forward``.

    DDP synchronises gradients of what runs through its wrapped module's ``forward``; calling
    ``model.pretrain_loss`` directly would bypass it.
    """

    def __init__(self, model: nn.Module, sfreq: float) -> None:
        super().__init__()
        self.model = model
        self.sfreq = sfreq

    def forward(self, x: Tensor, channel_ids: Tensor | None, generator: torch.Generator) -> Tensor:
        loss, _ = self.model.pretrain_loss(x, generator, channel_ids=channel_ids, sfreq=self.sfreq)
        return loss


# -- setup helpers --------------------------------------------------------------------------------------------


def resolve_model_overrides(config: TrainConfig, data: PretrainData) -> dict[str, Any]:
    """The model overrides with what the data fixes: ``sfreq`` and, for slot-tied decoders, ``n_chans``.

    An explicit value that contradicts the data raises (a model built for another rate or fewer channel slots
    cannot be trained on it).
    """
    overrides = dict(config.model.overrides)
    defaults = create_model(config.model.name).config
    fields = set(vars(defaults))
    if "sfreq" in fields:
        if "sfreq" in overrides and float(overrides["sfreq"]) != data.sfreq:
            raise ValueError(f"model.sfreq={overrides['sfreq']} Hz but data.sfreq={data.sfreq} Hz; set only data.sfreq")
        overrides["sfreq"] = data.sfreq
    probe = create_model(config.model.name, **overrides)
    slots = getattr(probe, "pretrain_channel_slots", None)
    if slots is not None:
        needed = len(data.slots)
        if "n_chans" not in overrides:
            overrides["n_chans"] = needed
            log.info("model.n_chans set to the %d channel slots of the data", needed)
        elif overrides["n_chans"] < needed:
            raise ValueError(
                f"model.n_chans={overrides['n_chans']} but the data has {needed} channel slots "
                f"({', '.join(s.name for s in data.slots[:12])}...); raise model.n_chans or drop it to set it from the data"
            )
    patch_len = getattr(defaults, "patch_len", None)
    patch_len = overrides.get("patch_len", patch_len)
    if patch_len and data.n_window % patch_len:
        raise ValueError(
            f"a window of {data.n_window} samples (data.window_s={config.data.window_s} s at {data.sfreq:g} Hz) "
            f"is not a multiple of the model's patch_len={patch_len}"
        )
    max_patches = overrides.get("max_patches", getattr(defaults, "max_patches", None))
    if max_patches and patch_len and data.n_window // patch_len > max_patches:
        if "max_patches" in overrides:
            raise ValueError(
                f"model.max_patches={max_patches} but a window holds {data.n_window // patch_len} patches; "
                "raise model.max_patches or shorten data.window_s"
            )
        overrides["max_patches"] = data.n_window // patch_len  # the default decoder positions are too few
        log.info("model.max_patches raised to %d patches per window", overrides["max_patches"])
    return overrides


def lr_at(step: int, config: TrainConfig, total_steps: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warm-up, then constant or cosine to ``min_lr``."""
    o = config.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return o.lr
    progress = (step - o.warmup_steps) / max(1, total_steps - o.warmup_steps)
    return o.min_lr + (o.lr - o.min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _step_seeds(seed: int, rank: int, step: int) -> tuple[int, int, int]:
    a, b, c = np.random.SeedSequence([seed, rank, step]).generate_state(3, dtype=np.uint64)
    return int(a >> np.uint64(1)), int(b >> np.uint64(1)), int(c >> np.uint64(1))


def _seed_worker(worker_id: int) -> None:
    # Each DataLoader worker gets torch's per-worker seed; numpy and random follow it (no item draws today,
    # but a future augmentation must not repeat across workers).
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# -- the run --------------------------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    command: str | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Pretrain ``config.model`` on ``config.data``; returns when done or stopped by Ctrl-C / SIGTERM.

    Parameters
    ----------
    out_dir
        Output folder (default ``config.run.out_dir``); see the module docstring for what is written there.
        A folder that already holds a run needs ``resume=True``.
    data_dir
        Data directory, winning over ``config.data.data_dir``.
    resume
        Continue from ``out_dir/resume.pt``; the config must match the saved one except for :data:`RESUME_FREE`.
    command
        The command line recorded in the checkpoint (default: ``sys.argv``).
    on_step
        Called after every optimiser step with the step count and its loss (rank-local).
    """
    env = init_distributed()
    out = Path(out_dir if out_dir is not None else config.run.out_dir)
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    state = _check_out_dir(out, config, resume, env)
    run = _Run(config, env, out, data_dir, state, command or shlex.join(sys.argv))
    return run.fit(on_step)


def _check_out_dir(out: Path, config: TrainConfig, resume: bool, env: DistEnv) -> dict[str, Any] | None:
    """The state to resume from (None for a fresh run); refuses to overwrite a run or to resume a different one."""
    resume_path, model_path = out / RESUME_FILE, out / MODEL_FILE
    if resume and not resume_path.is_file():
        raise FileNotFoundError(f"--resume: {resume_path} does not exist; start without --resume")
    if not resume:
        if resume_path.exists() or model_path.exists():
            raise FileExistsError(
                f"{out} already holds a run ({RESUME_FILE} or {MODEL_FILE}); pass --resume or another --out"
            )
        return None
    state = load_state(resume_path)
    diffs = config_differences(state["config"], config_to_dict(config))
    if diffs:
        raise ValueError(f"--resume: the config differs from the run in {out}: {'; '.join(diffs)}")
    if state["world_size"] != env.world_size:
        log.warning(
            "resuming with %d process(es) where the run used %d: data order differs from an uninterrupted run",
            env.world_size,
            state["world_size"],
        )
    return state


class _Run:
    """One training run: data, model, optimiser and sampler built once; :meth:`fit` runs the steps."""

    def __init__(
        self,
        config: TrainConfig,
        env: DistEnv,
        out: Path,
        data_dir: str | os.PathLike[str] | None,
        state: dict[str, Any] | None,
        command: str,
    ) -> None:
        self.config, self.env, self.out, self.command = config, env, out, command
        seed = config.run.seed
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        progress = config.run.progress and env.is_main
        self.data = build_pretrain_data(config.data, data_dir=data_dir, seed=seed, progress=progress)
        overrides = resolve_model_overrides(config, self.data)
        torch.manual_seed(seed)  # identical initial weights on every rank, whatever the data code drew
        self.model = create_model(config.model.name, **overrides)
        if not hasattr(self.model, "pretrain_loss"):
            raise ValueError(f"model {config.model.name!r} has no pretrain_loss; it cannot be pretrained here")
        o = config.optim
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.start_step = 0
        self.resumed = state is not None
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.start_step = int(state["step"])
        self.slots = getattr(self.model, "pretrain_channel_slots", None)
        self.objective: nn.Module = PretrainObjective(self.model, self.data.sfreq)
        if env.distributed:
            # Modality dropout, several layouts, or decoder slots beyond the channels present leave some parameters
            # out of a step, and DDP must be told; otherwise its extra graph traversal is skipped.
            partial = (
                config.data.modality_dropout > 0
                or len(self.data.layouts) > 1
                or (self.slots is not None and self.slots > self.data.n_channels_max)
            )
            self.objective = DistributedDataParallel(self.objective, find_unused_parameters=partial)
        self.sampler = LayoutBatchSampler(self.data.layout_of, o.batch_size, seed, env.rank, env.world_size)
        self.steps_per_epoch = len(self.sampler)
        self.total = o.max_steps or o.epochs * self.steps_per_epoch
        self.groups = [modality_groups(types) for types in self.data.layout_types]
        self.mask_gen, self.dropout_gen = torch.Generator(), torch.Generator()
        self.history: list[dict[str, Any]] = []
        self.earlier: list[dict[str, Any]] = []  # metric lines of the run before a resume
        if env.is_main:
            self._write_config(data_dir)
            self.earlier = trim_metrics(out / "metrics.jsonl", self.start_step)
        log.info(
            "%d steps (%d per epoch, batch %d x %d process(es))",
            self.total,
            self.steps_per_epoch,
            o.batch_size,
            env.world_size,
        )

    def _write_config(self, data_dir: str | os.PathLike[str] | None) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        save_config_json(
            self.config,
            self.out / "config.json",
            resolved={
                "model_config": {k: getattr(self.model.config, k) for k in vars(self.model.config)},
                "world_size": self.env.world_size,
                "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total,
                "command": self.command,
                "data_dir": None if data_dir is None else str(data_dir),
            },
        )

    def save_state(self, step: int) -> None:
        """Write ``resume.pt`` (rank 0; every rank holds the same weights and optimiser state)."""
        if not self.env.is_main:
            return
        payload = {
            "format": STATE_FORMAT,
            "version": 1,
            "config": config_to_dict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": step,
            "epoch": step // self.steps_per_epoch,
            "world_size": self.env.world_size,
            "rng": "every draw of step k on rank r is seeded from (seed, r, k); no RNG state is needed",
        }
        atomic_torch_save(payload, self.out / RESUME_FILE)
        log.info("saved resumable state at step %d to %s", step, self.out / RESUME_FILE)

    def batches(self, step: int) -> Iterator[dict[str, Any]]:
        """Batches from optimiser step ``step`` on, epoch after epoch (the order depends on seed and epoch only)."""
        while True:
            epoch, offset = divmod(step, self.steps_per_epoch)
            self.sampler.set_epoch(epoch)
            loader = DataLoader(
                self.data,
                batch_sampler=list(self.sampler)[offset:],
                collate_fn=collate_windows,
                num_workers=self.config.data.num_workers,
                worker_init_fn=_seed_worker,
                generator=torch.Generator().manual_seed(self.config.run.seed + epoch),
            )
            for batch in loader:
                yield batch
                step += 1

    def train_step(self, step: int, batch: dict[str, Any]) -> tuple[float, int]:
        """One optimiser step on ``batch``; returns its loss and batch size."""
        s_torch, s_mask, s_drop = _step_seeds(self.config.run.seed, self.env.rank, step)
        torch.manual_seed(s_torch)  # dropout
        self.mask_gen.manual_seed(s_mask)
        self.dropout_gen.manual_seed(s_drop)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step, self.config, self.total)
        x, ids = batch["x"], self.data.layouts[batch["layout"]]  # (b, c, t), (c,) slots
        if self.config.data.modality_dropout > 0:
            x, kept = modality_dropout(
                x, self.groups[batch["layout"]], self.config.data.modality_dropout, self.dropout_gen
            )
            ids = ids[kept]
        loss = self.objective(x, ids if self.slots is not None else None, self.mask_gen)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss is {value} at step {step}; lower optim.lr or check data.scaling")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        return value, x.shape[0]

    def log_metrics(self, step: int, loss_sum: float, n_samples: int, since: float, t_start: float) -> dict[str, Any]:
        """Average the last window's loss over steps and ranks, append it to ``metrics.jsonl`` (rank 0)."""
        steps_in_window = step - (self.history[-1]["step"] if self.history else self.start_step)
        samples = mean_across_ranks(float(n_samples), self.env) * self.env.world_size
        now = time.perf_counter()
        line = {
            "step": step,
            "epoch": round(step / self.steps_per_epoch, 4),
            "loss": mean_across_ranks(loss_sum / max(1, steps_in_window), self.env),
            "lr": lr_at(step - 1, self.config, self.total),
            "samples_per_s": round(samples / max(now - since, 1e-9), 2),
            "elapsed_s": round(now - t_start, 2),
        }
        self.history.append(line)
        if self.env.is_main:
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        return line

    def fit(self, on_step: Callable[[int, float], None] | None) -> TrainResult:
        run = self.config.run
        step, t_start = self.start_step, time.perf_counter()
        loss_sum, n_samples, since = 0.0, 0, t_start
        stop = StopRequest()
        show = run.progress and self.env.is_main
        bar = tqdm(total=self.total, initial=step, desc="pretrain", unit="step", disable=not show, file=sys.stderr)
        self.objective.train()
        with stop.installed():
            batches = self.batches(step)
            while step < self.total:
                value, size = self.train_step(step, next(batches))
                step += 1
                loss_sum, n_samples = loss_sum + value, n_samples + size
                bar.update(1)
                if on_step is not None:
                    on_step(step, value)
                if step % run.log_every == 0 or step == self.total:
                    line = self.log_metrics(step, loss_sum, n_samples, since, t_start)
                    bar.set_postfix(loss=f"{line['loss']:.4g}")
                    loss_sum, n_samples, since = 0.0, 0, time.perf_counter()
                if run.checkpoint_every and step % run.checkpoint_every == 0 and step < self.total:
                    self.save_state(step)
                if any_rank(stop.requested, self.env):  # every rank stops at the same step
                    break
        bar.close()
        self.save_state(step)
        return self.finish(step, time.perf_counter() - t_start)

    def finish(self, step: int, wall: float) -> TrainResult:
        """Write ``summary.json`` and, when complete, ``model.pt``; compare the ranks' weights."""
        status = "completed" if step >= self.total else "interrupted"
        hashes = all_gather_objects(state_hash(self.model.state_dict()), self.env)
        if len(set(hashes)) > 1:
            log.error("ranks ended with different weights: %s", hashes)
        summary: dict[str, Any] = {
            "status": status,
            "step": step,
            "total_steps": self.total,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": round(step / self.steps_per_epoch, 4),
            "world_size": self.env.world_size,
            "wall_s": round(wall, 2),
            "steps_per_s": round((step - self.start_step) / wall, 4) if wall > 0 else None,
            "first_loss": (self.earlier + self.history)[0]["loss"] if self.earlier or self.history else None,
            "final_loss": self.history[-1]["loss"] if self.history else None,
            "resumed_from": self.start_step if self.resumed else None,
            "weight_hash_per_rank": hashes,
            "data": self.data.describe(),
        }
        final: Path | None = None
        if self.env.is_main:
            if status == "completed":
                final = self.save_model(summary)
            summary["model_path"] = None if final is None else str(final)
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        log.info("%s at step %d of %d in %.1f s", status, step, self.total, wall)
        return TrainResult(status, self.env.rank, step, self.total, self.out, self.out / RESUME_FILE, final, summary)

    def save_model(self, summary: dict[str, Any]) -> Path:
        """The final self-describing checkpoint, with the input scaling inference must apply."""
        metrics = {k: summary[k] for k in ("step", "epochs", "first_loss", "final_loss", "wall_s", "steps_per_s")}
        return save_checkpoint(
            self.out / MODEL_FILE,
            self.model,
            arch=self.config.model.name,
            config=self.model.config,
            signal_spec=self.data.signal_spec(),
            training={
                "data": self.data.describe(),
                "command": self.command,
                "seed": self.config.run.seed,
                "metrics": metrics,
                "optim": config_to_dict(self.config)["optim"],
                "world_size": self.env.world_size,
            },
            extra={
                "input_scaling": self.data.scaling.to_dict(),
                "layouts": [ids.tolist() for ids in self.data.layouts],
            },
        )
