"""Per-channel z-score, robust scaling and exponential moving standardisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biosig.errors import SignalError
from biosig.signals import Recording, SignalInfo
from biosig.signals.normalize import (
    ExponentialMovingStandardizer,
    exponential_moving_standardize,
    normalize_recording,
    robust_scale,
    zscore,
)


def _braindecode_reference(data, factor_new=1e-3, init_block_size=None, eps=1e-4):
    """braindecode's pandas formulation of exponential_moving_standardize, written out for comparison."""
    df = pd.DataFrame(data.T)
    meaned = df.ewm(alpha=factor_new).mean()
    demeaned = df - meaned
    squared_ewm = (demeaned * demeaned).ewm(alpha=factor_new).mean()
    # np.array (a copy): pandas 3 hands out read-only views under copy-on-write.
    out = np.array(demeaned / np.maximum(eps, np.sqrt(np.asarray(squared_ewm)))).T
    if init_block_size is not None:
        block = data[:, :init_block_size]
        out[:, :init_block_size] = (block - block.mean(1, keepdims=True)) / np.maximum(eps, block.std(1, keepdims=True))
    return out


def test_zscore_gives_zero_mean_unit_std(rng):
    x = (rng.standard_normal((3, 500)) * [[1e-4], [2.0], [50.0]] + [[1e-3], [-4.0], [7.0]]).astype(np.float32)
    z = zscore(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-5)


def test_zscore_constant_channel_is_zero_not_nan(rng):
    x = np.stack([np.full(100, 0.1, dtype=np.float32), rng.standard_normal(100).astype(np.float32)])
    z = zscore(x)
    assert np.all(np.isfinite(z))
    np.testing.assert_array_equal(z[0], 0.0)
    assert z[1].std() == pytest.approx(1.0, abs=1e-5)


def test_zscore_batches_are_per_item(rng):
    x = rng.standard_normal((4, 2, 64)) * np.arange(1, 5)[:, None, None]
    z = zscore(x)
    for b in range(4):
        np.testing.assert_allclose(z[b], zscore(x[b]))


def test_robust_scale_uses_median_and_iqr():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 100.0]])
    # median 3, quartiles 2 and 4 -> IQR 2; the outlier does not inflate the scale as a std would.
    np.testing.assert_allclose(robust_scale(x), [[-1.0, -0.5, 0.0, 0.5, 48.5]])


def test_robust_scale_zero_iqr_channel_is_zero():
    assert np.array_equal(robust_scale(np.array([[2.0, 2.0, 2.0, 2.0]])), np.zeros((1, 4)))


def test_robust_scale_rejects_bad_quantiles():
    with pytest.raises(SignalError, match=r"quantiles must be two percentiles 0 <= low < high <= 100, got \(75, 25\)"):
        robust_scale(np.zeros((1, 4)), quantiles=(75, 25))


@pytest.mark.parametrize("init_block_size", [None, 200])
@pytest.mark.parametrize("factor_new", [1e-3, 0.05])
def test_ems_matches_braindecode_formulation(rng, factor_new, init_block_size):
    x = rng.standard_normal((3, 3000)) * 5 + np.linspace(0, 20, 3000)  # drifting mean
    out = exponential_moving_standardize(x, factor_new=factor_new, init_block_size=init_block_size)
    expected = _braindecode_reference(x, factor_new, init_block_size)
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_ems_follows_a_gain_change(rng):
    x = rng.standard_normal((1, 20000))
    x[:, 10000:] *= 100.0  # an electrode's gain jumps 100-fold
    out = exponential_moving_standardize(x, factor_new=1e-2)
    assert 0.7 < out[0, 15000:].std() < 1.3  # adapted to the new scale


@pytest.mark.parametrize("init_block_size", [None, 100])
def test_ems_stream_chunks_equal_one_shot(rng, init_block_size):
    x = (rng.standard_normal((2, 2000)) + 3).astype(np.float32)
    reference = exponential_moving_standardize(x, factor_new=0.01, init_block_size=init_block_size)
    ems = ExponentialMovingStandardizer(2, factor_new=0.01, init_block_size=init_block_size)
    parts, i = [], 0
    for n in [0, 1, 1, 37, 0, 5] + [int(s) for s in rng.integers(0, 80, size=100)]:
        parts.append(ems.process(x[:, i : i + n]))
        i += n
        if i >= x.shape[1]:
            break
    parts.append(ems.flush())
    out = np.concatenate(parts, axis=1)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert np.abs(out - reference).max() < 1e-5


def test_ems_holds_back_the_initial_block_until_complete(rng):
    ems = ExponentialMovingStandardizer(1, init_block_size=50)
    assert ems.process(rng.standard_normal((1, 30))).shape == (1, 0)
    assert ems.process(rng.standard_normal((1, 30))).shape == (1, 60)
    assert ems.process(rng.standard_normal((1, 5))).shape == (1, 5)


def test_ems_flush_standardises_a_short_stream_as_one_block(rng):
    x = rng.standard_normal((2, 20))
    ems = ExponentialMovingStandardizer(2, init_block_size=50)
    assert ems.process(x).shape == (2, 0)
    np.testing.assert_allclose(ems.flush(np.float64), zscore(x), atol=1e-12)
    assert ems.flush().shape == (2, 0)


def test_ems_rejects_bad_factor():
    with pytest.raises(SignalError, match=r"factor_new must be a number in \(0, 1\], got 0"):
        ExponentialMovingStandardizer(2, factor_new=0)


def test_ems_rejects_bad_init_block():
    with pytest.raises(SignalError, match=r"init_block_size must be a positive integer or None, got 0"):
        ExponentialMovingStandardizer(2, init_block_size=0)


def test_normalize_recording_marks_units_arbitrary(rng):
    rec = Recording(rng.standard_normal((2, 100)).astype(np.float32), SignalInfo.uniform(2, 100.0, "emg"))
    out = normalize_recording(rec, "robust")
    assert out.info.units == ("a.u.", "a.u.") and rec.info.units == ("V", "V")
    np.testing.assert_allclose(out.data, robust_scale(rec.data))
    assert out.metadata["preprocessing"] == ("normalize(robust)",)


def test_normalize_recording_unknown_method():
    rec = Recording(np.zeros((1, 10), np.float32), SignalInfo.uniform(1, 100.0, "emg"))
    with pytest.raises(SignalError, match=r"method must be 'zscore' or 'robust', got 'minmax'"):
        normalize_recording(rec, "minmax")  # type: ignore[arg-type]
