"""Writing a synthetic corpus in the emg2pose layout and reading it back with the emg2pose reader."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from biosig.io import read
from biosig.io.emg2pose import read_metadata, read_session, select_sessions
from biosig.synth.hand import GESTURE_NAMES, SynthConfig, UserProfile, generate_session, write_corpus
from biosig.synth.hand.corpus import GESTURES_FILE, LABELS_DIR, METADATA_FILE
from biosig.synth.hand.timeline import Timeline

STAGES = {"Grip": ("fist", "open_hand"), "Wrist": ("wrist_flexion", "pronation"), "Signs": ("point", "peace")}
UNSEEN = ("point", "peace")
KW = {"duration_s": 5.0, "progress": False}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    metadata = write_corpus(out, 3, STAGES, seed=5, held_out_users=1, unseen_gestures=UNSEEN, **KW)
    return out, metadata


def test_one_file_per_user_stage_and_side(corpus):
    out, metadata = corpus
    assert len(metadata) == 3 * 3 * 2
    assert sorted(p.stem for p in out.glob("*.hdf5")) == sorted(metadata["filename"])
    assert sorted(p.stem for p in (out / LABELS_DIR).glob("*.npz")) == sorted(metadata["filename"])


def test_metadata_marks_held_out_users_and_unseen_stages(corpus):
    out, _ = corpus
    meta = read_metadata(out / METADATA_FILE)
    assert list(meta.columns[:10]) == [
        "filename", "user", "session", "stage", "side", "moving_hand",
        "held_out_user", "held_out_stage", "split", "generalization",
    ]  # fmt: skip
    assert {"gestures", "seen"} <= set(meta.columns)
    row = meta.set_index("filename").loc
    assert row["synth-user002-s0_Grip_left", "held_out_user"]
    assert row["synth-user002-s0_Grip_left", "generalization"] == "user"
    assert row["synth-user000-s0_Signs_right", "held_out_stage"]
    assert row["synth-user000-s0_Signs_right", "generalization"] == "stage"
    assert not row["synth-user000-s0_Signs_right", "seen"]
    assert row["synth-user000-s0_Signs_right", "gestures"] == "point;peace"
    assert row["synth-user002-s0_Signs_left", "generalization"] == "user_stage"
    train = select_sessions(meta, split="train")
    assert set(train["user"]) == {"user000", "user001"} and set(train["stage"]) == {"Grip", "Wrist"}
    assert train["seen"].astype(str).eq("True").all()
    assert set(select_sessions(meta, split="test")["generalization"]) == {"user", "stage", "user_stage"}


def test_files_are_readable_by_the_emg2pose_reader(corpus):
    out, metadata = corpus
    path = out / f"{metadata['filename'][0]}.hdf5"
    (recording,) = read(path)
    assert recording.data.shape == (16 + 20, 10_000)
    assert recording.info.ch_types.count("emg") == 16 and recording.info.ch_types.count("pose") == 20
    assert 1e-6 < np.abs(recording.data[:16]).max() < 5e-3  # volts after the reader's uV -> V
    with read_session(path) as s:
        assert s.attrs["user"] == "user000" and s.attrs["stage"] == "Grip" and s.attrs["side"] == "left"
        assert s.sample_rate == 2000.0
        labels = np.load(out / LABELS_DIR / f"{metadata['filename'][0]}.npz")
        np.testing.assert_array_equal(s.no_ik_failure, labels["pose_valid"])
        assert labels["labels"].shape == (10_000,) and labels["wrist"].shape == (10_000, 3)


def test_gestures_json_holds_references_and_timelines(corpus):
    out, metadata = corpus
    sidecar = json.loads((out / GESTURES_FILE).read_text())
    assert sidecar["vocabulary"] == list(GESTURE_NAMES)
    assert sidecar["unseen_gestures"] == sorted(UNSEEN)
    assert sidecar["seen_gestures"] == sorted({"fist", "open_hand", "wrist_flexion", "pronation"})
    assert len(sidecar["gestures"]["fist"]["target"]) == 23 and not sidecar["gestures"]["point"]["seen"]
    assert sidecar["held_out_users"] == ["user002"]
    entry = sidecar["files"][metadata["filename"][0]]
    assert entry["timeline"]["segments"][0]["gesture"] in STAGES["Grip"]
    assert set(entry["reference_poses"]) >= {"rest", "fist", "open_hand"}


def test_labels_match_the_timeline(corpus):
    out, metadata = corpus
    name = metadata["filename"][0]
    segment = json.loads((out / GESTURES_FILE).read_text())["files"][name]["timeline"]["segments"][0]
    labels = np.load(out / LABELS_DIR / f"{name}.npz")["labels"]
    middle = int((segment["hold_onset"] + segment["hold_offset"]) / 2 * 2000)
    assert GESTURE_NAMES[labels[middle]] == segment["gesture"]
    assert GESTURE_NAMES[labels[0]] == "rest"


def test_both_hands_of_a_stage_share_the_prompt_timeline(corpus):
    out, _ = corpus
    files = json.loads((out / GESTURES_FILE).read_text())["files"]
    left, right = files["synth-user001-s0_Wrist_left"], files["synth-user001-s0_Wrist_right"]
    assert left["timeline"] == right["timeline"]
    assert left["profile"]["band_rotation_rad"] != right["profile"]["band_rotation_rad"]


def test_unfiltered_file_holds_the_session_in_microvolts(tmp_path):
    write_corpus(tmp_path, 1, {"Grip": ("fist",)}, sides=("right",), seed=1, held_out_users=0, highpass_hz=None, **KW)
    profile = UserProfile.sample("user000", "right", 1)
    with read_session(tmp_path / "synth-user000-s0_Grip_right.hdf5") as s:
        # The corpus used the stage's timeline; the session's own arrays must match the file bit for bit.
        session = generate_session(
            profile,
            ("fist",),
            5.0,
            np.random.SeedSequence([1, 0, 0, 2]),
            timeline=_timeline(tmp_path, "synth-user000-s0_Grip_right"),
            start_time=float(s.time[0]),
        )
        np.testing.assert_array_equal(s.joint_angles, session.joint_angles)
        np.testing.assert_array_equal(s.emg, (session.emg.astype(np.float64) * 1e6).astype(np.float32))


def _timeline(out, name):
    return Timeline.from_dict(json.loads((out / GESTURES_FILE).read_text())["files"][name]["timeline"])


def test_same_seed_writes_identical_files(tmp_path):
    kwargs = {"stages": {"Grip": ("fist", "open_hand")}, "sides": ("left",), "seed": 3, "held_out_users": 0, **KW}
    write_corpus(tmp_path / "a", 1, **kwargs)
    write_corpus(tmp_path / "b", 1, **kwargs)
    name = "synth-user000-s0_Grip_left.hdf5"
    with h5py.File(tmp_path / "a" / name) as fa, h5py.File(tmp_path / "b" / name) as fb:
        assert fa["emg2pose/timeseries"][:].tobytes() == fb["emg2pose/timeseries"][:].tobytes()
    assert (tmp_path / "a" / METADATA_FILE).read_text() == (tmp_path / "b" / METADATA_FILE).read_text()


def test_stage_mixing_seen_and_unseen_gestures_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"stage 'Grip' mixes seen and unseen gestures"):
        write_corpus(tmp_path, 2, {"Grip": ("fist", "point")}, unseen_gestures=["point"], **KW)


def test_holding_out_every_user_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"held_out_users must leave at least one training user: .* got 2"):
        write_corpus(tmp_path, 2, 1, held_out_users=2, **KW)


def test_unknown_held_out_user_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"held_out_users: unknown user id\(s\) \['bob'\]"):
        write_corpus(tmp_path, 2, 1, held_out_users=["bob"], **KW)


def test_bad_side_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"sides must be distinct values among \['left', 'right'\], got \['up'\]"):
        write_corpus(tmp_path, 2, 1, sides=("up",), **KW)


def test_existing_files_are_not_overwritten_by_default(tmp_path):
    kwargs = {"stages": {"Grip": ("fist",)}, "sides": ("left",), "held_out_users": 0, **KW}
    write_corpus(tmp_path, 1, **kwargs)
    with pytest.raises(FileExistsError, match=r"synth-user000-s0_Grip_left.hdf5 already exists"):
        write_corpus(tmp_path, 1, **kwargs)


def test_difficulty_config_is_recorded(tmp_path):
    config = SynthConfig.at_difficulty(2.0)
    write_corpus(tmp_path, 1, {"Grip": ("fist",)}, sides=("left",), held_out_users=0, config=config, **KW)
    assert json.loads((tmp_path / GESTURES_FILE).read_text())["config"]["noise_scale"] == 2.0


def test_val_users_go_to_the_val_split(tmp_path):
    meta = write_corpus(
        tmp_path, 3, {"Grip": ("fist",)}, sides=("left",), held_out_users=1, val_users=["user001"], **KW
    )
    assert dict(zip(meta["user"], meta["split"])) == {"user000": "train", "user001": "val", "user002": "test"}


def test_val_and_held_out_users_must_not_overlap(tmp_path):
    with pytest.raises(ValueError, match=r"val_users and held_out_users overlap: \['user001'\]"):
        write_corpus(tmp_path, 2, 1, held_out_users=1, val_users=["user001"], **KW)
