"""EDF reader: names and types, volts, EDF+ annotations, eegmat labels, and malformed files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from biosig.errors import ReaderError
from biosig.io import detect_format, read
from biosig.io.edf import read_edf, split_channel_name
from tests.biosig.io.reader_contract import check_recording

SFREQ = 100
N_RECORDS = 3  # 1-s records


def _field(value: object, width: int) -> bytes:
    text = str(value).encode("ascii")
    assert len(text) <= width, (value, width)
    return text.ljust(width)


def write_edf(
    path: Path,
    signals: dict[str, tuple[np.ndarray, str]],
    annotations: list[tuple[float, float, str]] | None = None,
) -> Path:
    """Write a minimal EDF (EDF+C with an annotation signal when ``annotations`` is given).

    ``signals`` maps label -> (samples in physical units, physical dimension); digital range is int16 with a
    physical range of +-3276.7 so that one count is 0.1 unit.
    """
    labels = list(signals)
    n_per_record = [SFREQ] * len(labels)
    if annotations is not None:
        labels.append("EDF Annotations")
        n_per_record.append(60)  # 120 bytes of TAL per record
    ns = len(labels)

    def per_signal(values: list[object], width: int) -> bytes:
        return b"".join(_field(v, width) for v in values)

    header = (
        _field(0, 8)
        + _field("X X X X", 80)
        + _field("Startdate 02-JAN-2020 X X X", 80)
        + _field("02.01.20", 8)
        + _field("10.00.00", 8)
        + _field(256 * (ns + 1), 8)
        + _field("EDF+C" if annotations is not None else "", 44)
        + _field(N_RECORDS, 8)
        + _field(1, 8)
        + _field(ns, 4)
        + per_signal(labels, 16)
        + per_signal([""] * ns, 80)
        + per_signal([signals[k][1] for k in signals] + ([""] if annotations is not None else []), 8)
        + per_signal([-3276.7] * ns, 8)
        + per_signal([3276.7] * ns, 8)
        + per_signal([-32767] * ns, 8)
        + per_signal([32767] * ns, 8)
        + per_signal([""] * ns, 80)
        + per_signal(n_per_record, 8)
        + per_signal([""] * ns, 32)
    )
    body = b""
    for r in range(N_RECORDS):
        for values, _unit in signals.values():
            counts = np.round(values[r * SFREQ : (r + 1) * SFREQ] * 10).astype("<i2")
            body += counts.tobytes()
        if annotations is not None:
            tal = f"+{r}\x14\x14\x00".encode()
            if r == 0:
                tal += b"".join(f"+{o}\x15{d}\x14{t}\x14\x00".encode() for o, d, t in annotations)
            body += tal.ljust(120, b"\x00")
    path.write_bytes(header + body)
    return path


@pytest.fixture()
def edf_file(tmp_path: Path) -> Path:
    t = np.arange(N_RECORDS * SFREQ) / SFREQ
    return write_edf(
        tmp_path / "rec.edf",
        {
            "EEG Fp1": (np.round(100 * np.sin(2 * np.pi * t), 1), "uV"),
            "EEG A2-A1": (np.round(50 * np.cos(2 * np.pi * t), 1), "uV"),
            "ECG ECG": (np.round(np.sin(2 * np.pi * t), 1), "mV"),
            "Pulse": (np.full(t.size, 72.5), "bpm"),
        },
        annotations=[(0.5, 1.0, "stimulus"), (2.0, 0.0, "button")],
    )


def test_names_types_units_and_values(edf_file: Path) -> None:
    rec = read_edf(edf_file)
    check_recording(
        rec,
        n_channels=4,
        n_times=N_RECORDS * SFREQ,
        sfreq=SFREQ,
        ch_names=("Fp1", "A2-A1", "ECG", "Pulse"),
        ch_types=("eeg", "eeg", "ecg", "misc"),
        units=("V", "V", "V", "bpm"),
    )
    t = np.arange(N_RECORDS * SFREQ) / SFREQ
    np.testing.assert_allclose(rec.data[0], 1e-6 * np.round(100 * np.sin(2 * np.pi * t), 1), atol=1e-9)
    np.testing.assert_allclose(rec.data[2], 1e-3 * np.round(np.sin(2 * np.pi * t), 1), atol=1e-7)
    np.testing.assert_allclose(rec.data[3], 72.5, atol=1e-4)  # not a voltage: kept in its own unit, type misc
    assert rec.metadata["source_units"] == {"Fp1": "uV", "A2-A1": "uV", "ECG": "mV", "Pulse": "bpm"}
    assert rec.metadata["source_labels"] == ["EEG Fp1", "EEG A2-A1", "ECG ECG", "Pulse"]


def test_annotations_and_start_time(edf_file: Path) -> None:
    rec = read_edf(edf_file)
    assert rec.annotations.description == ("stimulus", "button")
    np.testing.assert_allclose(rec.annotations.onset, [0.5, 2.0])
    np.testing.assert_allclose(rec.annotations.duration, [1.0, 0.0])
    assert rec.info.start_time == datetime(2020, 1, 2, 10, 0, 0, tzinfo=UTC)
    assert rec.labels is None


def test_eegmat_file_names_give_labels(tmp_path: Path) -> None:
    t = np.zeros(N_RECORDS * SFREQ)
    rest = read_edf(write_edf(tmp_path / "Subject07_1.edf", {"EEG Cz": (t, "uV")}))
    task = read_edf(write_edf(tmp_path / "Subject07_2.edf", {"EEG Cz": (t, "uV")}))
    assert rest.label_counts() == {"rest": 300} and task.label_counts() == {"arithmetic": 300}
    assert (rest.metadata["subject"], rest.metadata["condition"]) == ("07", "rest")
    assert task.metadata["condition"] == "arithmetic"


@pytest.mark.parametrize(
    ("label", "mne_type", "expected"),
    [
        ("EEG Fp1", "eeg", ("Fp1", "eeg")),
        ("ECG ECG", "eeg", ("ECG", "ecg")),
        ("EEG A2-A1", "eeg", ("A2-A1", "eeg")),
        ("EMG chin", "eeg", ("chin", "emg")),
        ("ECG", "eeg", ("ECG", "ecg")),
        ("Temp", "eeg", ("Temp", "temp")),
        ("Status", "stim", ("Status", "stim")),
        ("Thing", "bio", ("Thing", "misc")),
    ],
)
def test_split_channel_name(label: str, mne_type: str, expected: tuple[str, str]) -> None:
    assert split_channel_name(label, mne_type) == expected


def test_truncated_file_is_rejected(edf_file: Path) -> None:
    data = edf_file.read_bytes()
    edf_file.write_bytes(data[:-100])
    with pytest.raises(
        ReaderError, match=rf"rec\.edf: truncated file; expected {len(data)} bytes .*, got {len(data) - 100} bytes"
    ):
        read_edf(edf_file)


def test_non_edf_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notes.edf"
    path.write_text("hello, this is not EDF\n" * 20)
    with pytest.raises(
        ReaderError, match=r"notes\.edf: not an EDF/BDF file; expected a header starting with .*, got b'hello, t'"
    ):
        read_edf(path)


def test_truncated_header_is_rejected(edf_file: Path) -> None:
    edf_file.write_bytes(edf_file.read_bytes()[:100])
    with pytest.raises(ReaderError, match=r"rec\.edf: truncated header; expected at least 256 bytes, got 100 bytes"):
        read_edf(edf_file)


def test_inconsistent_header_size_is_rejected(edf_file: Path) -> None:
    data = bytearray(edf_file.read_bytes())
    data[184:192] = b"999     "
    edf_file.write_bytes(bytes(data))
    with pytest.raises(
        ReaderError, match=r"inconsistent header size; expected 256 \* \(n_signals \+ 1\) = 1536 bytes .*, got 999"
    ):
        read_edf(edf_file)


def test_garbled_number_field_is_rejected(edf_file: Path) -> None:
    data = bytearray(edf_file.read_bytes())
    data[236:244] = b"three   "
    edf_file.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match=r"malformed fixed header field .*; expected ASCII numbers"):
        read_edf(edf_file)


def test_mne_failure_is_wrapped_with_the_file_name(edf_file: Path) -> None:
    data = bytearray(edf_file.read_bytes())
    # Invalid UTF-8 in the first record's annotation signal (after the 4 signals of 100 int16 samples).
    tal_at = 256 * 6 + 4 * SFREQ * 2
    data[tal_at : tal_at + 4] = b"\xff\xff\xff\xff"
    edf_file.write_bytes(bytes(data))
    with pytest.raises(
        ReaderError, match=r"rec\.edf: MNE cannot read the file \(.*invalid byte.*\); expected a valid EDF file"
    ):
        read_edf(edf_file)


def test_mne_warnings_are_kept(edf_file: Path) -> None:
    data = bytearray(edf_file.read_bytes())
    data[244:252] = b"0       "  # record duration 0: MNE warns and assumes 1 s
    edf_file.write_bytes(bytes(data))
    rec = read_edf(edf_file)
    assert any("record length" in w for w in rec.metadata["mne_warnings"])


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"gone\.edf: no such file; expected an EDF or BDF file"):
        read_edf(tmp_path / "gone.edf")


def test_registry(edf_file: Path) -> None:
    assert detect_format(edf_file) == "edf"
    assert read(edf_file)[0].info.ch_names[0] == "Fp1"


# -- the real eegmat files ----------------------------------------------------------------------------------

EEG_NAMES = (
    "Fp1",
    "Fp2",
    "F3",
    "F4",
    "F7",
    "F8",
    "T3",
    "T4",
    "C3",
    "C4",
    "T5",
    "T6",
    "P3",
    "P4",
    "O1",
    "O2",
    "Fz",
    "Cz",
    "Pz",
)


@pytest.mark.parametrize(
    ("name", "n_times", "condition"), [("Subject00_1", 91000, "rest"), ("Subject01_2", 31000, "arithmetic")]
)
def test_real_eegmat(shared_data: Path, name: str, n_times: int, condition: str) -> None:
    rec = read_edf(shared_data / "physionet-eegmat" / f"{name}.edf")
    check_recording(
        rec,
        n_channels=21,
        n_times=n_times,
        sfreq=500,
        ch_names=(*EEG_NAMES, "A2-A1", "ECG"),
        ch_types=("eeg",) * 20 + ("ecg",),
        units=("V",) * 21,
        labelled=True,
    )
    assert rec.metadata["condition"] == condition and rec.metadata["subject"] == name[7:9]
    assert rec.label_counts() == {condition: n_times}
    eeg_std = np.std(rec.data[:19], axis=1)
    assert np.all((eeg_std > 1e-6) & (eeg_std < 1e-4))  # EEG of about 10 uV, in volts
    assert rec.info.start_time is not None and rec.info.start_time.tzinfo is not None
