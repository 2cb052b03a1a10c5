"""Offline and streaming polyphase resampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from biosig.errors import SignalError
from biosig.signals import Annotations, Recording, SignalInfo
from biosig.signals.resample import StreamingResampler, rational_ratio, resample, resample_recording

RATES = [(1000.0, 200.0), (200.0, 1000.0), (2000.0, 250.0), (250.0, 100.0), (44100.0, 48000.0), (128.0, 200.0)]


def _stream(resampler: StreamingResampler, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, i, k = [], 0, 0
    while i < x.shape[1]:
        n = sizes[k % len(sizes)]
        parts.append(resampler.process(x[:, i : i + n]))
        i, k = i + n, k + 1
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize(
    ("sfreq_in", "sfreq_out", "expected"),
    [(1000, 200, (1, 5)), (200, 1000, (5, 1)), (44100, 48000, (160, 147)), (250, 250, (1, 1)), (128, 200, (25, 16))],
)
def test_rational_ratio(sfreq_in, sfreq_out, expected):
    assert rational_ratio(sfreq_in, sfreq_out) == expected


def test_rational_ratio_rejects_rates_without_small_fraction():
    with pytest.raises(
        SignalError,
        match=r"cannot resample from 1000 Hz to 999\.9 Hz with a ratio whose denominator is at most 100: "
        r"the closest, 1/1, gives 1000\.000000 Hz",
    ):
        rational_ratio(1000, 999.9, max_denominator=100)


def test_rational_ratio_rejects_bad_rate():
    with pytest.raises(SignalError, match=r"sfreq_out must be a positive finite number of Hz, got -5"):
        rational_ratio(100, -5)


@pytest.mark.parametrize(("sfreq_in", "sfreq_out"), RATES)
def test_resample_matches_scipy(rng, sfreq_in, sfreq_out):
    x = rng.standard_normal((3, 1001))
    up, down = rational_ratio(sfreq_in, sfreq_out)
    y = resample(x, sfreq_in, sfreq_out)
    assert y.shape == (3, int(np.ceil(1001 * up / down)))
    np.testing.assert_allclose(y, signal.resample_poly(x, up, down, axis=-1), atol=1e-12)


def test_resample_keeps_float32_and_batches(rng):
    x = rng.standard_normal((2, 3, 500)).astype(np.float32)
    y = resample(x, 500, 200)
    assert y.dtype == np.float32 and y.shape == (2, 3, 200)
    np.testing.assert_allclose(y[1], resample(x[1], 500, 200), atol=1e-7)


def test_resample_preserves_a_passband_sine():
    t_in = np.arange(2000) / 1000.0
    y = resample(np.sin(2 * np.pi * 7 * t_in)[None], 1000, 100)
    t_out = np.arange(200) / 100.0
    np.testing.assert_allclose(y[0, 20:-20], np.sin(2 * np.pi * 7 * t_out[20:-20]), atol=1e-3)


def test_resample_empty_rejected():
    with pytest.raises(SignalError, match=r"data has 0 samples; there is nothing to resample"):
        resample(np.zeros((2, 0)), 100, 50)


# -- streaming -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sfreq_in", "sfreq_out"), RATES)
def test_stream_chunks_equal_one_shot_and_scipy_after_delay(rng, sfreq_in, sfreq_out):
    x = rng.standard_normal((2, 1500)).astype(np.float32)
    r = StreamingResampler(sfreq_in, sfreq_out, n_channels=2)
    one_shot = r.process(x)
    r.reset()
    sizes = [int(s) for s in rng.integers(0, 50, size=100)] + [0, 1]
    chunked = _stream(r, x, sizes)
    assert chunked.dtype == np.float32
    assert chunked.shape == one_shot.shape
    assert np.abs(chunked - one_shot).max() < 1e-5

    reference = signal.resample_poly(x.astype(np.float64), r.up, r.down, axis=-1)
    d = r.delay
    emitted = one_shot.shape[1] - d
    # Everything the stream has emitted is scipy's output, delayed by `delay` output samples...
    assert np.abs(one_shot[:, d:] - reference[:, :emitted]).max() < 1e-5
    # ...in particular the interior, far from both edges.
    interior = slice(d + 50, one_shot.shape[1] - 50)
    assert np.abs(one_shot[:, interior] - reference[:, 50 : emitted - 50]).max() < 1e-5


@pytest.mark.parametrize(("sfreq_in", "sfreq_out"), RATES)
def test_flush_completes_the_stream(rng, sfreq_in, sfreq_out):
    x = rng.standard_normal((1, 777))
    r = StreamingResampler(sfreq_in, sfreq_out, 1)
    out = np.concatenate([r.process(x), r.flush(np.float64)], axis=1)
    reference = signal.resample_poly(x, r.up, r.down, axis=-1)
    assert out.shape[1] == r.delay + reference.shape[1]
    np.testing.assert_allclose(out[:, r.delay :], reference, atol=1e-12)


def test_delay_is_documented_in_samples_and_seconds():
    r = StreamingResampler(2000, 200, 16)
    assert (r.up, r.down) == (1, 10)
    assert r.delay == 10  # half_len = 100 upsampled samples = 10 output samples
    assert r.delay_s == pytest.approx(0.05)
    assert StreamingResampler(200, 1000, 1).delay == 50
    assert StreamingResampler(500, 500, 1).delay == 0


def test_equal_rates_pass_through(rng):
    x = rng.standard_normal((2, 33))
    r = StreamingResampler(500, 500, 2)
    np.testing.assert_array_equal(r.process(x), x)


def test_process_after_flush_rejected(rng):
    r = StreamingResampler(200, 100, 1)
    r.process(rng.standard_normal((1, 10)))
    r.flush()
    with pytest.raises(SignalError, match=r"this StreamingResampler was flushed; call reset\(\)"):
        r.process(rng.standard_normal((1, 10)))


def test_stream_wrong_channel_count_rejected():
    r = StreamingResampler(200, 100, 4)
    with pytest.raises(SignalError, match=r"chunk must have shape \(n_channels=4, n_times\), got shape \(3, 5\)"):
        r.process(np.zeros((3, 5)))


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=20),
    rates=st.sampled_from(RATES),
)
def test_stream_chunk_invariance_property(sizes, rates):
    sizes = sizes if any(sizes) else [*sizes, 5]
    x = np.random.default_rng(len(sizes)).standard_normal((2, 250))
    r = StreamingResampler(*rates, 2)
    one_shot = r.process(x)
    r.reset()
    np.testing.assert_allclose(_stream(r, x, sizes), one_shot, atol=1e-9)


# -- Recording -----------------------------------------------------------------------------------------------


def test_resample_recording_carries_labels_mask_and_annotations(rng):
    labels = np.repeat([0, 1, 0, 2], 250)
    valid = np.ones(1000, dtype=bool)
    valid[500:510] = False
    rec = Recording(
        rng.standard_normal((2, 1000)).astype(np.float32),
        SignalInfo.uniform(2, 1000.0, "emg"),
        labels=labels,
        label_names={0: "rest", 1: "fist", 2: "open"},
        valid=valid,
        annotations=Annotations([0.5], [0.1], ["cue"]),
    )
    out = resample_recording(rec, 200.0)
    assert out.sfreq == 200.0 and out.n_times == 200
    np.testing.assert_array_equal(out.labels, np.repeat([0, 1, 0, 2], 50))
    assert not out.valid[100] and out.valid[99] and out.valid[102]
    assert out.annotations.onset.tolist() == [0.5]
    assert out.metadata["preprocessing"] == ("resample(1000 Hz -> 200 Hz)",)
