"""Classical features against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.errors import SignalError
from biosig.evaluation.features import (
    EEG_BANDS,
    band_power_names,
    band_powers,
    td_feature_names,
    td_features,
)

# One channel, 6 samples. By hand:
#   |x| = 1, 2, 0.5, 3, 1, 2            -> MAV = 9.5 / 6
#   x^2 = 1, 4, 0.25, 9, 1, 4           -> RMS = sqrt(19.25 / 6)
#   diffs = -3, 2.5, -3.5, 4, -3         -> WL = 16
#   sign changes at every pair (1,-2), (-2,0.5), (0.5,-3), (-3,1), (1,-2): 5, with |diffs| 3, 2.5, 3.5, 4, 3
#   turns at samples 1..4 (-2 min, 0.5 max, -3 min, 1 max): 4, each with both neighbour steps >= 2.5
X1 = np.array([[[1.0, -2.0, 0.5, -3.0, 1.0, -2.0]]])


def test_td_features_match_hand_computed_values() -> None:
    f = td_features(X1, threshold=0.0)
    np.testing.assert_allclose(f[0], [9.5 / 6, np.sqrt(19.25 / 6), 16.0, 5.0, 4.0])


def test_td_threshold_removes_small_crossings_and_turns() -> None:
    # threshold 3: crossings with |diff| >= 3 are (1,-2) 3, (0.5,-3) 3.5, (-3,1) 4, (1,-2) 3 -> 4 (2.5 is dropped);
    # turns: sample 1 (steps 3, 2.5) yes; sample 2 (2.5, 3.5) yes; sample 3 (3.5, 4) yes; sample 4 (4, 3) yes -> 4.
    f = td_features(X1, threshold=3.0)
    assert f[0, 3] == 4.0
    assert f[0, 4] == 4.0
    # threshold 3.6: crossings only (-3,1) -> 1; turns need a step >= 3.6: samples 3 (4) and 4 (4) -> 2.
    f = td_features(X1, threshold=3.6)
    assert f[0, 3] == 1.0
    assert f[0, 4] == 2.0


def test_td_features_are_channel_major_and_vectorised() -> None:
    x = np.stack([X1[0, 0], 2 * X1[0, 0]])[None]  # (1, 2, 6)
    x = np.concatenate([x, -x])  # (2, 2, 6): negation changes nothing
    f = td_features(x)
    assert f.shape == (2, 10)
    np.testing.assert_allclose(f[0, 5:7], 2 * f[0, 0:2])  # MAV and RMS scale with the signal
    np.testing.assert_allclose(f[0, 8:10], f[0, 3:5])  # counts do not (threshold 0)
    np.testing.assert_allclose(f[1], f[0])
    assert td_feature_names(("a", "b"))[:6] == ["a_MAV", "a_RMS", "a_WL", "a_ZC", "a_SSC", "b_MAV"]


def test_td_zero_is_not_a_sign_change() -> None:
    f = td_features(np.array([[[1.0, 0.0, -1.0, 0.0]]]))
    assert f[0, 3] == 0.0  # 1*0 and 0*-1 are not < 0


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((4, 10)), r"must be a \(n_windows, n_channels, n_times\) array, got shape \(4, 10\)"),
        (np.zeros((1, 2, 2)), "needs at least 3 samples per window, got 2"),
        (np.full((1, 1, 5), np.nan), "NaN or infinite"),
        (np.zeros((1, 0, 5)), "at least one channel"),
    ],
)
def test_td_features_reject_bad_windows(x: np.ndarray, match: str) -> None:
    with pytest.raises(SignalError, match=match):
        td_features(x)


def test_td_features_reject_negative_threshold() -> None:
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0 in the signal's units, got -1"):
        td_features(X1, threshold=-1)


def test_band_powers_of_a_sine_land_in_its_band() -> None:
    sfreq, t = 200.0, np.arange(800) / 200.0
    x = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 20 * t)])[None]  # alpha, beta
    rel = band_powers(x, sfreq, log=False)
    assert rel.shape == (1, 10)
    alpha, beta = list(EEG_BANDS).index("alpha"), list(EEG_BANDS).index("beta")
    assert rel[0, alpha] > 0.99
    assert rel[0, 5 + beta] > 0.99
    np.testing.assert_allclose(rel.reshape(2, 5).sum(axis=1), 1.0, atol=1e-9)  # contiguous bands share the total


def test_absolute_band_power_of_a_sine_is_half_its_squared_amplitude() -> None:
    # A sine of amplitude A has power A^2 / 2, all of it within the band holding its frequency (Hann leakage
    # stays within a couple of 0.5 Hz bins, far from the 8-13 Hz edges).
    sfreq, t = 250.0, np.arange(1000) / 250.0
    x = (3e-5 * np.sin(2 * np.pi * 10.25 * t))[None, None]
    p = band_powers(x, sfreq, relative=False, log=False)
    alpha = list(EEG_BANDS).index("alpha")
    np.testing.assert_allclose(p[0, alpha], (3e-5) ** 2 / 2, rtol=0.02)
    logp = band_powers(x, sfreq, relative=False, log=True)
    np.testing.assert_allclose(logp[0, alpha], np.log10(p[0, alpha]))


def test_flat_channel_gives_finite_log_relative_power() -> None:
    p = band_powers(np.zeros((1, 1, 400)), 200.0)
    assert np.all(np.isfinite(p))
    assert np.all(p == -30.0)


def test_band_power_names_are_channel_major() -> None:
    assert band_power_names(("Fz", "Cz"))[:6] == ["Fz_delta", "Fz_theta", "Fz_alpha", "Fz_beta", "Fz_gamma", "Cz_delta"]


def test_band_above_nyquist_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"band 'gamma' reaches 45 Hz, above the Nyquist frequency 40 Hz"):
        band_powers(np.zeros((1, 1, 400)), 80.0)


def test_band_without_a_bin_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"band 'delta' \(0.5-4 Hz\) holds no frequency bin at a 20 Hz resolution"):
        band_powers(np.zeros((1, 1, 10)), 200.0)


def test_band_with_reversed_edges_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"band 'x' must have 0 <= low < high, got \(8, 4\) Hz"):
        band_powers(np.zeros((1, 1, 400)), 200.0, bands={"x": (8.0, 4.0)})
