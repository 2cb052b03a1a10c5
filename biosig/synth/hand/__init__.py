"""Synthetic paired forearm sEMG and hand pose, written in the emg2pose schema.

Muscle activations are the shared latent: gesture prompts drive minimum-jerk activation trajectories; the
pose follows through a linear muscle model with delay and lags; the 16-electrode EMG follows through
recruitment and volume conduction, then band noise is added. See ``docs/synthetic_emg_pose.md``.

>>> from biosig.synth.hand import UserProfile, generate_session
>>> session = generate_session(UserProfile.sample("u0", "right", seed=0), ["fist", "open_hand"], 5.0, seed=1)
>>> session.emg.shape, session.joint_angles.shape
((10000, 16), (10000, 20))
"""

from biosig.synth.hand.config import N_CHANNELS, SAMPLE_RATE, SynthConfig
from biosig.synth.hand.corpus import write_corpus
from biosig.synth.hand.gestures import DEFAULT_STAGES, GESTURE_NAMES, GESTURES, Gesture
from biosig.synth.hand.kinematics import JOINT_LIMITS, REST_POSE
from biosig.synth.hand.muscles import MUSCLE_NAMES, MUSCLES, Muscle
from biosig.synth.hand.profile import UserProfile
from biosig.synth.hand.session import Session, generate_session
from biosig.synth.hand.timeline import GestureSegment, Timeline, sample_timeline

__all__ = [
    "DEFAULT_STAGES",
    "GESTURES",
    "GESTURE_NAMES",
    "JOINT_LIMITS",
    "MUSCLES",
    "MUSCLE_NAMES",
    "N_CHANNELS",
    "REST_POSE",
    "SAMPLE_RATE",
    "Gesture",
    "GestureSegment",
    "Muscle",
    "Session",
    "SynthConfig",
    "Timeline",
    "UserProfile",
    "generate_session",
    "sample_timeline",
    "write_corpus",
]
