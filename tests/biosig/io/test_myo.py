"""Myo readings reader: parsing, the skip report, gaps, sessions, the dataset, and the real files' quirks."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biosig.errors import ReaderError
from biosig.io import detect_format, read
from biosig.io._text import _tokenize_int_table, normalise_text, parse_int_table
from biosig.io.myo import (
    LABEL_NAMES,
    SCALE,
    list_myo_sessions,
    read_myo_dataset,
    read_myo_file,
    read_myo_session,
)
from tests.biosig.io.reader_contract import check_recording

ROWS = [
    [1, 4, 6, 3, 0, -1, 1, -1, 0],
    [-128, 127, -4, 0, 1, -1, -1, -1, 0],
    [-5, -10, 3, -4, 0, 0, 0, 0, 3],
    [2, 2, 2, 2, 2, 2, 2, 2, 3],
]


def _text(rows: list[list[int]]) -> str:
    return "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def _write(path: Path, text: str | bytes, gz: bool | None = None) -> Path:
    data = text.encode() if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz") if gz is None else gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture()
def session_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data" / "_readings_right_hand" / "12345-2"
    for k in (0, 3):
        _write(d / f"{k}.txt.gz", _text(ROWS))
    return d


def test_read_values_labels_and_metadata(session_dir: Path) -> None:
    rec = read_myo_file(session_dir / "3.txt.gz")
    check_recording(rec, n_channels=8, n_times=4, sfreq=200.0, units=("a.u.",) * 8, labelled=True)
    expected = np.array(ROWS)[:, :8].T * SCALE
    np.testing.assert_array_equal(rec.data, expected.astype(np.float32))
    np.testing.assert_array_equal(rec.labels, [0, 0, 3, 3])
    assert rec.info.ch_types == ("emg",) * 8
    assert rec.info.ch_names == tuple(f"emg{i}" for i in range(8))
    assert dict(rec.label_names) == LABEL_NAMES
    assert rec.metadata["participant"] == "12345"
    assert rec.metadata["session"] == 2
    assert rec.metadata["gesture_file"] == 3
    assert rec.metadata["gesture"] == "radial deviation"
    assert rec.metadata["skipped"] == {}
    assert rec.metadata["gaps"] == []
    assert rec.metadata["unexpected_labels"] == []
    assert rec.data.min() == -1.0 and rec.data.max() == pytest.approx(127 / 128)


def test_plain_text_crlf_and_spaced_separators_read_the_same(tmp_path: Path) -> None:
    reference = read_myo_file(_write(tmp_path / "a" / "1.txt.gz", _text(ROWS)))
    crlf = _text(ROWS).replace("\n", "\r\n")
    spaced = _text(ROWS).replace(",", ", ").replace("\n", " \n")
    no_final_newline = _text(ROWS).rstrip("\n")
    for i, text in enumerate((crlf, spaced, no_final_newline)):
        rec = read_myo_file(_write(tmp_path / f"b{i}" / "1.txt", text))
        np.testing.assert_array_equal(rec.data, reference.data)
        np.testing.assert_array_equal(rec.labels, reference.labels)
        assert rec.metadata["skipped"] == {}
        assert rec.metadata["n_lines"] == 4


# Each malformed line (modelled on the real files) with the reason it must be reported under.
MALFORMED = [
    ("4,2,1,0,-1,0,0,0,00,3,2,0,1,1,-1,0,0", "wrong field count"),  # two rows glued (19999-2/2.txt.gz:12322)
    ("2,-2,-1,1,-2,-1,-4,-5,-1,-1,0", "wrong field count"),  # split row, 11 fields (64917-1/2.txt.gz:1032)
    ("6,2-2,1,-2,-2,4,4,-3,-7,7", "wrong field count"),  # 64917-3/7.txt.gz:1347
    (",-5,-5,-11,7,-2,55,5,7", "non-numeric"),  # empty first field (64917-3/7.txt.gz:1348)
    ("1,2,x,4,5,6,7,8,0", "non-numeric"),
    ("1,2,3-4,4,5,6,7,8,0", "non-numeric"),
    ("1,2,-,4,5,6,7,8,0", "non-numeric"),
    ("1,2,3.5,4,5,6,7,8,0", "non-numeric"),
    ("0,47,1,-1,0,-20,6,0,0\r5,4,3,-2,-2,0,-8,-5,0", "wrong field count"),  # bare CR (64917-2/1.txt.gz:1996)
    ("1,2,3,4,5,6,7,200,0", "value out of int8 range"),
    ("1,2,3,4,5,6,7,-129,0", "value out of int8 range"),
    ("1,2,3,4,5,6,7,8,9", "label out of range"),
    ("1,2,3,4,5,6,7,8,-1", "label out of range"),
    ("", "empty line"),
]


@pytest.mark.parametrize(("line", "reason"), MALFORMED)
def test_malformed_line_is_skipped_and_reported(tmp_path: Path, line: str, reason: str) -> None:
    text = _text(ROWS[:2]) + line + "\n" + _text(ROWS[2:])
    rec = read_myo_file(_write(tmp_path / "s" / "1.txt", text))
    assert rec.n_times == 4
    np.testing.assert_array_equal(rec.data, (np.array(ROWS)[:, :8].T * SCALE).astype(np.float32))
    assert rec.metadata["skipped"] == {reason: 1}
    assert rec.metadata["skipped_examples"] == {reason: 3}
    assert rec.metadata["skipped_lines"] == [(3, reason)]
    # A dropped row opens a gap before kept sample 2; a blank line holds no sample, so no gap.
    assert rec.metadata["gaps"] == ([] if reason == "empty line" else [(2, 1)])


@pytest.mark.parametrize(("line", "reason"), MALFORMED)
def test_malformed_line_raises_when_asked(tmp_path: Path, line: str, reason: str) -> None:
    path = _write(tmp_path / "s" / "1.txt", _text(ROWS[:2]) + line + "\n" + _text(ROWS[2:]))
    with pytest.raises(ReaderError, match=rf"1\.txt: line 3: {reason}; expected 8 integers in \[-128, 127\]"):
        read_myo_file(path, on_bad_row="raise")


def test_gaps_merge_consecutive_drops_and_count_reasons(tmp_path: Path) -> None:
    lines = [
        "bad",  # line 1: before sample 0
        *[_text([r]).strip() for r in ROWS[:2]],  # lines 2-3 -> samples 0, 1
        "1,2",  # line 4
        "",  # line 5: blank, inside the same hole
        "1,2,3,4,5,6,7,8,9",  # line 6 (same hole as line 4)
        _text([ROWS[2]]).strip(),  # line 7 -> sample 2
        _text([ROWS[3]]).strip(),  # line 8 -> sample 3
        "1,2,3,4,5,6,7,8,0,0",  # line 9: hole at the end
    ]
    rec = read_myo_file(_write(tmp_path / "s" / "2.txt", "\n".join(lines) + "\n"))
    assert rec.n_times == 4
    assert rec.metadata["skipped"] == {"wrong field count": 3, "empty line": 1, "label out of range": 1}
    assert rec.metadata["skipped_examples"] == {"wrong field count": 1, "empty line": 5, "label out of range": 6}
    assert rec.metadata["gaps"] == [(0, 1), (2, 2), (4, 1)]


def test_labels_foreign_to_the_gesture_file_are_kept_and_flagged(tmp_path: Path) -> None:
    rec = read_myo_file(_write(tmp_path / "s" / "3.txt", _text(ROWS) + "1,1,1,1,1,1,1,1,5\n"))
    np.testing.assert_array_equal(rec.labels, [0, 0, 3, 3, 5])
    assert rec.metadata["unexpected_labels"] == [5]


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "s" / "0.txt.gz", "")
    with pytest.raises(ReaderError, match=r"0\.txt\.gz: empty file; expected one row per line of 8 integers"):
        read_myo_file(path)


def test_truncated_gzip_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "0.txt.gz"
    path.write_bytes(gzip.compress(_text(ROWS * 100).encode())[:60])
    with pytest.raises(ReaderError, match=r"0\.txt\.gz: corrupt or truncated gzip stream"):
        read_myo_file(path)


def test_file_without_any_valid_row_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "0.txt", "a,b,c\n1,2,3\n")
    with pytest.raises(ReaderError, match=r"no valid row; .* got 2 malformed lines \{'wrong field count': 2\}"):
        read_myo_file(path)


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"7\.txt\.gz: cannot read file"):
        read_myo_file(tmp_path / "7.txt.gz")


def test_unknown_policy_is_rejected(session_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"on_bad_row must be one of \('skip', 'raise'\), got 'ignore'"):
        read_myo_file(session_dir / "0.txt.gz", on_bad_row="ignore")  # type: ignore[arg-type]


def test_session_reads_files_in_gesture_order(session_dir: Path) -> None:
    recs = read_myo_session(session_dir)
    assert [r.metadata["gesture_file"] for r in recs] == [0, 3]
    for rec in recs:
        check_recording(rec, n_channels=8, n_times=4)


def test_session_with_duplicate_gesture_file_is_rejected(session_dir: Path) -> None:
    _write(session_dir / "3.txt", _text(ROWS))
    with pytest.raises(ReaderError, match=r"12345-2: gesture file 3 is present twice; .* got 3\.txt and 3\.txt\.gz"):
        read_myo_session(session_dir)


def test_empty_session_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "11111-1").mkdir()
    with pytest.raises(ReaderError, match=r"11111-1: no gesture file; expected files named 0\.txt\.gz"):
        read_myo_session(tmp_path / "11111-1")


def test_dataset_summary_and_participant_filter(session_dir: Path) -> None:
    root = session_dir.parents[1]
    other = root / "_readings_right_hand" / "54321-1"
    _write(other / "1.txt.gz", _text(ROWS[:2]) + "1,2,3\n" + _text(ROWS[2:]))
    recs, summary = read_myo_dataset(root, progress=False)
    assert len(recs) == 3
    assert summary.n_sessions == 2 and summary.n_files == 3 and summary.n_rows == 12 and summary.n_lines == 13
    assert summary.participants == ["12345", "54321"]
    assert summary.skipped == {"wrong field count": 1}
    assert summary.examples == {"wrong field count": [("54321-1/1.txt.gz", 3)]}
    assert summary.files == {"54321-1/1.txt.gz": {"wrong field count": 1}}
    assert "wrong field count: 1 (e.g. 54321-1/1.txt.gz:3)" in summary.format()

    recs, summary = read_myo_dataset(root, participants=[12345], progress=False)
    assert summary.participants == ["12345"] and summary.n_skipped == 0 and len(recs) == 2


def test_dataset_unknown_participant_is_rejected(session_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"participants \['99999'\] are not in .*; available: \['12345'\]"):
        read_myo_dataset(session_dir.parents[1], participants=["99999"], progress=False)


def test_dataset_without_sessions_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"no session folder; expected folders named <participant>-<session>"):
        list_myo_sessions(tmp_path)


def test_registry_dispatches_files_sessions_and_datasets(session_dir: Path, tmp_path: Path) -> None:
    assert detect_format(session_dir / "3.txt.gz") == "myo"
    assert detect_format(session_dir) == "myo"
    assert detect_format(session_dir.parents[1]) == "myo"
    loose = _write(tmp_path / "recording.txt", _text(ROWS))  # not in the dataset layout: sniffed by content
    assert detect_format(loose) == "myo"
    assert len(read(session_dir)) == 2
    assert len(read(session_dir.parents[1])) == 2
    assert read(loose)[0].metadata["participant"] is None


# -- the vectorised parser against a plain Python reference -------------------------------------------------

_TOKEN = st.one_of(
    st.integers(-300, 300).map(str),
    st.sampled_from(["", "-", "1-2", "x", "00", "-0", "12345678901234567890", "3.5", "\r"]),
)
_LINE = st.one_of(
    st.lists(st.integers(-128, 127).map(str), min_size=9, max_size=9).map(",".join),
    st.lists(_TOKEN, min_size=1, max_size=11).map(",".join),
)


def _reference(text: bytes, n_fields: int) -> tuple[list[list[int]], list[int], list[tuple[int, str]]]:
    rows, kept, bad = [], [], []
    for number, line in enumerate(text.decode("latin-1").split("\n")[:-1], start=1):
        fields = line.split(",")
        if line == "":
            bad.append((number, "empty line"))
        elif len(fields) != n_fields:
            bad.append((number, "wrong field count"))
        elif not all(
            f.lstrip("-").isdigit() and f.count("-") <= int(f.startswith("-")) and len(f.lstrip("-")) <= 15
            for f in fields
        ):
            bad.append((number, "non-numeric"))
        else:
            rows.append([int(f) for f in fields])
            kept.append(number)
    return rows, kept, bad


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, min_size=1, max_size=30))
def test_parser_matches_python_reference(lines: list[str]) -> None:
    text = normalise_text(("\n".join(lines) + "\n").encode("latin-1"))
    rows, kept, bad = _reference(text, 9)
    for table in (parse_int_table(text, 9), _tokenize_int_table(np.frombuffer(text, np.uint8), 9)):
        np.testing.assert_array_equal(table.values, np.array(rows, dtype=np.int64).reshape(-1, 9))
        assert table.line_numbers.tolist() == kept
        assert list(zip(table.report.line_numbers.tolist(), table.report.reasons)) == bad


# -- the real files -----------------------------------------------------------------------------------------


def _sessions(shared_data: Path) -> Path:
    return shared_data / "myo-readings-dataset" / "_readings_right_hand"


def test_real_glued_row(shared_data: Path) -> None:
    rec = read_myo_file(_sessions(shared_data) / "19999-2" / "2.txt.gz")
    check_recording(rec, n_channels=8, n_times=14212, labelled=True)
    assert rec.metadata["n_lines"] == 14213
    assert rec.metadata["skipped"] == {"wrong field count": 1}
    assert rec.metadata["skipped_examples"] == {"wrong field count": 12322}
    assert rec.metadata["gaps"] == [(12321, 1)]
    assert set(rec.label_counts()) == {"rest", "extension"}


def test_real_split_and_mangled_rows(shared_data: Path) -> None:
    split = read_myo_file(_sessions(shared_data) / "64917-1" / "2.txt.gz")
    assert split.metadata["skipped_lines"] == [(1032, "wrong field count"), (1033, "wrong field count")]
    assert split.metadata["gaps"] == [(1031, 2)]
    mangled = read_myo_file(_sessions(shared_data) / "64917-3" / "7.txt.gz")
    assert mangled.metadata["skipped_lines"] == [(1347, "wrong field count"), (1348, "non-numeric")]
    assert mangled.metadata["gaps"] == [(1346, 2)]


def test_real_crlf_session(shared_data: Path) -> None:
    recs = read_myo_session(_sessions(shared_data) / "41924-1")
    assert [r.metadata["gesture_file"] for r in recs] == list(range(8))
    for rec in recs:
        check_recording(rec, n_channels=8, labelled=True)
        assert rec.metadata["skipped"] == {}
        assert rec.n_times == rec.metadata["n_lines"]
    np.testing.assert_array_equal(recs[1].data[:, 0] * 128, [-10, -24, 127, 43, 10, -5, 1, -2])


@pytest.mark.slow
def test_real_dataset_counts_and_skip_report(shared_data: Path) -> None:
    recs, summary = read_myo_dataset(shared_data / "myo-readings-dataset", progress=False)
    assert summary.n_sessions == 86 and summary.n_files == 688 and len(recs) == 688
    assert len(summary.participants) == 28
    assert summary.n_lines == 8_443_445 and summary.n_rows == 8_443_436
    assert summary.skipped == {"wrong field count": 8, "non-numeric": 1}
    assert summary.examples["wrong field count"] == [
        ("19999-2/2.txt.gz", 12322),
        ("64917-1/2.txt.gz", 1032),
        ("64917-1/2.txt.gz", 1033),
        ("64917-2/1.txt.gz", 1996),
        ("64917-2/1.txt.gz", 1997),
        ("64917-2/4.txt.gz", 346),
        ("64917-2/4.txt.gz", 347),
        ("64917-3/7.txt.gz", 1347),
    ]
    assert summary.examples["non-numeric"] == [("64917-3/7.txt.gz", 1348)]
    assert sum(r.n_times for r in recs) == summary.n_rows
    for rec in recs[::50]:
        check_recording(rec, n_channels=8, labelled=True)
    # File k holds rest and gesture k only, except one real file labelled with gesture 2 (flagged, kept).
    assert summary.unexpected_labels == {"69069-1/3.txt.gz": [2]}
    for rec in recs:
        k = rec.metadata["gesture_file"]
        expected = {0, 2, 3} if rec.metadata["path"].endswith("69069-1/3.txt.gz") else {0, k}
        assert set(np.unique(rec.labels).tolist()) <= expected
