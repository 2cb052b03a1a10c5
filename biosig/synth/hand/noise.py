"""What a real wristband adds to the muscles' EMG, and what a real motion-capture rig takes from the pose.

Additive EMG noise (each ``(n_times, 16)`` float64 volts):

- thermal / amplifier noise: white, RMS ~ sqrt(skin impedance);
- mains interference at 50/60 Hz with odd harmonics, mostly common-mode (one phase for the whole band)
  leaking through each electrode's impedance imbalance, with a slowly wandering mains frequency;
- baseline drift below ~0.5 Hz (electrode half-cell potentials, sweat);
- motion artefacts: low-frequency (1-6 Hz) transients, spatially smooth around the ring, at gesture
  transitions when the band shifts on the skin.

Pose loss: stretches of inverse-kinematics failure, where emg2pose stores all-zero joint-angle rows.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from biosig.synth.hand.config import N_CHANNELS, SynthConfig
from biosig.synth.hand.profile import UserProfile
from biosig.synth.hand.timeline import Timeline

POWERLINE_HARMONICS = ((1, 1.0), (3, 0.3), (5, 0.1))  # (harmonic, relative amplitude)
POWERLINE_IMBALANCE_SD = 0.3  # per-channel spread of the common-mode leak (amplitude factor)
POWERLINE_WANDER_HZ = 0.02  # SD of the slow mains-frequency wander
DRIFT_CUTOFF_HZ = 0.5
ARTIFACT_FREQ_HZ = (1.0, 6.0)
ARTIFACT_SD_S = (0.05, 0.15)
ARTIFACT_WIDTH_RAD = 1.0
IK_STRETCH_MEAN_S = 0.2


def thermal_noise(n_times: int, profile: UserProfile, config: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """White noise of RMS ``white_noise_v * noise_scale * sqrt(impedance)`` per channel, volts."""
    rms = config.white_noise_v * config.noise_scale * np.sqrt(profile.impedance)
    return rng.standard_normal((n_times, N_CHANNELS)) * rms[None, :]


def powerline(
    n_times: int, sample_rate: float, profile: UserProfile, config: SynthConfig, rng: np.random.Generator
) -> np.ndarray:
    """Mains interference with odd harmonics; zeros when ``config.powerline_hz`` is None, volts."""
    out = np.zeros((n_times, N_CHANNELS))
    if config.powerline_hz is None or config.powerline_v == 0 or config.noise_scale == 0:
        return out
    wander = signal.sosfilt(signal.butter(1, 0.2, fs=sample_rate, output="sos"), rng.standard_normal(n_times))
    wander *= POWERLINE_WANDER_HZ / max(float(wander.std()), 1e-12)
    phase = 2.0 * np.pi * np.cumsum(config.powerline_hz + wander) / sample_rate + rng.uniform(0, 2 * np.pi)
    leak = profile.impedance * np.exp(POWERLINE_IMBALANCE_SD * rng.standard_normal(N_CHANNELS))
    channel_phase = 0.2 * rng.standard_normal(N_CHANNELS)  # near-common-mode: small phase differences
    for harmonic, relative in POWERLINE_HARMONICS:
        if harmonic * config.powerline_hz >= sample_rate / 2:
            continue
        amplitude = config.powerline_v * config.noise_scale * relative * leak
        out += amplitude[None, :] * np.sin(harmonic * (phase[:, None] + channel_phase[None, :]))
    return out


def baseline_drift(
    n_times: int, sample_rate: float, profile: UserProfile, config: SynthConfig, rng: np.random.Generator
) -> np.ndarray:
    """Slow wander below ``DRIFT_CUTOFF_HZ`` with RMS ``drift_v * noise_scale`` (x sqrt impedance), volts."""
    if config.drift_v == 0 or config.noise_scale == 0:
        return np.zeros((n_times, N_CHANNELS))
    # Drawn at 20 Hz and interpolated: filtering a sub-hertz process at 2 kHz would waste time for nothing.
    slow_rate = 20.0
    n_slow = int(np.ceil(n_times * slow_rate / sample_rate)) + 2
    pad = int(4 * slow_rate / DRIFT_CUTOFF_HZ)
    sos = signal.butter(2, DRIFT_CUTOFF_HZ, fs=slow_rate, output="sos")
    slow = signal.sosfilt(sos, rng.standard_normal((n_slow + pad, N_CHANNELS)), axis=0)[pad:]
    slow /= np.maximum(slow.std(axis=0, keepdims=True), 1e-12)
    t_slow = np.arange(n_slow) / slow_rate
    t = np.arange(n_times) / sample_rate
    drift = np.stack([np.interp(t, t_slow, slow[:, c]) for c in range(N_CHANNELS)], axis=1)
    return drift * (config.drift_v * config.noise_scale * np.sqrt(profile.impedance))[None, :]


def motion_artifacts(
    n_times: int,
    sample_rate: float,
    timeline: Timeline,
    profile: UserProfile,
    config: SynthConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[float]]:
    """Transients at gesture onsets/releases, each with probability ``motion_artifact_prob``.

    Returns
    -------
    ``(n_times, 16)`` volts, and the onset times (s) of the artefacts that were added.
    """
    out = np.zeros((n_times, N_CHANNELS))
    onsets: list[float] = []
    amplitude_v = config.motion_artifact_v * config.noise_scale
    transitions = [t for seg in timeline.segments for t in (seg.onset, seg.hold_offset)]
    for t0 in transitions:
        # Draw every value for every transition so that the stream does not depend on the probability.
        happens = rng.uniform() < config.motion_artifact_prob
        centre = t0 + rng.uniform(0.0, 0.1)
        freq, sd = rng.uniform(*ARTIFACT_FREQ_HZ), rng.uniform(*ARTIFACT_SD_S)
        peak = amplitude_v * rng.uniform(0.3, 1.0) * rng.choice([-1.0, 1.0])
        where = rng.uniform(0, 2 * np.pi)
        if not happens or amplitude_v == 0:
            continue
        a = max(int((centre - 4 * sd) * sample_rate), 0)
        b = min(int((centre + 4 * sd) * sample_rate) + 1, n_times)
        if b <= a:
            continue
        t = np.arange(a, b) / sample_rate - centre
        wave = np.exp(-0.5 * (t / sd) ** 2) * np.cos(2 * np.pi * freq * t)
        delta = np.angle(np.exp(1j * (2 * np.pi * np.arange(N_CHANNELS) / N_CHANNELS - where)))
        spatial = np.exp(-0.5 * (delta / ARTIFACT_WIDTH_RAD) ** 2) * np.sqrt(profile.impedance)
        out[a:b] += peak * wave[:, None] * spatial[None, :]
        onsets.append(float(centre - 4 * sd))
    return out, onsets


def ik_failure_mask(n_times: int, rate: float, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """``(n_times,)`` bool, True on exactly ``round(rate * n_times)`` samples, in non-overlapping stretches.

    Stretches last ~``IK_STRETCH_MEAN_S`` on average (exponential lengths) and are placed at random.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    mask = np.zeros(n_times, dtype=bool)
    n_fail = int(round(rate * n_times))
    if n_fail == 0:
        return mask
    mean_len = max(int(IK_STRETCH_MEAN_S * sample_rate), 1)
    n_stretch = max(1, int(round(n_fail / mean_len)))
    # Split the failed samples into n_stretch positive lengths and the good ones into n_stretch + 1 gaps.
    # (n_stretch <= n_fail because mean_len >= 1; adjacent stretches may touch, the count stays exact.)
    lengths = 1 + rng.multinomial(n_fail - n_stretch, rng.dirichlet(np.ones(n_stretch)))
    gaps = rng.multinomial(n_times - n_fail, rng.dirichlet(np.ones(n_stretch + 1)))
    start = 0
    for gap, length in zip(gaps[:-1], lengths):
        start += int(gap)
        mask[start : start + int(length)] = True
        start += int(length)
    return mask
