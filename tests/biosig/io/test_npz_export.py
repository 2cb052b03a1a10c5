from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from biosig.errors import ReaderError, SignalError
from biosig.io import detect_format, read
from biosig.io.export import write_csv, write_edf
from biosig.io.npz import read_npz, read_scipy_ecg, write_npz
from biosig.signals import Annotations, Recording, SignalInfo


@pytest.fixture()
def recording(rng) -> Recording:
    info = SignalInfo(
        sfreq=250.0,
        ch_names=("EMG1", "ECG"),
        ch_types=("emg", "ecg"),
        start_time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    )
    n = 1000
    labels = np.repeat([0, 1, -1, 1], n // 4)
    valid = np.ones(n, dtype=bool)
    valid[100:110] = False
    return Recording(
        data=(rng.standard_normal((2, n)) * 1e-4).astype(np.float32),
        info=info,
        labels=labels,
        label_names={0: "rest", 1: "fist"},
        valid=valid,
        annotations=Annotations([0.5, 1.25], [0.0, 0.5], ("N", "burst")),
        metadata={"subject": "s01", "gain": np.float32(2.0), "shape": (2, 3)},
    )


def test_npz_round_trip_is_exact(recording: Recording, tmp_path: Path) -> None:
    path = write_npz(recording, tmp_path / "r.npz")
    assert detect_format(path) == "biosig-npz"
    (back,) = read(path)
    np.testing.assert_array_equal(back.data, recording.data)
    np.testing.assert_array_equal(back.labels, recording.labels)
    np.testing.assert_array_equal(back.valid, recording.valid)
    np.testing.assert_array_equal(back.annotations.onset, recording.annotations.onset)
    assert back.annotations.description == ("N", "burst")
    assert back.info == recording.info
    assert dict(back.label_names) == {0: "rest", 1: "fist"}
    assert dict(back.metadata) == {"subject": "s01", "gain": 2.0, "shape": [2, 3]}


def test_npz_without_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, data=np.zeros((1, 3)))
    with pytest.raises(
        ReaderError, match=r"plain.npz: missing arrays \['annotation_duration', 'annotation_onset', 'header'\]"
    ):
        read_npz(path)


def test_npz_with_foreign_tag_is_rejected(recording: Recording, tmp_path: Path) -> None:
    path = write_npz(recording, tmp_path / "r.npz")
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["header"] = np.frombuffer(b'{"format": "other/9"}', dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ReaderError, match=r"unsupported format tag; expected biosig-recording/1, got 'other/9'"):
        read_npz(path)


def test_scipy_ecg_in_volts(shared_data: Path) -> None:
    path = shared_data / "scipy-ecg" / "ecg.dat"
    assert detect_format(path) == "scipy-ecg"
    (rec,) = read_scipy_ecg(path)
    assert rec.n_times == 108000 and rec.sfreq == 360.0 and rec.info.units == ("V",)
    # An ECG lead in volts: a few millivolts peak to peak.
    assert 5e-4 < np.ptp(rec.data) < 1e-2


def test_scipy_ecg_wrong_dtype(tmp_path: Path) -> None:
    path = tmp_path / "ecg.dat"
    with open(path, "wb") as handle:
        np.savez(handle, ecg=np.zeros(10, dtype=np.float64))
    with pytest.raises(ReaderError, match="expected 1-D uint16, got 1-D float64"):
        read_scipy_ecg(path)


def test_edf_export_reads_back_within_quantisation(recording: Recording, tmp_path: Path) -> None:
    path = write_edf(recording, tmp_path / "r.edf")
    assert zipfile.is_zipfile(path) is False
    import mne

    raw = mne.io.read_raw_edf(path, preload=True, verbose=False)
    assert raw.ch_names == ["EMG EMG1", "ECG"]  # EDF+ "<type> <name>" labels; "ECG" already names its type
    assert raw.info["sfreq"] == 250.0
    data = raw.get_data()
    step = np.ptp(recording.data, axis=1, keepdims=True) / 65535  # 16-bit EDF resolution per channel
    assert np.all(np.abs(data[:, : recording.n_times] - recording.data) <= step * 1.01)
    assert list(raw.annotations.description) == ["N", "burst"]


def test_edf_round_trip_keeps_channel_names_and_types(recording: Recording, tmp_path: Path) -> None:
    from biosig.io.edf import read_edf

    back = read_edf(write_edf(recording, tmp_path / "r.edf"))
    assert back.info.ch_names == ("EMG1", "ECG") and back.info.ch_types == ("emg", "ecg")
    assert back.info.units == ("V", "V")


def test_edf_labels_fall_back_to_the_name_when_too_long() -> None:
    from biosig.io.export import edf_label

    assert edf_label("emg0", "emg") == "EMG emg0"
    assert edf_label("EEG Fp1", "eeg") == "EEG Fp1"
    assert edf_label("a_very_long_name", "emg") == "a_very_long_name"  # "EMG a_very_long_name" > 16 characters
    assert edf_label("x", "pose") == "x"


def test_edf_needs_edf_suffix(recording: Recording, tmp_path: Path) -> None:
    with pytest.raises(SignalError, match="EDF output needs a .edf file name, got 'r.txt'"):
        write_edf(recording, tmp_path / "r.txt")


def test_csv_export(recording: Recording, tmp_path: Path) -> None:
    path = write_csv(recording, tmp_path / "r.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "time_s,EMG1 [V],ECG [V],label"
    assert len(lines) == recording.n_times + 1
    first = np.array(lines[1].split(","), dtype=float)
    np.testing.assert_allclose(first[1:3], recording.data[:, 0], rtol=1e-6)
    with pytest.raises(FileExistsError, match="r.csv exists; pass overwrite=True"):
        write_csv(recording, path)
