"""Frozen-encoder embeddings and the linear probe on them.

**Input scaling.** The pretraining pipeline (:mod:`biosig.training.scaling`) centres each recording-channel on
its median and divides it by a robust scale per (channel type, unit), recorded in the checkpoint as
``meta["extra"]["input_scaling"] = {"method": "robust", "scales": {type: {unit: scale}}}``: without it, EEG in
volts (variance ~1e-10) would be swamped by RevIN's ``eps``. :func:`input_factors` turns that record into one
multiplier per channel (``1 / scale``). A legacy ``meta["extra"]["input_scale"]`` of multipliers per channel type
(or one number) is read too. ``--input-scale TYPE=FACTOR`` on the command line overrides either; a checkpoint
that records nothing gets factor 1 with a warning.

**Embedding** runs the encoder in eval mode under ``torch.no_grad`` in batches (its train/eval mode is restored
afterwards), so dropout is off and the embedding of a window does not depend on the batch it is in.

**Linear probe.** Embeddings are standardised (mean 0, variance 1 per dimension, fitted on the training
windows only) and a multinomial logistic regression (scikit-learn, L2, lbfgs) is fitted on them. By default
classes are weighted inversely to their frequency (``class_weight="balanced"``) because balanced accuracy is the
headline metric and Myo's rest class fills half of the data; the classical LDA baseline uses uniform priors for
the same reason. The problem is convex and lbfgs deterministic, so the probe's result does not depend on a seed;
across seeds it changes only where the seed changes the data split or the encoder.

**Regularisation.** ``C="cv"`` picks the inverse L2 strength from :data:`PROBE_C_GRID` by grouped
cross-validation on the *training* windows only (:func:`select_c`): folds are whole groups (participants for
cross-participant, sessions for cross-session), so the choice rewards embeddings that transfer to an unseen
group, which is what the test measures. On Myo cross-participant, C=1 (scikit-learn's default) over-fits the 7
training participants: the same embeddings probe 4 points of balanced accuracy higher at C=1e-3. With fewer than
two groups no grouped fold exists and ``cv_fallback_C`` is used (logged, and reported by ``cv_note``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

__all__ = [
    "PROBE_C_GRID",
    "InputScale",
    "LinearProbe",
    "embed",
    "input_scale_from_meta",
    "parse_input_scale",
    "select_c",
]

log = logging.getLogger(__name__)


def _check_factor(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} must be a positive finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class InputScale:
    """How an encoder's inputs are scaled: ``divisors[ch_type][unit]`` (the pipeline's record), ``factors[ch_type]``
    (multipliers; ``"*"`` for every type without its own entry; these win over divisors), and whether each
    recording-channel is centred on its median first (``centre``)."""

    divisors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    factors: Mapping[str, float] = field(default_factory=dict)
    centre: bool = False
    source: str = "none"

    def channel_factors(self, ch_types: Sequence[str], units: Sequence[str]) -> np.ndarray:
        """``(n_channels,)`` float32 multipliers for channels of these types and units.

        Raises
        ------
        ValueError
            The checkpoint's scaling has no entry for a channel's (type, unit) and no factor overrides it.
        """
        if len(ch_types) != len(units):
            raise ValueError(f"ch_types has {len(ch_types)} entries but units has {len(units)}")
        out = []
        for kind, unit in zip(ch_types, units):
            if kind in self.factors or "*" in self.factors:
                out.append(self.factors.get(kind, self.factors.get("*", 1.0)))
            elif self.divisors:
                try:
                    out.append(1.0 / float(self.divisors[kind][unit]))
                except KeyError:
                    known = [f"{k} in {u}" for k, per in self.divisors.items() for u in per]
                    raise ValueError(
                        f"the checkpoint's input scaling has no scale for a {kind!r} channel in {unit!r} (it knows "
                        f"{', '.join(known)}); pass --input-scale {kind}=FACTOR"
                    ) from None
            else:
                out.append(1.0)
        return np.array(out, dtype=np.float32)

    def describe(self) -> str:
        """One line for the table header."""
        parts = []
        if self.divisors:
            parts.append(
                "divide by "
                + ", ".join(f"{k}/{u}: {v:.4g}" for k, per in self.divisors.items() for u, v in per.items())
            )
        if self.factors:
            parts.append("multiply by " + ", ".join(f"{k}: {v:g}" for k, v in self.factors.items()))
        text = "; ".join(parts) or "unscaled"
        return f"{text}{', median-centred' if self.centre else ''} ({self.source})"


def input_scale_from_meta(meta: Mapping[str, Any]) -> InputScale:
    """The input scaling a checkpoint's metadata records (see the module docstring)."""
    extra = meta.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise ValueError(f"checkpoint meta['extra'] must be a mapping, got {type(extra).__name__}")
    raw = extra.get("input_scaling")
    if raw is not None:
        if not isinstance(raw, Mapping) or "method" not in raw:
            raise ValueError(f"checkpoint meta['extra']['input_scaling'] must hold 'method' and 'scales', got {raw!r}")
        if raw["method"] == "none":
            return InputScale(source="checkpoint: input_scaling none")
        scales = raw.get("scales")
        if not isinstance(scales, Mapping):
            raise ValueError(f"checkpoint meta['extra']['input_scaling']['scales'] must be a mapping, got {scales!r}")
        divisors = {
            str(k): {str(u): _check_factor(v, f"input_scaling scale of {k!r} in {u!r}") for u, v in per.items()}
            for k, per in scales.items()
        }
        return InputScale(divisors=divisors, centre=True, source=f"checkpoint: input_scaling {raw['method']}")
    legacy = extra.get("input_scale")
    if legacy is not None:
        if isinstance(legacy, Mapping):
            factors = {str(k): _check_factor(v, f"meta['extra']['input_scale'][{k!r}]") for k, v in legacy.items()}
        else:
            factors = {"*": _check_factor(legacy, "meta['extra']['input_scale']")}
        return InputScale(factors=factors, source="checkpoint: input_scale")
    log.warning("checkpoint records no input scaling; feeding inputs unscaled")
    return InputScale(source="checkpoint records none")


def parse_input_scale(items: Sequence[str]) -> dict[str, float]:
    """``["eeg=1e6", "emg=1"]`` (command-line form) as ``{"eeg": 1e6, "emg": 1.0}``; ``"*"`` means every type."""
    scale: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"input scale must be TYPE=FACTOR (e.g. eeg=1e6), got {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"input scale {item!r}: FACTOR must be a number, got {value!r}") from None
        scale[name.strip()] = _check_factor(number, f"input scale {item!r}")
    return scale


#: How :func:`embed` pools an encoder's tokens into one vector per window.
POOLINGS = ("mean", "channels")


def embed(
    encoder: nn.Module,
    x: np.ndarray,
    *,
    factors: np.ndarray | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    pooling: str = "mean",
) -> np.ndarray:
    """Embeddings of windows by a frozen encoder.

    Parameters
    ----------
    encoder
        Maps ``(batch, n_channels, n_times)`` to ``(batch, dim)``.
    x
        ``(n_windows, n_channels, n_times)`` windows at the encoder's sampling rate.
    factors
        ``(n_channels,)`` input multipliers (see :meth:`InputScale.channel_factors`); None = unscaled.
    pooling
        ``"mean"``: the encoder's own embedding (``encoder(x)``). ``"channels"``: each channel's tokens averaged
        over time and concatenated in channel order, ``(n_windows, n_channels * d)`` (the released bioFAME's
        ``latent_expand='cat'``); it keeps which channel carried what, which the mean over channels loses. Needs
        an encoder with ``forward_features(x) -> (b, c, n, d)``.

    Returns
    -------
    np.ndarray
        ``(n_windows, dim)`` float32.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
    if pooling == "channels" and not hasattr(encoder, "forward_features"):
        raise ValueError(
            f"pooling='channels' needs an encoder with forward_features; {type(encoder).__name__} has none"
        )
    if not isinstance(x, np.ndarray) or x.ndim != 3:
        raise ValueError(f"x must be a (n_windows, n_channels, n_times) array, got {getattr(x, 'shape', type(x))}")
    if len(x) == 0:
        raise ValueError("x holds no window to embed")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    scale = None
    if factors is not None:
        factors = np.asarray(factors, dtype=np.float32)
        if factors.shape != (x.shape[1],):
            raise ValueError(f"factors must have one entry per channel ({x.shape[1]}), got shape {factors.shape}")
        scale = torch.from_numpy(factors)[None, :, None].to(device)  # (1, C, 1)
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)).to(device)
                if scale is not None:
                    xb = xb * scale
                if pooling == "channels":
                    z = encoder.forward_features(xb).mean(dim=2).flatten(1)  # (b, c, n, d) -> (b, c*d)
                else:
                    z = encoder(xb)  # (b, D)
                out.append(z.float().cpu().numpy())
    finally:
        encoder.train(was_training)
    z = np.concatenate(out)
    if not np.all(np.isfinite(z)):
        raise ValueError("the encoder produced NaN or infinite embeddings; check the input scale and the checkpoint")
    return z


#: Inverse L2 strengths that ``C="cv"`` chooses from (ascending, so lbfgs warm-starts along the path).
PROBE_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: Grouped folds of the C search at most, and windows per search fit at most (every k-th window is kept:
#: overlapping windows of one recording are nearly copies of each other, so striding loses little).
CV_MAX_FOLDS = 4
CV_MAX_WINDOWS = 8000


def select_c(
    z: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    grid: Sequence[float] = PROBE_C_GRID,
    *,
    balanced: bool = True,
    max_windows: int = CV_MAX_WINDOWS,
    max_iter: int = 2000,
) -> tuple[float, dict[float, float]]:
    """The ``C`` of ``grid`` with the best mean balanced accuracy over grouped folds of ``(z, y)``.

    Folds hold out whole groups (``min(CV_MAX_FOLDS, n_groups)`` folds, scikit-learn's ``GroupKFold``); each fold
    standardises on its training part. At most ``max_windows`` windows (every k-th) enter the search. Ties go
    to the smaller ``C`` (stronger regularisation). Returns the chosen ``C`` and ``{C: mean score}``.

    Raises
    ------
    ValueError
        Fewer than two groups, shapes that disagree, or an empty or non-positive grid.
    """
    from sklearn.model_selection import GroupKFold

    from biosig.evaluation.metrics import balanced_accuracy

    z, y, groups = np.asarray(z), np.asarray(y), np.asarray(groups)
    if z.ndim != 2 or y.shape != (len(z),) or groups.shape != (len(z),):
        raise ValueError(f"z must be (n, dim), y and groups (n,), got {z.shape}, {y.shape} and {groups.shape}")
    grid = sorted(_check_factor(c, "C grid value") for c in grid)
    if not grid:
        raise ValueError("the C grid is empty")
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"C='cv' needs windows from at least two groups to hold one out, got {n_groups}")
    stride = max(1, int(np.ceil(len(z) / max_windows)))
    z, y, groups = z[::stride], y[::stride], groups[::stride]
    scores: dict[float, list[float]] = {c: [] for c in grid}
    for train, val in GroupKFold(n_splits=min(CV_MAX_FOLDS, n_groups)).split(z, y, groups):
        if len(np.unique(y[train])) < 2:
            continue
        scaler = StandardScaler().fit(z[train])
        z_train, z_val = scaler.transform(z[train]), scaler.transform(z[val])
        clf = LogisticRegression(class_weight="balanced" if balanced else None, max_iter=max_iter, warm_start=True)
        for c in grid:
            clf.set_params(C=c)
            clf.fit(z_train, y[train])
            scores[c].append(balanced_accuracy(y[val], clf.predict(z_val)))
    means = {c: float(np.mean(v)) for c, v in scores.items() if v}
    if not means:
        raise ValueError("no grouped fold had two classes in its training part; C cannot be chosen by CV")
    best = max(means.values())
    chosen = min(c for c, m in means.items() if m >= best - 1e-12)
    return chosen, means


class LinearProbe:
    """Standardise + multinomial logistic regression on frozen embeddings (see the module docstring).

    Parameters
    ----------
    C
        Inverse L2 strength of scikit-learn's ``LogisticRegression``, or ``"cv"``: chosen from ``c_grid`` by
        grouped cross-validation on the training windows (:func:`select_c`; ``fit`` then needs ``groups``).
    balanced
        Weight classes inversely to their frequency in the training windows.
    max_iter
        lbfgs iterations; a probe that stops before converging is logged as a warning.
    seed
        ``random_state`` (kept for solvers that use it; lbfgs does not).
    c_grid, cv_fallback_C
        The grid of ``C="cv"``, and the ``C`` used when the training windows hold fewer than two groups.

    After ``fit``, ``C_`` is the ``C`` used and ``cv_scores_`` the search's ``{C: balanced accuracy}`` (empty
    when no search ran).
    """

    def __init__(
        self,
        C: float | str = 1.0,
        *,
        balanced: bool = True,
        max_iter: int = 2000,
        seed: int = 0,
        c_grid: Sequence[float] = PROBE_C_GRID,
        cv_fallback_C: float = 1.0,
    ) -> None:
        if isinstance(C, str):
            if C != "cv":
                raise ValueError(f"C must be a positive number or 'cv', got {C!r}")
            self.C: float | str = "cv"
        else:
            self.C = _check_factor(C, "C")
        self.balanced = bool(balanced)
        self.max_iter = int(max_iter)
        self.seed = int(seed)
        self.c_grid = tuple(_check_factor(c, "C grid value") for c in c_grid)
        self.cv_fallback_C = _check_factor(cv_fallback_C, "cv_fallback_C")
        self.model: Pipeline | None = None
        self.C_: float | None = None
        self.cv_scores_: dict[float, float] = {}

    def fit(self, z: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> LinearProbe:
        """Fit on ``(n, dim)`` embeddings ``z`` and ``(n,)`` integer labels ``y`` (at least two classes).

        ``groups`` ``(n,)`` (participant or session of each window) drives the ``C="cv"`` search.
        """
        z, y = np.asarray(z), np.asarray(y)
        if z.ndim != 2 or y.shape != (len(z),):
            raise ValueError(f"z must be (n, dim) and y (n,), got shapes {z.shape} and {y.shape}")
        if len(np.unique(y)) < 2:
            raise ValueError(f"the probe needs at least two classes in y, got {np.unique(y).tolist()}")
        self.cv_scores_ = {}
        if self.C == "cv":
            if groups is None:
                raise ValueError("LinearProbe(C='cv').fit needs groups (the participant or session of each window)")
            if len(np.unique(np.asarray(groups))) < 2:
                log.info("linear probe: one group only, no grouped CV possible; C=%g", self.cv_fallback_C)
                c = self.cv_fallback_C
            else:
                c, self.cv_scores_ = select_c(z, y, groups, self.c_grid, balanced=self.balanced, max_iter=self.max_iter)
        else:
            c = float(self.C)
        self.C_ = c
        clf = LogisticRegression(
            C=c,
            class_weight="balanced" if self.balanced else None,
            max_iter=self.max_iter,
            random_state=self.seed,
        )
        self.model = make_pipeline(StandardScaler(), clf)
        self.model.fit(z, y)
        n_iter = int(np.max(clf.n_iter_))
        if n_iter >= self.max_iter:
            log.warning("linear probe stopped at max_iter=%d before converging", self.max_iter)
        return self

    @property
    def cv_note(self) -> str:
        """How ``C`` was set, for the results' notes: ``"C=0.001 (grouped CV)"``, ``"C=1 (fixed)"``, ..."""
        if self.C_ is None:
            return "not fitted"
        if self.C != "cv":
            return f"C={self.C_:g} (fixed)"
        return f"C={self.C_:g} ({'grouped CV' if self.cv_scores_ else 'one training group: no CV, fallback'})"

    def predict(self, z: np.ndarray) -> np.ndarray:
        """``(n,)`` predicted labels of ``(n, dim)`` embeddings."""
        if self.model is None:
            raise RuntimeError("LinearProbe.predict called before fit")
        return self.model.predict(np.asarray(z))
