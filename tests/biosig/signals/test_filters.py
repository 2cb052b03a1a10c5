"""Filter design, zero-phase and causal application, and chunk invariance of the streaming filter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from biosig.errors import SignalError
from biosig.signals import Recording, SignalInfo
from biosig.signals.filters import (
    CausalFilter,
    causal_filter,
    chain_sos,
    design_bandpass,
    design_filter,
    design_highpass,
    design_lowpass,
    design_notch,
    filter_recording,
    filtfilt,
    min_filtfilt_length,
)


def _gain_db(sos: np.ndarray, freq: float, sfreq: float) -> float:
    _, h = signal.sosfreqz(sos, worN=[freq], fs=sfreq)
    return float(20 * np.log10(np.abs(h[0])))


def _chunks(x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Split along time by ``sizes`` (cycled), keeping empty chunks, until ``x`` is used up."""
    out, i, k = [], 0, 0
    while i < x.shape[1]:
        n = sizes[k % len(sizes)]
        out.append(x[:, i : i + n])
        i += n
        k += 1
    return out


# -- design ---------------------------------------------------------------------------------------------------


def test_butterworth_designs_have_minus_3db_at_cutoff():
    hp = design_highpass(20.0, 1000.0, order=4)
    lp = design_lowpass(100.0, 1000.0, order=6)
    bp = design_bandpass(20.0, 450.0, 1000.0, order=2)
    assert hp.shape == (2, 6) and lp.shape == (3, 6) and bp.shape == (2, 6)
    assert _gain_db(hp, 20.0, 1000.0) == pytest.approx(-3.01, abs=0.05)
    assert _gain_db(lp, 100.0, 1000.0) == pytest.approx(-3.01, abs=0.05)
    assert _gain_db(hp, 2.0, 1000.0) < -70
    assert _gain_db(bp, 100.0, 1000.0) == pytest.approx(0.0, abs=0.1)


def test_highpass_above_nyquist_message():
    with pytest.raises(SignalError, match=r"^highpass cutoff 120 Hz must be below Nyquist 100 Hz for sfreq=200 Hz$"):
        design_highpass(120, 200)


def test_lowpass_at_nyquist_rejected():
    with pytest.raises(SignalError, match=r"lowpass cutoff 50 Hz must be below Nyquist 50 Hz for sfreq=100 Hz"):
        design_lowpass(50, 100)


def test_negative_cutoff_rejected():
    with pytest.raises(SignalError, match=r"highpass cutoff must be a positive finite number of Hz, got -1"):
        design_highpass(-1, 100)


def test_bandpass_edges_must_be_ordered():
    with pytest.raises(SignalError, match=r"bandpass low cutoff 40 Hz must be below the high cutoff 30 Hz"):
        design_bandpass(40, 30, 200)


def test_order_validated():
    with pytest.raises(SignalError, match=r"filter order must be an integer in \[1, 16\], got 0"):
        design_lowpass(10, 100, order=0)


def test_bad_sfreq_rejected():
    with pytest.raises(SignalError, match=r"sfreq must be a positive finite number of Hz, got 0"):
        design_lowpass(10, 0)


def test_notch_removes_mains_and_harmonics_only():
    sos = design_notch(50.0, 1000.0, quality=30.0, harmonics=3)
    assert sos.shape == (3, 6)
    for f in (50.0, 100.0, 150.0):
        assert _gain_db(sos, f, 1000.0) < -60
    assert _gain_db(sos, 20.0, 1000.0) == pytest.approx(0.0, abs=0.05)
    assert _gain_db(sos, 75.0, 1000.0) == pytest.approx(0.0, abs=0.2)


def test_notch_harmonic_above_nyquist_rejected():
    with pytest.raises(SignalError, match=r"notch harmonic 2 of 60 Hz is at 120 Hz, not below Nyquist 100 Hz"):
        design_notch(60, 200, harmonics=2)


def test_notch_quality_validated():
    with pytest.raises(SignalError, match=r"notch quality must be a positive finite number, got 0"):
        design_notch(50, 1000, quality=0)


def test_design_filter_needs_something():
    with pytest.raises(SignalError, match=r"at least one of highpass, lowpass or notch"):
        design_filter(1000.0)


def test_design_filter_combines_band_and_notch():
    sos = design_filter(1000.0, highpass=20, lowpass=450, notch=50, order=4)
    np.testing.assert_allclose(sos, chain_sos(design_bandpass(20, 450, 1000, 4), design_notch(50, 1000)))
    assert _gain_db(sos, 50.0, 1000.0) < -60
    assert _gain_db(sos, 5.0, 1000.0) < -40


def test_chain_sos_rejects_bad_shape():
    with pytest.raises(SignalError, match=r"sos\[1\] must be second-order sections of shape \(n_sections, 6\)"):
        chain_sos(design_lowpass(10, 100), np.ones((2, 5)))


# -- offline application -------------------------------------------------------------------------------------


def test_filtfilt_is_zero_phase_and_keeps_float32(rng):
    sfreq = 500.0
    t = np.arange(2000) / sfreq
    x = np.stack([np.sin(2 * np.pi * 10 * t), np.cos(2 * np.pi * 10 * t)]).astype(np.float32)
    y = filtfilt(x, design_lowpass(40.0, sfreq), sfreq)
    assert y.dtype == np.float32 and y.shape == x.shape
    # A passband sine comes back with no shift (a causal filter would delay it by several samples).
    np.testing.assert_allclose(y[:, 200:-200], x[:, 200:-200], atol=2e-3)


def test_filtfilt_accepts_batches(rng):
    x = rng.standard_normal((3, 2, 400))
    sos = design_highpass(5.0, 100.0)
    y = filtfilt(x, sos)
    for b in range(3):
        np.testing.assert_allclose(y[b], filtfilt(x[b], sos), atol=1e-12)
    assert y.dtype == np.float64


def test_filtfilt_too_short_message(rng):
    sos = design_highpass(1.0, 200.0, order=4)  # 2 sections -> scipy pads 15 samples
    assert min_filtfilt_length(sos) == 16
    with pytest.raises(
        SignalError,
        match=r"signal of 10 samples is too short for zero-phase filtering with 2 sections: it pads 15 samples "
        r"at each edge and needs at least 16 samples \(0\.080 s at 200 Hz\)",
    ):
        filtfilt(rng.standard_normal((2, 10)), sos, 200.0)


def test_filtfilt_accepts_minimum_length(rng):
    sos = design_highpass(1.0, 200.0, order=4)
    x = rng.standard_normal((2, 16))
    np.testing.assert_allclose(filtfilt(x, sos), signal.sosfiltfilt(sos, x, axis=-1))


def test_filtfilt_rejects_1d():
    with pytest.raises(SignalError, match=r"data must have shape \(n_channels, n_times\) or \(batch, n_channels"):
        filtfilt(np.zeros(100), design_lowpass(10, 100))


def test_causal_filter_without_steady_state_is_sosfilt(rng):
    x = rng.standard_normal((4, 500))
    sos = design_bandpass(5, 40, 200)
    np.testing.assert_allclose(causal_filter(x, sos, steady_state=False), signal.sosfilt(sos, x, axis=-1))


def test_steady_state_start_removes_dc_transient():
    x = np.full((2, 400), 0.25)  # a 0.25 V electrode offset and nothing else
    sos = design_highpass(1.0, 200.0)
    ringing = causal_filter(x, sos, steady_state=False)
    settled = causal_filter(x, sos, steady_state=True)
    assert np.abs(ringing).max() > 0.2
    assert np.abs(settled).max() < 1e-12


# -- streaming -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("steady_state", [True, False])
def test_causal_filter_chunks_equal_one_shot(rng, steady_state):
    x = (rng.standard_normal((3, 3000)) + 0.5).astype(np.float32)
    sos = design_filter(1000.0, highpass=20, lowpass=300, notch=50)
    reference = causal_filter(x, sos, steady_state=steady_state)
    f = CausalFilter(sos, n_channels=3, steady_state=steady_state)
    sizes = [int(s) for s in rng.integers(0, 60, size=200)] + [0, 1, 1, 0]
    out = np.concatenate([f.process(c) for c in _chunks(x, sizes)], axis=1)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert np.abs(out - reference).max() < 1e-5
    if not steady_state:
        assert np.abs(out - signal.sosfilt(sos, x.astype(np.float64), axis=-1)).max() < 1e-5


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=30),
    seed=st.integers(0, 2**16),
)
def test_causal_filter_chunk_invariance_property(sizes, seed):
    x = np.random.default_rng(seed).standard_normal((2, 300))
    sizes = sizes if any(sizes) else [*sizes, 7]
    sos = chain_sos(design_highpass(0.5, 100.0), design_notch(25.0, 100.0))
    f = CausalFilter(sos, 2)
    out = np.concatenate([f.process(c) for c in _chunks(x, sizes)], axis=1)
    assert np.abs(out - causal_filter(x, sos)).max() < 1e-9


def test_filter_chain_equals_filters_in_turn(rng):
    x = rng.standard_normal((2, 800))
    hp, notch = design_highpass(5.0, 250.0), design_notch(50.0, 250.0)
    chained = CausalFilter([hp, notch], 2, steady_state=False)
    expected = signal.sosfilt(notch, signal.sosfilt(hp, x, axis=-1), axis=-1)
    np.testing.assert_allclose(chained.process(x), expected, atol=1e-10)
    assert chained.sos.shape == (3, 6)


def test_reset_restarts_the_stream(rng):
    x = rng.standard_normal((2, 200))
    f = CausalFilter.from_design(100.0, 2, highpass=1.0)
    first = f.process(x)
    f.process(rng.standard_normal((2, 50)))
    f.reset()
    np.testing.assert_array_equal(f.process(x), first)


def test_empty_chunk_before_data_keeps_steady_state_start(rng):
    x = rng.standard_normal((1, 100)) + 3.0
    f = CausalFilter(design_highpass(1.0, 100.0), 1)
    assert f.process(np.zeros((1, 0), dtype=np.float32)).shape == (1, 0)
    np.testing.assert_allclose(f.process(x), causal_filter(x, design_highpass(1.0, 100.0)))


def test_chunk_with_wrong_channel_count_rejected():
    f = CausalFilter(design_lowpass(10, 100), 8)
    with pytest.raises(SignalError, match=r"chunk must have shape \(n_channels=8, n_times\), got shape \(7, 10\)"):
        f.process(np.zeros((7, 10)))


def test_chunk_with_nan_rejected_and_state_kept(rng):
    x = rng.standard_normal((2, 100))
    f, g = CausalFilter(design_lowpass(10, 100), 2), CausalFilter(design_lowpass(10, 100), 2)
    f.process(x[:, :50])
    g.process(x[:, :50])
    bad = x[:, 50:60].copy()
    bad[1, 3] = np.nan
    with pytest.raises(SignalError, match=r"chunk contains NaN or infinite samples"):
        f.process(bad)
    np.testing.assert_array_equal(f.process(x[:, 50:]), g.process(x[:, 50:]))


def test_causal_filter_rejects_bad_n_channels():
    with pytest.raises(SignalError, match=r"n_channels must be a positive integer, got 0"):
        CausalFilter(design_lowpass(10, 100), 0)


# -- Recording -----------------------------------------------------------------------------------------------


def _emg_pose_recording(rng) -> Recording:
    info = SignalInfo(1000.0, ("EMG0", "EMG1", "angle"), ("emg", "emg", "pose"))
    t = np.arange(4000) / 1000.0
    data = np.stack([np.sin(2 * np.pi * 50 * t) + 1e-3 * rng.standard_normal(4000)] * 2 + [0.1 * t])
    return Recording(data.astype(np.float32), info, metadata={"subject": "s1"})


def test_filter_recording_filters_selected_types_only(rng):
    rec = _emg_pose_recording(rng)
    out = filter_recording(rec, highpass=20, notch=50, ch_types=("emg",))
    assert isinstance(out, Recording) and out.info == rec.info
    # The 50-Hz hum is gone once the notch's ~0.2-s edge transient has died out.
    assert np.abs(out.data[:2, 1500:-1500]).max() < 0.01
    np.testing.assert_array_equal(out.data[2], rec.data[2])  # pose untouched
    assert out.metadata["subject"] == "s1"
    assert out.metadata["preprocessing"][-1].startswith("filter(highpass=20, lowpass=None, notch=50")
    assert "'EMG0', 'EMG1'" in out.metadata["preprocessing"][-1]


def test_filter_recording_causal_matches_causal_filter(rng):
    rec = _emg_pose_recording(rng)
    out = filter_recording(rec, lowpass=100, zero_phase=False)
    np.testing.assert_allclose(out.data, causal_filter(rec.data, design_lowpass(100, 1000)), atol=1e-6)


def test_filter_recording_unknown_type_rejected(rng):
    with pytest.raises(SignalError, match=r"no channel of type \['ecg'\] to filter"):
        filter_recording(_emg_pose_recording(rng), lowpass=100, ch_types=("ecg",))
