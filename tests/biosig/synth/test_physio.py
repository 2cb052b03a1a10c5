"""Seeded NeuroKit2-based physiological recordings and the labelled rest/exercise dataset."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.errors import SignalError
from biosig.signals import Recording
from biosig.synth.physio import (
    EXERCISE,
    REST,
    PhysioState,
    simulate_ecg,
    simulate_eda,
    simulate_emg,
    simulate_physio,
    simulate_physio_dataset,
    simulate_ppg,
    simulate_rsp,
)


def _onsets(rec: Recording, description: str) -> np.ndarray:
    return rec.annotations.onset[np.asarray(rec.annotations.description) == description]


def test_ecg_in_volts_with_r_peaks_at_the_heart_rate():
    rec = simulate_ecg(duration=10.0, sfreq=250.0, heart_rate=90.0, seed=1)
    assert rec.data.shape == (1, 2500) and rec.data.dtype == np.float32
    assert rec.info.ch_types == ("ecg",) and rec.info.units == ("V",)
    assert 0.5e-3 < np.ptp(rec.data) < 3e-3  # a ~1 mV R wave, in volts
    r_peaks = _onsets(rec, "R")
    assert 60.0 / np.median(np.diff(r_peaks)) == pytest.approx(90.0, rel=0.05)
    # Each R annotation sits on a local maximum of the signal.
    idx = np.round(r_peaks * 250).astype(int)
    assert np.all(rec.data[0, idx] > np.percentile(rec.data[0], 95))


def test_same_seed_identical_different_seed_differs():
    a, b = simulate_ecg(duration=5.0, sfreq=100.0, seed=3), simulate_ecg(duration=5.0, sfreq=100.0, seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.annotations.onset, b.annotations.onset)
    assert not np.array_equal(a.data, simulate_ecg(duration=5.0, sfreq=100.0, seed=4).data)
    e1, e2 = simulate_emg(duration=3.0, sfreq=500.0, n_channels=2, seed=9), simulate_emg(3.0, 500.0, 2, seed=9)
    np.testing.assert_array_equal(e1.data, e2.data)
    assert not np.array_equal(e1.data, simulate_emg(3.0, 500.0, 2, seed=10).data)


def test_ppg_with_systolic_peaks():
    rec = simulate_ppg(duration=10.0, sfreq=100.0, heart_rate=120.0, seed=2)
    assert rec.info.ch_types == ("ppg",) and rec.info.units == ("a.u.",)
    peaks = _onsets(rec, "systolic_peak")
    assert 60.0 / np.median(np.diff(peaks)) == pytest.approx(120.0, rel=0.1)


@pytest.mark.parametrize("rate", [12.0, 24.0])
def test_rsp_breath_annotations_follow_rate(rate):
    rec = simulate_rsp(duration=30.0, sfreq=50.0, respiratory_rate=rate, seed=5)
    assert rec.data.shape == (1, 1500) and rec.info.ch_types == ("resp",)
    n_peaks = len(_onsets(rec, "breath_peak"))
    assert abs(n_peaks - rate * 30 / 60) <= 2
    assert abs(len(_onsets(rec, "breath_trough")) - n_peaks) <= 1


def test_rsp_full_length_for_every_seed():
    # neurokit's breathmetrics model can return fewer samples than asked; we must not.
    for seed in range(8):
        assert simulate_rsp(duration=10.0, sfreq=100.0, respiratory_rate=11.3, seed=seed).n_times == 1000


def test_eda_in_siemens_with_scr_peaks():
    rec = simulate_eda(duration=20.0, sfreq=50.0, scr_number=3, seed=1)
    assert rec.info.ch_types == ("eda",) and rec.info.units == ("S",)
    assert 1e-7 < rec.data.mean() < 1e-4  # microsiemens-scale conductance in siemens
    assert len(_onsets(rec, "scr_peak")) == 3
    assert len(simulate_eda(duration=20.0, sfreq=50.0, scr_number=0, seed=1).annotations) == 0


def test_emg_labels_mark_the_bursts():
    rec = simulate_emg(duration=7.0, sfreq=1000.0, n_channels=3, burst_number=3, burst_duration=0.7, seed=1)
    assert rec.data.shape == (3, 7000) and rec.info.ch_types == ("emg",) * 3 and rec.info.units == ("V",) * 3
    assert rec.label_names == {0: "rest", 1: "burst"}
    assert rec.label_counts()["burst"] == pytest.approx(2100, abs=5)
    centred = np.abs(rec.data - np.median(rec.data, axis=1, keepdims=True))
    assert centred[:, rec.labels == 1].mean() > 10 * centred[:, rec.labels == 0].mean()
    # Transitions of the labels coincide with those of the amplitude (to a few samples).
    rises = np.flatnonzero(np.diff(rec.labels) == 1) + 1
    np.testing.assert_allclose(rises / 1000.0, _onsets(rec, "burst"), atol=2e-3)
    for r in rises:
        assert centred[:, r - 60 : r - 10].mean() < 0.2 * centred[:, r + 10 : r + 60].mean()
    assert np.ptp(rec.data) < 5e-3  # ~1 mV bursts, in volts


def test_emg_bursts_must_fit():
    with pytest.raises(SignalError, match=r"4 bursts of 1 s do not fit with rest between them in 3 s"):
        simulate_emg(duration=3.0, sfreq=1000.0, burst_number=4, burst_duration=1.0)


def test_fractional_sample_count_rejected():
    with pytest.raises(SignalError, match=r"duration \* sfreq must be a whole number of samples, got 1\.005 s"):
        simulate_ecg(duration=1.005, sfreq=100.0)


def test_bad_seed_rejected():
    with pytest.raises(SignalError, match=r"seed must be a non-negative integer, got -1"):
        simulate_ppg(seed=-1)


def test_bad_method_rejected():
    with pytest.raises(SignalError, match=r"method must be 'ecgsyn' or 'simple', got 'fancy'"):
        simulate_ecg(duration=2.0, sfreq=100.0, method="fancy")


def test_physio_recording_has_four_modalities():
    rec = simulate_physio(duration=10.0, sfreq=100.0, heart_rate=80.0, respiratory_rate=18.0, scr_number=1, seed=0)
    assert rec.info.ch_names == ("ECG", "PPG", "RESP", "EDA")
    assert rec.info.ch_types == ("ecg", "ppg", "resp", "eda")
    assert rec.info.units == ("V", "a.u.", "a.u.", "S")
    counts = rec.annotations.counts()
    assert {"R", "systolic_peak", "breath_peak", "scr_peak"} <= set(counts)
    assert np.all(np.diff(rec.annotations.onset) >= 0)
    assert rec.metadata["annotation_warnings"] == ()


def test_dataset_classes_differ_physiologically():
    data = simulate_physio_dataset(n_per_class=3, duration=10.0, sfreq=100.0, seed=7)
    assert len(data) == 6
    conditions = [r.metadata["condition"] for r in data]
    assert conditions == ["rest"] * 3 + ["exercise"] * 3
    for rec, cls in zip(data, [0, 0, 0, 1, 1, 1]):
        assert rec.label_names == {0: "rest", 1: "exercise"}
        np.testing.assert_array_equal(rec.labels, cls)
    beats = [len(_onsets(r, "R")) for r in data]
    assert max(beats[:3]) < min(beats[3:])  # exercise hearts beat faster
    for rec in data:
        state = REST if rec.metadata["condition"] == "rest" else EXERCISE
        assert state.heart_rate[0] <= rec.metadata["heart_rate"] <= state.heart_rate[1]


def test_dataset_is_deterministic():
    a = simulate_physio_dataset(n_per_class=1, duration=5.0, sfreq=50.0, seed=11)
    b = simulate_physio_dataset(n_per_class=1, duration=5.0, sfreq=50.0, seed=11)
    c = simulate_physio_dataset(n_per_class=1, duration=5.0, sfreq=50.0, seed=12)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)
    assert not np.array_equal(a[0].data, c[0].data)


def test_dataset_custom_states():
    calm = PhysioState("calm", heart_rate=(50, 55), respiratory_rate=(8, 9), scr_per_minute=(0, 0), ppg_motion=(0, 0))
    data = simulate_physio_dataset(n_per_class=1, duration=5.0, sfreq=50.0, seed=0, states=[calm])
    assert data[0].label_names == {0: "calm"} and data[0].metadata["scr_number"] == 0


def test_dataset_rejects_duplicate_state_names():
    with pytest.raises(SignalError, match=r"state names must be unique, got \['rest', 'rest'\]"):
        simulate_physio_dataset(1, states=[REST, REST])


def test_state_ranges_validated():
    with pytest.raises(SignalError, match=r"PhysioState heart_rate must be \(low, high\) with 0 <= low <= high"):
        PhysioState("x", heart_rate=(100, 50), respiratory_rate=(10, 12), scr_per_minute=(0, 1), ppg_motion=(0, 0))


def test_fractional_rate_rejected():
    with pytest.raises(
        SignalError, match=r"sfreq must be a whole number of Hz for the NeuroKit2 simulators, got 62\.5"
    ):
        simulate_eda(duration=2.0, sfreq=62.5)
