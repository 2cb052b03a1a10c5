"""CPEP training data: paired windows on the frame grid, labels, scaling, augmentation and Myo pseudo-pairs."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.io.emg2pose import Emg2PoseSession
from biosig.signals.resample import resample
from biosig.training.config import ConfigError
from biosig.training.cpep_data import (
    CorpusError,
    CPEPDataConfig,
    PairedWindows,
    circular_shift,
    corpus_rows,
    emg_scaling,
    load_corpus_sessions,
    load_myo_pairs,
    pseudo_poses,
)


@pytest.fixture(scope="module")
def sessions(cpep_corpus):
    return load_corpus_sessions(cpep_corpus, corpus_rows(cpep_corpus, split="train"), 500.0, 50.0, progress=False)


def test_sessions_hold_emg_and_23_angle_pose_on_one_clock(cpep_corpus, sessions):
    s = sessions[0]
    assert (s.user, s.stage, s.side) == ("user000", "HandOpenClose", "right")
    assert s.emg.shape == (16, 6000) and s.pose.shape == (23, 600) and s.valid.shape == (600,)
    with Emg2PoseSession(cpep_corpus / f"{s.filename}.hdf5") as raw:
        angles = np.asarray(raw.joint_angles)
        emg = raw.emg.astype(np.float64).T * 1e-6
    wrist = np.load(cpep_corpus / "labels" / f"{s.filename}.npz")["wrist"]
    # Frame k is the mean of the 40 samples [40k, 40k + 40) of the 2 kHz pose (finger angles, then wrist).
    assert np.allclose(s.pose[:20, 7], angles[280:320].mean(axis=0), atol=1e-6)
    assert np.allclose(s.pose[20:, 7], wrist[280:320].mean(axis=0), atol=1e-6)
    # EMG is the file's (microvolts -> volts), resampled to 500 Hz.
    assert np.allclose(s.emg, resample(emg.astype(np.float32), 2000.0, 500.0)[:, :6000], atol=1e-9)


def test_windows_pair_emg_samples_with_pose_frames(sessions):
    w = PairedWindows.build(sessions, 50, 10)
    assert w.n_times == 500 and w.samples_per_frame == 10
    i = 5
    s = sessions[int(w.session[i])]
    a = int(w.start[i])
    assert np.array_equal(w.emg(np.array([i]))[0], s.emg[:, 10 * a : 10 * a + 500])
    assert np.array_equal(w.pose(np.array([i]))[0], s.pose[:, a : a + 50])
    # Every kept window has a fully valid pose; the others are counted, not silently lost.
    total = sum(len(range(0, x.n_frames - 50 + 1, 10)) for x in sessions)
    assert len(w) + w.dropped["invalid_pose"] == total
    assert all(sessions[j].valid[b : b + 50].all() for j, b in zip(w.session, w.start))


def test_window_labels_need_a_majority(sessions):
    w = PairedWindows.build(sessions, 50, 10, min_label_fraction=0.8, labelled_only=True)
    for j, b, label in zip(w.session, w.start, w.label):
        frames = sessions[j].labels[b : b + 50]
        assert (frames == label).mean() >= 0.8
    only = PairedWindows.build(sessions, 50, 10, labelled_only=True, gestures=["fist"])
    assert set(only.label_names) == {"fist"} and only.dropped["other_gesture"] > 0


def test_scaling_is_the_robust_scale_of_the_training_emg(sessions):
    scaling = emg_scaling(sessions)
    pooled = np.concatenate([s.emg.ravel() for s in sessions])
    assert scaling.scales["emg"]["V"] == pytest.approx(1.4826 * np.median(np.abs(pooled)), rel=0.02)


def test_circular_shift_turns_the_band():
    x = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    rng = np.random.default_rng(0)
    out = circular_shift(x, 1, rng)
    shifts = np.random.default_rng(0).integers(-1, 2, size=2)
    for b, s in enumerate(shifts):
        assert np.array_equal(out[b], np.roll(x[b], s, axis=0))
    assert circular_shift(x, 0, rng) is x


def test_pseudo_poses_scale_the_canonical_deviation_from_rest():
    targets = np.array([[0.0] * 23, [1.0] * 23])
    rest = np.full(23, 0.2)
    poses = pseudo_poses(np.array([1, 1, 0]), targets, rest, 50, np.random.default_rng(0), (0.5, 0.5), 0.0)
    assert poses.shape == (3, 23, 50) and poses.dtype == np.float32
    assert np.allclose(poses[0], 0.2 + 0.5 * 0.8) and np.allclose(poses[2], 0.2 - 0.5 * 0.2)
    jittered = pseudo_poses(np.array([1]), targets, rest, 50, np.random.default_rng(0), (1.0, 1.0), 0.05)
    assert np.all(jittered[0] == jittered[0][:, :1])  # held: every frame the same
    assert 0 < np.abs(jittered[0, :, 0] - 1.0).max() < 0.3


def test_bundled_myo_pseudo_pairs():
    pairs = load_myo_pairs(CPEPDataConfig(source="myo-bundled", hop_s=1.0), progress=False)
    assert pairs.class_gestures[1] == "wrist_flexion" and pairs.targets.shape == (8, 23)
    x = pairs.emg(np.array([0, 3]))
    assert x.shape == (2, 8, 200) and pairs.n_times == 200
    assert set(pairs.label.tolist()) <= set(range(-1, 8)) and (pairs.label >= 0).any()


def test_myo_refuses_evaluation_participants(shared_data):
    from biosig.evaluation.protocols import myo_heldout_participants, myo_participants

    held = myo_heldout_participants(myo_participants(shared_data))
    cfg = CPEPDataConfig(source="myo", participants=(held[0],))
    with pytest.raises(ConfigError, match=rf"data.participants \['{held[0]}'\] are evaluation participants"):
        load_myo_pairs(cfg, shared_data, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(source="emg"), r"data.source must be one of \['emg2pose', 'myo', 'myo-bundled'\], got 'emg'"),
        (dict(window_s=0.51), r"data.window_s=0.51 s at data.frame_rate=50.0 Hz must be a whole number"),
        (dict(sfreq=520.0), r"data.sfreq=520.0 Hz must be a multiple of data.frame_rate=50.0"),
        (
            dict(frame_rate=30.0, sfreq=600.0, window_s=1.0, hop_s=1.0),
            r"data.frame_rate=30.0 Hz must divide the corpus rate",
        ),
        (dict(pose_intensity=(0.9, 0.5)), r"data.pose_intensity must be \(low, high\)"),
    ],
)
def test_data_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CPEPDataConfig(**kwargs)


def test_corpus_errors(tmp_path, cpep_corpus):
    with pytest.raises(
        CorpusError, match=r"is not a synthetic emg2pose corpus: it needs metadata.csv and gestures.json"
    ):
        corpus_rows(tmp_path)
    with pytest.raises(CorpusError, match=r"no session file matches split='val'"):
        corpus_rows(cpep_corpus, split="val")


def test_balanced_subset_caps_the_dominant_class():
    from biosig.training.cpep_data import balanced_subset

    labels = np.array([0] * 50 + [1] * 10 + [2] * 14)
    kept = balanced_subset(labels, np.arange(len(labels)), seed=0)
    counts = np.bincount(labels[kept])
    # Each class is capped at the mean count of the others: 0 at (10 + 14) / 2; 1 and 2 are below their caps.
    assert counts.tolist() == [12, 10, 14]
    assert np.array_equal(kept, np.sort(kept)) and len(set(kept.tolist())) == len(kept)
