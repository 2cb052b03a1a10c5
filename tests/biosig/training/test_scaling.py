"""Input scaling: robust scale per (channel type, unit), application to arrays and recordings, storage."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from biosig.signals.info import SignalInfo
from biosig.signals.recording import Recording
from biosig.training.scaling import InputScaling


def recording(data: np.ndarray, types: tuple[str, ...], units: tuple[str, ...], valid=None) -> Recording:
    info = SignalInfo(100.0, tuple(f"c{i}" for i in range(len(types))), types, units)
    return Recording(data.astype(np.float32), info, valid=valid)


def test_robust_scale_of_gaussian_data_is_its_standard_deviation(rng):
    eeg = rng.normal(0, 2e-5, size=(2, 50_000))
    ecg = rng.normal(0, 1e-3, size=(1, 50_000))
    rec = recording(np.concatenate([eeg, ecg]), ("eeg", "eeg", "ecg"), ("V", "V", "V"))
    scaling = InputScaling.estimate([rec])
    assert scaling.method == "robust"
    assert scaling.scales["eeg"]["V"] == pytest.approx(2e-5, rel=0.02)
    assert scaling.scales["ecg"]["V"] == pytest.approx(1e-3, rel=0.02)


def test_same_type_in_different_units_gets_separate_scales(rng):
    a = recording(rng.normal(0, 1e-3, (1, 20_000)), ("ecg",), ("V",))
    b = recording(rng.normal(0, 5.0, (1, 20_000)), ("ecg",), ("a.u.",))
    scales = InputScaling.estimate([a, b]).scales["ecg"]
    assert scales["V"] == pytest.approx(1e-3, rel=0.03)
    assert scales["a.u."] == pytest.approx(5.0, rel=0.03)


def test_invalid_samples_do_not_enter_the_estimate(rng):
    data = rng.normal(0, 1.0, (1, 10_000))
    data[0, :6000] = 1e6  # a majority of garbage, masked out
    valid = np.ones(10_000, dtype=bool)
    valid[:6000] = False
    scaling = InputScaling.estimate([recording(data, ("emg",), ("V",), valid=valid)])
    assert scaling.scales["emg"]["V"] == pytest.approx(1.0, rel=0.05)


def test_zero_mad_falls_back_to_rms(caplog):
    data = np.zeros((1, 1000))
    data[0, ::4] = 2.0  # 75 % zeros: the median absolute value is 0
    with caplog.at_level(logging.WARNING):
        scaling = InputScaling.estimate([recording(data, ("emg",), ("a.u.",))])
    assert scaling.scales["emg"]["a.u."] == pytest.approx(1.0)  # sqrt(mean(x^2)) = sqrt(4 / 4)
    assert "median absolute deviation is 0" in caplog.text


def test_apply_divides_numpy_and_torch_per_channel():
    scaling = InputScaling("robust", {"eeg": {"V": 1e-5}, "ecg": {"V": 1e-3}})
    x = np.full((2, 4), 2e-3, dtype=np.float32)
    out = scaling.apply(x, ("eeg", "ecg"), ("V", "V"))
    np.testing.assert_allclose(out, [[200.0] * 4, [2.0] * 4], rtol=1e-6)
    assert out.dtype == np.float32
    batch = torch.full((3, 2, 4), 2e-3)
    torch.testing.assert_close(scaling.apply(batch, ("eeg", "ecg"), ("V", "V"))[:, 1], torch.full((3, 4), 2.0))


def test_apply_recording_keeps_units_and_records_the_step(rng):
    rec = recording(rng.normal(0, 3.0, (1, 100)), ("resp",), ("a.u.",))
    scaled = InputScaling("robust", {"resp": {"a.u.": 3.0}}).apply_recording(rec)
    np.testing.assert_allclose(scaled.data, rec.data / 3.0, rtol=1e-6)
    assert scaled.info.units == ("a.u.",)
    assert scaled.metadata["preprocessing"][-1] == "input scaling (robust)"


def test_none_is_the_identity():
    x = np.ones((1, 3), dtype=np.float32)
    np.testing.assert_array_equal(InputScaling().apply(x, ("emg",), ("V",)), x)


def test_unknown_channel_kind_names_what_the_model_knows():
    scaling = InputScaling("robust", {"emg": {"a.u.": 0.02}})
    with pytest.raises(
        ValueError, match=r"no input scale for a 'emg' channel in 'V'; this model was trained on emg in a.u."
    ):
        scaling.scale_for("emg", "V")


def test_apply_checks_the_channel_count():
    with pytest.raises(ValueError, match=r"with 2 channels, got shape \(3, 5\)"):
        InputScaling().apply(np.zeros((3, 5)), ("emg", "emg"), ("V", "V"))


def test_bad_scale_value():
    with pytest.raises(ValueError, match=r"scale of 'emg' in 'V' must be a positive finite number, got 0.0"):
        InputScaling("robust", {"emg": {"V": 0.0}})


def test_round_trip_and_checkpoint_lookup(caplog):
    scaling = InputScaling("robust", {"emg": {"a.u.": 0.023}})
    assert InputScaling.from_dict(scaling.to_dict()) == scaling
    assert InputScaling.from_checkpoint({"extra": {"input_scaling": scaling.to_dict()}}) == scaling
    with caplog.at_level(logging.WARNING):
        assert InputScaling.from_checkpoint({"extra": {}}) == InputScaling()
    assert "records no input scaling" in caplog.text
