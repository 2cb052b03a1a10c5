"""Feature regression of NoTS Table 1: a frozen encoder's tokens, a small trained head, error x100.

Protocol (the paper's Appendix B.1 was not available; docs/nots.md records these choices):

1. The encoder is frozen; :func:`extract_features` runs ``forward_features`` on every single-channel series and keeps
   the token grid ``(n_series, n_tokens, d)``.
2. A :class:`RegressionHead` (per-token ``Linear(d -> hidden)`` + GELU, then ``Linear(n_tokens * hidden -> q)`` over
   the flattened grid, so windowed targets can be read from the tokens that cover them) is fitted on z-scored
   features and z-scored targets with AdamW; the step with the lowest validation error (10% of the training
   series, checked every ``eval_every`` steps) is kept.
3. The error is ``100 * mean_q(MSE_q / Var_q)`` on the test series, with ``Var_q`` the training variance of target
   dimension ``q``: 100 means "no better than predicting the training mean", 0 is perfect. With the paper's
   numbers (H: 1.27 for NoTS) this normalised-MSE reading is the only one that gives sensible magnitudes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["HeadConfig", "RegressionHead", "extract_features", "fit_regression_head", "regression_error"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadConfig:
    """Training of the regression head: ``hidden`` features per token, ``steps`` AdamW steps of ``batch_size``."""

    hidden: int = 16
    steps: int = 600
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-3
    val_fraction: float = 0.1
    eval_every: int = 50

    def __post_init__(self) -> None:
        for name in ("hidden", "steps", "batch_size", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction!r}")


@torch.no_grad()
def extract_features(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Frozen tokens ``(n, n_tokens, d)`` float32 of single-channel series ``x`` ``(n, t)``.

    ``model.forward_features`` must map ``(b, 1, t)`` to ``(b, 1, n_tokens, d)``; the model is put in eval mode.
    """
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n_series, n_times), got {x.shape}")
    if not hasattr(model, "forward_features"):
        raise TypeError(f"model must have forward_features(x) -> (b, c, n, d), {type(model).__name__} has none")
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[start : start + batch_size], dtype=torch.float32, device=device)[:, None]  # (b, 1, t)
        feats = model.forward_features(xb)  # (b, 1, n, d)
        out.append(feats[:, 0].float().cpu().numpy())
    return np.concatenate(out)


class RegressionHead(nn.Module):
    """``(b, n_tokens, d) -> (b, q)``: per-token ``Linear(d -> hidden)`` + GELU, then one Linear over the grid."""

    def __init__(self, n_tokens: int, dim: int, n_outputs: int, hidden: int = 16) -> None:
        super().__init__()
        self.token = nn.Sequential(nn.Linear(dim, hidden), nn.GELU())
        self.out = nn.Linear(n_tokens * hidden, n_outputs)

    def forward(self, feats: Tensor) -> Tensor:
        return self.out(self.token(feats).flatten(1))  # (b, n, hidden) -> (b, n*hidden) -> (b, q)


def regression_error(pred: np.ndarray, y: np.ndarray, train_var: np.ndarray) -> float:
    """``100 * mean_q(MSE_q / train_var_q)`` for ``(n, q)`` predictions and targets (variances floored at 1e-8)."""
    if pred.shape != y.shape:
        raise ValueError(f"pred has shape {pred.shape} but y has {y.shape}")
    mse = ((pred - y) ** 2).mean(axis=0)  # (q,)
    return float(100.0 * np.mean(mse / np.maximum(train_var, 1e-8)))


def fit_regression_head(
    train_feats: np.ndarray,
    train_y: np.ndarray,
    test_feats: np.ndarray,
    test_y: np.ndarray,
    config: HeadConfig | None = None,
    seed: int = 0,
) -> float:
    """Fit a :class:`RegressionHead` on ``(n, n_tokens, d)`` features and ``(n, q)`` targets; return the test error.

    See the module docstring for the protocol; the error is :func:`regression_error` on the test split.
    """
    cfg = config or HeadConfig()
    if train_feats.ndim != 3 or test_feats.shape[1:] != train_feats.shape[1:]:
        raise ValueError(
            f"features must be (n, n_tokens, d) with matching grids, got {train_feats.shape} and {test_feats.shape}"
        )
    if train_y.ndim != 2 or len(train_y) != len(train_feats) or len(test_y) != len(test_feats):
        raise ValueError(
            f"targets must be (n, q) and match the features, got {train_y.shape} for {len(train_feats)} and "
            f"{test_y.shape} for {len(test_feats)}"
        )
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    f_mean = train_feats.mean(axis=(0, 1))
    f_std = train_feats.std(axis=(0, 1)) + 1e-6
    y_mean, y_var = train_y.mean(axis=0), train_y.var(axis=0)
    y_std = np.sqrt(np.maximum(y_var, 1e-8))

    def prep(f: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
        return torch.as_tensor((f - f_mean) / f_std, dtype=torch.float32), torch.as_tensor(
            (y - y_mean) / y_std, dtype=torch.float32
        )

    order = rng.permutation(len(train_feats))
    n_val = max(1, int(round(cfg.val_fraction * len(order))))
    val_idx, fit_idx = order[:n_val], order[n_val:]
    xf, yf = prep(train_feats[fit_idx], train_y[fit_idx])
    xv, yv = prep(train_feats[val_idx], train_y[val_idx])
    xt, _ = prep(test_feats, test_y)

    torch.manual_seed(seed)
    head = RegressionHead(train_feats.shape[1], train_feats.shape[2], train_y.shape[1], cfg.hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best = (float("inf"), {k: v.clone() for k, v in head.state_dict().items()})
    for step in range(1, cfg.steps + 1):
        head.train()
        idx = torch.randint(len(xf), (min(cfg.batch_size, len(xf)),), generator=gen)
        loss = ((head(xf[idx]) - yf[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            head.eval()
            with torch.no_grad():
                val = float(((head(xv) - yv) ** 2).mean())
            if val < best[0]:
                best = (val, {k: v.clone() for k, v in head.state_dict().items()})
    head.load_state_dict(best[1])
    head.eval()
    with torch.no_grad():
        pred = head(xt).numpy() * y_std + y_mean
    error = regression_error(pred, test_y, y_var)
    log.debug("regression head: best val %.4f, test error %.2f", best[0], error)
    return error
