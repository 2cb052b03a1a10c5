"""emg2pose HDF5: exact round trip, validation of every malformed part, IK masks, windows, metadata.csv."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from biosig.errors import ReaderError
from biosig.io import emg2pose as e2p
from biosig.io.emg2pose import (
    TIMESERIES_DTYPE,
    Emg2PoseSession,
    ik_failure_mask,
    read_emg2pose,
    read_metadata,
    read_session,
    select_sessions,
    session_paths,
    sniff_emg2pose,
    write_metadata,
    write_session,
)
from biosig.io.emg2pose_windows import Emg2PoseWindows, valid_runs, window_blocks, window_table
from biosig.signals.pose import FINGER_JOINTS
from tests.biosig.io.reader_contract import check_recording

T0 = 1_700_000_000.0
IDS = {"session": "sess-1", "stage": "FingerFreeform", "user": "user-7", "side": "right"}


def make_arrays(rng: np.random.Generator, n: int, failures: list[tuple[int, int]] = ()) -> dict[str, np.ndarray]:
    time = T0 + np.arange(n) / 2000.0
    emg = rng.normal(0.0, 40.0, (n, 16)).astype(np.float32)  # microvolts
    joint_angles = rng.uniform(-0.5, 1.5, (n, 20))
    for start, stop in failures:
        joint_angles[start:stop] = 0.0
    return {"time": time, "emg": emg, "joint_angles": joint_angles}


def write(path: Path, arrays: dict[str, np.ndarray], **overrides: object) -> Path:
    kwargs = {**IDS, **arrays, **overrides}
    return write_session(path, **kwargs)


@pytest.fixture()
def session_file(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = make_arrays(rng, 600, failures=[(100, 140), (500, 501)])
    return write(tmp_path / "s.hdf5", arrays), arrays


# -- round trip -----------------------------------------------------------------------------------------------


def test_round_trip_is_bitwise_exact(session_file):
    path, arrays = session_file
    with read_session(path) as s:
        assert s.records.dtype == TIMESERIES_DTYPE
        assert len(s) == 600
        np.testing.assert_array_equal(s.time.view(np.uint64), arrays["time"].view(np.uint64))
        np.testing.assert_array_equal(s.emg.view(np.uint32), arrays["emg"].view(np.uint32))
        np.testing.assert_array_equal(s.joint_angles.view(np.uint64), arrays["joint_angles"].view(np.uint64))
        assert s.attrs == {
            **IDS,
            "filename": "s",
            "sample_rate": 2000.0,
            "num_channels": 16,
            "start": arrays["time"][0],
            "end": arrays["time"][-1],
        }
        assert [type(s.attrs[k]) for k in ("sample_rate", "num_channels", "start")] == [float, int, float]


def test_float32_joint_angles_are_stored_losslessly_as_float64(tmp_path, rng):
    arrays = make_arrays(rng, 10)
    arrays["joint_angles"] = arrays["joint_angles"].astype(np.float32)
    with read_session(write(tmp_path / "a.hdf5", arrays, filename="custom")) as s:
        assert s.joint_angles.dtype == np.float64
        np.testing.assert_array_equal(s.joint_angles, arrays["joint_angles"].astype(np.float64))
        assert s.attrs["filename"] == "custom"


def test_reader_keeps_float32_joint_angles_of_released_files(tmp_path, rng):
    arrays = make_arrays(rng, 8)
    dtype = np.dtype([("time", "<f8"), ("joint_angles", "<f4", (20,)), ("emg", "<f4", (16,))])
    path = _raw_file(tmp_path, dtype=dtype, records=_records(arrays, dtype))
    with read_session(path) as s:
        assert s.joint_angles.dtype == np.float32
        np.testing.assert_array_equal(s.joint_angles, arrays["joint_angles"].astype(np.float32))


def test_overwrite_replaces_and_refuses_by_default(tmp_path, rng):
    path = write(tmp_path / "s.hdf5", make_arrays(rng, 5))
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        write(path, make_arrays(rng, 5))
    write(path, make_arrays(rng, 7), overwrite=True)
    with read_session(path) as s:
        assert len(s) == 7


def test_failed_write_leaves_no_file_behind(tmp_path, rng, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(e2p.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path / "s.hdf5", make_arrays(rng, 5))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"emg": np.zeros((5, 8), np.float32)}, r"emg must have shape \(5, 16\), got \(5, 8\)"),
        ({"emg": np.zeros((5, 16))}, "emg must have dtype float32, got float64"),
        ({"joint_angles": np.zeros((5, 21))}, r"joint_angles must have shape \(5, 20\), got \(5, 21\)"),
        ({"joint_angles": np.zeros((5, 20), np.int64)}, "joint_angles must have dtype float64 or float32, got int64"),
        ({"time": np.arange(5, dtype=np.float32)}, "time must have dtype float64, got float32"),
        ({"time": np.zeros((5, 1))}, r"time must have shape \(T,\), got \(5, 1\)"),
        ({"time": np.zeros(0), "emg": np.zeros((0, 16), np.float32)}, "time must hold at least one sample"),
        ({"time": T0 + np.array([0.0, 1, 1, 2, 3])}, r"time must be strictly increasing, got time\[2\]"),
        ({"emg": np.full((5, 16), np.nan, np.float32)}, "emg must be finite, got 80 NaN/inf"),
        ({"side": "both"}, r"side must be one of \['left', 'right'\], got 'both'"),
        ({"user": ""}, "user must be a non-empty string, got ''"),
        ({"sample_rate": -1.0}, "sample_rate must be a positive number of Hz, got -1.0"),
    ],
)
def test_write_validates_inputs(tmp_path, rng, change, message):
    kwargs = {**IDS, **make_arrays(rng, 5), **change}
    with pytest.raises(ValueError, match=message):
        write_session(tmp_path / "bad.hdf5", **kwargs)
    assert not (tmp_path / "bad.hdf5").exists()


def test_write_warns_when_emg_looks_like_volts(tmp_path, rng, caplog):
    arrays = make_arrays(rng, 5)
    arrays["emg"] = arrays["emg"] * np.float32(1e-6)
    with caplog.at_level(logging.WARNING, logger="biosig.io.emg2pose"):
        write(tmp_path / "v.hdf5", arrays)
    assert "must be in microvolts" in caplog.text


# -- IK failures and Recordings -----------------------------------------------------------------------------


def test_ik_failure_mask_uses_emg2pose_tolerance():
    angles = np.ones((4, 20))
    angles[0] = 0.0
    angles[1] = 1e-9  # np.isclose(x, 0) in emg2pose: |x| <= 1e-8
    angles[2] = 0.0
    angles[2, 5] = 1e-3  # one joint solved: not a failure
    np.testing.assert_array_equal(ik_failure_mask(angles), [True, True, False, False])


def test_to_recordings_converts_units_and_masks_pose_only(session_file):
    path, arrays = session_file
    with read_session(path) as s:
        assert int(s.ik_failure_mask.sum()) == 41
        emg, pose = s.to_recordings()
    check_recording(emg, n_channels=16, n_times=600, ch_types=("emg",) * 16)
    check_recording(pose, n_channels=20, n_times=600, ch_names=FINGER_JOINTS)
    np.testing.assert_array_equal(emg.data, (arrays["emg"].T.astype(np.float64) * 1e-6).astype(np.float32))
    assert emg.info.ch_types == ("emg",) * 16 and emg.info.units == ("V",) * 16 and emg.valid is None
    np.testing.assert_array_equal(pose.data, arrays["joint_angles"].T.astype(np.float32))
    assert pose.info.ch_names == FINGER_JOINTS and pose.info.units == ("rad",) * 20
    expected_valid = np.ones(600, bool)
    expected_valid[100:140] = expected_valid[500] = False
    np.testing.assert_array_equal(pose.valid, expected_valid)
    np.testing.assert_allclose(pose.annotations.onset, [0.05, 0.25])
    np.testing.assert_allclose(pose.annotations.duration, [0.02, 0.0005])
    assert pose.annotations.description == ("BAD_IK", "BAD_IK")
    assert emg.sfreq == 2000.0 and emg.info.start_time.timestamp() == T0
    assert emg.metadata["subject"] == "user-7" and pose.metadata["stage"] == "FingerFreeform"
    assert emg.metadata["n_ik_failure_samples"] == 41


def test_to_recordings_logs_timestamp_gaps(tmp_path, rng, caplog):
    arrays = make_arrays(rng, 10)
    arrays["time"][5:] += 0.5
    with (
        caplog.at_level(logging.WARNING, logger="biosig.io.emg2pose"),
        read_session(write(tmp_path / "g.hdf5", arrays)) as s,
    ):
        s.to_recordings()
    assert "1 timestamp gap(s) longer than 1.5 sample periods" in caplog.text


def test_registered_reader_returns_one_combined_recording(session_file, tmp_path):
    path, arrays = session_file
    assert sniff_emg2pose(path)
    (tmp_path / "notes.txt").write_text("hello")
    assert not sniff_emg2pose(tmp_path / "notes.txt")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    assert not sniff_emg2pose(tmp_path / "other.h5")
    [rec] = read_emg2pose(path)
    check_recording(
        rec,
        n_channels=36,
        n_times=600,
        sfreq=2000.0,
        ch_names=[f"emg{i}" for i in range(16)] + list(FINGER_JOINTS),
        ch_types=("emg",) * 16 + ("pose",) * 20,
        units=("V",) * 16 + ("rad",) * 20,
        labelled=False,
        metadata_keys=("path", "subject", "session", "stage", "side", "filename"),
    )
    np.testing.assert_array_equal(rec.data[16:], arrays["joint_angles"].T.astype(np.float32))
    assert int((~rec.valid).sum()) == 41


def test_biosig_io_read_dispatches_to_emg2pose(session_file):
    from biosig.io import registry

    try:
        registry.list_readers()
    except ModuleNotFoundError as error:  # other readers are written in parallel
        pytest.skip(f"reader registry incomplete: {error}")
    path, _ = session_file
    assert registry.detect_format(path) == "emg2pose"
    assert registry.read(path)[0].n_channels == 36


# -- malformed files ------------------------------------------------------------------------------------------


def _records(arrays: dict[str, np.ndarray], dtype: np.dtype) -> np.ndarray:
    records = np.empty(len(arrays["time"]), dtype=dtype)
    for name in dtype.names:
        records[name] = arrays[name] if name != "emg" or dtype[name].shape == (16,) else arrays[name][:, :8]
    return records


def _good_attrs() -> dict[str, object]:
    return {**IDS, "filename": "bad", "sample_rate": 2000.0, "num_channels": 16, "start": T0, "end": T0 + 1}


def _raw_file(tmp_path: Path, dtype=TIMESERIES_DTYPE, records=None, attrs=None, group="emg2pose") -> Path:
    path = tmp_path / "raw.hdf5"
    if records is None:
        records = _records(make_arrays(np.random.default_rng(1), 4), dtype)
    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        g.create_dataset("timeseries", data=records)
        for key, value in (_good_attrs() if attrs is None else attrs).items():
            g.attrs[key] = value
    return path


def test_not_hdf5_is_a_reader_error(tmp_path):
    path = tmp_path / "s.hdf5"
    path.write_text("not hdf5")
    with pytest.raises(ReaderError, match=r"s.hdf5: cannot open as HDF5; expected an emg2pose HDF5 file"):
        read_session(path)


def test_missing_group_is_a_reader_error(tmp_path):
    path = _raw_file(tmp_path, group="other")
    with pytest.raises(ReaderError, match=r"no group 'emg2pose'; expected group /emg2pose, got keys \['other'\]"):
        read_session(path)


def test_missing_timeseries_is_a_reader_error(tmp_path):
    path = tmp_path / "s.hdf5"
    with h5py.File(path, "w") as f:
        f.create_group("emg2pose").create_dataset("data", data=np.zeros(3))
    with pytest.raises(ReaderError, match=r"no dataset emg2pose/timeseries; expected a compound dataset"):
        read_session(path)


def test_non_compound_timeseries_is_a_reader_error(tmp_path):
    path = _raw_file(tmp_path, records=np.zeros((4, 37)))
    with pytest.raises(ReaderError, match="is not a 1-D compound dataset"):
        read_session(path)


def test_missing_field_is_a_reader_error(tmp_path):
    dtype = np.dtype([("time", "<f8"), ("emg", "<f4", (16,))])
    with pytest.raises(ReaderError, match=r"lacks field\(s\) \['joint_angles'\]"):
        read_session(_raw_file(tmp_path, dtype=dtype))


def test_wrong_field_shape_is_a_reader_error(tmp_path):
    dtype = np.dtype([("time", "<f8"), ("joint_angles", "<f8", (20,)), ("emg", "<f4", (8,))])
    with pytest.raises(ReaderError, match=r"field 'emg' has the wrong type; expected floating-point of shape \(16,\)"):
        read_session(_raw_file(tmp_path, dtype=dtype))


def test_integer_field_is_a_reader_error(tmp_path):
    dtype = np.dtype([("time", "<i8"), ("joint_angles", "<f8", (20,)), ("emg", "<f4", (16,))])
    with pytest.raises(ReaderError, match=r"field 'time' has the wrong type"):
        read_session(_raw_file(tmp_path, dtype=dtype))


def test_empty_timeseries_is_a_reader_error(tmp_path):
    with pytest.raises(ReaderError, match="the timeseries is empty"):
        read_session(_raw_file(tmp_path, records=np.zeros(0, TIMESERIES_DTYPE)))


def test_missing_attributes_are_a_reader_error(tmp_path):
    attrs = {k: v for k, v in _good_attrs().items() if k not in ("side", "start")}
    with pytest.raises(ReaderError, match=r"lacks attribute\(s\) \['side', 'start'\]"):
        read_session(_raw_file(tmp_path, attrs=attrs))


def test_wrong_attribute_type_is_a_reader_error(tmp_path):
    with pytest.raises(ReaderError, match=r"attribute 'sample_rate' is not a number, got '2kHz'"):
        read_session(_raw_file(tmp_path, attrs={**_good_attrs(), "sample_rate": "2kHz"}))


def test_num_channels_mismatch_is_a_reader_error(tmp_path):
    with pytest.raises(ReaderError, match="num_channels disagrees with the emg field; expected 16, got 8"):
        read_session(_raw_file(tmp_path, attrs={**_good_attrs(), "num_channels": 8}))


def test_bytes_attributes_are_decoded(tmp_path):
    with read_session(_raw_file(tmp_path, attrs={**_good_attrs(), "user": np.bytes_(b"u1")})) as s:
        assert s.attrs["user"] == "u1"


def test_backwards_time_is_a_reader_error(tmp_path):
    arrays = make_arrays(np.random.default_rng(1), 4)
    arrays["time"][2] = T0 - 1
    with read_session(_raw_file(tmp_path, records=_records(arrays, TIMESERIES_DTYPE))) as s:
        with pytest.raises(ReaderError, match=r"timestamps are not monotonic, got time\[2\] < time\[1\]"):
            _ = s.time


def test_session_closes_file(session_file):
    path, _ = session_file
    with Emg2PoseSession(path) as s:
        pass
    assert not s._file.id.valid


# -- windows --------------------------------------------------------------------------------------------------


def reference_windows(valid: np.ndarray | None, n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Independent brute force: walk the samples, find runs with a loop, step offsets one by one."""
    runs, start = [], None
    flags = [True] * n if valid is None else list(valid)
    for i, ok in enumerate([*flags, False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            runs.append((start, i))
            start = None
    out = []
    for a, e in runs:
        if e - a < window:
            continue
        offset = a
        while offset + window <= e:
            out.append((offset, e))
            offset += stride
    return out


def reference_emg2pose(valid: np.ndarray, window: int, stride: int) -> list[tuple[int, int]]:
    """emg2pose's rule written out: inclusive run ends b, keep b - a >= W, block (a, b - 1), floor count."""
    out = []
    for a, e in valid_runs(valid).tolist():
        b = e - 1
        if b - a >= window:
            for k in range((b - 1 - a - window) // stride + 1):
                out.append((a + k * stride, b - 1))
    return out


#: 30 samples with IK failures at 7, 8 and 20: valid runs [0, 7), [9, 20), [21, 30).
HAND_FAILURES = [(7, 9), (20, 21)]


@pytest.fixture()
def hand_file(tmp_path, rng) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = make_arrays(rng, 30, failures=HAND_FAILURES)
    return write(tmp_path / "hand.hdf5", arrays), arrays


def test_windows_without_skipping_match_hand_computed_offsets(hand_file):
    path, _ = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=3)
    # (30 - 5) // 3 + 1 = 9 windows: 0, 3, ..., 24
    assert ds.windows.tolist() == [[o, 30] for o in range(0, 25, 3)]


def test_windows_skipping_ik_failures_match_hand_computed_offsets(hand_file):
    path, _ = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=2, skip_ik_failures=True)
    assert ds.blocks.tolist() == [[0, 7], [9, 20], [21, 30]]
    offsets = [0, 2, 9, 11, 13, 15, 21, 23, 25]
    ends = [7, 7, 20, 20, 20, 20, 30, 30, 30]
    assert ds.windows.tolist() == [list(p) for p in zip(offsets, ends)]


def test_emg2pose_compatible_reproduces_the_off_by_one(hand_file):
    path, _ = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=2, skip_ik_failures=True, emg2pose_compatible=True)
    # emg2pose: runs (0,6), (9,19), (21,29) inclusive -> blocks (0,5), (9,18), (21,28)
    assert ds.blocks.tolist() == [[0, 5], [9, 18], [21, 28]]
    assert ds.windows.tolist() == [[0, 5], [9, 18], [11, 18], [13, 18], [21, 28], [23, 28]]


def test_run_of_exactly_one_window():
    valid = np.array([False] + [True] * 5 + [False])
    assert window_table(window_blocks(7, 5, valid), 5, 1).tolist() == [[1, 6]]
    assert window_table(window_blocks(7, 5, valid, emg2pose_compatible=True), 5, 1).tolist() == []


@pytest.mark.parametrize("seed", range(6))
def test_window_table_matches_independent_references(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    valid = rng.random(n) > rng.uniform(0.02, 0.3)
    window, stride = int(rng.integers(1, 20)), int(rng.integers(1, 8))
    table = window_table(window_blocks(n, window, valid), window, stride)
    assert [tuple(r) for r in table.tolist()] == reference_windows(valid, n, window, stride)
    compat = window_table(window_blocks(n, window, valid, emg2pose_compatible=True), window, stride)
    assert [tuple(r) for r in compat.tolist()] == reference_emg2pose(valid, window, stride)
    unmasked = window_table(window_blocks(n, window), window, stride)
    assert [tuple(r) for r in unmasked.tolist()] == reference_windows(None, n, window, stride)


def test_items_hold_the_padded_span(hand_file):
    path, arrays = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=3, padding=(2, 3))
    first, last = ds[0], ds[len(ds) - 1]
    assert (first["window_start_idx"], first["window_end_idx"], first["offset"]) == (0, 8, 0)
    assert (last["window_start_idx"], last["window_end_idx"], last["offset"]) == (22, 30, 24)  # 24+5+3 cut at 30
    middle = ds[3]  # offset 9: [7, 17)
    assert (middle["window_start_idx"], middle["window_end_idx"]) == (7, 17)
    assert middle["emg"].shape == (16, 10) and middle["emg"].dtype == torch.float32
    expected = (arrays["emg"][7:17].T.astype(np.float64) * 1e-6).astype(np.float32)
    np.testing.assert_array_equal(middle["emg"].numpy(), expected)
    np.testing.assert_array_equal(middle["joint_angles"].numpy(), arrays["joint_angles"][7:17].T.astype(np.float32))
    np.testing.assert_array_equal(middle["no_ik_failure"].numpy(), [0, 0] + [1] * 8)  # padding reaches the failure


def test_pad_edges_zero_fills_and_masks_missing_context(hand_file):
    path, arrays = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=3, padding=(2, 3), pad_edges=True)
    first, last = ds[0], ds[len(ds) - 1]  # offsets 0 and 24: 2 samples missing before, 24 + 5 + 3 - 30 = 2 after
    assert (first["pad_left"], first["pad_right"], last["pad_left"], last["pad_right"]) == (2, 0, 0, 2)
    assert first["emg"].shape == (16, 10) and last["joint_angles"].shape == (20, 10)
    assert first["no_ik_failure"].tolist() == [False, False] + [True] * 7 + [False]  # sample 7 is an IK failure
    assert last["no_ik_failure"].tolist() == [True] * 8 + [False] * 2
    assert not first["emg"][:, :2].any() and not last["joint_angles"][:, 8:].any()
    np.testing.assert_array_equal(
        last["joint_angles"][:, :8].numpy(), arrays["joint_angles"][22:30].T.astype(np.float32)
    )
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    assert batch["emg"].shape == (len(ds), 16, 10)


def test_jitter_stays_in_block_and_within_stride(hand_file):
    path, _ = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=2, skip_ik_failures=True, jitter=True, seed=3)
    seen: dict[int, set[int]] = {i: set() for i in range(len(ds))}
    for _ in range(60):
        for i in range(len(ds)):
            seen[i].add(ds[i]["offset"] - int(ds.windows[i, 0]))
    # leftover = block_end - (offset + 5); shift in [0, min(2, leftover))
    expected = {}
    for i, (offset, end) in enumerate(ds.windows.tolist()):
        leftover = end - offset - 5
        expected[i] = set(range(min(2, leftover))) if leftover > 0 else {0}
    assert seen == expected
    again = Emg2PoseWindows(path, window_length=5, stride=2, skip_ik_failures=True, jitter=True, seed=3)
    fresh = Emg2PoseWindows(path, window_length=5, stride=2, skip_ik_failures=True, jitter=True, seed=3)
    assert [again[i]["offset"] for i in range(9)] == [fresh[i]["offset"] for i in range(9)]


def test_jitter_differs_between_epochs_of_restarted_workers(hand_file):
    path, _ = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=2, jitter=True, seed=1)  # 13 windows, most can move
    torch.manual_seed(0)
    loader = DataLoader(ds, batch_size=len(ds), num_workers=1)
    epochs = [next(iter(loader))["offset"].tolist() for _ in range(3)]
    assert len({tuple(e) for e in epochs}) > 1


def test_whole_session_window_and_its_errors(hand_file, caplog):
    path, _ = hand_file
    ds = Emg2PoseWindows(path, window_length=None)
    assert len(ds) == 1 and ds[0]["emg"].shape == (16, 30)
    with pytest.raises(ValueError, match="skip_ik_failures=True requires window_length"):
        Emg2PoseWindows(path, window_length=None, skip_ik_failures=True)
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        Emg2PoseWindows(path, window_length=5, stride=0)
    with pytest.raises(ValueError, match=r"padding must be a \(left, right\) pair"):
        Emg2PoseWindows(path, window_length=5, padding=3)
    with caplog.at_level(logging.WARNING, logger="biosig.io.emg2pose_windows"):
        assert len(Emg2PoseWindows(path, window_length=31)) == 0
    assert "no window of 31 samples fits (30 samples" in caplog.text
    with pytest.raises(IndexError, match="window index 1 out of range for 1 windows"):
        ds.span(1)


def test_windows_batch_in_a_dataloader_and_pickle(hand_file):
    path, _ = hand_file
    ds = Emg2PoseWindows(path, window_length=5, stride=2, skip_ik_failures=True)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["emg"].shape == (4, 16, 5) and batch["joint_angles"].shape == (4, 20, 5)
    assert batch["no_ik_failure"].all() and batch["offset"].tolist() == [0, 2, 9, 11]
    clone = pickle.loads(pickle.dumps(ds))
    torch.testing.assert_close(clone[5]["emg"], ds[5]["emg"])
    ds.close()


# -- metadata.csv ---------------------------------------------------------------------------------------------


def meta_rows() -> list[dict[str, object]]:
    base = {"session": "s", "stage": "st", "side": "left", "moving_hand": "both"}
    return [
        {**base, "filename": "a", "user": "u1", "held_out_user": False, "held_out_stage": False, "split": "train", "generalization": ""},
        {**base, "filename": "b", "user": "u2", "held_out_user": True, "held_out_stage": False, "split": "test", "generalization": "user"},
        {**base, "filename": "c", "user": "u2", "held_out_user": True, "held_out_stage": True, "split": "test", "generalization": "user_stage"},
        {**base, "filename": "d", "user": "u1", "held_out_user": False, "held_out_stage": True, "split": "val", "generalization": "stage", "start": 1.5},
    ]  # fmt: skip


def test_metadata_round_trip_and_selection(tmp_path):
    path = write_metadata(meta_rows(), tmp_path / "metadata.csv")
    meta = read_metadata(path)
    assert list(meta.columns[:10]) == list(e2p.METADATA_COLUMNS) and "start" in meta.columns
    assert meta["held_out_user"].dtype == bool and meta["generalization"].tolist() == [
        "",
        "user",
        "user_stage",
        "stage",
    ]
    assert select_sessions(meta, split="test")["filename"].tolist() == ["b", "c"]
    assert select_sessions(meta, generalization="user_stage")["filename"].tolist() == ["c"]
    assert select_sessions(meta, held_out_user=False, held_out_stage=True)["filename"].tolist() == ["d"]
    assert select_sessions(meta, users=["u1"], split="train")["filename"].tolist() == ["a"]
    assert session_paths(select_sessions(meta, split="val"), tmp_path) == [tmp_path / "d.hdf5"]


def test_metadata_parses_csv_booleans(tmp_path):
    path = tmp_path / "m.csv"
    pd.DataFrame(meta_rows()).assign(held_out_user=["False", "True", "true", "0"]).to_csv(path, index=False)
    assert read_metadata(path)["held_out_user"].tolist() == [False, True, True, False]


def test_metadata_missing_column(tmp_path):
    path = tmp_path / "m.csv"
    pd.DataFrame(meta_rows()).drop(columns=["split"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"m.csv: missing column\(s\) \['split'\]"):
        read_metadata(path)


def test_metadata_bad_values(tmp_path):
    with pytest.raises(ValueError, match=r"column 'split' must be one of \['train', 'val', 'test'\], got \['dev'\]"):
        write_metadata([{**meta_rows()[0], "split": "dev"}], tmp_path / "m.csv")
    with pytest.raises(ValueError, match="column 'held_out_stage' must hold True/False, got 'maybe'"):
        write_metadata([{**meta_rows()[0], "held_out_stage": "maybe"}], tmp_path / "m.csv")
    with pytest.raises(ValueError, match=r"column 'side' must be one of \['left', 'right'\], got \['up'\]"):
        write_metadata([{**meta_rows()[0], "side": "up"}], tmp_path / "m.csv")
    with pytest.raises(ValueError, match="split must be one of"):
        select_sessions(pd.DataFrame(meta_rows()), split="training")
