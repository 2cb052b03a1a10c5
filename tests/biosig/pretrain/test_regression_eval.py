"""Feature-regression evaluation: the error scale, and a head that learns a readable target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biosig.models import create_model
from biosig.pretrain.regression_eval import HeadConfig, extract_features, fit_regression_head, regression_error

torch.set_num_threads(1)


def test_error_is_100_for_the_training_mean_and_0_for_perfect() -> None:
    y = np.random.default_rng(0).normal(size=(200, 3))
    var = y.var(axis=0)
    assert regression_error(np.broadcast_to(y.mean(0), y.shape), y, var) == pytest.approx(100.0)
    assert regression_error(y, y, var) == 0.0


def test_head_learns_a_target_that_the_features_hold() -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(400, 4, 6)).astype(np.float32)
    y = (feats[:, 1, 2] * 2.0 - feats[:, 3, 0])[:, None]  # linear in two token features
    err = fit_regression_head(feats[:300], y[:300], feats[300:], y[300:], HeadConfig(steps=300), seed=0)
    assert err < 10.0


def test_head_cannot_learn_noise() -> None:
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(300, 4, 6)).astype(np.float32)
    y = rng.normal(size=(300, 2))
    err = fit_regression_head(feats[:200], y[:200], feats[200:], y[200:], HeadConfig(steps=100), seed=0)
    assert err > 90.0


def test_extract_features_gives_the_token_grid() -> None:
    feats = extract_features(create_model("nots_tiny"), np.zeros((5, 32), dtype=np.float32), batch_size=2)
    assert feats.shape == (5, 8, 16) and feats.dtype == np.float32


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"pred has shape \(2, 1\) but y has \(2, 2\)"):
        regression_error(np.zeros((2, 1)), np.zeros((2, 2)), np.ones(2))


def test_feature_grids_must_match() -> None:
    with pytest.raises(ValueError, match=r"features must be \(n, n_tokens, d\) with matching grids"):
        fit_regression_head(np.zeros((4, 2, 3)), np.zeros((4, 1)), np.zeros((2, 3, 3)), np.zeros((2, 1)))


def test_model_without_token_features_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"model must have forward_features"):
        extract_features(torch.nn.Linear(2, 2), np.zeros((1, 2)))
