"""Per-user (and per-arm) differences: anatomy, how the band sits on the arm, and the skin under it.

A :class:`UserProfile` is everything that stays fixed for one arm of one person during a recording session.
Anatomy (muscle positions, sizes, moment arms, conduction velocity, tone) is drawn once per user and shared by
both arms; the band placement (rotation, shift along the arm), channel gains and skin impedance are drawn per
arm. All spreads are multiplied by ``variability``, so ``variability=0`` gives the nominal person of
:mod:`.muscles` wearing the band exactly as designed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from biosig.synth.hand.config import N_CHANNELS
from biosig.synth.hand.gestures import gesture_activations
from biosig.synth.hand.muscles import MUSCLES, N_MUSCLES, gain_matrix

SIDES: tuple[str, ...] = ("left", "right")

#: Spread (at variability 1) of each user property; see :meth:`UserProfile.sample`.
BAND_ROTATION_SD_RAD = 0.35  # ~one electrode pitch (2 pi / 16 = 0.39 rad)
BAND_SHIFT_SD_CM = 1.0
CHANNEL_GAIN_SD = 0.10  # log-normal sigma
IMPEDANCE_SD = 0.35  # log-normal sigma of skin-electrode impedance relative to nominal
MUSCLE_ANGLE_SD_RAD = 0.08
MUSCLE_SIZE_SD = 0.25  # log-normal sigma of EMG amplitude (muscle size, subcutaneous fat)
MOMENT_ARM_SD = 0.10  # log-normal sigma of each gain-matrix entry
SPECTRAL_SD = 0.10  # log-normal sigma of each muscle's frequency scale (fibre conduction velocity)
FAT_SD = 0.15  # log-normal sigma of the volume-conduction spread
TONE_RANGE = (0.01, 0.03)  # resting activation


def _stable_int(text: str) -> int:
    """A platform-independent integer for ``text`` (Python's ``hash`` is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


@dataclass(frozen=True, eq=False)
class UserProfile:
    """One arm of one user. Arrays are read-only; build with :meth:`sample` or :meth:`nominal`.

    Parameters
    ----------
    user, side
        Identifier of the person and ``"left"`` or ``"right"``.
    band_rotation
        Rotation of the electrode ring around the forearm, radians (positive = toward the radial side).
    band_shift_cm
        Shift of the band along the forearm, cm (positive = distal).
    channel_gain
        ``(16,)`` amplifier/contact gain of each electrode (1 = nominal).
    impedance
        ``(16,)`` skin-electrode impedance relative to nominal; scales thermal noise and mains pick-up.
    muscle_angle
        ``(n_muscles,)`` angular offset of each muscle from the nominal anatomy, radians.
    muscle_size
        ``(n_muscles,)`` EMG amplitude factor of each muscle.
    spectral_scale
        ``(n_muscles,)`` frequency scale of each muscle's EMG spectrum (1 = nominal).
    fat
        Volume-conduction spread factor (thicker subcutaneous fat = wider, weaker patterns).
    gains
        ``(23, n_muscles)`` this user's gain matrix, radians per unit activation.
    tone
        ``(n_muscles,)`` resting activation.
    """

    user: str
    side: str
    band_rotation: float = 0.0
    band_shift_cm: float = 0.0
    channel_gain: np.ndarray = field(default_factory=lambda: np.ones(N_CHANNELS))
    impedance: np.ndarray = field(default_factory=lambda: np.ones(N_CHANNELS))
    muscle_angle: np.ndarray = field(default_factory=lambda: np.zeros(N_MUSCLES))
    muscle_size: np.ndarray = field(default_factory=lambda: np.ones(N_MUSCLES))
    spectral_scale: np.ndarray = field(default_factory=lambda: np.ones(N_MUSCLES))
    fat: float = 1.0
    gains: np.ndarray = field(default_factory=gain_matrix)
    tone: np.ndarray = field(default_factory=lambda: np.full(N_MUSCLES, 0.02))

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"UserProfile.side must be one of {list(SIDES)}, got {self.side!r}")
        shapes = {
            "channel_gain": (N_CHANNELS,),
            "impedance": (N_CHANNELS,),
            "muscle_angle": (N_MUSCLES,),
            "muscle_size": (N_MUSCLES,),
            "spectral_scale": (N_MUSCLES,),
            "gains": (23, N_MUSCLES),
            "tone": (N_MUSCLES,),
        }
        for name, shape in shapes.items():
            value = np.array(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"UserProfile.{name} must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"UserProfile.{name} must be finite")
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        for name in ("channel_gain", "impedance", "muscle_size", "spectral_scale"):
            if np.any(getattr(self, name) <= 0):
                raise ValueError(f"UserProfile.{name} must be positive")
        if not np.all((self.tone >= 0) & (self.tone < 0.5)):
            raise ValueError(f"UserProfile.tone must lie in [0, 0.5), got {self.tone}")
        if self.fat <= 0:
            raise ValueError(f"UserProfile.fat must be positive, got {self.fat}")

    @classmethod
    def nominal(cls, user: str = "nominal", side: str = "right") -> UserProfile:
        """The textbook arm of :mod:`.muscles` with the band worn as designed."""
        return cls(user=user, side=side)

    @classmethod
    def sample(cls, user: str, side: str, seed: int, variability: float = 1.0) -> UserProfile:
        """Draw a user's arm deterministically from ``(seed, user, side)``.

        Parameters
        ----------
        user
            Identifier; different names give independent people.
        side
            ``"left"`` or ``"right"``; both sides of one user share the anatomy, not the band placement.
        seed
            Non-negative integer (a corpus seed).
        variability
            Multiplier of every spread (0 = the nominal user).
        """
        if side not in SIDES:
            raise ValueError(f"side must be one of {list(SIDES)}, got {side!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not 0.0 <= variability <= 5.0:
            raise ValueError(f"variability must be in [0, 5], got {variability!r}")
        v = float(variability)
        anatomy = np.random.default_rng([int(seed), _stable_int(user)])
        band = np.random.default_rng([int(seed), _stable_int(user), SIDES.index(side) + 1])

        def lognormal(rng: np.random.Generator, sigma: float, size: int | tuple[int, ...]) -> np.ndarray:
            # Draw even when v == 0 so that the stream of later draws does not depend on variability.
            return np.exp(v * sigma * rng.standard_normal(size))

        muscle_angle = v * MUSCLE_ANGLE_SD_RAD * anatomy.standard_normal(N_MUSCLES)
        muscle_size = lognormal(anatomy, MUSCLE_SIZE_SD, N_MUSCLES)
        spectral_scale = lognormal(anatomy, SPECTRAL_SD, N_MUSCLES)
        fat = float(lognormal(anatomy, FAT_SD, 1)[0])
        gains = gain_matrix() * lognormal(anatomy, MOMENT_ARM_SD, (23, N_MUSCLES))
        tone_draw = anatomy.uniform(*TONE_RANGE, N_MUSCLES)
        tone = np.clip(0.02 + v * (tone_draw - 0.02), 0.0, 0.1)

        return cls(
            user=user,
            side=side,
            band_rotation=float(v * BAND_ROTATION_SD_RAD * band.standard_normal()),
            band_shift_cm=float(v * BAND_SHIFT_SD_CM * band.standard_normal()),
            channel_gain=lognormal(band, CHANNEL_GAIN_SD, N_CHANNELS),
            impedance=lognormal(band, IMPEDANCE_SD, N_CHANNELS),
            muscle_angle=muscle_angle,
            muscle_size=muscle_size,
            spectral_scale=spectral_scale,
            fat=fat,
            gains=gains,
            tone=tone,
        )

    def with_band(self, rotation: float | None = None, shift_cm: float | None = None) -> UserProfile:
        """The same arm with the band rotated/shifted to the given placement (re-donning the band)."""
        return replace(
            self,
            band_rotation=self.band_rotation if rotation is None else float(rotation),
            band_shift_cm=self.band_shift_cm if shift_cm is None else float(shift_cm),
        )

    def activations(self, gestures: tuple[str, ...]) -> dict[str, np.ndarray]:
        """``(n_muscles,)`` activation pattern with which this user holds each gesture."""
        return gesture_activations(gestures, self.gains, self.tone)

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable description (for sidecar files)."""
        return {
            "user": self.user,
            "side": self.side,
            "band_rotation_rad": self.band_rotation,
            "band_shift_cm": self.band_shift_cm,
            "fat": self.fat,
            "channel_gain": self.channel_gain.round(6).tolist(),
            "impedance": self.impedance.round(6).tolist(),
            "muscle_angle_rad": dict(zip([m.name for m in MUSCLES], self.muscle_angle.round(6).tolist())),
            "muscle_size": dict(zip([m.name for m in MUSCLES], self.muscle_size.round(6).tolist())),
        }
