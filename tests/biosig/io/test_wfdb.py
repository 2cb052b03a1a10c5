"""WFDB reader: units, channel types, multi-rate records, annotations, header comments, malformed records."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pytest
import wfdb

from biosig.errors import ReaderError
from biosig.io import detect_format, read
from biosig.io.wfdb import channel_type, find_annotators, parse_comments, read_wfdb, read_wfdb_annotations
from tests.biosig.io.reader_contract import check_recording

N = 1000
FS = 250


@pytest.fixture()
def record(tmp_path: Path) -> Path:
    """A 2-channel record (ECG in mV, ABP in mmHg) with reference beats and a detector file."""
    t = np.arange(N) / FS
    signal = np.stack([np.sin(2 * np.pi * t), 80 + 20 * np.cos(2 * np.pi * t)], axis=1)
    wfdb.wrsamp(
        "rec",
        fs=FS,
        units=["mV", "mmHg"],
        sig_name=["MLII", "ABP"],
        p_signal=signal,
        fmt=["16", "16"],
        comments=["age: 40", "sex: M"],
        base_time=time(10, 0, 0),
        base_date=date(2020, 1, 2),
        write_dir=str(tmp_path),
    )
    wfdb.wrann("rec", "atr", np.array([10, 260, 510, 700]), symbol=["N", "V", "N", "+"],
               aux_note=["", "", "", "(AFIB"], fs=FS, write_dir=str(tmp_path))  # fmt: skip
    wfdb.wrann("rec", "sqrs", np.array([12, 262]), symbol=["N", "N"], fs=FS, write_dir=str(tmp_path))
    return tmp_path / "rec"


def test_units_types_annotations_and_start_time(record: Path) -> None:
    (rec,) = read_wfdb(record)
    check_recording(
        rec, n_channels=2, n_times=N, sfreq=FS, ch_names=("MLII", "ABP"), ch_types=("ecg", "abp"), units=("V", "mmHg")
    )
    t = np.arange(N) / FS
    np.testing.assert_allclose(rec.data[0], 1e-3 * np.sin(2 * np.pi * t), atol=1e-7)  # mV -> V
    np.testing.assert_allclose(rec.data[1], 80 + 20 * np.cos(2 * np.pi * t), atol=2e-3)  # mmHg kept
    assert rec.metadata["unit_conversions"] == {"MLII": "mV -> V (x0.001)"}
    assert rec.metadata["source_units"] == {"MLII": "mV", "ABP": "mmHg"}
    assert rec.info.start_time == datetime(2020, 1, 2, 10, 0, 0)
    assert rec.metadata["age"] == 40 and rec.metadata["sex"] == "M"
    # The reference annotator is primary; the detector is kept beside it.
    assert rec.metadata["primary_annotator"] == "atr"
    np.testing.assert_allclose(rec.annotations.onset, np.array([10, 260, 510, 700]) / FS)
    assert rec.annotations.description == ("N", "V", "N", "+")
    assert rec.metadata["beat_counts"] == {"N": 2, "V": 1}
    assert rec.metadata["rhythms"] == [(700 / FS, "(AFIB")]
    assert rec.metadata["annotators"]["sqrs"]["kind"] == "detector"
    assert rec.metadata["annotators"]["atr"]["kind"] == "reference"
    assert rec.metadata["annotations_by_annotator"]["sqrs"].description == ("N", "N")


def test_path_with_and_without_extension_read_the_same(record: Path) -> None:
    (a,) = read_wfdb(record)
    (b,) = read_wfdb(record.with_name("rec.hea"))
    np.testing.assert_array_equal(a.data, b.data)


def test_annotators_can_be_chosen(record: Path) -> None:
    assert find_annotators(record) == ["atr", "sqrs"]
    (rec,) = read_wfdb(record, annotators=["sqrs"])
    assert rec.metadata["primary_annotator"] == "sqrs"
    assert "beat_counts" not in rec.metadata
    (bare,) = read_wfdb(record, annotators=[])
    assert len(bare.annotations) == 0 and bare.metadata["primary_annotator"] is None


def test_multirate_record_gives_one_recording_per_rate(tmp_path: Path) -> None:
    ecg = np.sin(np.arange(400) / 10)
    abp = 80 + np.arange(100) / 10
    wfdb.wrsamp("mr", fs=100, units=["mV", "mmHg"], sig_name=["V5", "ABP"], e_p_signal=[ecg, abp],
                samps_per_frame=[4, 1], fmt=["16", "16"], adc_gain=[1000, 100], baseline=[0, 0],
                write_dir=str(tmp_path))  # fmt: skip
    fast, slow = read_wfdb(tmp_path / "mr")
    check_recording(fast, n_channels=1, n_times=400, sfreq=400, ch_types=("ecg",), units=("V",))
    check_recording(slow, n_channels=1, n_times=100, sfreq=100, ch_types=("abp",), units=("mmHg",))
    np.testing.assert_allclose(fast.data[0], ecg * 1e-3, atol=1e-6)
    np.testing.assert_allclose(slow.data[0], abp, atol=1e-2)
    assert (fast.metadata["samples_per_frame"], slow.metadata["samples_per_frame"]) == (4, 1)
    assert fast.metadata["n_rate_groups"] == 2


def test_invalid_samples_are_masked(tmp_path: Path) -> None:
    signal = np.sin(np.arange(100) / 10)[:, None]
    signal[5] = np.nan  # written as WFDB's invalid-sample value
    wfdb.wrsamp("gap", fs=100, units=["mV"], sig_name=["II"], p_signal=signal, fmt=["16"], write_dir=str(tmp_path))
    (rec,) = read_wfdb(tmp_path / "gap")
    check_recording(rec, n_times=100)
    assert rec.valid is not None and np.flatnonzero(~rec.valid).tolist() == [5]
    assert rec.data[0, 5] == 0.0
    assert rec.metadata["n_invalid"] == {"II": 1}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MLII", "ecg"), ("V5", "ecg"), ("II", "ecg"), ("III", "ecg"), ("V", "ecg"), ("aVR", "ecg"), ("i", "ecg"),
        ("ii", "ecg"), ("vx", "ecg"), ("MCL1", "ecg"), ("ECG lead I", "ecg"), ("PLETH", "ppg"), ("Pleth", "ppg"),
        ("ABP", "abp"), ("RESP", "resp"), ("Resp", "resp"), ("SpO2", "spo2"), ("CVP", "misc"), ("EEG", "misc"),
    ],
)  # fmt: skip
def test_channel_types_from_names(name: str, expected: str) -> None:
    assert channel_type(name) == expected


def test_header_comments() -> None:
    assert parse_comments(["69 M 1085 1629 x1", "Aldomet, Inderal"])["age"] == 69
    alarm = parse_comments(["Asystole", "False alarm"])
    assert alarm["alarm"] == "Asystole" and alarm["alarm_true"] is False
    ptb = parse_comments(["age: 81", "sex: female", "Reason for admission: Myocardial infarction"])
    assert (ptb["age"], ptb["sex"]) == (81, "female")
    assert ptb["header_fields"]["reason for admission"] == "Myocardial infarction"


def test_missing_header_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(
        ReaderError, match=r"nothere: no WFDB header file; expected nothere\.hea beside the signal files"
    ):
        read_wfdb(tmp_path / "nothere")


def test_truncated_signal_file_is_rejected(record: Path) -> None:
    dat = record.with_name("rec.dat")
    dat.write_bytes(dat.read_bytes()[:N])
    with pytest.raises(
        ReaderError, match=r"rec\.hea: cannot read WFDB record \(ValueError: .*\); expected a valid header"
    ):
        read_wfdb(record)


def test_malformed_header_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "bad.hea").write_text("bad x y\n")
    with pytest.raises(ReaderError, match=r"bad\.hea: cannot read WFDB record \(HeaderSyntaxError"):
        read_wfdb(tmp_path / "bad")


def test_corrupt_annotation_file_is_rejected(record: Path) -> None:
    record.with_name("rec.atr").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ReaderError, match=r"rec\.atr: cannot parse WFDB annotation file"):
        read_wfdb(record)


def test_missing_annotation_file_is_rejected(record: Path) -> None:
    with pytest.raises(ReaderError, match=r"rec\.gqrsh: no such annotation file"):
        read_wfdb_annotations(record, "gqrsh")


def test_registry_reads_header(record: Path) -> None:
    assert detect_format(record.with_name("rec.hea")) == "wfdb"
    assert read(record.with_name("rec.hea"))[0].n_times == N


# -- the real records ---------------------------------------------------------------------------------------


def _wfdb_dir(shared_data: Path) -> Path:
    return shared_data / "physionet-wfdb-samples"


def test_mitbih_100(shared_data: Path) -> None:
    (rec,) = read_wfdb(_wfdb_dir(shared_data) / "100")
    check_recording(
        rec, n_channels=2, n_times=650000, sfreq=360, ch_names=("MLII", "V5"), ch_types=("ecg", "ecg"), units=("V", "V")
    )
    assert len(rec.annotations) == 2274
    assert set(rec.annotations.description) == {"N", "A", "V", "+"}
    assert rec.metadata["beat_counts"] == {"N": 2239, "A": 33, "V": 1}
    assert rec.metadata["age"] == 69 and rec.metadata["sex"] == "male"
    assert 1e-4 < float(np.std(rec.data[0])) < 1e-3  # about 0.2 mV of ECG, in volts


def test_challenge_alarm_record(shared_data: Path) -> None:
    (rec,) = read_wfdb(_wfdb_dir(shared_data) / "a103l.hea")
    check_recording(rec, n_times=82500, sfreq=250, ch_types=("ecg", "ecg", "ppg"), units=("V", "V", "NU"))
    assert rec.metadata["alarm"] == "Asystole" and rec.metadata["alarm_true"] is False


def test_ptb_record(shared_data: Path) -> None:
    (rec,) = read_wfdb(_wfdb_dir(shared_data) / "s0010_re")
    check_recording(rec, n_channels=15, n_times=38400, sfreq=1000, ch_types=("ecg",) * 15)
    assert (rec.metadata["age"], rec.metadata["sex"]) == (81, "female")


def test_mimic_record_rates_and_detector_annotations(shared_data: Path) -> None:
    ecg, rest = read_wfdb(_wfdb_dir(shared_data) / "03700181")
    check_recording(ecg, n_times=300000, sfreq=500, ch_names=("MCL1",), units=("V",))
    check_recording(rest, n_times=75000, sfreq=125, ch_types=("abp", "resp"), units=("mmHg", "V"))
    assert ecg.info.start_time == datetime(1994, 8, 15, 17, 27, 45)
    assert {k: v["count"] for k, v in ecg.metadata["annotators"].items()} == {"gqrsh": 1150, "sqrs": 1195}
    assert {v["kind"] for v in ecg.metadata["annotators"].values()} == {"detector"}
    assert rest.metadata["n_invalid"] == {"RESP": 4}


def test_mixedsignals_keeps_native_rates(shared_data: Path) -> None:
    recs = read_wfdb(_wfdb_dir(shared_data) / "mixedsignals")
    assert [r.info.ch_names for r in recs] == [("II", "III", "V"), ("ABP", "Pleth"), ("Resp",)]
    assert [r.n_times for r in recs] == [57600, 28800, 14400]
    assert [r.sfreq for r in recs] == pytest.approx([249.89, 124.945, 62.4725])
    assert recs[1].info.ch_types == ("abp", "ppg") and recs[2].info.units == ("Ohm",)
    for rec in recs:
        check_recording(rec)
        assert rec.duration == pytest.approx(230.5, abs=0.01)
