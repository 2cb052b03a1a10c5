"""Metrics against scikit-learn, and their aggregation over seeds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from biosig.evaluation.metrics import (
    MetricSummary,
    accuracy,
    aggregate,
    balanced_accuracy,
    classification_metrics,
    macro_f1,
    summarize,
)


@pytest.mark.parametrize("seed", range(6))
def test_metrics_match_sklearn_on_random_labels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 200)
    # Imbalanced, with some predicted-only classes (5, 6) that sklearn counts in macro-F1 with zero_division=0.
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 7, 200))
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about predicted-only classes, which we ignore the same way
        expected_bal = skm.balanced_accuracy_score(y_true, y_pred)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(expected_bal)
    assert macro_f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_balanced_accuracy_by_hand() -> None:
    # class 0: 3 of 4 right; class 1: 1 of 2 right -> (0.75 + 0.5) / 2
    y_true = [0, 0, 0, 0, 1, 1]
    y_pred = [0, 0, 0, 1, 1, 0]
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(0.625)
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    # F1_0 = 2*3 / (6 + 1 + 1) = 0.75; F1_1 = 2*1 / (2 + 1 + 1) = 0.5
    assert macro_f1(y_true, y_pred) == pytest.approx(0.625)


def test_constant_prediction_scores_chance_in_balanced_accuracy() -> None:
    y_true = np.array([0] * 90 + [1] * 10)
    y_pred = np.zeros(100, dtype=int)
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(0.9)
    assert m["balanced_accuracy"] == pytest.approx(0.5)


def test_metrics_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="y_true and y_pred must have the same length, got 3 and 2"):
        accuracy([0, 1, 1], [0, 1])


def test_metrics_reject_empty_input() -> None:
    with pytest.raises(ValueError, match="y_true is empty"):
        macro_f1([], [])


def test_metrics_reject_2d_labels() -> None:
    with pytest.raises(ValueError, match=r"must be 1-D label arrays, got shapes \(2, 1\) and \(2, 1\)"):
        balanced_accuracy([[0], [1]], [[0], [1]])


def test_summarize_uses_sample_std() -> None:
    s = summarize([0.5, 0.7, 0.9])
    assert s.mean == pytest.approx(0.7)
    assert s.std == pytest.approx(0.2)  # ddof=1: sqrt((0.04 + 0 + 0.04) / 2)
    assert s.n == 3
    assert s.format() == "70.0 ± 20.0"


def test_summarize_single_value_has_zero_std() -> None:
    assert summarize([0.4]) == MetricSummary(0.4, 0.0, 1, (0.4,))


def test_aggregate_over_seeds() -> None:
    runs = [{"accuracy": 0.5, "macro_f1": 0.1}, {"accuracy": 0.7, "macro_f1": 0.3}]
    out = aggregate(runs)
    assert out["accuracy"].mean == pytest.approx(0.6)
    assert out["macro_f1"].values == (0.1, 0.3)


def test_aggregate_rejects_runs_with_different_metrics() -> None:
    with pytest.raises(ValueError, match=r"runs\[1\] reports metrics \['accuracy'\], but runs\[0\] reports"):
        aggregate([{"accuracy": 0.5, "macro_f1": 0.1}, {"accuracy": 0.7}])


def test_summarize_rejects_nan() -> None:
    with pytest.raises(ValueError, match="values must be finite"):
        summarize([0.5, float("nan")])
