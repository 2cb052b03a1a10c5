"""Full fine-tuning of an encoder with a linear head, with early stopping on a validation split.

The encoder is deep-copied (the caller's weights are never changed) and wrapped in
:class:`~biosig.models.layers.EncoderClassifier`; every weight trains with AdamW and a class-weighted
cross-entropy (weights inversely proportional to class frequency in the training windows, as the probe and
baselines do). After each epoch the balanced accuracy on the validation windows is measured; the weights of the
best epoch are kept, and training stops after ``patience`` epochs without improvement.

**Validation split** from the training data only, never from the test windows: when the training windows
come from two or more groups (participants, or sessions in the cross-session task), ``val_fraction`` of the
groups (at least one, chosen by the seed) are held out whole, so overlapping windows of one recording never sit
on both sides. With a single group, a seeded ``val_fraction`` of the windows is held out instead (those may
overlap training windows; the report notes when this happens).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from biosig.evaluation.metrics import balanced_accuracy
from biosig.models.layers import EncoderClassifier

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune", "validation_split"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning hyper-parameters: ``epochs`` (max), AdamW ``lr``/``weight_decay``, ``batch_size``,
    ``patience`` epochs without validation improvement, ``val_fraction`` of groups (or windows) held out, and
    ``max_train_windows`` (a seeded subsample of the training windows per fold, None = all; for quick runs)."""

    epochs: int = 10
    lr: float = 3e-4
    weight_decay: float = 0.01
    batch_size: int = 64
    patience: int = 3
    val_fraction: float = 0.2
    max_train_windows: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.max_train_windows is not None and (
            isinstance(self.max_train_windows, bool)
            or not isinstance(self.max_train_windows, int)
            or self.max_train_windows < 2
        ):
            raise ValueError(f"max_train_windows must be None or an int >= 2, got {self.max_train_windows!r}")


@dataclass
class FinetuneResult:
    """Predictions on the test windows, the best epoch (1-based), and per-epoch loss and validation score."""

    y_pred: np.ndarray
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    val_by_group: bool = True


def validation_split(
    groups: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(fit_idx, val_idx, by_group)`` over the training windows (see the module docstring)."""
    rng = np.random.default_rng(seed)
    unique = np.array(sorted(set(groups.tolist()), key=str), dtype=object)
    if len(unique) >= 2:
        n_val = max(1, int(round(fraction * len(unique))))
        n_val = min(n_val, len(unique) - 1)
        val_groups = set(rng.permutation(unique)[:n_val].tolist())
        is_val = np.array([g in val_groups for g in groups.tolist()])
        return np.flatnonzero(~is_val), np.flatnonzero(is_val), True
    order = rng.permutation(len(y))
    n_val = max(1, int(round(fraction * len(y))))
    return np.sort(order[n_val:]), np.sort(order[:n_val]), False


def _predict(
    model: nn.Module, x: np.ndarray, factors: torch.Tensor, batch_size: int, device: torch.device
) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)).to(device)
            out.append(model(xb * factors).argmax(dim=1).cpu().numpy())
    return np.concatenate(out)


def finetune(
    encoder: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    x_test: np.ndarray,
    *,
    config: FinetuneConfig = FinetuneConfig(),
    factors: np.ndarray | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> FinetuneResult:
    """Fine-tune a copy of ``encoder`` with a linear head on the training windows and predict the test windows.

    Parameters
    ----------
    encoder
        Maps ``(batch, n_channels, n_times)`` to ``(batch, embed_dim)`` and exposes ``embed_dim``.
    x_train, y_train, groups_train
        ``(n, n_channels, n_times)`` windows at the encoder's rate, ``(n,)`` integer labels, ``(n,)`` groups.
    x_test
        ``(m, n_channels, n_times)`` windows to predict.
    factors
        ``(n_channels,)`` input multipliers (see :meth:`biosig.evaluation.probe.InputScale.channel_factors`).
    seed
        Seeds the head initialisation, the validation split, the subsample and the batch order.

    Returns
    -------
    FinetuneResult
        ``y_pred`` ``(m,)`` in the original label values.
    """
    y_train = np.asarray(y_train)
    if not (len(x_train) == len(y_train) == len(groups_train)):
        raise ValueError(
            f"x_train, y_train and groups_train must have one entry per window, got {len(x_train)}, "
            f"{len(y_train)} and {len(groups_train)}"
        )
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise ValueError(f"fine-tuning needs at least two classes in y_train, got {classes.tolist()}")
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    if config.max_train_windows is not None and len(y_train) > config.max_train_windows:
        keep = np.sort(rng.choice(len(y_train), config.max_train_windows, replace=False))
        x_train, y_train, groups_train = x_train[keep], y_train[keep], np.asarray(groups_train)[keep]
    target = np.searchsorted(classes, y_train)  # labels -> 0..K-1
    fit_idx, val_idx, by_group = validation_split(np.asarray(groups_train), target, config.val_fraction, seed)
    if not by_group:
        log.warning("fine-tuning: a single training group; the validation windows may overlap training windows")

    torch.manual_seed(seed)
    model = EncoderClassifier(copy.deepcopy(encoder), len(classes)).to(device)
    scale = torch.ones(1, x_train.shape[1], 1, device=device)
    if factors is not None:
        scale = torch.as_tensor(np.asarray(factors, dtype=np.float32), device=device)[None, :, None]
    counts = np.bincount(target[fit_idx], minlength=len(classes)).astype(np.float64)
    weight = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(classes), 0.0)
    loss_fn = nn.CrossEntropyLoss(weight=torch.as_tensor(weight, dtype=torch.float32, device=device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    best_score, best_epoch, best_state, stale = -1.0, 0, None, 0
    history: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(fit_idx)
        total, n_seen = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = np.sort(order[start : start + config.batch_size])
            xb = torch.from_numpy(np.ascontiguousarray(x_train[batch], dtype=np.float32)).to(device) * scale
            yb = torch.from_numpy(target[batch]).to(device)
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            n_seen += len(batch)
        val_pred = _predict(model, x_train[val_idx], scale, config.batch_size * 4, device)
        score = balanced_accuracy(target[val_idx], val_pred)
        history.append({"epoch": float(epoch), "train_loss": total / max(n_seen, 1), "val_balanced_accuracy": score})
        log.info("fine-tune epoch %d: loss %.4f, val balanced accuracy %.3f", epoch, total / max(n_seen, 1), score)
        if score > best_score:
            best_score, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                break
    assert best_state is not None  # at least one epoch ran
    model.load_state_dict(best_state)
    pred = _predict(model, x_test, scale, config.batch_size * 4, device)
    return FinetuneResult(classes[pred], best_epoch, history, by_group)
