"""One synthetic recording session: a user's arm performing prompted gestures, with EMG and pose.

The single latent is the muscles' activation. Gesture prompts become activation trajectories; the pose
follows the activations through the muscle model and its dynamics; the EMG follows the same activations
through recruitment and volume conduction, and then the band's noise is added. Everything random is drawn
from a :class:`numpy.random.SeedSequence` of ``seed``, one independent child stream per component, so the
same seed gives bitwise identical output and switching one noise source off leaves the others unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from biosig.signals.info import SignalInfo
from biosig.signals.pose import HAND_JOINTS, N_FINGER_JOINTS
from biosig.signals.recording import Recording
from biosig.synth.hand import noise
from biosig.synth.hand.config import N_CHANNELS, SAMPLE_RATE, SynthConfig
from biosig.synth.hand.emg import muscle_emg
from biosig.synth.hand.gestures import GESTURE_NAMES, check_gesture_names
from biosig.synth.hand.kinematics import LOWER, UPPER, equilibrium_pose, pose_dynamics
from biosig.synth.hand.muscles import co_contraction_pattern
from biosig.synth.hand.profile import UserProfile
from biosig.synth.hand.timeline import Timeline, activation_trajectory, sample_timeline

logger = logging.getLogger(__name__)

#: Default wall-clock time of a session's first sample (2023-11-14T22:13:20Z), unix seconds.
DEFAULT_START_TIME = 1_700_000_000.0

_STREAMS = ("timeline", "motor", "emg", "thermal", "powerline", "drift", "artifacts", "ik")


@dataclass(frozen=True, eq=False)
class Session:
    """Arrays of one synthetic session, all with ``n_times`` rows at ``sample_rate``.

    Parameters
    ----------
    time
        ``(n_times,)`` float64 unix seconds.
    emg
        ``(n_times, 16)`` float32 volts, channel order of the band (left bands mirrored, see :mod:`.emg`).
    joint_angles
        ``(n_times, 20)`` float64 radians in :data:`~biosig.signals.pose.FINGER_JOINTS` order; rows of zeros
        where the inverse kinematics "failed" (``pose_valid`` False).
    wrist
        ``(n_times, 3)`` float64 radians in :data:`~biosig.signals.pose.WRIST_JOINTS` order; zero where
        ``pose_valid`` is False.
    labels
        ``(n_times,)`` int64 index into ``label_names`` of the gesture under way (onset to release), else rest.
    phases
        ``(n_times,)`` int8 phase code (:data:`~.timeline.PHASE_NAMES`: rest, onset, hold, release).
    pose_valid
        ``(n_times,)`` bool, False on inverse-kinematics failures.
    activations
        ``(n_times, n_muscles)`` float32 muscle activations in [0, 1] (the latent; for analysis only).
    timeline
        The gesture segments.
    gesture_poses
        ``{gesture: (23,) radians}``: the pose this user's activation pattern of each gesture holds.
    """

    time: np.ndarray
    emg: np.ndarray
    joint_angles: np.ndarray
    wrist: np.ndarray
    labels: np.ndarray
    phases: np.ndarray
    pose_valid: np.ndarray
    activations: np.ndarray
    timeline: Timeline
    profile: UserProfile
    config: SynthConfig
    sample_rate: float = SAMPLE_RATE
    gesture_poses: dict[str, np.ndarray] = field(default_factory=dict)
    label_names: tuple[str, ...] = GESTURE_NAMES

    @property
    def n_times(self) -> int:
        return int(self.time.shape[0])

    @property
    def pose(self) -> np.ndarray:
        """``(n_times, 23)`` finger joint angles followed by the wrist DOFs, radians."""
        return np.concatenate([self.joint_angles, self.wrist], axis=1)

    def to_recording(self, include_pose: bool = True) -> Recording:
        """The session as a :class:`~biosig.signals.Recording`: 16 EMG channels (V), then 23 pose channels (rad).

        ``valid`` is ``pose_valid`` when the pose is included (an IK failure leaves EMG intact but no target).
        """
        emg_info = SignalInfo.uniform(N_CHANNELS, self.sample_rate, "emg", prefix="emg")
        data = self.emg.T
        ch_names, ch_types = list(emg_info.ch_names), list(emg_info.ch_types)
        if include_pose:
            data = np.concatenate([data, self.pose.T.astype(np.float32)], axis=0)
            ch_names += list(HAND_JOINTS)
            ch_types += ["pose"] * len(HAND_JOINTS)
        info = SignalInfo(
            sfreq=self.sample_rate,
            ch_names=tuple(ch_names),
            ch_types=tuple(ch_types),
            start_time=datetime.fromtimestamp(float(self.time[0]), tz=UTC),
        )
        metadata: dict[str, Any] = {
            "source": "biosig.synth.hand",
            "user": self.profile.user,
            "side": self.profile.side,
            "timeline": self.timeline.to_dict(),
            "config": self.config.to_dict(),
        }
        return Recording(
            data=data,
            info=info,
            labels=self.labels,
            label_names=dict(enumerate(self.label_names)),
            valid=self.pose_valid if include_pose else None,
            metadata=metadata,
        )


def _seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or a numpy SeedSequence, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def generate_session(
    user_profile: UserProfile,
    gestures: Sequence[str],
    duration_s: float,
    seed: int | np.random.SeedSequence,
    *,
    config: SynthConfig | None = None,
    timeline: Timeline | None = None,
    start_time: float = DEFAULT_START_TIME,
    sample_rate: float = SAMPLE_RATE,
) -> Session:
    """Synthesise ``duration_s`` seconds of paired 16-channel EMG and hand pose.

    Parameters
    ----------
    user_profile
        The arm and band placement (:meth:`UserProfile.sample`); its ``side`` decides the channel mirroring.
    gestures
        Gesture names to prompt (from :data:`~.gestures.GESTURE_NAMES`), cycled in shuffled blocks.
    duration_s
        Length in seconds (> 0).
    seed
        Non-negative integer or SeedSequence; the same seed gives bitwise identical arrays.
    config
        Noise and variability knobs; defaults to ``SynthConfig()`` (difficulty 1).
    timeline
        A prepared gesture timeline (e.g. shared by both hands of one stage); drawn from the seed if absent.
    start_time
        Unix time of the first sample, seconds.
    sample_rate
        Hz (>= 1000 so that the 20-450 Hz EMG band fits).

    Returns
    -------
    :class:`Session`
    """
    if not isinstance(user_profile, UserProfile):
        raise TypeError(f"user_profile must be a UserProfile, got {type(user_profile).__name__}")
    gestures = check_gesture_names(gestures)
    config = SynthConfig() if config is None else config
    if not isinstance(config, SynthConfig):
        raise TypeError(f"config must be a SynthConfig, got {type(config).__name__}")
    if not isinstance(duration_s, (int, float)) or not np.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be a positive finite number of seconds, got {duration_s!r}")
    if not isinstance(sample_rate, (int, float)) or not 1000.0 <= sample_rate <= 100_000.0:
        raise ValueError(f"sample_rate must be between 1000 and 100000 Hz, got {sample_rate!r}")
    if not np.isfinite(start_time):
        raise ValueError(f"start_time must be finite unix seconds, got {start_time!r}")
    sample_rate = float(sample_rate)
    rngs = dict(zip(_STREAMS, (np.random.default_rng(s) for s in _seed_sequence(seed).spawn(len(_STREAMS)))))
    n_times = int(round(duration_s * sample_rate))
    if n_times < 2:
        raise ValueError(f"duration_s={duration_s} gives fewer than 2 samples at {sample_rate} Hz")

    if timeline is None:
        timeline = sample_timeline(gestures, float(duration_s), rngs["timeline"], config)
    else:
        check_gesture_names([s.gesture for s in timeline.segments] or ["rest"], "timeline gestures")
    used = tuple(dict.fromkeys(("rest", *gestures, *(s.gesture for s in timeline.segments))))
    patterns = user_profile.activations(used)

    activations = activation_trajectory(
        timeline,
        patterns,
        n_times,
        sample_rate,
        rngs["motor"],
        config,
        co_contraction=co_contraction_pattern(user_profile.gains),
    )
    pose = pose_dynamics(equilibrium_pose(activations, user_profile.gains), sample_rate)
    pose = np.clip(pose, LOWER, UPPER)  # guards rounding only: the dynamics cannot leave the limits

    emg = muscle_emg(activations, user_profile, sample_rate, rngs["emg"])
    emg += noise.thermal_noise(n_times, user_profile, config, rngs["thermal"])
    emg += noise.powerline(n_times, sample_rate, user_profile, config, rngs["powerline"])
    emg += noise.baseline_drift(n_times, sample_rate, user_profile, config, rngs["drift"])
    artifacts, artifact_onsets = noise.motion_artifacts(
        n_times, sample_rate, timeline, user_profile, config, rngs["artifacts"]
    )
    emg += artifacts

    failed = noise.ik_failure_mask(n_times, config.ik_failure_rate, sample_rate, rngs["ik"])
    pose[failed] = 0.0
    logger.debug(
        "session of %s/%s: %d samples, %d gestures, %d motion artefacts, %d IK-failure samples",
        user_profile.user,
        user_profile.side,
        n_times,
        len(timeline.segments),
        len(artifact_onsets),
        int(failed.sum()),
    )
    return Session(
        time=start_time + np.arange(n_times, dtype=np.float64) / sample_rate,
        emg=emg.astype(np.float32),
        joint_angles=np.ascontiguousarray(pose[:, :N_FINGER_JOINTS]),
        wrist=np.ascontiguousarray(pose[:, N_FINGER_JOINTS:]),
        labels=timeline.labels(n_times, sample_rate),
        phases=timeline.phases(n_times, sample_rate),
        pose_valid=~failed,
        activations=activations.astype(np.float32),
        timeline=timeline,
        profile=user_profile,
        config=config,
        sample_rate=sample_rate,
        gesture_poses={name: equilibrium_pose(a, user_profile.gains) for name, a in patterns.items()},
    )
