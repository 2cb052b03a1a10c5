"""NeuroKit CSV reader: sampling rate, channel types, photosensor events, the skip policy, real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosig.errors import ReaderError
from biosig.io import detect_format, read
from biosig.io.neurokit import column_type, find_photosensor_events, read_neurokit_csv, sfreq_from_name
from tests.biosig.io.reader_contract import check_recording

CSV = "ECG,EDA,Photosensor,RSP\n" + "".join(
    f"{0.1 * i:.1f},{13 + i / 100:.2f},{0.0 if 3 <= i < 6 else 5.0},{-0.5 + i / 10:.1f}\n" for i in range(10)
)


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_values_types_units_and_events(tmp_path: Path) -> None:
    rec = read_neurokit_csv(_write(tmp_path / "task_50hz.csv", CSV))
    check_recording(
        rec,
        n_channels=4,
        n_times=10,
        sfreq=50,
        ch_names=("ECG", "EDA", "Photosensor", "RSP"),
        ch_types=("ecg", "eda", "stim", "resp"),
        units=("a.u.",) * 4,
    )
    np.testing.assert_allclose(rec.data[0], 0.1 * np.arange(10), atol=1e-6)
    np.testing.assert_allclose(rec.data[3], -0.5 + np.arange(10) / 10, atol=1e-6)
    assert rec.annotations.description == ("photosensor",)
    np.testing.assert_allclose(rec.annotations.onset, [3 / 50])
    np.testing.assert_allclose(rec.annotations.duration, [3 / 50])
    assert rec.metadata["columns"] == ["ECG", "EDA", "Photosensor", "RSP"]
    assert rec.metadata["skipped"] == {} and rec.metadata["gaps"] == []


def test_crlf_and_whitespace_read_the_same(tmp_path: Path) -> None:
    reference = read_neurokit_csv(_write(tmp_path / "a_50hz.csv", CSV))
    messy = CSV.replace(",", " , ").replace("\n", " \r\n")
    rec = read_neurokit_csv(_write(tmp_path / "b_50hz.csv", messy))
    np.testing.assert_array_equal(rec.data, reference.data)
    assert rec.info.ch_names == reference.info.ch_names


def test_explicit_sfreq_and_its_absence(tmp_path: Path) -> None:
    path = _write(tmp_path / "recording.csv", CSV)
    assert read_neurokit_csv(path, sfreq=250).sfreq == 250
    with pytest.raises(ReaderError, match=r"recording\.csv: sampling rate unknown; expected a file name with '_<N>hz'"):
        read_neurokit_csv(path)


def test_explicit_sfreq_wins_over_the_name(tmp_path: Path) -> None:
    assert read_neurokit_csv(_write(tmp_path / "x_100hz.csv", CSV), sfreq=200).sfreq == 200


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bio_resting_5min_100hz.csv", 100.0),
        ("ecg_1000hz.csv", 1000.0),
        ("x_2.5Hz.csv", 2.5),
        ("ecg.csv", None),
        ("ecg_hz.csv", None),
    ],
)
def test_sfreq_from_name(name: str, expected: float | None) -> None:
    assert sfreq_from_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ECG", "ecg"),
        ("PPG", "ppg"),
        ("RSP", "resp"),
        ("EDA", "eda"),
        ("Photosensor", "stim"),
        ("vEOG", "eog"),
        ("Other", "misc"),
    ],
)
def test_column_types(name: str, expected: str) -> None:
    assert column_type(name) == expected


MALFORMED = [
    ("1.0,2.0,5.0", "wrong field count"),
    ("1.0,2.0,5.0,0.1,9", "wrong field count"),
    ("1.0,abc,5.0,0.1", "non-numeric"),
    ("1.0,,5.0,0.1", "non-numeric"),
    ("1.0,nan,5.0,0.1", "non-finite value"),
    ("", "empty line"),
]


@pytest.mark.parametrize(("line", "reason"), MALFORMED)
def test_malformed_row_is_skipped_and_reported(tmp_path: Path, line: str, reason: str) -> None:
    lines = CSV.splitlines()
    text = "\n".join([*lines[:3], line, *lines[3:]]) + "\n"  # the bad row is line 4 of the file
    rec = read_neurokit_csv(_write(tmp_path / "x_50hz.csv", text))
    assert rec.n_times == 10
    np.testing.assert_allclose(rec.data[0], 0.1 * np.arange(10), atol=1e-6)
    assert rec.metadata["skipped"] == {reason: 1}
    assert rec.metadata["skipped_examples"] == {reason: 4}
    assert rec.metadata["gaps"] == ([] if reason == "empty line" else [(2, 1)])


@pytest.mark.parametrize(("line", "reason"), MALFORMED)
def test_malformed_row_raises_when_asked(tmp_path: Path, line: str, reason: str) -> None:
    lines = CSV.splitlines()
    path = _write(tmp_path / "x_50hz.csv", "\n".join([*lines[:3], line, *lines[3:]]) + "\n")
    with pytest.raises(
        ReaderError, match=rf"x_50hz\.csv: line 4: {reason}; expected 4 numbers \(ECG,EDA,Photosensor,RSP\)"
    ):
        read_neurokit_csv(path, on_bad_row="raise")


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"x_50hz\.csv: empty file; expected a header row"):
        read_neurokit_csv(_write(tmp_path / "x_50hz.csv", "\n"))


def test_header_only_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"x_50hz\.csv: no valid data row"):
        read_neurokit_csv(_write(tmp_path / "x_50hz.csv", "ECG,RSP\n"))


def test_missing_header_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(
        ReaderError, match=r"x_50hz\.csv: missing or invalid header; expected a first row of column names"
    ):
        read_neurokit_csv(_write(tmp_path / "x_50hz.csv", "0.1,0.2\n0.3,0.4\n"))


def test_duplicate_columns_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"duplicate column names; expected unique column names, got \['ECG'\]"):
        read_neurokit_csv(_write(tmp_path / "x_50hz.csv", "ECG,ECG\n0.1,0.2\n"))


def test_photosensor_events() -> None:
    signal = np.array([5, 5, 0, 0, 5, 2.5, 0, 5, 5, 0.0])
    events = find_photosensor_events(signal, sfreq=10)
    np.testing.assert_allclose(events.onset, [0.2, 0.5, 0.9])
    np.testing.assert_allclose(events.duration, [0.2, 0.2, 0.1])
    assert len(find_photosensor_events(np.full(20, 5.0), sfreq=10)) == 0
    above = find_photosensor_events(signal, sfreq=10, threshold=4, direction="above")
    np.testing.assert_allclose(above.onset, [0.0, 0.4, 0.7])
    with pytest.raises(ValueError, match=r"direction must be 'below' or 'above', got 'up'"):
        find_photosensor_events(signal, sfreq=10, direction="up")


def test_registry(tmp_path: Path) -> None:
    path = _write(tmp_path / "task_50hz.csv", CSV)
    assert detect_format(path) == "neurokit"
    assert read(path)[0].n_times == 10


# -- the real example files ---------------------------------------------------------------------------------

REAL = [
    ("bio_resting_5min_100hz.csv", 100, 30000, ("ECG", "PPG", "RSP"), ("ecg", "ppg", "resp")),
    ("bio_eventrelated_100hz.csv", 100, 15000, ("ECG", "EDA", "Photosensor", "RSP"), ("ecg", "eda", "stim", "resp")),
    ("ecg_1000hz.csv", 1000, 50000, ("ECG",), ("ecg",)),
    ("eog_100hz.csv", 100, 12000, ("vEOG",), ("eog",)),
]


@pytest.mark.parametrize(("name", "sfreq", "n_times", "names", "types"), REAL)
def test_real_files(shared_data: Path, name: str, sfreq: int, n_times: int, names: tuple, types: tuple) -> None:
    rec = read_neurokit_csv(shared_data / "neurokit-data" / name)
    check_recording(rec, sfreq=sfreq, n_times=n_times, ch_names=names, ch_types=types, units=("a.u.",) * len(names))
    assert rec.metadata["skipped"] == {}
    assert detect_format(shared_data / "neurokit-data" / name) == "neurokit"


def test_real_photosensor_events_match_neurokit(shared_data: Path) -> None:
    import neurokit2 as nk

    rec = read_neurokit_csv(shared_data / "neurokit-data" / "bio_eventrelated_100hz.csv")
    reference = nk.events_find(rec.pick(["Photosensor"]).data[0], threshold_keep="below")
    assert len(rec.annotations) == 4
    np.testing.assert_allclose(rec.annotations.onset * 100, reference["onset"])
    np.testing.assert_allclose(rec.annotations.duration * 100, reference["duration"])
