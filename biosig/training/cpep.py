"""``biosig train cpep``: the three CPEP stages in one resumable run.

1. ``pose_mae``: masked-autoencoder pretraining of the pose encoder on pose windows of the corpus' training
   users (``pose_mae.init`` uses a given checkpoint instead);
2. ``emg_mae``: masked-autoencoder pretraining of the EMG encoder on the training EMG windows;
3. ``align``: the aligned model (EMG encoder from stage 1b + projection head, pose encoder from stage 1a,
   *frozen*) trained with the symmetric InfoNCE loss and a learnable temperature starting at 0.02, on paired
   windows (synthetic corpus) or pseudo-pairs (Myo class -> canonical pose, :mod:`biosig.training.cpep_data`).

The run folder::

    config.json            resolved config and command
    pose_mae/ emg_mae/     per stage: metrics.jsonl, resume.pt (while running), model.pt (self-describing)
    align/                 metrics.jsonl, resume.pt
    model.pt               the aligned model (arch "cpep"): the service's EMG encoder and its pose encoder
    summary.json           per stage: steps, losses, wall time; data description

**Resume.** Every random draw of step ``k`` of a stage (batch order of an epoch, masks, dropout, channel shifts,
pseudo-poses) is seeded from ``(seed, stage, k)`` or ``(seed, stage, epoch)``, so ``--resume`` continues a stopped
run bit for bit: finished stages are loaded from their ``model.pt``, the interrupted one from its ``resume.pt``.
Ctrl-C / SIGTERM stop at the next step boundary and save. CPEP trains in one process (no ``torchrun``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from biosig.models import create_model, load_checkpoint, save_checkpoint
from biosig.models.checkpoint import SignalSpec
from biosig.models.cpep import CPEP, CPEPConfig, pose_signal_spec, pose_spec_dict
from biosig.training.config import OptimConfig, RunConfig
from biosig.training.cpep_config import CPEPTrainConfig, cpep_config_to_dict
from biosig.training.cpep_data import (
    CPEPDataConfig,
    MyoPairs,
    PairedWindows,
    balanced_subset,
    circular_shift,
    corpus_rows,
    emg_scaling,
    load_corpus_sessions,
    load_myo_pairs,
    pseudo_poses,
    read_corpus_info,
)
from biosig.training.distributed import state_hash
from biosig.training.scaling import InputScaling
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

__all__ = ["STAGES", "CPEPResult", "train_cpep"]

log = logging.getLogger(__name__)

STAGES = ("pose_mae", "emg_mae", "align")
_STAGE_ID = {name: i + 1 for i, name in enumerate(STAGES)}


@dataclass
class CPEPResult:
    """What :func:`train_cpep` did: ``status`` ``"completed"`` or ``"interrupted"`` (in ``stage``), the files."""

    status: str
    stage: str
    out_dir: Path
    model_path: Path | None
    summary: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------------
# One stage


def _lr(step: int, o: OptimConfig, total: int) -> float:
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return o.lr
    progress = (step - o.warmup_steps) / max(1, total - o.warmup_steps)
    return o.min_lr + (o.lr - o.min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _seeds(*entropy: int) -> tuple[int, int, int]:
    a, b, c = np.random.SeedSequence(list(entropy)).generate_state(3, dtype=np.uint64)
    return int(a >> np.uint64(1)), int(b >> np.uint64(1)), int(c >> np.uint64(1))


#: ``batch(index, rng, generator) -> (loss, details)``: one training step's loss on windows ``index``.
BatchFn = Callable[[np.ndarray, np.random.Generator, torch.Generator], tuple[Tensor, dict[str, float]]]


class _Stage:
    """Shuffled epochs of ``batch_size`` windows, AdamW, metrics, resumable state (see the module docstring)."""

    def __init__(
        self,
        name: str,
        out: Path,
        model: nn.Module,
        param_groups: list[dict[str, Any]],
        batch: BatchFn,
        n_items: int,
        optim: OptimConfig,
        run: RunConfig,
        *,
        after_step: Callable[[], None] | None = None,
    ) -> None:
        if n_items < 2:
            raise ValueError(f"stage {name}: {n_items} training window(s); need at least 2")
        self.name, self.out, self.model, self.batch, self.optim, self.run = name, out, model, batch, optim, run
        self.after_step = after_step
        self.n_items = n_items
        self.batch_size = min(optim.batch_size, n_items)
        self.steps_per_epoch = n_items // self.batch_size  # the last partial batch is dropped (fixed shapes)
        self.total = optim.max_steps or optim.epochs * self.steps_per_epoch
        self.optimizer = torch.optim.AdamW(
            param_groups, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
        )
        self.base_lrs = [g.get("lr_scale", 1.0) for g in self.optimizer.param_groups]
        self.history: list[dict[str, Any]] = []

    def order(self, seed: int, epoch: int) -> np.ndarray:
        return np.random.default_rng([seed, _STAGE_ID[self.name], epoch]).permutation(self.n_items)

    def save_state(self, step: int, config: dict[str, Any]) -> None:
        payload = {
            "format": STATE_FORMAT,
            "version": 1,
            "stage": self.name,
            "config": config,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": step,
            "epoch": step // self.steps_per_epoch,
            "world_size": 1,
            "rng": "every draw of step k is seeded from (seed, stage, k); batch order from (seed, stage, epoch)",
        }
        atomic_torch_save(payload, self.out / RESUME_FILE)

    def fit(
        self,
        seed: int,
        config: dict[str, Any],
        stop: StopRequest,
        resume: bool,
        on_step: Callable[[str, int, float], None] | None = None,
    ) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        step = 0
        state_path = self.out / RESUME_FILE
        if resume and state_path.is_file():
            state = load_state(state_path)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            step = int(state["step"])
            log.info("%s: resuming at step %d of %d", self.name, step, self.total)
        earlier = trim_metrics(self.out / "metrics.jsonl", step)
        start_step, t0 = step, time.perf_counter()
        self.model.train()
        bar = tqdm(total=self.total, initial=step, desc=self.name, unit="step", disable=not self.run.progress,
                   file=sys.stderr)  # fmt: skip
        sums: dict[str, float] = {}
        n_in_window, since = 0, t0
        epoch, order = -1, np.zeros(0, dtype=np.int64)
        while step < self.total:
            e, offset = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch, order = e, self.order(seed, e)
            index = np.sort(order[offset * self.batch_size : (offset + 1) * self.batch_size])
            s_torch, s_np, s_gen = _seeds(seed, _STAGE_ID[self.name], step)
            torch.manual_seed(s_torch)
            generator = torch.Generator().manual_seed(s_gen)
            for group, scale in zip(self.optimizer.param_groups, self.base_lrs):
                group["lr"] = _lr(step, self.optim, self.total) * scale
            loss, details = self.batch(index, np.random.default_rng(s_np), generator)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"{self.name}: loss is {value} at step {step}; lower the stage's lr")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.optim.grad_clip)
            self.optimizer.step()
            if self.after_step is not None:
                self.after_step()
            step += 1
            bar.update(1)
            if on_step is not None:
                on_step(self.name, step, value)
            for key, v in {"loss": value, **details}.items():
                sums[key] = sums.get(key, 0.0) + float(v)
            n_in_window += 1
            if step % self.run.log_every == 0 or step == self.total:
                now = time.perf_counter()
                line = {
                    "step": step,
                    "epoch": round(step / self.steps_per_epoch, 4),
                    **{k: v / n_in_window for k, v in sums.items()},
                    "lr": _lr(step - 1, self.optim, self.total),
                    "samples_per_s": round(n_in_window * self.batch_size / max(now - since, 1e-9), 2),
                    "elapsed_s": round(now - t0, 2),
                }
                self.history.append(line)
                with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(line) + "\n")
                bar.set_postfix(loss=f"{line['loss']:.4g}")
                sums, n_in_window, since = {}, 0, now
            if self.run.checkpoint_every and step % self.run.checkpoint_every == 0 and step < self.total:
                self.save_state(step, config)
            if stop.requested:
                break
        bar.close()
        self.save_state(step, config)
        lines = earlier + self.history
        wall = time.perf_counter() - t0
        return {
            "status": "completed" if step >= self.total else "interrupted",
            "step": step,
            "total_steps": self.total,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.batch_size,
            "epochs": round(step / self.steps_per_epoch, 4),
            "first_loss": lines[0]["loss"] if lines else None,
            "final_loss": lines[-1]["loss"] if lines else None,
            "final": lines[-1] if lines else None,
            "wall_s": round(wall, 2),
            "steps_per_s": round((step - start_step) / wall, 4) if wall > 0 else None,
            "resumed_from": start_step if start_step else None,
        }


# ---------------------------------------------------------------------------------------------------------------------
# Data of a run


@dataclass(eq=False)
class _RunData:
    """Everything the stages read: pose windows, EMG windows (paired or Myo), the EMG scaling and descriptions."""

    pose_windows: PairedWindows | None
    emg_source: str
    paired: PairedWindows | None = None  # emg2pose: EMG and pose of the same windows
    myo: MyoPairs | None = None
    scaling: InputScaling = field(default_factory=InputScaling)
    align_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mae_index: np.ndarray | None = None  # windows of the EMG masked autoencoder (None: all)
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def n_emg(self) -> int:
        return len(self.paired) if self.paired is not None else len(self.myo)  # type: ignore[arg-type]

    def emg(self, index: np.ndarray) -> np.ndarray:
        raw = self.paired.emg(index) if self.paired is not None else self.myo.emg(index)  # type: ignore[union-attr]
        return self.scaling.apply(raw, ("emg",) * raw.shape[1], (self.emg_unit,) * raw.shape[1])

    @property
    def emg_unit(self) -> str:
        return "V" if self.emg_source == "emg2pose" else "a.u."

    @property
    def n_chans(self) -> int:
        return self.paired.sessions[0].emg.shape[0] if self.paired is not None else self.myo.recordings[0].n_channels


def _train_sessions(cfg: CPEPDataConfig, progress: bool) -> tuple[Any, list[Any], dict[str, Any]]:
    if not cfg.corpus:
        raise ValueError(
            "data.corpus must name a synthetic emg2pose corpus (`biosig data synth emg-pose --out DIR`); "
            "it provides the paired windows (source emg2pose) and the pose encoder's training poses"
        )
    users = list(cfg.users) or None
    rows = corpus_rows(cfg.corpus, split="train", users=users)
    _, info = read_corpus_info(cfg.corpus)
    sessions = load_corpus_sessions(cfg.corpus, rows, cfg.sfreq, cfg.frame_rate, progress=progress)
    return rows, sessions, info


def _subset(n: int, limit: int, seed: int, salt: int) -> np.ndarray:
    if limit and limit < n:
        return np.sort(np.random.default_rng([seed, salt]).choice(n, size=limit, replace=False))
    return np.arange(n)


def _load_data(config: CPEPTrainConfig, data_dir: str | os.PathLike[str] | None, need_pose: bool) -> _RunData:
    cfg, seed, progress = config.data, config.run.seed, config.run.progress
    description: dict[str, Any] = {"source": cfg.source, "window_s": cfg.window_s, "hop_s": cfg.hop_s}
    pose_windows = None
    paired = None
    if cfg.source == "emg2pose" or need_pose:
        rows, sessions, info = _train_sessions(cfg, progress)
        paired = PairedWindows.build(sessions, cfg.n_frames, cfg.hop_frames, min_label_fraction=cfg.min_label_fraction)
        pose_windows = paired.subset(_subset(len(paired), cfg.max_windows, seed, 1))
        description["corpus"] = {
            "path": str(Path(cfg.corpus).resolve()) if cfg.corpus else None,
            "files": list(rows["filename"]),
            "users": sorted(set(rows["user"])),
            "stages": sorted(set(rows["stage"])),
            "seen_gestures": info.get("seen_gestures"),
            "unseen_gestures": info.get("unseen_gestures"),
            "held_out_users": info.get("held_out_users"),
            "generator_config": info.get("config"),
            "n_windows": len(paired),
            "dropped_windows": paired.dropped,
        }
    if cfg.source == "emg2pose":
        assert paired is not None
        data = _RunData(pose_windows, "emg2pose", paired=paired.subset(_subset(len(paired), cfg.max_windows, seed, 2)))
        data.scaling = emg_scaling(paired.sessions)
        names = data.paired.label_names  # type: ignore[union-attr]
        excluded = np.isin(names, list(cfg.exclude_gestures))
        data.align_index = np.flatnonzero(~excluded)
        description["excluded_from_align"] = {"gestures": list(cfg.exclude_gestures), "windows": int(excluded.sum())}
    else:
        myo = load_myo_pairs(cfg, data_dir, progress)
        keep = _subset(len(myo), cfg.max_windows, seed, 2)
        data = _RunData(pose_windows, cfg.source, myo=myo)
        data.scaling = emg_scaling(myo.recordings)
        unknown = sorted(set(cfg.exclude_gestures) - set(myo.class_gestures))
        if unknown:
            raise ValueError(
                f"data.exclude_gestures {unknown} are not Myo classes; Myo classes are {myo.class_gestures}"
            )
        excluded_classes = [myo.class_gestures.index(g) for g in cfg.exclude_gestures]
        labelled = (myo.label >= 0) & ~np.isin(myo.label, excluded_classes)
        data.align_index = np.intersect1d(np.flatnonzero(labelled), keep)
        if cfg.balance_align:
            data.align_index = balanced_subset(myo.label, data.align_index, seed)
        data.mae_index = keep
        description["myo"] = {
            "notes": myo.notes,
            "participants": sorted(set(myo.participant.tolist())),
            "class_gestures": list(myo.class_gestures),
            "excluded_classes": excluded_classes,
            "n_windows": len(myo),
            "n_align_windows": int(len(data.align_index)),
            "align_class_counts": np.bincount(myo.label[data.align_index], minlength=len(myo.class_gestures)).tolist(),
        }
    description["input_scaling"] = data.scaling.to_dict()
    data.description = description
    return data


# ---------------------------------------------------------------------------------------------------------------------
# The run


def _resolved_overrides(config: CPEPTrainConfig, data: _RunData) -> tuple[dict[str, Any], dict[str, Any]]:
    """EMG and pose encoder overrides with the fields the data fixes (a contradicting explicit value raises)."""
    d = config.data

    def fix(section: str, overrides: dict[str, Any], key: str, value: Any) -> None:
        if key in overrides and overrides[key] != value:
            raise ValueError(f"{section}.{key}={overrides[key]!r} but the data gives {value!r}; leave it unset")
        overrides[key] = value

    emg = dict(config.emg.overrides)
    fix("emg", emg, "n_chans", int(data.n_chans))
    fix("emg", emg, "sfreq", float(d.emg_rate))
    if config.emg.name == "cpep_emg_transformer":
        fix("emg", emg, "n_times", int(d.n_times))
    else:
        patch = int(emg.get("patch_len", create_model(config.emg.name).config.patch_len))
        if d.n_times % patch:
            raise ValueError(f"a {d.n_times}-sample window is not a multiple of emg.patch_len={patch}")
        emg.setdefault("max_patches", d.n_times // patch)
    pose = dict(config.pose.overrides)
    fix("pose", pose, "n_frames", int(d.n_frames))
    fix("pose", pose, "frame_rate", float(d.frame_rate))
    return emg, pose


def _check_out_dir(out: Path, config: CPEPTrainConfig, resume: bool) -> None:
    existing = [p for p in (out / "config.json", out / MODEL_FILE, *(out / s for s in STAGES)) if p.exists()]
    if not resume:
        if existing:
            raise FileExistsError(
                f"{out} already holds a CPEP run ({existing[0].name}); pass --resume or another --out"
            )
        return
    saved_path = out / "config.json"
    if not saved_path.is_file():
        raise FileNotFoundError(f"--resume: {saved_path} does not exist; start without --resume")
    saved = json.loads(saved_path.read_text())
    diffs = config_differences({k: saved[k] for k in saved if k != "resolved"}, cpep_config_to_dict(config))
    if diffs:
        raise ValueError(f"--resume: the config differs from the run in {out}: {'; '.join(diffs)}")


def _training_record(config: CPEPTrainConfig, data: _RunData, command: str, metrics: Any, stage: str) -> dict[str, Any]:
    return {
        "data": data.description,
        "command": command,
        "seed": config.run.seed,
        "metrics": metrics,
        "stage": stage,
        "optim": cpep_config_to_dict(config)[stage] if stage in STAGES else None,
    }


def _load_stage_model(path: Path, arch: str, expect: dict[str, Any], what: str) -> nn.Module:
    model, meta = load_checkpoint(path)
    if meta["arch"] != arch:
        raise ValueError(f"{what}: {path} holds a {meta['arch']!r} model, expected {arch!r}")
    mismatched = {k: (meta["config"].get(k), v) for k, v in expect.items() if meta["config"].get(k) != v}
    if mismatched:
        raise ValueError(f"{what}: {path} was built for {mismatched} (checkpoint, this run)")
    return model


def train_cpep(
    config: CPEPTrainConfig,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    command: str | None = None,
    on_step: Callable[[str, int, float], None] | None = None,
) -> CPEPResult:
    """Run the CPEP stages of ``config`` (see the module docstring); returns when done or stopped.

    ``on_step(stage, step, loss)`` is called after every optimiser step.
    """
    out = Path(out_dir if out_dir is not None else config.run.out_dir)
    command = command or shlex.join(sys.argv)
    _check_out_dir(out, config, resume)
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    seed = config.run.seed
    np.random.seed(seed)
    torch.manual_seed(seed)
    need_pose = not config.pose_mae.init and not (out / "pose_mae" / MODEL_FILE).is_file()
    data = _load_data(config, data_dir, need_pose=need_pose)
    emg_over, pose_over = _resolved_overrides(config, data)
    plain = cpep_config_to_dict(config)
    out.mkdir(parents=True, exist_ok=True)
    resolved = {"emg": emg_over, "pose": pose_over, "command": command, "data_dir": data_dir and str(data_dir)}
    (out / "config.json").write_text(json.dumps({**plain, "resolved": resolved}, indent=2, default=str) + "\n")
    summary: dict[str, Any] = {"stages": {}, "data": data.description}
    stop = StopRequest()

    def finish(status: str, stage: str, model_path: Path | None) -> CPEPResult:
        summary.update(status=status, stage=stage, model_path=None if model_path is None else str(model_path))
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        return CPEPResult(status, stage, out, model_path, summary)

    with stop.installed():
        # -- stage 1a: pose encoder -------------------------------------------------------------------------------
        torch.manual_seed(seed)
        pose_model = create_model(config.pose.name, **pose_over)
        pose_path = out / "pose_mae" / MODEL_FILE
        if config.pose_mae.init:
            pose_model = _load_stage_model(Path(config.pose_mae.init), config.pose.name, pose_over, "pose_mae.init")
            summary["stages"]["pose_mae"] = {"status": "from checkpoint", "init": config.pose_mae.init}
        elif pose_path.is_file():
            pose_model = _load_stage_model(pose_path, config.pose.name, pose_over, "pose_mae")
            summary["stages"]["pose_mae"] = {"status": "completed earlier", "model_path": str(pose_path)}
        else:
            windows = data.pose_windows
            assert windows is not None

            def pose_batch(index: np.ndarray, rng: np.random.Generator, gen: torch.Generator) -> Any:
                loss, _ = pose_model.pretrain_loss(torch.from_numpy(windows.pose(index)), gen)
                return loss, {}

            if pose_model.config.standardize:  # per-DOF statistics of the training poses (valid frames only)
                frames = np.concatenate([s.pose[:, s.valid] for s in windows.sessions], axis=1)  # (23, n_frames)
                pose_model.set_normalization(
                    torch.from_numpy(frames.mean(axis=1)), torch.from_numpy(frames.std(axis=1))
                )
            stage = _Stage("pose_mae", out / "pose_mae", pose_model, [{"params": list(pose_model.parameters())}],
                           pose_batch, len(windows), config.pose_mae, config.run)  # fmt: skip
            result = stage.fit(seed, plain, stop, resume, on_step)
            summary["stages"]["pose_mae"] = result
            if result["status"] != "completed":
                return finish("interrupted", "pose_mae", None)
            save_checkpoint(
                pose_path,
                pose_model,
                arch=config.pose.name,
                config=pose_model.config,
                signal_spec=pose_signal_spec(pose_model.config),
                training=_training_record(config, data, command, result, "pose_mae"),
                extra={"pose_spec": pose_spec_dict(pose_model.config)},
            )
            (out / "pose_mae" / RESUME_FILE).unlink(missing_ok=True)

        # -- stage 1b: EMG encoder --------------------------------------------------------------------------------
        torch.manual_seed(seed)
        emg_model = create_model(config.emg.name, **emg_over)
        emg_path = out / "emg_mae" / MODEL_FILE
        emg_spec = SignalSpec(
            sfreq=config.data.emg_rate,
            n_times=config.data.n_times,
            ch_types=("emg",) * data.n_chans,
            units=(data.emg_unit,) * data.n_chans,
            ch_names=tuple(f"emg{i}" for i in range(data.n_chans)),
        )
        mae_index = data.mae_index if data.mae_index is not None else np.arange(data.n_emg)
        shift = config.data.channel_shift
        if config.emg_mae.init:
            emg_model = _load_stage_model(Path(config.emg_mae.init), config.emg.name, emg_over, "emg_mae.init")
            summary["stages"]["emg_mae"] = {"status": "from checkpoint", "init": config.emg_mae.init}
        elif emg_path.is_file():
            emg_model = _load_stage_model(emg_path, config.emg.name, emg_over, "emg_mae")
            summary["stages"]["emg_mae"] = {"status": "completed earlier", "model_path": str(emg_path)}
        else:

            def emg_batch(index: np.ndarray, rng: np.random.Generator, gen: torch.Generator) -> Any:
                x = circular_shift(data.emg(mae_index[index]), shift, rng)
                loss, _ = emg_model.pretrain_loss(torch.from_numpy(np.ascontiguousarray(x)), gen)
                return loss, {}

            stage = _Stage("emg_mae", out / "emg_mae", emg_model, [{"params": list(emg_model.parameters())}],
                           emg_batch, len(mae_index), config.emg_mae, config.run)  # fmt: skip
            result = stage.fit(seed, plain, stop, resume, on_step)
            summary["stages"]["emg_mae"] = result
            if result["status"] != "completed":
                return finish("interrupted", "emg_mae", None)
            save_checkpoint(
                emg_path,
                emg_model,
                arch=config.emg.name,
                config=emg_model.config,
                signal_spec=emg_spec,
                training=_training_record(config, data, command, result, "emg_mae"),
                extra={"input_scaling": data.scaling.to_dict()},
            )
            (out / "emg_mae" / RESUME_FILE).unlink(missing_ok=True)

        # -- stage 2: contrastive alignment -----------------------------------------------------------------------
        head = config.cpep
        model = CPEP(
            CPEPConfig(
                emg_arch=config.emg.name,
                emg_config={f.name: getattr(emg_model.config, f.name) for f in dataclasses.fields(emg_model.config)},
                pose_arch=config.pose.name,
                pose_config={f.name: getattr(pose_model.config, f.name) for f in dataclasses.fields(pose_model.config)},
                head_hidden=head.head_hidden,
                pose_head=head.pose_head,
                temperature_init=head.temperature_init,
                min_temperature=head.min_temperature,
            )
        )
        model.emg_encoder.load_state_dict(emg_model.state_dict())
        model.pose_encoder.load_state_dict(pose_model.state_dict())
        model.freeze_pose()
        encoder_params = list(model.emg_encoder.parameters())
        other = [p for n, p in model.named_parameters() if not n.startswith(("emg_encoder.", "pose_encoder."))]
        groups = [{"params": other, "lr_scale": 1.0}]
        if head.emg_lr_scale > 0:
            groups.insert(0, {"params": encoder_params, "lr_scale": head.emg_lr_scale})
        else:
            model.emg_encoder.requires_grad_(False)
        align_index = data.align_index
        cfg = config.data

        def align_batch(index: np.ndarray, rng: np.random.Generator, gen: torch.Generator) -> Any:
            rows = align_index[index]
            x = circular_shift(data.emg(rows), shift, rng)
            if data.paired is not None:
                poses = data.paired.pose(rows)
            else:
                myo = data.myo
                assert myo is not None
                poses = pseudo_poses(myo.label[rows], myo.targets, myo.rest, cfg.n_frames, rng,
                                     cfg.pose_intensity, cfg.pose_jitter_rad)  # fmt: skip
            loss, details = model.contrastive_loss(
                torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(poses))
            )
            return loss, {k: float(v) for k, v in details.items()}

        stage = _Stage("align", out / "align", model, groups, align_batch, len(align_index), config.align,
                       config.run, after_step=model.clamp_temperature)  # fmt: skip
        result = stage.fit(seed, plain, stop, resume, on_step)
        summary["stages"]["align"] = result
        if result["status"] != "completed":
            return finish("interrupted", "align", None)
        model.eval()
        final = save_checkpoint(
            out / MODEL_FILE,
            model,
            arch="cpep",
            config=model.config,
            signal_spec=emg_spec,
            training=_training_record(config, data, command, result, "align"),
            extra={
                "input_scaling": data.scaling.to_dict(),
                "pose_spec": pose_spec_dict(model.pose_config),
                "vocabulary": _vocabulary_record(config, data),
                "temperature": model.temperature,
                "stages": {
                    "pose_mae": config.pose_mae.init or "pose_mae/model.pt",
                    "emg_mae": config.emg_mae.init or "emg_mae/model.pt",
                },
            },
        )
        (out / "align" / RESUME_FILE).unlink(missing_ok=True)
        summary["weight_hash"] = state_hash(model.state_dict())
    return finish("completed", "align", final)


def _vocabulary_record(config: CPEPTrainConfig, data: _RunData) -> dict[str, Any]:
    """Which gestures the aligned model was trained to name (and which it never saw), for the zero-shot head."""
    if data.myo is not None:
        excluded = list(config.data.exclude_gestures)
        return {
            "kind": "myo",
            "gestures": list(data.myo.class_gestures),
            "label_of_gesture": {g: i for i, g in enumerate(data.myo.class_gestures)},
            "trained_gestures": [g for g in data.myo.class_gestures if g not in excluded],
            "unseen_gestures": excluded,
        }
    corpus = data.description.get("corpus", {})
    seen = [g for g in (corpus.get("seen_gestures") or []) if g not in config.data.exclude_gestures]
    return {
        "kind": "emg2pose",
        "gestures": ["rest", *[g for g in seen if g != "rest"]],
        "trained_gestures": ["rest", *[g for g in seen if g != "rest"]],
        "unseen_gestures": sorted(set(corpus.get("unseen_gestures") or []) | set(config.data.exclude_gestures)),
    }
