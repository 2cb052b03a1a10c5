"""Clock offset and drift from (device time, host receive time) pairs with positive, heavy-tailed delays."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.clock import ClockEstimator


def _pairs(drift_ppm, offset_s, n=3000, rate=50.0, seed=0):
    rng = np.random.default_rng(seed)
    device = np.arange(n) / rate  # 60 s of chunks at 50 per second
    delay = 0.002 + rng.exponential(0.004, n) + (rng.random(n) < 0.05) * rng.exponential(0.05, n)
    host = 1.7e9 + offset_s + device * (1 + drift_ppm * 1e-6) + delay
    return device + 1000.0, host


@pytest.mark.parametrize("drift_ppm", [-80.0, 0.0, 35.0, 250.0])
def test_recovers_drift_and_offset(drift_ppm):
    est = ClockEstimator(bin_s=1.0)
    device, host = _pairs(drift_ppm, offset_s=0.5)
    for d, h in zip(device, host):
        est.add(d, h)
    e = est.estimate()
    assert e.drift_ppm == pytest.approx(drift_ppm, abs=5.0)
    true_offset_ms = (1.7e9 + 0.5 - 1000.0 + 60.0 * drift_ppm * 1e-6) * 1e3 + 2.0  # plus the minimum delay
    assert e.offset_ms == pytest.approx(true_offset_ms, abs=1.0)
    assert 1.0 < e.latency_ms < 10.0  # the median delay above the minimum (~4 ms exponential)
    assert est.to_host(device[-1]) == pytest.approx(host[-1] - (e.latency_ms / 1e3), abs=0.01)


def test_drift_is_unknown_until_enough_bins():
    est = ClockEstimator(bin_s=1.0, min_bins=4)
    for t in np.arange(0, 2.5, 0.1):
        est.add(t, t + 10.0)
    e = est.estimate()
    assert e.drift_ppm is None and e.offset_ms == pytest.approx(10_000.0)


def test_a_device_restart_starts_over():
    est = ClockEstimator()
    for t in range(20):
        est.add(float(t), t + 5.0)
    est.add(0.5, 100.0)  # device time went back
    assert est.estimate().offset_ms == pytest.approx(99_500.0)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="clock pair must be finite seconds"):
        ClockEstimator().add(float("nan"), 1.0)
    with pytest.raises(ValueError, match="bin_s must be a positive number of seconds"):
        ClockEstimator(bin_s=0)
