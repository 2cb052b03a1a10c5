"""The core containers: SignalInfo validation, Recording construction, ADC conversion, pick/crop, immutability."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from biosig.errors import SignalError
from biosig.signals import UNLABELLED, Annotations, Recording, SignalInfo
from biosig.signals.info import DEFAULT_UNITS

# -- SignalInfo ----------------------------------------------------------------------------------------------


def test_info_defaults_units_from_types_and_stores_tuples():
    info = SignalInfo(sfreq=200, ch_names=["EMG0", "ECG"], ch_types=["emg", "ecg"])
    assert info.sfreq == 200.0 and isinstance(info.sfreq, float)
    assert info.ch_names == ("EMG0", "ECG") and info.units == ("V", "V")
    assert info.n_channels == 2
    assert hash(info) == hash(SignalInfo(200.0, ("EMG0", "ECG"), ("emg", "ecg")))


def test_info_uniform_names_channels():
    info = SignalInfo.uniform(3, 1000.0, "eda")
    assert info.ch_names == ("eda0", "eda1", "eda2")
    assert info.units == (DEFAULT_UNITS["eda"],) * 3
    assert SignalInfo.uniform(2, 50, "imu", prefix="acc", unit="m/s^2").units == ("m/s^2", "m/s^2")


@pytest.mark.parametrize("sfreq", [0, -1.0, float("nan"), float("inf")])
def test_info_rejects_bad_sfreq(sfreq):
    with pytest.raises(SignalError, match=r"sfreq must be a positive finite number of Hz, got"):
        SignalInfo(sfreq, ("a",), ("emg",))


def test_info_rejects_non_numeric_sfreq():
    with pytest.raises(SignalError, match=r"sfreq must be a positive number of Hz, got 'fast'"):
        SignalInfo("fast", ("a",), ("emg",))  # type: ignore[arg-type]


def test_info_rejects_no_channels():
    with pytest.raises(SignalError, match=r"a signal needs at least one channel, got ch_names=\(\)"):
        SignalInfo(100.0, (), ())


def test_info_rejects_type_count_mismatch():
    with pytest.raises(SignalError, match=r"ch_types has 1 entries but there are 2 channel names"):
        SignalInfo(100.0, ("a", "b"), ("emg",))


def test_info_rejects_unknown_type():
    with pytest.raises(SignalError, match=r"unknown channel type\(s\) \['emgg'\]; allowed: abp, ecg"):
        SignalInfo(100.0, ("a",), ("emgg",))


def test_info_rejects_duplicate_names():
    with pytest.raises(SignalError, match=r"channel names must be unique, got duplicates \['a'\]"):
        SignalInfo(100.0, ("a", "a"), ("emg", "emg"))


def test_info_rejects_unit_count_mismatch():
    with pytest.raises(SignalError, match=r"units has 1 entries but there are 2 channels"):
        SignalInfo(100.0, ("a", "b"), ("emg", "emg"), units=("V",))


def test_info_is_frozen():
    info = SignalInfo.uniform(1, 100.0, "emg")
    with pytest.raises(FrozenInstanceError):
        info.sfreq = 200.0  # type: ignore[misc]


def test_info_pick_by_name_and_negative_index():
    info = SignalInfo(100.0, ("a", "b", "c"), ("emg", "ecg", "ppg"))
    picked, rows = info.pick(["c", -3])
    assert rows == [2, 0]
    assert picked.ch_names == ("c", "a") and picked.ch_types == ("ppg", "emg") and picked.units == ("a.u.", "V")


def test_info_pick_unknown_name():
    with pytest.raises(SignalError, match=r"no channel named 'z'; channels are \['a', 'b'\]"):
        SignalInfo(100.0, ("a", "b"), ("emg", "emg")).pick(["z"])


def test_info_pick_index_out_of_range():
    with pytest.raises(SignalError, match=r"channel pick 5 is neither a name nor an index in \[0, 2\)"):
        SignalInfo(100.0, ("a", "b"), ("emg", "emg")).pick([5])


# -- Recording -----------------------------------------------------------------------------------------------


def _rec(rng, n_channels: int = 2, n_times: int = 1000, **kwargs) -> Recording:
    return Recording(rng.standard_normal((n_channels, n_times)), SignalInfo.uniform(n_channels, 100.0, "emg"), **kwargs)


def test_recording_stores_readonly_float32_copy(rng):
    data = rng.standard_normal((2, 50))
    rec = Recording(data, SignalInfo.uniform(2, 100.0, "emg"))
    assert rec.data.dtype == np.float32 and not rec.data.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        rec.data[0, 0] = 1.0
    data32 = data.astype(np.float32)
    rec32 = Recording(data32, SignalInfo.uniform(2, 100.0, "emg"))
    data32[0, 0] = 99.0  # the caller's array stays theirs
    assert rec32.data[0, 0] != 99.0
    assert rec.n_channels == 2 and rec.n_times == 50 and rec.duration == pytest.approx(0.5)
    np.testing.assert_allclose(rec.times[:3], [0.0, 0.01, 0.02])


def test_recording_labels_and_valid_are_readonly(rng):
    rec = _rec(rng, labels=np.zeros(1000, dtype=np.int32), valid=np.ones(1000, dtype=bool))
    assert rec.labels.dtype == np.int64 and not rec.labels.flags.writeable and not rec.valid.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        rec.labels[0] = 3


def test_recording_is_frozen(rng):
    rec = _rec(rng)
    with pytest.raises(FrozenInstanceError):
        rec.data = np.zeros((2, 1000))  # type: ignore[misc]
    with pytest.raises(TypeError):
        rec.metadata["x"] = 1  # type: ignore[index]


def test_recording_rejects_1d(rng):
    with pytest.raises(SignalError, match=r"data must be 2-D \(n_channels, n_times\), got shape \(10,\)"):
        Recording(np.zeros(10), SignalInfo.uniform(1, 100.0, "emg"))


def test_recording_rejects_row_mismatch():
    with pytest.raises(SignalError, match=r"data has 3 rows but info describes 2 channels \['emg0', 'emg1'\]"):
        Recording(np.zeros((3, 10)), SignalInfo.uniform(2, 100.0, "emg"))


def test_recording_rejects_integer_data():
    with pytest.raises(SignalError, match=r"got dtype int16; use Recording.from_adc for integer ADC counts"):
        Recording(np.zeros((1, 10), dtype=np.int16), SignalInfo.uniform(1, 100.0, "emg"))


def test_recording_rejects_bad_labels(rng):
    with pytest.raises(SignalError, match=r"labels must be an integer array of shape \(1000,\), got float64 \(1000,\)"):
        _rec(rng, labels=np.zeros(1000))


def test_recording_rejects_bad_valid(rng):
    with pytest.raises(SignalError, match=r"valid must be a bool array of shape \(1000,\), got int64 \(1000,\)"):
        _rec(rng, valid=np.ones(1000, dtype=np.int64))


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_from_adc_applies_offset_then_scale(dtype):
    limits = np.iinfo(dtype)
    counts = np.array([[limits.min, 0, limits.max], [10, 20, 30]], dtype=dtype)
    info = SignalInfo.uniform(2, 200.0, "emg")
    rec = Recording.from_adc(counts, info, scale=[1e-6, 2e-6], offset=[0, 10])
    expected = (counts.astype(np.float64) - [[0], [10]]) * [[1e-6], [2e-6]]
    assert rec.data.dtype == np.float32
    np.testing.assert_allclose(rec.data, expected, rtol=1e-6)
    assert rec.data[1, 0] == 0.0  # the offset count means zero


def test_from_adc_scalar_scale_and_kwargs():
    counts = np.array([[1, 2, 3]], dtype=np.int16)
    rec = Recording.from_adc(counts, SignalInfo.uniform(1, 100.0, "ecg"), scale=0.5, metadata={"adc": "int16"})
    np.testing.assert_allclose(rec.data, [[0.5, 1.0, 1.5]])
    assert rec.metadata["adc"] == "int16"


def test_from_adc_rejects_float_counts():
    with pytest.raises(SignalError, match=r"ADC counts must have an integer dtype \(int8, int16, .*\), got float64"):
        Recording.from_adc(np.zeros((1, 3)), SignalInfo.uniform(1, 100.0, "emg"), scale=1.0)


def test_from_adc_rejects_zero_scale():
    with pytest.raises(SignalError, match=r"scale must be finite and non-zero, got 0"):
        Recording.from_adc(np.zeros((1, 3), np.int8), SignalInfo.uniform(1, 100.0, "emg"), scale=0)


def test_from_adc_rejects_1d_counts():
    with pytest.raises(SignalError, match=r"ADC counts must be 2-D \(n_channels, n_times\), got shape \(3,\)"):
        Recording.from_adc(np.zeros(3, np.int8), SignalInfo.uniform(1, 100.0, "emg"), scale=1.0)


def test_pick_reorders_rows_and_info(rng):
    rec = Recording(
        rng.standard_normal((3, 20)),
        SignalInfo(100.0, ("EMG0", "ECG", "angle"), ("emg", "ecg", "pose")),
        labels=np.arange(20),
    )
    picked = rec.pick(["angle", "EMG0"])
    np.testing.assert_array_equal(picked.data, rec.data[[2, 0]])
    assert picked.info.ch_names == ("angle", "EMG0") and picked.info.units == ("rad", "V")
    np.testing.assert_array_equal(picked.labels, rec.labels)
    assert rec.pick_types("ecg").info.ch_names == ("ECG",)


def test_pick_types_absent():
    rec = Recording(np.zeros((1, 5)), SignalInfo.uniform(1, 100.0, "emg"))
    with pytest.raises(SignalError, match=r"no channel of type \['ppg'\]; types are \['emg'\]"):
        rec.pick_types("ppg")


def test_crop_cuts_data_labels_mask_and_annotations(rng):
    labels = np.repeat([0, 1], 500)
    valid = np.arange(1000) % 2 == 0
    ann = Annotations([1.0, 4.5, 7.0], [0.0, 0.5, 0.0], ["a", "b", "c"])
    rec = _rec(rng, labels=labels, valid=valid, annotations=ann, label_names={0: "rest", 1: "fist"})
    cropped = rec.crop(4.0, 6.0)
    assert cropped.n_times == 200 and cropped.duration == pytest.approx(2.0)
    np.testing.assert_array_equal(cropped.data, rec.data[:, 400:600])
    np.testing.assert_array_equal(cropped.labels, labels[400:600])
    np.testing.assert_array_equal(cropped.valid, valid[400:600])
    assert cropped.annotations.description == ("b",)
    assert cropped.annotations.onset.tolist() == [0.5]
    assert cropped.label_counts() == {"rest": 100, "fist": 100}
    assert rec.crop(9.0).n_times == 100


def test_crop_outside_rejected(rng):
    with pytest.raises(SignalError, match=r"crop window \[5, 20\) s is outside the recording of 10\.000 s"):
        _rec(rng).crop(5, 20)


def test_label_counts_names_unlabelled(rng):
    labels = np.array([UNLABELLED] * 3 + [0] * 5 + [7] * 2)
    rec = _rec(rng, n_times=10, labels=labels, label_names={0: "rest"})
    assert rec.label_counts() == {"unlabelled": 3, "rest": 5, "7": 2}
    assert _rec(rng).label_counts() == {}


def test_replace_validates(rng):
    rec = _rec(rng)
    with pytest.raises(SignalError, match=r"labels must be an integer array of shape \(1000,\)"):
        rec.replace(labels=np.zeros(5, dtype=int))


def test_annotations_validation_and_counts():
    ann = Annotations([0.1, 0.2, 0.3], [0, 0, 0], ["R", "N", "R"])
    assert len(ann) == 3 and ann.counts() == {"R": 2, "N": 1}
    assert not ann.onset.flags.writeable
    with pytest.raises(SignalError, match=r"annotations need as many onsets, durations and descriptions, got 2, 1"):
        Annotations([0.1, 0.2], [0.0], ["R", "R"])


def test_annotations_reject_negative_duration():
    with pytest.raises(SignalError, match=r"annotation onsets must be finite and durations non-negative"):
        Annotations([0.1], [-1.0], ["R"])
