"""Format detection and dispatch of biosig.io.registry over every kind of shared file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from biosig.errors import ReaderError, UnknownFormatError
from biosig.io import detect_format, list_readers, read

MINE = {"wfdb", "edf", "neurokit", "myo"}


def test_readers_are_registered_with_descriptions() -> None:
    specs = {spec.name: spec for spec in list_readers()}
    assert MINE <= set(specs)
    for name in MINE:
        assert specs[name].description and callable(specs[name].sniff) and callable(specs[name].read)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("physionet-wfdb-samples/100.hea", "wfdb"),
        ("physionet-wfdb-samples/a103l.hea", "wfdb"),
        ("physionet-wfdb-samples/mixedsignals.hea", "wfdb"),
        ("physionet-eegmat/Subject00_1.edf", "edf"),
        ("neurokit-data/bio_eventrelated_100hz.csv", "neurokit"),
        ("neurokit-data/eog_100hz.csv", "neurokit"),
        ("myo-readings-dataset/_readings_right_hand/10101-1/3.txt.gz", "myo"),
        ("myo-readings-dataset/_readings_right_hand/10101-1", "myo"),
        ("myo-readings-dataset", "myo"),
    ],
)
def test_detect_format_on_shared_files(shared_data: Path, relative: str, expected: str) -> None:
    assert detect_format(shared_data / relative) == expected


@pytest.mark.parametrize(
    "relative",
    [
        "physionet-wfdb-samples/100.dat",
        "physionet-wfdb-samples/100.atr",
        "physionet-wfdb-samples/SOURCE.md",
        "README.md",
    ],
)
def test_side_files_are_not_claimed(shared_data: Path, relative: str) -> None:
    with pytest.raises(UnknownFormatError, match="no reader recognises this file"):
        detect_format(shared_data / relative)


def test_read_dispatches_to_the_detected_reader(shared_data: Path) -> None:
    (rec,) = read(shared_data / "physionet-wfdb-samples" / "100.hea")
    assert rec.metadata["format"] == "wfdb" and rec.n_times == 650000
    recs = read(shared_data / "myo-readings-dataset" / "_readings_right_hand" / "10101-1")
    assert [r.metadata["gesture_file"] for r in recs] == list(range(8))


def test_unknown_content_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mystery.bin"
    path.write_bytes(b"\x00\x01\x02 not a biosignal")
    with pytest.raises(
        UnknownFormatError, match=r"mystery\.bin: no reader recognises this file; expected one of: .*myo"
    ):
        detect_format(path)


def test_csv_without_known_columns_or_rate_is_not_claimed(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("price,volume\n1,2\n")
    with pytest.raises(UnknownFormatError, match=r"table\.csv: no reader recognises this file"):
        detect_format(path)


def test_text_file_that_is_not_myo_is_not_claimed(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt.gz"
    path.write_bytes(gzip.compress(b"dear diary\n"))
    with pytest.raises(UnknownFormatError, match=r"notes\.txt\.gz: no reader recognises this file"):
        detect_format(path)


def test_missing_path_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnknownFormatError, match=r"absent\.edf: no such file or directory"):
        detect_format(tmp_path / "absent.edf")


def test_unknown_format_name_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x_50hz.csv"
    path.write_text("ECG\n0.1\n")
    with pytest.raises(UnknownFormatError, match=r"x_50hz\.csv: unknown format 'nope'; expected one of \[.*'neurokit'"):
        read(path, format="nope")


def test_edf_suffix_with_foreign_content_reaches_the_edf_reader(tmp_path: Path) -> None:
    path = tmp_path / "fake.edf"
    path.write_text("not an edf at all, just text\n")
    assert detect_format(path) == "edf"
    with pytest.raises(ReaderError, match=r"fake\.edf: not an EDF/BDF file"):
        read(path)
