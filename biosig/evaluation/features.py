"""Classical hand-crafted features of signal windows: EMG time-domain features and EEG band powers.

Both functions take a batch of windows ``(n_windows, n_channels, n_times)`` and return one row of features per
window ``(n_windows, n_features)``, channel-major (all features of channel 0, then channel 1, ...), so the
names from :func:`td_feature_names` / :func:`band_power_names` line up with the columns.

**EMG time-domain set** (Hudgins et al. 1993; thresholds as in Englehart & Hudgins 2003), per channel, with
``x`` the window of one channel and ``eps`` the amplitude threshold in the signal's units:

* ``MAV`` mean absolute value ``mean(|x_i|)``;
* ``RMS`` root mean square ``sqrt(mean(x_i^2))``;
* ``WL`` waveform length ``sum |x_{i+1} - x_i|`` (signal units, not normalised by length);
* ``ZC`` zero crossings: pairs of neighbours with ``x_i * x_{i+1} < 0`` **and** ``|x_i - x_{i+1}| >= eps``;
* ``SSC`` slope sign changes: samples that are a strict local maximum or minimum
  (``(x_i - x_{i-1}) * (x_i - x_{i+1}) > 0``) **and** ``|x_i - x_{i-1}| >= eps`` or ``|x_i - x_{i+1}| >= eps``.

The threshold keeps low-level noise from counting as crossings or turns. It is an absolute amplitude, so it
depends on the units: for Myo data (int8 counts / 128) the protocols use two counts, ``2 / 128``; ``eps = 0``
counts every sign change and every strict turn. ZC and SSC are counts (floats in the output).

**EEG band powers** per channel from Welch's periodogram (Hann window, ``nperseg`` samples, 50 % overlap,
mean detrending): the power in each band ``[low, high)`` Hz is the sum of the PSD over the bins inside it times
the bin width (V^2 for volts). ``relative=True`` divides by the power over all bands together (from the lowest
band edge to the highest), and ``log=True`` takes ``log10`` of the result (with a floor of 1e-30 so silent
channels give a large negative number, never ``-inf``). The default, log relative power, is insensitive to the
overall amplitude of a channel, which varies between subjects and electrodes more than the spectrum's shape does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
from scipy import signal

from biosig.errors import SignalError

__all__ = [
    "EEG_BANDS",
    "TD_FEATURES",
    "band_power_names",
    "band_powers",
    "td_feature_names",
    "td_features",
]

log = logging.getLogger(__name__)

#: The Hudgins time-domain features, in output order within each channel.
TD_FEATURES = ("MAV", "RMS", "WL", "ZC", "SSC")

#: Classical EEG bands in Hz, ``[low, high)``; gamma stops at 45 Hz, below the 50/60 Hz mains line.
EEG_BANDS: dict[str, tuple[float, float]] = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}

_LOG_FLOOR = 1e-30


def _windows(x: object, name: str = "x", min_times: int = 1) -> np.ndarray:
    """``x`` as a finite float ``(n_windows, n_channels, n_times)`` array, or a SignalError naming what arrived."""
    array = np.asarray(x)
    if array.ndim != 3:
        raise SignalError(f"{name} must be a (n_windows, n_channels, n_times) array, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise SignalError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.shape[1] < 1:
        raise SignalError(f"{name} must have at least one channel, got shape {array.shape}")
    if array.shape[2] < min_times:
        raise SignalError(f"{name} needs at least {min_times} samples per window, got {array.shape[2]}")
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        raise SignalError(f"{name} holds NaN or infinite values; drop or repair those windows first")
    return array


def td_feature_names(ch_names: tuple[str, ...] | list[str]) -> list[str]:
    """Column names of :func:`td_features` for channels ``ch_names``: ``"<channel>_<feature>"``."""
    return [f"{ch}_{feat}" for ch in ch_names for feat in TD_FEATURES]


def td_features(x: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Hudgins time-domain features MAV, RMS, WL, ZC, SSC per channel of every window.

    Parameters
    ----------
    x
        ``(n_windows, n_channels, n_times)`` windows in signal units; ``n_times >= 3`` (SSC needs a neighbour
        on each side).
    threshold
        ``eps`` of the module docstring, in the units of ``x`` (>= 0).

    Returns
    -------
    np.ndarray
        ``(n_windows, 5 * n_channels)`` float64, channel-major: ``[ch0 MAV, ch0 RMS, ch0 WL, ch0 ZC, ch0 SSC,
        ch1 MAV, ...]``.
    """
    x = _windows(x, min_times=3)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number >= 0 in the signal's units, got {threshold!r}")
    if threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0 in the signal's units, got {threshold!r}")
    mav = np.abs(x).mean(axis=-1)
    rms = np.sqrt(np.mean(x * x, axis=-1))
    diff = np.diff(x, axis=-1)  # (n, c, t-1): x_{i+1} - x_i
    abs_diff = np.abs(diff)
    wl = abs_diff.sum(axis=-1)
    zc = ((x[..., :-1] * x[..., 1:] < 0) & (abs_diff >= threshold)).sum(axis=-1)
    # At sample i (1..t-2): back = x_i - x_{i-1} = diff[i-1]; fwd = x_i - x_{i+1} = -diff[i].
    back, fwd = diff[..., :-1], -diff[..., 1:]
    turn = back * fwd > 0
    big = (np.abs(back) >= threshold) | (np.abs(fwd) >= threshold)
    ssc = (turn & big).sum(axis=-1)
    feats = np.stack([mav, rms, wl, zc.astype(np.float64), ssc.astype(np.float64)], axis=-1)  # (n, c, 5)
    return feats.reshape(x.shape[0], -1)


def band_power_names(
    ch_names: tuple[str, ...] | list[str], bands: Mapping[str, tuple[float, float]] = EEG_BANDS
) -> list[str]:
    """Column names of :func:`band_powers` for channels ``ch_names``: ``"<channel>_<band>"``."""
    return [f"{ch}_{band}" for ch in ch_names for band in bands]


def _check_bands(bands: Mapping[str, tuple[float, float]], sfreq: float) -> list[tuple[str, float, float]]:
    if not isinstance(bands, Mapping) or not bands:
        raise ValueError(f"bands must be a non-empty mapping name -> (low_hz, high_hz), got {bands!r}")
    out = []
    for name, edges in bands.items():
        try:
            low, high = (float(e) for e in edges)
        except (TypeError, ValueError):
            raise ValueError(f"band {name!r} must be (low_hz, high_hz), got {edges!r}") from None
        if not (0 <= low < high):
            raise ValueError(f"band {name!r} must have 0 <= low < high, got ({low:g}, {high:g}) Hz")
        if high > sfreq / 2:
            raise ValueError(
                f"band {name!r} reaches {high:g} Hz, above the Nyquist frequency {sfreq / 2:g} Hz of sfreq={sfreq:g} Hz"
            )
        out.append((str(name), low, high))
    return out


def band_powers(
    x: np.ndarray,
    sfreq: float,
    bands: Mapping[str, tuple[float, float]] = EEG_BANDS,
    *,
    relative: bool = True,
    log: bool = True,
    nperseg: int | None = None,
) -> np.ndarray:
    """Welch band power of every channel of every window.

    Parameters
    ----------
    x
        ``(n_windows, n_channels, n_times)`` windows (volts for EEG).
    sfreq
        Sampling rate in Hz; every band must lie below the Nyquist frequency.
    bands
        ``name -> (low, high)`` in Hz, half-open ``[low, high)``; default :data:`EEG_BANDS`.
    relative, log
        Divide by the total power over all bands; take ``log10`` (see the module docstring).
    nperseg
        Welch segment length in samples; default ``min(n_times, 2 * sfreq)`` (2 s segments, 0.5 Hz bins).
        Each band must contain at least one frequency bin.

    Returns
    -------
    np.ndarray
        ``(n_windows, n_bands * n_channels)`` float64, channel-major (see :func:`band_power_names`).
    """
    x = _windows(x, min_times=2)
    if isinstance(sfreq, bool) or not isinstance(sfreq, (int, float)) or not math.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a positive finite number of Hz, got {sfreq!r}")
    checked = _check_bands(bands, float(sfreq))
    n_times = x.shape[-1]
    if nperseg is None:
        nperseg = min(n_times, int(round(2 * sfreq)))
    if isinstance(nperseg, bool) or not isinstance(nperseg, int) or not 2 <= nperseg <= n_times:
        raise ValueError(f"nperseg must be an int in [2, n_times={n_times}], got {nperseg!r}")
    freqs, psd = signal.welch(x, fs=float(sfreq), nperseg=nperseg, axis=-1)  # psd (n, c, n_freqs)
    df = freqs[1] - freqs[0]
    powers = []
    for name, low, high in checked:
        inside = (freqs >= low) & (freqs < high)
        if not inside.any():
            raise ValueError(
                f"band {name!r} ({low:g}-{high:g} Hz) holds no frequency bin at a {df:g} Hz resolution "
                f"(nperseg={nperseg}); use longer windows or a larger nperseg"
            )
        powers.append(psd[..., inside].sum(axis=-1) * df)
    power = np.stack(powers, axis=-1)  # (n, c, n_bands)
    if relative:
        lowest, highest = min(b[1] for b in checked), max(b[2] for b in checked)
        total = psd[..., (freqs >= lowest) & (freqs < highest)].sum(axis=-1, keepdims=True) * df
        # A flat (all-zero) channel has no spectrum to share out; give it zeros instead of 0/0.
        power = np.divide(power, total, out=np.zeros_like(power), where=total > 0)
    if log:
        power = np.log10(np.maximum(power, _LOG_FLOOR))
    return power.reshape(x.shape[0], -1)
