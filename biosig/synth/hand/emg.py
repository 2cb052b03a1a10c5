"""Surface EMG of the forearm muscles as a 16-electrode ring sees it.

Each muscle is three independent sub-sources (motor-unit territories spread over its angular width), each a
stationary Gaussian process with a sEMG-shaped spectrum (the Shwedyk et al. 1977 model
``|H(f)|^2 ~ fh^4 f^2 / ((f^2 + fl^2)(f^2 + fh^2)^2)``, peaking near 95 Hz with a median frequency near
125 Hz, inside a 20-450 Hz acquisition band). The amplitude of a muscle's signal follows its activation
through a recruitment power law (larger muscles recruit larger motor units late, so their EMG grows faster
than linearly at high force). Sources reach the electrodes through a volume-conduction kernel: Gaussian in
the angular distance around the forearm, wider and weaker for deeper muscles and thicker fat, and weaker for
muscle bellies away from the band along the arm.

Limits: no discrete motor-unit action potential trains (the signal is Gaussian at every level, where real
EMG at very low force is spiky), no fatigue (spectral compression), no bipolar electrode geometry or
conduction along fibres, and the spectrum does not change with activation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from biosig.synth.hand.config import N_CHANNELS
from biosig.synth.hand.muscles import MUSCLES, muscle_table
from biosig.synth.hand.profile import UserProfile

#: Shwedyk spectrum corners of a superficial muscle of nominal fibre conduction velocity, Hz.
SPECTRUM_FL_HZ = 100.0
SPECTRUM_FH_HZ = 160.0
#: Deep muscles reach the skin through more tissue, a low-pass filter: corners scale by 1 - 0.25 * depth.
DEPTH_LOWPASS = 0.25
ACQUISITION_BAND_HZ = (20.0, 450.0)

SUB_SOURCES = 3  # motor-unit territories per muscle
KERNEL_WIDTH_RAD = 0.25  # angular SD of a superficial source's pattern on the skin
KERNEL_DEPTH_WIDTH_RAD = 0.35  # extra angular SD per unit depth
DEPTH_ATTENUATION = 1.6  # amplitude ~ exp(-DEPTH_ATTENUATION * depth)
LONGITUDINAL_SD_CM = 4.0  # how far along the arm a muscle belly still reaches the band
RECRUITMENT_EXPONENT_SMALL = 0.9  # small muscles: rate coding dominates, ~linear
RECRUITMENT_EXPONENT_LARGE = 1.2  # large muscles: late recruitment of large units
_LARGE_MUSCLE_V = 350e-6

_TABLE = muscle_table()


def electrode_angles(profile: UserProfile) -> np.ndarray:
    """``(16,)`` angular position (rad) of each electrode around the forearm, in channel order."""
    return 2.0 * np.pi * np.arange(N_CHANNELS) / N_CHANNELS + profile.band_rotation


def source_angles(profile: UserProfile) -> np.ndarray:
    """``(n_muscles, SUB_SOURCES)`` angular position (rad) of every sub-source.

    The left forearm is the mirror image of the right one while the electrodes are numbered in the same
    rotational sense on both bands, so the muscles' angles change sign: the left band's channel order is the
    right band's, reversed.
    """
    offsets = np.linspace(-1.0, 1.0, SUB_SOURCES)[None, :] * _TABLE["width"][:, None] / 2.0
    angles = (_TABLE["angle"] + profile.muscle_angle)[:, None] + offsets
    return -angles if profile.side == "left" else angles


def mixing_matrix(profile: UserProfile) -> np.ndarray:
    """``(16, n_muscles * SUB_SOURCES)`` volts at each electrode per unit-RMS source at full activation.

    Columns are grouped by muscle (muscle-major), in :data:`~.muscles.MUSCLES` order.
    """
    depth = _TABLE["depth"][:, None]
    width = (KERNEL_WIDTH_RAD + KERNEL_DEPTH_WIDTH_RAD * depth) * profile.fat
    delta = electrode_angles(profile)[:, None, None] - source_angles(profile)[None, :, :]
    delta = np.angle(np.exp(1j * delta))  # wrap to (-pi, pi]
    kernel = np.exp(-0.5 * (delta / width[None]) ** 2)
    longitudinal = np.exp(-0.5 * ((_TABLE["z_cm"] - profile.band_shift_cm) / LONGITUDINAL_SD_CM) ** 2)
    amplitude = (
        _TABLE["max_emg_v"]
        * profile.muscle_size
        * np.exp(-DEPTH_ATTENUATION * _TABLE["depth"])
        * longitudinal
        / profile.fat
        / np.sqrt(SUB_SOURCES)  # sub-sources share the muscle's power
    )
    weights = kernel * amplitude[None, :, None]
    return weights.reshape(N_CHANNELS, -1) * profile.channel_gain[:, None]


@lru_cache(maxsize=8)
def _acquisition_sos(sample_rate: float) -> np.ndarray:
    low, high = ACQUISITION_BAND_HZ
    return signal.butter(4, [low, min(high, 0.45 * sample_rate)], btype="band", fs=sample_rate, output="sos")


def spectral_sos(scale: float, sample_rate: float) -> np.ndarray:
    """Second-order sections of a unit-power sEMG spectral shaping filter with corners scaled by ``scale``.

    Unit power: white Gaussian noise of variance 1 in, unit variance out.
    """
    fl = min(SPECTRUM_FL_HZ * scale, 0.45 * sample_rate)
    fh = min(SPECTRUM_FH_HZ * scale, 0.45 * sample_rate)
    # Bilinear transform of wh^2 s / ((s + wl)(s + wh)^2), written out (scipy's zpk2sos costs ~1 ms a call):
    # the analog zero at s=0 maps to z=1, the two zeros at infinity to z=-1, a real pole -w to (2fs-w)/(2fs+w);
    # three poles and three zeros fill two sections with a pole-zero pair at the origin.
    pl, ph = ((2 * sample_rate - 2 * np.pi * f) / (2 * sample_rate + 2 * np.pi * f) for f in (fl, fh))
    shaping = np.array([[1.0, -1.0, 0.0, 1.0, -(pl + ph), pl * ph], [1.0, 2.0, 1.0, 1.0, -ph, 0.0]])
    sos = np.vstack([shaping, _acquisition_sos(float(sample_rate))])
    impulse = np.zeros(int(sample_rate))  # 1 s: the response has decayed by then (slowest pole ~20 Hz)
    impulse[0] = 1.0
    energy = float(np.sum(signal.sosfilt(sos, impulse) ** 2))
    sos[0, :3] /= np.sqrt(energy)
    return sos


def recruitment(activations: np.ndarray) -> np.ndarray:
    """``(n_times, n_muscles)`` relative EMG amplitude (0..1) of each muscle at ``activations`` (0..1)."""
    exponent = np.where(_TABLE["max_emg_v"] >= _LARGE_MUSCLE_V, RECRUITMENT_EXPONENT_LARGE, RECRUITMENT_EXPONENT_SMALL)
    return np.power(np.clip(activations, 0.0, 1.0), exponent)


def muscle_emg(
    activations: np.ndarray, profile: UserProfile, sample_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Noise-free surface EMG of the muscles at the electrodes.

    Parameters
    ----------
    activations
        ``(n_times, n_muscles)`` activations in [0, 1].
    profile
        The arm and band (mixing, spectra).
    sample_rate
        Hz.
    rng
        Source of the stochastic motor-unit activity.

    Returns
    -------
    ``(n_times, 16)`` float64 volts.
    """
    n_times, n_muscles = activations.shape
    if n_muscles != len(MUSCLES):
        raise ValueError(f"activations must have {len(MUSCLES)} muscle columns, got shape {activations.shape}")
    pad = int(0.25 * sample_rate)  # discarded: lets the shaping filters reach their stationary state
    white = rng.standard_normal((n_times + pad, n_muscles, SUB_SOURCES))
    depth_scale = 1.0 - DEPTH_LOWPASS * _TABLE["depth"]
    sources = np.empty((n_times, n_muscles, SUB_SOURCES))
    for k in range(n_muscles):
        sos = spectral_sos(float(profile.spectral_scale[k] * depth_scale[k]), sample_rate)
        sources[:, k, :] = signal.sosfilt(sos, white[:, k, :], axis=0)[pad:]
    sources *= recruitment(activations)[:, :, None]
    return sources.reshape(n_times, -1) @ mixing_matrix(profile).T
