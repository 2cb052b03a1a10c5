"""EMG envelopes: moving RMS and linear envelope, offline and streaming."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.errors import SignalError
from biosig.signals import Recording, SignalInfo
from biosig.signals.envelope import LinearEnvelope, MovingRMS, envelope_recording, linear_envelope, moving_rms


def _burst_emg(rng, sfreq: float = 1000.0, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """White-noise EMG of 1 mV RMS during [1, 2) s and 0.05 mV elsewhere, on a 5 mV offset."""
    amplitude = np.full(n, 0.05e-3)
    amplitude[int(sfreq) : int(2 * sfreq)] = 1e-3
    x = amplitude * rng.standard_normal((2, n)) + 5e-3
    return x, amplitude


def _feed(obj, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, i, k = [], 0, 0
    while i < x.shape[1]:
        n = sizes[k % len(sizes)]
        parts.append(obj.process(x[:, i : i + n]))
        i, k = i + n, k + 1
    return np.concatenate(parts, axis=1)


def test_moving_rms_of_sine_is_amplitude_over_sqrt2():
    t = np.arange(2000) / 1000.0
    x = (3.0 * np.sin(2 * np.pi * 50 * t))[None]
    for mode in ("causal", "centered"):
        rms = moving_rms(x, window=100, mode=mode)  # 100 samples = 5 whole periods
        np.testing.assert_allclose(rms[0, 100:-100], 3.0 / np.sqrt(2), rtol=1e-9)


def test_moving_rms_edges_average_available_samples():
    x = np.array([[3.0, 4.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(moving_rms(x, 2, "causal"), [[3.0, np.sqrt(12.5), np.sqrt(8.0), 0.0, 0.0]])
    # Centred, window 3: samples t-1 .. t+1 that exist.
    np.testing.assert_allclose(
        moving_rms(x, 3, "centered"), [[np.sqrt(12.5), np.sqrt(25 / 3), np.sqrt(16 / 3), 0.0, 0.0]]
    )


def test_moving_rms_centered_even_window_covers_one_more_after():
    x = np.array([[0.0, 0.0, 2.0, 0.0, 0.0]])
    # window 4 at t: samples t-1 .. t+2, so the spike at t=2 is seen from t=0 to t=3
    out = moving_rms(x, 4, "centered")
    assert out[0, 0] > 0 and out[0, 3] > 0 and out[0, 4] == 0


def test_moving_rms_stream_equals_offline(rng):
    x = rng.standard_normal((3, 1500)).astype(np.float32)
    f = MovingRMS(3, window=50)
    out = _feed(f, x, [0, 1, 1, 7, 0] + [int(s) for s in rng.integers(0, 120, size=50)])
    assert out.dtype == np.float32
    assert np.abs(out - moving_rms(x, 50, "causal")).max() < 1e-5


def test_moving_rms_window_one_is_abs(rng):
    x = rng.standard_normal((2, 10))
    np.testing.assert_allclose(moving_rms(x, 1), np.abs(x))


def test_moving_rms_rejects_bad_window():
    with pytest.raises(SignalError, match=r"window must be a positive integer number of samples, got 0"):
        moving_rms(np.zeros((1, 10)), 0)


def test_moving_rms_rejects_bad_mode():
    with pytest.raises(SignalError, match=r"mode must be 'causal' or 'centered', got 'future'"):
        moving_rms(np.zeros((1, 10)), 3, "future")  # type: ignore[arg-type]


def test_linear_envelope_tracks_burst_amplitude(rng):
    x, amplitude = _burst_emg(rng)
    env = linear_envelope(x, 1000.0, cutoff=5.0, highpass=20.0)
    # Rectified Gaussian noise averages sqrt(2/pi) times its RMS.
    assert env[:, 1300:1700].mean() == pytest.approx(np.sqrt(2 / np.pi) * 1e-3, rel=0.15)
    assert env[:, 2700:3700].mean() < 0.1 * env[:, 1300:1700].mean()
    assert np.all(env >= 0)


def test_linear_envelope_without_highpass_sees_the_offset(rng):
    x, _ = _burst_emg(rng)
    env = linear_envelope(x, 1000.0, cutoff=5.0)
    assert env[:, 3000:3500].mean() == pytest.approx(5e-3, rel=0.05)  # rectified offset, not EMG


def test_linear_envelope_stream_equals_causal_offline(rng):
    x, _ = _burst_emg(rng)
    x = x.astype(np.float32)
    stream = LinearEnvelope(1000.0, 2, cutoff=6.0, highpass=20.0)
    out = _feed(stream, x, [0, 1, 50, 3] + [int(s) for s in rng.integers(0, 100, size=60)])
    reference = linear_envelope(x, 1000.0, cutoff=6.0, highpass=20.0, zero_phase=False)
    assert out.dtype == np.float32 and reference.dtype == np.float32
    assert np.abs(out - reference).max() < 1e-5
    stream.reset()
    np.testing.assert_allclose(stream.process(x), reference, atol=1e-9)


def test_linear_envelope_causal_lags_zero_phase_does_not(rng):
    x, _ = _burst_emg(rng)
    zero = linear_envelope(x, 1000.0, cutoff=5.0, highpass=20.0)
    causal = linear_envelope(x, 1000.0, cutoff=5.0, highpass=20.0, zero_phase=False)
    half = 0.5 * zero[0, 1300:1700].mean()
    rise_zero = int(np.argmax(zero[0] > half))
    rise_causal = int(np.argmax(causal[0] > half))
    assert abs(rise_zero - 1000) < 40
    assert rise_causal - rise_zero > 20  # the causal filter's group delay


def test_linear_envelope_batch(rng):
    x = rng.standard_normal((2, 3, 800))
    out = linear_envelope(x, 200.0, cutoff=4.0)
    np.testing.assert_allclose(out[1], linear_envelope(x[1], 200.0, cutoff=4.0), atol=1e-12)


def test_linear_envelope_cutoff_validated():
    with pytest.raises(SignalError, match=r"lowpass cutoff 600 Hz must be below Nyquist 500 Hz for sfreq=1000 Hz"):
        linear_envelope(np.zeros((1, 1000)), 1000.0, cutoff=600.0)


def test_envelope_recording_rms_and_linear(rng):
    x, _ = _burst_emg(rng)
    rec = Recording(x.astype(np.float32), SignalInfo.uniform(2, 1000.0, "emg"), labels=np.zeros(4000, dtype=int))
    rms = envelope_recording(rec, "rms", window_s=0.05, zero_phase=False)
    np.testing.assert_allclose(rms.data, moving_rms(rec.data, 50, "causal"))
    assert rms.info == rec.info and rms.labels is not None
    lin = envelope_recording(rec, "linear", cutoff=5.0, highpass=20.0)
    assert lin.metadata["preprocessing"] == ("envelope(linear, cutoff=5.0, highpass=20.0, zero_phase=True)",)


def test_envelope_recording_unknown_method(rng):
    rec = Recording(np.zeros((1, 100), np.float32), SignalInfo.uniform(1, 100.0, "emg"))
    with pytest.raises(SignalError, match=r"method must be 'rms' or 'linear', got 'hilbert'"):
        envelope_recording(rec, "hilbert")  # type: ignore[arg-type]
