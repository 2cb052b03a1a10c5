"""Classification metrics (accuracy, balanced accuracy, macro-F1) and their mean +- std over seeds.

The definitions follow scikit-learn's, so numbers compare with published ones (the tests check them against
``sklearn.metrics``):

* **accuracy**: share of windows whose predicted label equals the true label.
* **balanced accuracy**: mean over the classes *present in y_true* of the recall ``TP_k / (TP_k + FN_k)``.
  Chance is ``1 / n_classes`` whatever the class balance, which is why the Myo results lead with it (label 0,
  rest, fills half of every gesture file). A class that is only ever predicted, never true, lowers the recall
  of the true classes it was confused with but adds no term of its own.
* **macro-F1**: unweighted mean over the union of the true and predicted classes of
  ``F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k)``; a predicted-only class scores 0 (scikit-learn's
  ``zero_division=0``).

:func:`aggregate` summarises one metric dict per seed as mean and **sample** standard deviation
(``ddof=1``; 0 for a single seed, with ``n`` recorded so a reader can tell).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "METRICS",
    "MetricSummary",
    "accuracy",
    "aggregate",
    "balanced_accuracy",
    "classification_metrics",
    "macro_f1",
    "summarize",
]

#: Metric names in reporting order.
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def _labels(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D label arrays, got shapes {t.shape} and {p.shape}")
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(t)} and {len(p)}")
    if len(t) == 0:
        raise ValueError("y_true is empty; there is nothing to score")
    return t, p


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Share of correct predictions, in [0, 1]."""
    t, p = _labels(y_true, y_pred)
    return float(np.mean(t == p))


def balanced_accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true``, in [0, 1]."""
    t, p = _labels(y_true, y_pred)
    recalls = [np.mean(p[t == k] == k) for k in np.unique(t)]
    return float(np.mean(recalls))


def macro_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Unweighted mean F1 over the union of true and predicted classes, in [0, 1]."""
    t, p = _labels(y_true, y_pred)
    scores = []
    for k in np.union1d(np.unique(t), np.unique(p)):
        tp = np.sum((t == k) & (p == k))
        fp = np.sum((t != k) & (p == k))
        fn = np.sum((t == k) & (p != k))
        scores.append(2 * tp / (2 * tp + fp + fn))  # the union guarantees a positive denominator
    return float(np.mean(scores))


def classification_metrics(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> dict[str, float]:
    """``{"accuracy", "balanced_accuracy", "macro_f1"}`` of one set of predictions."""
    return {
        "accuracy": accuracy(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
    }


@dataclass(frozen=True)
class MetricSummary:
    """Mean and sample standard deviation of one metric over ``n`` runs (seeds); ``values`` in run order."""

    mean: float
    std: float
    n: int
    values: tuple[float, ...]

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"mean ± std"`` with values multiplied by ``scale`` (percent by default)."""
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f}"

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": list(self.values)}


def summarize(values: Sequence[float]) -> MetricSummary:
    """:class:`MetricSummary` of a list of per-seed values (sample std, ``ddof=1``; 0 for one value)."""
    vals = tuple(float(v) for v in values)
    if not vals:
        raise ValueError("values is empty; need at least one run to summarise")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"values must be finite, got {vals}")
    std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return MetricSummary(float(np.mean(vals)), std, len(vals), vals)


def aggregate(runs: Sequence[Mapping[str, float]]) -> dict[str, MetricSummary]:
    """Summarise one metrics dict per run (seed) into ``{metric: MetricSummary}``.

    Every run must report the same metric names; a run missing one is an error rather than a shorter average.
    """
    if not runs:
        raise ValueError("runs is empty; need at least one run's metrics to aggregate")
    names = list(runs[0])
    for i, run in enumerate(runs):
        if sorted(run) != sorted(names):
            raise ValueError(f"runs[{i}] reports metrics {sorted(run)}, but runs[0] reports {sorted(names)}")
    return {name: summarize([run[name] for run in runs]) for name in names}
