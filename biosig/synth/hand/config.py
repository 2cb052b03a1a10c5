"""Knobs of the synthetic sEMG + hand-pose generator, with one ``difficulty`` dial over all of them.

Every amplitude is in volts and every duration in seconds. The defaults (``difficulty=1``) aim at what a
commercial dry-electrode wristband records in an office: a few microvolts of thermal noise, tens of microvolts
of mains pick-up, occasional movement artefacts, users who put the band on a little differently, and a motion
capture rig that loses the hand for ~2% of the samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

#: The emg2pose wristband: 16 electrodes sampled at 2 kHz.
N_CHANNELS = 16
SAMPLE_RATE = 2000.0


def _check_range(name: str, value: float, low: float, high: float = math.inf) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (low <= value <= high):
        bound = f"[{low}, {high}]" if math.isfinite(high) else f">= {low}"
        raise ValueError(f"SynthConfig.{name} must be a number in {bound}, got {value!r}")


def _check_interval(name: str, value: tuple[float, float]) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and 0 < value[0] <= value[1]
    )
    if not ok:
        raise ValueError(f"SynthConfig.{name} must be a (min, max) pair of seconds with 0 < min <= max, got {value!r}")


@dataclass(frozen=True)
class SynthConfig:
    """How noisy and how variable the synthetic data are.

    The ``*_v`` amplitudes are multiplied by ``noise_scale``; user-to-user differences by ``user_variability``
    and repetition-to-repetition differences of the movements by ``motor_variability``. Zero switches a
    component off. Build one from a single number with :meth:`at_difficulty` and adjust single fields with
    :func:`dataclasses.replace`.

    Parameters
    ----------
    noise_scale
        Multiplier of every additive noise amplitude below (0 = clean EMG).
    white_noise_v
        RMS of the electrode/amplifier thermal noise per channel at a nominal skin impedance, volts.
    powerline_hz
        Mains frequency (50 or 60 Hz), or ``None`` for no mains interference.
    powerline_v
        Amplitude of the mains fundamental on a channel of nominal impedance, volts; odd harmonics are weaker.
    drift_v
        RMS of the slow baseline wander (below ~0.5 Hz, electrode half-cell potential), volts.
    motion_artifact_prob
        Probability that a gesture transition shakes the band and adds a low-frequency transient.
    motion_artifact_v
        Peak amplitude of such a transient on the channel nearest its centre, volts.
    ik_failure_rate
        Fraction of pose samples lost by the motion-capture inverse kinematics (rows of zeros, as in emg2pose).
    user_variability
        Scale of the differences between users: band rotation and shift, muscle positions and sizes, moment
        arms, skin impedance, channel gains (0 = every user is the same person wearing the band the same way).
    motor_variability
        Scale of the natural variation of one user's movements: amplitude, timing and slow activation
        fluctuations from repetition to repetition (0 = robot-perfect repetitions).
    co_contraction
        Level of antagonist co-activation during gestures, as a fraction of the gesture's mean activation.
    hold_s, transition_s, rest_s
        Ranges (uniform) of how long a gesture is held, how long a minimum-jerk transition lasts and how long
        the hand rests between gestures, seconds.
    """

    noise_scale: float = 1.0
    white_noise_v: float = 3e-6
    powerline_hz: float | None = 60.0
    powerline_v: float = 8e-6
    drift_v: float = 10e-6
    motion_artifact_prob: float = 0.3
    motion_artifact_v: float = 120e-6
    ik_failure_rate: float = 0.02
    user_variability: float = 1.0
    motor_variability: float = 1.0
    co_contraction: float = 0.1
    hold_s: tuple[float, float] = (1.0, 2.0)
    transition_s: tuple[float, float] = (0.25, 0.5)
    rest_s: tuple[float, float] = (0.6, 1.2)

    def __post_init__(self) -> None:
        for name in ("noise_scale", "white_noise_v", "powerline_v", "drift_v", "motion_artifact_v"):
            _check_range(name, getattr(self, name), 0.0)
        for name in ("user_variability", "motor_variability"):
            _check_range(name, getattr(self, name), 0.0, 5.0)
        _check_range("motion_artifact_prob", self.motion_artifact_prob, 0.0, 1.0)
        _check_range("ik_failure_rate", self.ik_failure_rate, 0.0, 0.9)
        _check_range("co_contraction", self.co_contraction, 0.0, 1.0)
        if self.powerline_hz is not None:
            _check_range("powerline_hz", self.powerline_hz, 1.0, 400.0)
        for name in ("hold_s", "transition_s", "rest_s"):
            value = getattr(self, name)
            if isinstance(value, list):
                # JSON round trips turn tuples into lists; accept them but store the immutable form.
                value = tuple(value)
                object.__setattr__(self, name, value)
            _check_interval(name, value)

    @classmethod
    def at_difficulty(cls, difficulty: float) -> SynthConfig:
        """A configuration whose noise and inter-/intra-user variability all scale with ``difficulty``.

        ``0`` gives clean, perfectly repeatable data from identical users; ``1`` the realistic defaults;
        ``2``-``3`` a hostile recording (loose band, noisy room, sloppy movements). Values up to 5 are allowed.
        """
        _check_range("difficulty", difficulty, 0.0, 5.0)
        d = float(difficulty)
        return cls(
            noise_scale=d,
            user_variability=d,
            motor_variability=d,
            motion_artifact_prob=min(0.3 * d, 1.0),
            ik_failure_rate=min(0.02 * d, 0.5),
            co_contraction=min(0.1 * d, 1.0),
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable field values (for sidecar files)."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
