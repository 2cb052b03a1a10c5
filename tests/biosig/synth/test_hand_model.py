"""The pieces of the synthetic hand model: config, muscles, kinematics, gestures, user profiles, timelines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from biosig.signals.pose import HAND_JOINTS
from biosig.synth.hand import GESTURE_NAMES, GESTURES, JOINT_LIMITS, MUSCLES, REST_POSE, SynthConfig, UserProfile
from biosig.synth.hand.emg import SPECTRUM_FH_HZ, SPECTRUM_FL_HZ, _acquisition_sos, spectral_sos
from biosig.synth.hand.gestures import (
    DEFAULT_STAGES,
    Gesture,
    check_gesture_names,
    reference_poses,
    solve_activation,
    stages_of,
)
from biosig.synth.hand.kinematics import LOWER, UPPER, equilibrium_pose, minimum_jerk, pose_dynamics
from biosig.synth.hand.muscles import Muscle, co_contraction_pattern, gain_matrix
from biosig.synth.hand.noise import ik_failure_mask
from biosig.synth.hand.timeline import (
    PHASE_HOLD,
    PHASE_ONSET,
    PHASE_RELEASE,
    PHASE_REST,
    Timeline,
    sample_timeline,
)

FS = 2000.0

# -- config ---------------------------------------------------------------------------------------------------


def test_difficulty_zero_switches_noise_and_variability_off():
    cfg = SynthConfig.at_difficulty(0)
    assert (cfg.noise_scale, cfg.user_variability, cfg.motor_variability) == (0.0, 0.0, 0.0)
    assert (cfg.motion_artifact_prob, cfg.ik_failure_rate, cfg.co_contraction) == (0.0, 0.0, 0.0)


def test_difficulty_scales_every_knob():
    cfg = SynthConfig.at_difficulty(2.0)
    assert (cfg.noise_scale, cfg.user_variability, cfg.motor_variability) == (2.0, 2.0, 2.0)
    assert cfg.ik_failure_rate == pytest.approx(0.04)
    assert cfg.motion_artifact_prob == pytest.approx(0.6)


def test_difficulty_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"SynthConfig.difficulty must be a number in \[0.0, 5.0\], got 6"):
        SynthConfig.at_difficulty(6)


def test_negative_noise_is_rejected():
    with pytest.raises(ValueError, match=r"SynthConfig.noise_scale must be a number in >= 0.0, got -1"):
        SynthConfig(noise_scale=-1)


def test_reversed_interval_is_rejected():
    with pytest.raises(ValueError, match=r"SynthConfig.hold_s must be a \(min, max\) pair .* got \(2.0, 1.0\)"):
        SynthConfig(hold_s=(2.0, 1.0))


def test_config_round_trips_through_its_dict():
    cfg = dataclasses.replace(SynthConfig.at_difficulty(1.5), powerline_hz=50.0)
    assert SynthConfig(**cfg.to_dict()) == cfg


# -- muscles and kinematics -----------------------------------------------------------------------------------


def test_gain_matrix_has_a_column_per_muscle_in_hand_joint_order():
    gains = gain_matrix()
    assert gains.shape == (23, len(MUSCLES))
    fcr = [m.name for m in MUSCLES].index("FCR")
    assert gains[HAND_JOINTS.index("WRIST_FE"), fcr] > 0  # a flexor flexes
    assert gains[HAND_JOINTS.index("INDEX_MCP_FE"), fcr] == 0


def test_muscle_with_unknown_joint_is_rejected():
    with pytest.raises(ValueError, match=r"muscle 'X' acts on unknown joints \['ELBOW_FE'\]"):
        Muscle("X", "X", 0, 0.1, 0, 10, 1e-4, {"ELBOW_FE": 1.0})


def test_co_contraction_barely_moves_the_hand():
    gains = gain_matrix()
    pattern = co_contraction_pattern(gains)
    assert pattern.sum() == pytest.approx(1.0) and np.all(pattern >= 0)
    # The same total activation spent on one muscle moves the hand far more than the balanced pattern does.
    typical = np.median(np.linalg.norm(gains, axis=0))
    assert np.linalg.norm(gains @ pattern) < 0.35 * typical


def test_equilibrium_pose_is_clipped_to_joint_limits():
    gains = gain_matrix()
    pose = equilibrium_pose(np.ones((3, len(MUSCLES))) * [[0.0], [0.5], [1.0]], gains)
    assert np.all(pose >= LOWER) and np.all(pose <= UPPER)
    np.testing.assert_allclose(pose[0], np.clip(REST_POSE, LOWER, UPPER))


def test_joint_limits_cover_every_hand_joint():
    assert set(JOINT_LIMITS) == set(HAND_JOINTS)
    assert np.all(LOWER < REST_POSE) and np.all(REST_POSE < UPPER)


def test_pose_dynamics_lags_and_never_overshoots():
    step = np.zeros((2000, 1))
    step[500:] = 1.0
    out = pose_dynamics(step, FS)[:, 0]
    assert out[:540].max() == 0.0  # 20 ms electromechanical delay: nothing moves before 520
    half = int(np.argmax(out >= 0.5))
    assert 0.08 < (half - 500) / FS < 0.2  # ~95 ms to half way
    assert out.max() <= 1.0 and out.min() >= 0.0


def test_spectral_filter_is_the_shwedyk_shape_with_unit_power():
    from scipy import signal

    sos = spectral_sos(1.0, FS)
    white = np.random.default_rng(0).standard_normal(400_000)
    assert signal.sosfilt(sos, white).std() == pytest.approx(1.0, rel=0.01)
    # Same response as scipy's own bilinear transform of wh^2 s / ((s + wl)(s + wh)^2) in the 20-450 Hz band.
    wl, wh = 2 * np.pi * SPECTRUM_FL_HZ, 2 * np.pi * SPECTRUM_FH_HZ
    reference = np.vstack(
        [signal.zpk2sos(*signal.bilinear_zpk([0.0], [-wl, -wh, -wh], wh**2, FS)), _acquisition_sos(FS)]
    )
    f, h = signal.sosfreqz(sos, worN=2048, fs=FS)
    _, h_ref = signal.sosfreqz(reference, worN=2048, fs=FS)
    np.testing.assert_allclose(np.abs(h) / np.abs(h).max(), np.abs(h_ref) / np.abs(h_ref).max(), atol=1e-9)
    assert 80 < f[np.argmax(np.abs(h))] < 110


def test_minimum_jerk_starts_and_ends_at_rest():
    s = minimum_jerk(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]))
    np.testing.assert_allclose(s, [0.0, 0.0, 0.5, 1.0, 1.0])
    eps = 1e-4
    assert minimum_jerk(np.array([eps]))[0] < 1e-10  # zero velocity at the start


# -- gestures -------------------------------------------------------------------------------------------------


def test_library_has_the_required_gestures():
    required = {
        "rest", "fist", "open_hand", "pinch_index", "pinch_middle", "point", "thumbs_up", "peace", "ok",
        "wrist_flexion", "wrist_extension", "radial_deviation", "ulnar_deviation", "pronation", "supination",
    }  # fmt: skip
    assert required <= set(GESTURE_NAMES)
    assert GESTURE_NAMES[0] == "rest"
    for gesture in GESTURES.values():
        assert np.all(gesture.target >= LOWER) and np.all(gesture.target <= UPPER), gesture.name


def test_every_gesture_is_reachable_by_the_muscles():
    gains, tone = gain_matrix(), np.full(len(MUSCLES), 0.02)
    reached = reference_poses(GESTURE_NAMES, gains, tone)
    for name in GESTURE_NAMES:
        error = reached[name] - GESTURES[name].target
        assert np.sqrt(np.mean(error**2)) < 0.1, name
        assert np.abs(error).max() < 0.2, name


def test_gestures_have_distinct_activation_patterns():
    gains, tone = gain_matrix(), np.full(len(MUSCLES), 0.02)
    patterns = np.array([solve_activation(GESTURES[n].target, gains, tone) for n in GESTURE_NAMES])
    assert np.all((patterns >= 0.02 - 1e-12) & (patterns <= 1.0))
    distance = np.linalg.norm(patterns[:, None] - patterns[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 0.2


def test_gesture_outside_limits_is_rejected():
    target = REST_POSE.copy()
    target[HAND_JOINTS.index("WRIST_PS")] = 3.0
    with pytest.raises(ValueError, match=r"gesture 'spin': target outside the joint limits at \['WRIST_PS'\]"):
        Gesture("spin", "too far", target)


def test_unknown_gesture_name_is_rejected():
    with pytest.raises(ValueError, match=r"gestures: unknown gesture\(s\) \['wave'\]"):
        check_gesture_names(["fist", "wave"])


def test_stages_argument_forms():
    assert stages_of(None) == DEFAULT_STAGES
    assert list(stages_of(2)) == list(DEFAULT_STAGES)[:2]
    assert stages_of({"A": ["fist"]}) == {"A": ("fist",)}


def test_too_many_default_stages_are_rejected():
    with pytest.raises(ValueError, match=r"stages must be between 1 and 6 default stages, got 9"):
        stages_of(9)


# -- user profiles --------------------------------------------------------------------------------------------


def test_profile_sampling_is_deterministic_and_user_specific():
    a1, a2 = UserProfile.sample("a", "right", 3), UserProfile.sample("a", "right", 3)
    b = UserProfile.sample("b", "right", 3)
    np.testing.assert_array_equal(a1.gains, a2.gains)
    assert a1.band_rotation == a2.band_rotation
    assert not np.array_equal(a1.muscle_size, b.muscle_size)


def test_both_arms_share_anatomy_but_not_band_placement():
    left, right = UserProfile.sample("a", "left", 3), UserProfile.sample("a", "right", 3)
    np.testing.assert_array_equal(left.muscle_angle, right.muscle_angle)
    np.testing.assert_array_equal(left.gains, right.gains)
    assert left.band_rotation != right.band_rotation


def test_zero_variability_gives_the_nominal_arm():
    nominal, sampled = UserProfile.nominal(), UserProfile.sample("z", "right", 9, variability=0.0)
    for name in ("channel_gain", "impedance", "muscle_angle", "muscle_size", "spectral_scale", "gains", "tone"):
        np.testing.assert_allclose(getattr(sampled, name), getattr(nominal, name), err_msg=name)
    assert sampled.band_rotation == 0.0 and sampled.fat == 1.0


def test_profile_rejects_a_bad_side():
    with pytest.raises(ValueError, match=r"side must be one of \['left', 'right'\], got 'middle'"):
        UserProfile.sample("a", "middle", 0)


def test_profile_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"UserProfile.channel_gain must have shape \(16,\), got \(8,\)"):
        UserProfile(user="a", side="left", channel_gain=np.ones(8))


# -- timelines and IK failures --------------------------------------------------------------------------------


def test_timeline_alternates_rest_and_gestures_within_the_session():
    cfg = SynthConfig()
    timeline = sample_timeline(["fist", "open_hand", "point"], 30.0, np.random.default_rng(0), cfg)
    segments = timeline.segments
    assert {s.gesture for s in segments} == {"fist", "open_hand", "point"}
    ends = 0.0
    for seg in segments:
        assert ends < seg.onset <= seg.hold_onset <= seg.hold_offset <= seg.offset < 30.0
        assert cfg.hold_s[0] <= seg.hold_offset - seg.hold_onset <= cfg.hold_s[1]
        assert cfg.transition_s[0] <= seg.hold_onset - seg.onset <= cfg.transition_s[1]
        ends = seg.offset
    n = int(30 * FS)
    labels, phases = timeline.labels(n, FS), timeline.phases(n, FS)
    assert np.all((labels == GESTURE_NAMES.index("rest")) == (phases == PHASE_REST))
    first = segments[0]
    assert phases[int(first.onset * FS)] == PHASE_ONSET
    assert phases[int((first.hold_onset + first.hold_offset) / 2 * FS)] == PHASE_HOLD
    assert phases[int(first.offset * FS) - 1] == PHASE_RELEASE
    assert labels[int(first.hold_onset * FS)] == GESTURE_NAMES.index(first.gesture)


def test_timeline_rejects_a_non_positive_duration():
    with pytest.raises(ValueError, match=r"duration_s must be a positive number of seconds, got 0"):
        sample_timeline(["fist"], 0, np.random.default_rng(0), SynthConfig())


@pytest.mark.parametrize("rate", [0.0, 0.013, 0.2])
def test_ik_failure_mask_hits_the_rate_exactly(rate):
    mask = ik_failure_mask(50_000, rate, FS, np.random.default_rng(1))
    assert mask.sum() == round(rate * 50_000)


def test_ik_failures_come_in_stretches():
    mask = ik_failure_mask(200_000, 0.05, FS, np.random.default_rng(2))
    n_runs = int(np.sum(np.diff(mask.astype(int)) == 1) + mask[0])
    assert 10 <= n_runs <= 30  # ~0.2 s stretches: 10000 samples / 400 = 25


def test_ik_failure_rate_must_be_below_one():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\), got 1.0"):
        ik_failure_mask(100, 1.0, FS, np.random.default_rng(0))


def test_timeline_round_trips_through_its_dict():
    timeline = sample_timeline(["fist", "point"], 10.0, np.random.default_rng(4), SynthConfig())
    assert Timeline.from_dict(timeline.to_dict()) == timeline


def test_timeline_from_a_bad_dict_is_rejected():
    with pytest.raises(ValueError, match=r"not a timeline dict \(keys duration_s, segments"):
        Timeline.from_dict({"segments": []})
