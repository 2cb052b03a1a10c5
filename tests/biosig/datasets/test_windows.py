"""RecordingWindows: window starts, the label rule (ties, min_label_fraction), masking, targets, groups, errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from biosig.datasets.windows import RecordingWindows, window_labels
from biosig.io.emg2pose import read_session, write_session
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Recording


def make_recording(
    n_times: int,
    sfreq: float = 10.0,
    n_channels: int = 3,
    labels: list[int] | np.ndarray | None = None,
    valid: np.ndarray | None = None,
    **metadata: object,
) -> Recording:
    # Each sample's value encodes (channel, time) so slices can be checked exactly.
    data = np.arange(n_channels)[:, None] * 1000.0 + np.arange(n_times)[None, :]
    return Recording(
        data=data.astype(np.float32),
        info=SignalInfo.uniform(n_channels, sfreq, "emg"),
        labels=None if labels is None else np.asarray(labels, dtype=np.int64),
        valid=valid,
        metadata=metadata,
    )


#: 20 samples at 10 Hz; 1 s windows every 0.5 s start at 0, 5, 10.
LABELS = [0] * 6 + [1] * 4 + [-1] * 5 + [2] * 5


def test_window_starts_match_hand_computed_values():
    ds = RecordingWindows([make_recording(1000, sfreq=100.0), make_recording(130, sfreq=100.0)], 0.5, 0.25)
    assert (ds.n_window, ds.n_hop) == (50, 25)
    # (1000 - 50) // 25 + 1 = 39 windows, then (130 - 50) // 25 + 1 = 4 (the 30-sample tail after 125 unused)
    assert ds.starts.tolist() == list(range(0, 951, 25)) + [0, 25, 50, 75]
    assert ds.recording_index.tolist() == [0] * 39 + [1] * 4
    item = ds[40]
    assert (item["recording_index"], item["start"], item["index"]) == (1, 25, 40)
    np.testing.assert_array_equal(item["x"].numpy(), ds.recordings[1].data[:, 25:75])
    assert item["x"].dtype == torch.float32 and item["x"].shape == (3, 50)


def test_hop_defaults_to_window_and_seconds_round_to_samples():
    ds = RecordingWindows([make_recording(100, sfreq=10.0)], 0.34)  # 3.4 samples -> 3
    assert (ds.n_window, ds.n_hop) == (3, 3) and len(ds) == 33


def test_majority_label_and_min_label_fraction():
    rec = make_recording(20, labels=LABELS)
    ds = RecordingWindows([rec], 1.0, 0.5)
    # window [0,10): six 0 vs four 1 -> 0 (0.6); [5,15): one 0, four 1 -> 1 covers 0.4 < 0.5 -> -1;
    # [10,20): five unlabelled, five 2 -> 2 covers exactly 0.5
    assert ds.labels.tolist() == [0, -1, 2]
    np.testing.assert_allclose(ds.label_fraction, [0.6, 0.4, 0.5])
    assert RecordingWindows([rec], 1.0, 0.5, min_label_fraction=0.4).labels.tolist() == [0, 1, 2]
    assert RecordingWindows([rec], 1.0, 0.5, min_label_fraction=0.55).labels.tolist() == [0, -1, -1]
    assert ds[0]["label"].dtype == torch.int64 and int(ds[1]["label"]) == -1


def test_tie_gives_no_label_even_without_a_threshold():
    rec = make_recording(10, labels=[3] * 5 + [1] * 5)
    ds = RecordingWindows([rec], 1.0, min_label_fraction=0.0)
    assert ds.labels.tolist() == [-1]
    np.testing.assert_allclose(ds.label_fraction, [0.5])


def test_invalid_labelled_samples_do_not_count():
    valid = np.ones(20, bool)
    valid[15:18] = False
    labels, fraction = window_labels(np.asarray(LABELS), valid, np.array([10]), 10, 0.1)
    assert labels.tolist() == [2] and fraction.tolist() == [0.2]


def test_unlabelled_recordings_and_drop_unlabelled(caplog):
    plain = make_recording(20)
    ds = RecordingWindows([plain, make_recording(20, labels=LABELS)], 1.0, 0.5)
    assert ds.labels.tolist() == [-1, -1, -1, 0, -1, 2]
    with caplog.at_level(logging.INFO, logger="biosig.datasets.windows"):
        kept = RecordingWindows([plain, make_recording(20, labels=LABELS)], 1.0, 0.5, drop_unlabelled=True)
    assert kept.labels.tolist() == [0, 2] and kept.starts.tolist() == [0, 10]
    assert kept.dropped == {"invalid": 0, "gap": 0, "unlabelled": 4}
    assert "dropped 0 window(s) with invalid samples, 0 across gaps and 4 unlabelled" in caplog.text


def test_invalid_windows_are_dropped_or_masked():
    valid = np.ones(20, bool)
    valid[12] = False
    rec = make_recording(20, labels=LABELS, valid=valid)
    dropped = RecordingWindows([rec], 1.0, 0.5)
    assert dropped.starts.tolist() == [0] and dropped.dropped == {"invalid": 2, "gap": 0, "unlabelled": 0}
    masked = RecordingWindows([rec], 1.0, 0.5, invalid="mask")
    assert masked.starts.tolist() == [0, 5, 10]
    np.testing.assert_allclose(masked.valid_fraction, [1.0, 0.9, 0.9])
    item = masked[2]
    assert item["mask"].dtype == torch.bool and item["mask"].tolist() == [True, True, False] + [True] * 7
    assert float(item["valid_fraction"]) == pytest.approx(0.9)
    assert "mask" not in dropped[0]


def test_paired_pose_target_from_emg2pose_reader(tmp_path, rng):
    n = 400
    joint_angles = rng.uniform(0.1, 1.0, (n, 20))
    joint_angles[130:150] = 0.0  # IK failure
    path = write_session(
        tmp_path / "p.hdf5",
        time=1.7e9 + np.arange(n) / 2000.0,
        emg=rng.normal(0, 30, (n, 16)).astype(np.float32),
        joint_angles=joint_angles,
        session="s1",
        stage="Wiggle",
        user="u9",
        side="left",
    )
    with read_session(path) as session:
        emg, pose = session.to_recordings()
    ds = RecordingWindows([emg], 0.05, 0.025, targets=[pose], group_by="subject")  # 100 samples every 50
    # starts 0, 50, ..., 300; IK failures at 130..149 drop the windows starting at 50 and 100
    assert ds.starts.tolist() == [0, 150, 200, 250, 300]
    item = ds[1]
    np.testing.assert_array_equal(item["y"].numpy(), pose.data[:, 150:250])
    np.testing.assert_array_equal(item["x"].numpy(), emg.data[:, 150:250])
    assert ds.groups.tolist() == ["u9"] * 5
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["x"].shape == (3, 16, 100) and batch["y"].shape == (3, 20, 100)
    assert batch["label"].tolist() == [-1, -1, -1] and batch["start"].tolist() == [0, 150, 200]


def test_dataloader_batches_with_mask_and_transforms():
    recs = [make_recording(40, labels=[1] * 40), make_recording(40, labels=[2] * 40, valid=np.arange(40) != 3)]
    ds = RecordingWindows(recs, 1.0, invalid="mask", transform=lambda x: x * 2)
    batch = next(iter(DataLoader(ds, batch_size=8)))
    assert batch["x"].shape == (8, 3, 10) and batch["x"].dtype == torch.float32
    assert batch["label"].tolist() == [1] * 4 + [2] * 4 and batch["label"].dtype == torch.int64
    assert batch["mask"].shape == (8, 10) and int((~batch["mask"]).sum()) == 1
    np.testing.assert_array_equal(batch["x"][5].numpy(), recs[1].data[:, 10:20] * 2)


def test_group_keys_index_table_and_subsets():
    recs = [
        make_recording(30, subject="a", session="1"),
        make_recording(20, subject="b", session="1"),
        make_recording(30, subject="a", session="2"),
    ]
    ds = RecordingWindows(recs, 1.0, group_by="subject")
    assert ds.recording_groups == ["a", "b", "a"] and ds.groups.tolist() == ["a"] * 3 + ["b"] * 2 + ["a"] * 3
    table = ds.index_table()
    assert table.columns.tolist() == [
        "recording", "start", "stop", "start_s", "label", "label_fraction", "valid_fraction", "crosses_gap", "group",
    ]  # fmt: skip
    assert table["start_s"].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 0.0, 1.0, 2.0]
    b_only = ds.indices_for_groups(["b"])
    assert b_only.tolist() == [3, 4] and len(Subset(ds, b_only)) == 2
    by_session = RecordingWindows(recs, 1.0, group_by=lambda r: (r.metadata["subject"], r.metadata["session"]))
    assert by_session.recording_groups == [("a", "1"), ("b", "1"), ("a", "2")]
    assert RecordingWindows(recs, 1.0).recording_groups == [0, 1, 2]
    with pytest.raises(KeyError, match=r"unknown group\(s\) \['c'\]"):
        ds.indices_for_groups(["c"])


# -- errors ---------------------------------------------------------------------------------------------------


def test_window_shorter_than_a_sample():
    with pytest.raises(ValueError, match=r"window_s=0.04 s is 0.4 samples at 10 Hz; need >= 1 sample"):
        RecordingWindows([make_recording(20)], 0.04)


def test_hop_must_be_positive():
    with pytest.raises(ValueError, match="hop_s must be a positive number of seconds, got 0"):
        RecordingWindows([make_recording(20)], 1.0, 0)


def test_window_longer_than_a_recording():
    with pytest.raises(ValueError, match=r"window of 10 samples \(1 s\) is longer than recordings\[1\] \(8 samples"):
        RecordingWindows([make_recording(20), make_recording(8)], 1.0)


def test_mixed_sampling_rates():
    with pytest.raises(ValueError, match=r"share one sampling rate \(resample first\), got \[10.0, 20.0\] Hz"):
        RecordingWindows([make_recording(20), make_recording(20, sfreq=20.0)], 1.0)


def test_misaligned_target():
    with pytest.raises(ValueError, match=r"targets\[0\] must align sample by sample with recordings\[0\] \(20 samples"):
        RecordingWindows([make_recording(20)], 1.0, targets=[make_recording(19)])


def test_target_count():
    with pytest.raises(ValueError, match="targets must pair one-to-one with 1 recordings, got 2"):
        RecordingWindows([make_recording(20)], 1.0, targets=[make_recording(20)] * 2)


def test_bad_invalid_mode():
    with pytest.raises(ValueError, match=r"invalid must be one of \['drop', 'mask'\], got 'keep'"):
        RecordingWindows([make_recording(20)], 1.0, invalid="keep")


def test_bad_min_label_fraction():
    with pytest.raises(ValueError, match=r"min_label_fraction must be in \[0, 1\], got 1.5"):
        RecordingWindows([make_recording(20)], 1.0, min_label_fraction=1.5)


def test_missing_group_key():
    with pytest.raises(
        KeyError, match=r"recordings\[0\] has no metadata key 'subject' for group_by; keys are \['session'\]"
    ):
        RecordingWindows([make_recording(20, session="x")], 1.0, group_by="subject")


def test_no_recordings_and_wrong_types():
    with pytest.raises(ValueError, match="recordings must hold at least one Recording"):
        RecordingWindows([], 1.0)
    with pytest.raises(TypeError, match=r"recordings\[0\] must be a Recording, got ndarray"):
        RecordingWindows([np.zeros((2, 20))], 1.0)


def test_everything_dropped_is_an_error():
    with pytest.raises(ValueError, match=r"no window left out of 2 \(dropped 0 with invalid samples .* 2 unlabelled"):
        RecordingWindows([make_recording(20)], 1.0, drop_unlabelled=True)


def test_index_out_of_range():
    ds = RecordingWindows([make_recording(20)], 1.0)
    assert ds[-1]["start"] == 10
    with pytest.raises(IndexError, match="window index 2 out of range for 2 windows"):
        ds[2]


def _gapped(n: int = 20, gaps=((7, 2),)) -> Recording:
    info = SignalInfo.uniform(1, 1.0, "emg")
    return Recording(np.arange(n, dtype=np.float32)[None], info, metadata={"gaps": [list(g) for g in gaps]})


def test_windows_across_reader_gaps_are_dropped():
    # Rows were lost between samples 6 and 7: windows [4, 8) and [6, 10) join samples that were not contiguous.
    ds = RecordingWindows([_gapped()], 4.0, 2.0)
    assert ds.starts.tolist() == [0, 2, 8, 10, 12, 14, 16]
    assert ds.dropped == {"invalid": 0, "gap": 2, "unlabelled": 0}


def test_windows_across_gaps_can_be_kept_and_are_flagged():
    ds = RecordingWindows([_gapped()], 4.0, 2.0, gaps="keep")
    table = ds.index_table()
    assert table.loc[table["crosses_gap"], "start"].tolist() == [4, 6]
    assert len(ds) == 9


def test_window_starting_at_a_gap_does_not_cross_it():
    ds = RecordingWindows([_gapped(gaps=((8, 1),))], 4.0, 4.0)
    assert ds.starts.tolist() == [0, 4, 8, 12, 16]


def test_unknown_gap_mode():
    with pytest.raises(ValueError, match=r"gaps must be one of \['drop', 'keep'\], got 'join'"):
        RecordingWindows([_gapped()], 4.0, gaps="join")
