"""Pose references and vocabularies: validation with precise messages, rendering into encoder windows."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.signals.pose import HAND_JOINTS
from biosig.synth.hand.gestures import GESTURES
from biosig.synth.hand.kinematics import LOWER, REST_POSE, UPPER
from biosig.zeroshot import MYO_GESTURES, GestureVocabulary, PoseReference, PoseSpec, VocabularyError

SPEC = PoseSpec(n_dof=23, n_frames=10, frame_rate=50.0)


def test_builtin_vocabulary_holds_the_gesture_library():
    vocab = GestureVocabulary.builtin()
    assert vocab.names == list(GESTURES)
    fist = vocab.get("fist")
    assert fist.origin == "builtin" and fist.is_static and fist.n_dof == 23
    np.testing.assert_array_equal(fist.pose, GESTURES["fist"].target)


def test_myo_vocabulary_is_in_label_order():
    assert GestureVocabulary.myo().names == [MYO_GESTURES[k] for k in range(8)]
    assert MYO_GESTURES[1] == "wrist_flexion" and MYO_GESTURES[7] == "fist"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "Fist!"}, "gesture name must be snake_case"),
        (
            {"pose": np.zeros(21)},
            r"pose must have shape \(n_dof,\) or \(n_dof, n_frames\) with n_dof 20 or 23.*got shape \(21,\)",
        ),
        ({"pose": np.full(23, np.nan)}, "NaN or infinite"),
        ({"pose": np.full(23, 45.0)}, "angles outside the anatomical range .* these look like degrees"),
        ({"pose": np.zeros((23, 5))}, "a trajectory of 5 frames needs frame_rate in Hz, got None"),
        ({"pose": np.zeros(23), "frame_rate": 50.0}, "a static pose takes no frame_rate"),
        ({"origin": "system"}, "origin must be 'builtin' or 'user'"),
    ],
)
def test_reference_validation(kwargs, match):
    base = {"name": "my_grip", "pose": REST_POSE}
    with pytest.raises(VocabularyError, match=match):
        PoseReference(**{**base, **kwargs})


def test_out_of_range_message_names_the_joint_and_its_range():
    pose = REST_POSE.copy()
    pose[HAND_JOINTS.index("WRIST_RU")] = 1.2
    with pytest.raises(VocabularyError, match=r"\['WRIST_RU'\].*must lie in \[-0.60, 0.35\] rad"):
        PoseReference("bent", pose)


def test_static_pose_is_held_for_the_whole_window():
    w = PoseReference("fist", GESTURES["fist"].target).windows(SPEC)
    assert w.shape == (1, 23, 10) and w.dtype == np.float32
    np.testing.assert_allclose(w[0], np.repeat(GESTURES["fist"].target[:, None], 10, axis=1), rtol=1e-6)


def test_finger_only_pose_gets_a_neutral_wrist():
    w = PoseReference("fingers", REST_POSE[:20]).windows(SPEC)
    np.testing.assert_array_equal(w[0, 20:], 0.0)
    np.testing.assert_allclose(w[0, :20, 0], REST_POSE[:20], rtol=1e-6)


def test_wrist_gesture_refused_by_a_finger_only_encoder():
    spec20 = PoseSpec(n_dof=20, n_frames=10, frame_rate=50.0)
    with pytest.raises(VocabularyError, match=r"moves the wrist \(\['WRIST_FE'\]\) but the pose encoder sees only"):
        PoseReference("flex", GESTURES["wrist_flexion"].target).windows(spec20)
    assert PoseReference("fist", GESTURES["fist"].target).windows(spec20).shape == (1, 20, 10)


def test_trajectory_is_resampled_and_cut_into_half_overlapping_windows():
    # 2 s at 25 Hz: wrist flexion ramps linearly 0 -> 1 rad (51 frames); at 50 Hz that is 101 frames.
    traj = np.repeat(REST_POSE[:, None], 51, axis=1)
    traj[20] = np.linspace(0.0, 1.0, 51)
    w = PoseReference("ramp", traj, frame_rate=25.0).windows(SPEC)
    assert w.shape == ((101 - 10) // 5 + 1, 23, 10)
    np.testing.assert_allclose(w[0, 20], np.arange(10) / 100.0, atol=1e-6)  # 0.01 rad per 50 Hz frame
    np.testing.assert_allclose(w[1, 20, 0], 0.05, atol=1e-6)  # next window starts half a window later


def test_short_trajectory_is_held_at_its_last_frame():
    traj = np.repeat(REST_POSE[:, None], 3, axis=1)
    traj[20] = [0.0, 0.1, 0.2]
    w = PoseReference("flick", traj, frame_rate=50.0).windows(SPEC)
    np.testing.assert_allclose(w[0, 20], [0.0, 0.1, 0.2] + [0.2] * 7, atol=1e-6)


def test_variants_keep_the_first_exact_and_stay_inside_the_limits():
    ref = PoseReference("fist", GESTURES["fist"].target)
    w = ref.windows(SPEC, n_variants=8, jitter_rad=0.3, rng=np.random.default_rng(1))
    assert w.shape == (8, 23, 10)
    np.testing.assert_allclose(w[0, :, 0], GESTURES["fist"].target, rtol=1e-6)
    assert np.all(w >= LOWER[:, None].astype(np.float32) - 1e-6) and np.all(
        w <= UPPER[:, None].astype(np.float32) + 1e-6
    )
    assert np.abs(w[1:] - w[:1]).max() > 0.05  # jittered
    np.testing.assert_array_equal(w[3, :, 0], w[3, :, 9])  # a variant is still a held pose


def test_vocabulary_add_remove_and_version():
    vocab = GestureVocabulary.builtin(["rest", "fist"])
    v0 = vocab.version
    vocab.add(PoseReference("claw", REST_POSE + 0.3 * (np.arange(23) < 20)))
    assert vocab.names == ["rest", "fist", "claw"] and vocab.version == v0 + 1
    with pytest.raises(VocabularyError, match="'claw' is already in the vocabulary; pass replace=True"):
        vocab.add(PoseReference("claw", REST_POSE))
    vocab.add(PoseReference("claw", REST_POSE), replace=True)
    assert vocab.remove("claw").name == "claw" and "claw" not in vocab
    with pytest.raises(VocabularyError, match=r"unknown gesture 'claw'; the vocabulary has \['rest', 'fist'\]"):
        vocab.remove("claw")


def test_vocabulary_round_trips_through_a_dict():
    vocab = GestureVocabulary.builtin(["rest", "ok"])
    traj = np.repeat(REST_POSE[:, None], 4, axis=1)
    vocab.add(PoseReference("wave", traj, frame_rate=20.0, description="a small wave"))
    back = GestureVocabulary.from_dict(vocab.to_dict())
    assert back.names == vocab.names
    for a, b in zip(vocab, back):
        np.testing.assert_array_equal(a.pose, b.pose)
        assert (a.frame_rate, a.description, a.origin) == (b.frame_rate, b.description, b.origin)
    with pytest.raises(VocabularyError, match=r"unknown field\(s\) \['angles'\]"):
        PoseReference.from_dict({"name": "x", "pose": list(REST_POSE), "angles": []})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_dof": 21}, "n_dof must be 20 .* or 23"),
        ({"n_frames": 0}, "n_frames must be a positive int"),
        ({"frame_rate": -1}, "frame_rate must be a positive number of Hz"),
    ],
)
def test_pose_spec_validation(kwargs, match):
    with pytest.raises(VocabularyError, match=match):
        PoseSpec(**{"n_dof": 23, "n_frames": 10, "frame_rate": 50.0, **kwargs})
