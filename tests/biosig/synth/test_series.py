"""Synthetic series of the NoTS benchmark: fBm recovers its Hurst index, targets match hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.synth.series import (
    autocorrelated_sinusoids,
    band_power,
    estimate_hurst,
    fbm,
    fgn_cholesky,
    make_regression_data,
    slope_sign_changes,
    willison_amplitude,
)


@pytest.mark.parametrize("hurst", [0.2, 0.5, 0.8])
def test_fbm_recovers_its_hurst_index(hurst: float) -> None:
    paths = fbm(hurst, 512, np.random.default_rng(0), n_series=64)
    est = estimate_hurst(paths)
    assert abs(np.median(est) - hurst) < 0.06


def test_fbm_with_half_is_brownian_motion() -> None:
    paths = fbm(0.5, 256, np.random.default_rng(1), n_series=400)
    inc = np.diff(paths, axis=1)
    assert abs(inc.var() - 1.0) < 0.03  # unit-variance increments
    lag1 = (inc[:, 1:] * inc[:, :-1]).mean()
    assert abs(lag1) < 0.02  # independent increments at H = 0.5


def test_fgn_covariance_factor_is_cached_and_exact() -> None:
    a = fgn_cholesky(0.7, 32)
    assert fgn_cholesky(0.7, 32) is a
    cov = a @ a.T
    assert cov[0, 0] == pytest.approx(1.0)
    assert cov[0, 1] == pytest.approx(0.5 * (2**1.4 - 2), rel=1e-9)  # gamma(1) = (2^2H - 2) / 2
    assert not a.flags.writeable


def test_fbm_rejects_hurst_outside_the_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"hurst values must be in \(0, 1\), got range \[1.0, 1.0\]"):
        fbm(1.0, 16, np.random.default_rng(0))


def test_ssc_matches_a_hand_count() -> None:
    x = np.array([[0.0, 1.0, 0.0, 0.2, 0.1, 0.5, 0.4, 0.4]])
    # interior samples (window of 4: indices 1, 2 and 5, 6): products (1-0)(1-0)=1, (0-1)(0-0.2)=0.2,
    # (0.5-0.1)(0.5-0.4)=0.04, (0.4-0.5)(0.4-0.4)=0
    np.testing.assert_array_equal(slope_sign_changes(x, 2, threshold=0.1), [[2, 0]])
    np.testing.assert_array_equal(slope_sign_changes(x, 2, threshold=0.03), [[2, 1]])


def test_wamp_matches_a_hand_count() -> None:
    x = np.array([[0.0, 1.0, 0.0, 0.2, 0.1, 0.5, 0.4, 0.4]])
    # diffs inside windows: [1, -1, 0.2] and [0.4, -0.1, 0]
    np.testing.assert_array_equal(willison_amplitude(x, 2, threshold=0.3), [[2, 1]])


def test_band_power_finds_the_tone() -> None:
    t = np.arange(256)
    x = np.sin(2 * np.pi * 32 / 256 * t)[None]  # bin 32 of 128
    bp = band_power(x, 8)  # 16 bins per band: bin 32 is in band 1 (bins 17..32 after dropping DC)
    assert bp.shape == (1, 8)
    assert int(np.argmax(bp)) == 1


def test_band_power_is_per_window_and_window_major() -> None:
    t = np.arange(32)
    x = np.concatenate([np.sin(2 * np.pi * 13 * t / 32), np.sin(2 * np.pi * 2 * t / 32)])[None]  # fast, then slow
    bp = band_power(x, 2, n_windows=2).reshape(2, 2)  # 32-sample windows, 16 bins, 2 bands of 8
    assert int(np.argmax(bp[0])) == 1 and int(np.argmax(bp[1])) == 0


def test_band_power_needs_enough_bins() -> None:
    with pytest.raises(ValueError, match=r"windows of 8 samples give 4 frequency bins, fewer than n_bands=5"):
        band_power(np.zeros((1, 64)), 5, n_windows=8)


def test_windows_must_divide_the_series() -> None:
    with pytest.raises(ValueError, match=r"n_times=10 must split into n_windows=3 windows of at least 3 samples"):
        willison_amplitude(np.zeros((1, 10)), 3, 0.1)


def test_sinusoids_are_deterministic_and_have_the_noise_floor() -> None:
    a = autocorrelated_sinusoids(4, 128, 8, np.random.default_rng(5))
    b = autocorrelated_sinusoids(4, 128, 8, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 128) and np.isfinite(a).all()


def test_regression_data_shapes_and_global_thresholds() -> None:
    f, s = make_regression_data(20, 20, 256, seed=0)
    assert f.x.shape == (20, 256) and f.x.dtype == np.float32
    np.testing.assert_allclose(f.x.std(axis=1), 1.0, atol=1e-5)
    assert {k: v.shape for k, v in f.targets.items()} == {"hurst": (20, 1), "ssc": (20, 32), "wamp": (20, 32)}
    assert {k: v.shape for k, v in s.targets.items()} == {"ssc": (20, 32), "wamp": (20, 32), "band_power": (20, 96)}
    np.testing.assert_array_equal(f.targets["wamp"], willison_amplitude(f.x, 32, f.thresholds["wamp"]))
    assert set(np.round(f.targets["hurst"][:, 0] * 100) % 1) == {0.0}  # on the 0.01 grid
