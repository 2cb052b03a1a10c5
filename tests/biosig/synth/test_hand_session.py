"""Synthetic sessions: determinism, units, limits, the shared latent, spectra, noise, users and separability."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import signal

from biosig.synth.hand import GESTURE_NAMES, MUSCLE_NAMES, SynthConfig, UserProfile, generate_session
from biosig.synth.hand.emg import muscle_emg
from biosig.synth.hand.kinematics import LOWER, UPPER
from biosig.synth.hand.timeline import PHASE_HOLD

FS = 2000.0
CLEAN = SynthConfig.at_difficulty(0)
FEW = ("fist", "open_hand", "pinch_index", "wrist_flexion", "pronation")


@pytest.fixture(scope="module")
def session():
    return generate_session(UserProfile.sample("u1", "right", 0), FEW, 12.0, 7)


def rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2, axis=0))


def test_same_seed_gives_bitwise_identical_sessions(session):
    again = generate_session(UserProfile.sample("u1", "right", 0), FEW, 12.0, 7)
    for name in ("time", "emg", "joint_angles", "wrist", "labels", "phases", "pose_valid", "activations"):
        a, b = getattr(session, name), getattr(again, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name


def test_another_seed_gives_another_session(session):
    other = generate_session(UserProfile.sample("u1", "right", 0), FEW, 12.0, 8)
    assert not np.array_equal(other.emg, session.emg)


def test_shapes_dtypes_and_time_axis(session):
    n = 24_000
    assert session.time.shape == (n,) and session.time.dtype == np.float64
    assert session.emg.shape == (n, 16) and session.emg.dtype == np.float32
    assert session.joint_angles.shape == (n, 20) and session.joint_angles.dtype == np.float64
    assert session.wrist.shape == (n, 3) and session.labels.shape == (n,) and session.labels.dtype == np.int64
    assert session.activations.shape == (n, len(MUSCLE_NAMES))
    # float64 unix seconds near 1.7e9 resolve ~0.24 us, as in emg2pose files.
    np.testing.assert_allclose(np.diff(session.time), 1 / FS, atol=3e-7)
    assert 1.6e9 < session.time[0] < 1.8e9  # unix seconds


def test_emg_is_in_volts_at_surface_emg_amplitudes(session):
    hold = session.phases == PHASE_HOLD
    channel_rms = rms(session.emg[hold])
    assert 20e-6 < channel_rms.max() < 1e-3  # strongest channel during gestures: tens of uV to ~1 mV
    assert np.abs(session.emg).max() < 5e-3


def test_pose_stays_inside_joint_limits(session):
    pose = session.pose[session.pose_valid]
    assert np.all(pose >= LOWER - 1e-12) and np.all(pose <= UPPER + 1e-12)


def test_every_gesture_is_held_near_its_reference_pose():
    s = generate_session(UserProfile.sample("u2", "right", 0, variability=0), GESTURE_NAMES[1:], 60.0, 3, config=CLEAN)
    seen = set()
    for seg in s.timeline.segments:
        # The last quarter of the hold, when the ~0.1 s lag of the dynamics has settled.
        a = int((seg.hold_offset - 0.25 * (seg.hold_offset - seg.hold_onset)) * FS)
        held = s.pose[a : int(seg.hold_offset * FS)]
        np.testing.assert_allclose(held, np.broadcast_to(s.gesture_poses[seg.gesture], held.shape), atol=0.02)
        seen.add(seg.gesture)
    assert len(seen) >= 12


def test_pose_lags_the_emg():
    s = generate_session(UserProfile.nominal(), ["wrist_flexion"], 12.0, 1, config=CLEAN)
    sos = signal.butter(2, 5.0, fs=FS, output="sos")
    envelope = signal.sosfiltfilt(sos, np.abs(s.emg.astype(np.float64)).sum(axis=1))
    speed = np.abs(np.gradient(s.wrist[:, 0]))
    onset_emg = np.argmax(envelope > envelope.min() + 0.5 * np.ptp(envelope))
    onset_pose = np.argmax(s.wrist[:, 0] > 0.5 * s.wrist[:, 0].max())
    assert speed.max() > 0
    assert 0.02 < (onset_pose - onset_emg) / FS < 0.3


def test_emg_rms_rises_with_activation():
    profile = UserProfile.nominal()
    k = MUSCLE_NAMES.index("FDS_M")
    levels = [0.05, 0.2, 0.4, 0.7, 1.0]
    channel = []
    for level in levels:
        activations = np.zeros((4000, len(MUSCLE_NAMES)))
        activations[:, k] = level
        channel.append(rms(muscle_emg(activations, profile, FS, np.random.default_rng(0))).max())
    assert np.all(np.diff(channel) > 0)
    assert channel[-1] / channel[0] > 10


def peak_frequency(emg: np.ndarray, fmin: float = 0.0) -> float:
    f, p = signal.welch(emg.astype(np.float64), fs=FS, nperseg=1024, axis=0)
    keep = f >= fmin
    return float(f[keep][np.argmax(p.mean(axis=1)[keep])])


def test_emg_spectrum_peaks_between_50_and_200_hz():
    clean = generate_session(UserProfile.nominal(), ["fist"], 6.0, 1, config=CLEAN)
    assert 50 <= peak_frequency(clean.emg) <= 200
    noisy = generate_session(
        UserProfile.sample("u3", "right", 0), ["fist"], 6.0, 1, config=SynthConfig(powerline_hz=None)
    )
    assert 50 <= peak_frequency(noisy.emg, fmin=20) <= 200


def mains_ratio(emg: np.ndarray, hz: float) -> float:
    f, p = signal.welch(emg.astype(np.float64), fs=FS, nperseg=2000, axis=0)
    p = p.mean(axis=1)
    near = (np.abs(f - hz) > 3) & (np.abs(f - hz) < 15)
    return float(p[np.argmin(np.abs(f - hz))] / np.median(p[near]))


def test_powerline_peak_present_only_when_enabled():
    profile = UserProfile.sample("u4", "right", 0)
    on = generate_session(profile, ["rest"], 5.0, 2, config=SynthConfig(powerline_hz=50.0))
    off = generate_session(profile, ["rest"], 5.0, 2, config=SynthConfig(powerline_hz=None))
    assert mains_ratio(on.emg, 50.0) > 10
    assert mains_ratio(off.emg, 50.0) < 3
    assert mains_ratio(on.emg, 150.0) > 3  # third harmonic


def test_noise_sources_are_independent_streams():
    profile = UserProfile.sample("u4", "right", 0)
    on = generate_session(profile, ["fist"], 5.0, 2, config=SynthConfig(powerline_hz=60.0))
    off = generate_session(profile, ["fist"], 5.0, 2, config=SynthConfig(powerline_hz=None))
    mains = on.emg.astype(np.float64) - off.emg
    f, p = signal.welch(mains, fs=FS, nperseg=2000, axis=0)
    in_harmonics = sum(p[np.abs(f - h) <= 2].sum() for h in (60, 180, 300))
    assert in_harmonics / p.sum() > 0.99  # switching mains off changed nothing else


def test_band_rotation_rolls_the_channel_rms_profile():
    profile = UserProfile.nominal()
    rotated = profile.with_band(rotation=3 * 2 * np.pi / 16)
    a = generate_session(profile, ["fist", "pronation"], 6.0, 1, config=CLEAN)
    b = generate_session(rotated, ["fist", "pronation"], 6.0, 1, config=CLEAN)
    ra, rb = rms(a.emg), rms(b.emg)
    # Channel c of the rotated band sits where channel c + 3 was.
    np.testing.assert_allclose(rb, np.roll(ra, -3), rtol=1e-4)
    assert not np.allclose(ra, rb, rtol=0.05)


def test_left_band_mirrors_the_channel_order():
    right = generate_session(UserProfile.nominal(side="right"), ["fist", "pronation"], 6.0, 1, config=CLEAN)
    left = generate_session(UserProfile.nominal(side="left"), ["fist", "pronation"], 6.0, 1, config=CLEAN)
    np.testing.assert_allclose(rms(left.emg)[(-np.arange(16)) % 16], rms(right.emg), rtol=1e-4)
    np.testing.assert_array_equal(left.joint_angles, right.joint_angles)


@pytest.mark.parametrize("rate", [0.0, 0.05])
def test_ik_failure_rows_are_all_zero_at_the_configured_rate(rate):
    s = generate_session(UserProfile.nominal(), FEW, 10.0, 4, config=SynthConfig(ik_failure_rate=rate))
    zero_rows = np.all(s.joint_angles == 0.0, axis=1)
    np.testing.assert_array_equal(zero_rows, ~s.pose_valid)
    assert zero_rows.sum() == round(rate * 20_000)
    assert np.all(s.wrist[zero_rows] == 0.0)


def hold_features(s, window: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """log-RMS of each channel over 100 ms windows that lie wholly inside a hold; and their labels."""
    n = len(s.labels) // window
    emg = s.emg[: n * window].astype(np.float64).reshape(n, window, 16)
    labels = s.labels[: n * window].reshape(n, window)
    hold = (s.phases[: n * window] == PHASE_HOLD).reshape(n, window).all(axis=1)
    return np.log(np.sqrt(np.mean(emg**2, axis=1)))[hold], labels[hold, 0]


def nearest_centroid_accuracy(train, test) -> float:
    (x, y), (xt, yt) = train, test
    classes = np.unique(y)
    centroids = np.stack([x[y == c].mean(axis=0) for c in classes])
    predicted = classes[np.argmin(((xt[:, None] - centroids[None]) ** 2).sum(axis=-1), axis=1)]
    return float(np.mean(predicted == yt))


SEPARABILITY_GESTURES = ("fist", "open_hand", "pinch_index", "point", "wrist_flexion", "wrist_extension",
                         "pronation", "supination")  # fmt: skip


def separability(difficulty: float) -> tuple[float, float]:
    """Nearest-centroid accuracy: (same user, new session) and (trained on one user, tested on another)."""
    cfg = dataclasses.replace(SynthConfig.at_difficulty(difficulty), hold_s=(0.8, 1.2), rest_s=(0.4, 0.6))
    a = UserProfile.sample("a", "right", 0, difficulty)
    b = UserProfile.sample("b", "right", 0, difficulty)
    train = hold_features(generate_session(a, SEPARABILITY_GESTURES, 20.0, 1, config=cfg))
    same = hold_features(generate_session(a, SEPARABILITY_GESTURES, 20.0, 2, config=cfg))
    other = hold_features(generate_session(b, SEPARABILITY_GESTURES, 20.0, 3, config=cfg))
    return nearest_centroid_accuracy(train, same), nearest_centroid_accuracy(train, other)


def test_gestures_are_separable_and_less_so_as_difficulty_rises():
    chance = 1 / len(SEPARABILITY_GESTURES)
    easy_same, easy_other = separability(0.5)
    hard_same, hard_other = separability(4.0)
    assert easy_same > 0.9 > 5 * chance
    assert hard_same < easy_same - 0.2
    assert hard_other < easy_other - 0.2


def test_to_recording_stacks_emg_and_pose(session):
    recording = session.to_recording()
    assert recording.data.shape == (16 + 23, session.n_times)
    assert recording.info.ch_types[:16] == ("emg",) * 16 and recording.info.ch_types[16:] == ("pose",) * 23
    assert recording.info.units[0] == "V" and recording.info.units[-1] == "rad"
    np.testing.assert_array_equal(recording.valid, session.pose_valid)
    assert recording.label_names[0] == "rest"
    np.testing.assert_allclose(recording.data[:16], session.emg.T)


def test_session_rejects_a_bad_duration():
    with pytest.raises(ValueError, match=r"duration_s must be a positive finite number of seconds, got -1"):
        generate_session(UserProfile.nominal(), ["fist"], -1, 0)


def test_session_rejects_a_negative_seed():
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer or a numpy SeedSequence, got -3"):
        generate_session(UserProfile.nominal(), ["fist"], 1.0, -3)


def test_session_rejects_an_unknown_gesture():
    with pytest.raises(ValueError, match=r"gestures: unknown gesture\(s\) \['wave'\]"):
        generate_session(UserProfile.nominal(), ["wave"], 1.0, 0)


def test_session_rejects_a_config_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"config must be a SynthConfig, got dict"):
        generate_session(UserProfile.nominal(), ["fist"], 1.0, 0, config={"noise_scale": 0})  # type: ignore[arg-type]
