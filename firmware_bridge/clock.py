"""Device clock vs host clock: offset and drift from (device timestamp, host receive time) pairs.

A chunk is received some time after the device stamped it: ``host = device x (1 + drift) + offset + delay``
with ``delay >= 0`` (USB, radio, scheduling) and heavy-tailed. The least delayed chunks carry the clock
relation, so the estimator keeps the **minimum** of ``host - device`` in bins of device time and fits a line
through those minima (the lower envelope, as NTP-style clock filters do): its slope is the drift, its value at
the latest device time the offset. ``latency_ms`` is the median delay above the envelope.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["ClockEstimate", "ClockEstimator"]


@dataclass(frozen=True)
class ClockEstimate:
    """``offset_ms``: host minus device clock now; ``drift_ppm``: how fast it grows (None until known)."""

    offset_ms: float | None
    drift_ppm: float | None
    latency_ms: float | None
    n_pairs: int
    span_s: float


class ClockEstimator:
    """Running estimate of the device clock against the host clock.

    Parameters
    ----------
    bin_s
        Length of a bin of device time whose least-delayed pair is kept (seconds).
    max_bins
        Bins kept (the estimate follows changes over ``bin_s * max_bins`` seconds).
    min_bins
        Bins needed before a drift is reported.
    """

    def __init__(self, bin_s: float = 1.0, max_bins: int = 600, min_bins: int = 4) -> None:
        if not bin_s > 0:
            raise ValueError(f"bin_s must be a positive number of seconds, got {bin_s!r}")
        if min_bins < 2 or max_bins < min_bins:
            raise ValueError(f"need 2 <= min_bins <= max_bins, got min_bins={min_bins}, max_bins={max_bins}")
        self.bin_s = float(bin_s)
        self.min_bins = min_bins
        self._bins: deque[tuple[float, float]] = deque(maxlen=max_bins)  # (device s, min host-device s)
        self._bin_index: int | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=256)  # (device s, host - device s)
        self._device0: float | None = None
        self.n_pairs = 0

    def add(self, device_s: float, host_s: float) -> None:
        """One observation: the device stamped ``device_s``; the host received it at ``host_s`` (seconds)."""
        if not (math.isfinite(device_s) and math.isfinite(host_s)):
            raise ValueError(f"clock pair must be finite seconds, got device={device_s!r}, host={host_s!r}")
        if self._device0 is None:
            self._device0 = device_s
        d = device_s - self._device0  # keep magnitudes small for float64 precision
        diff = host_s - device_s
        index = int(d // self.bin_s)
        if self._bin_index == index and self._bins:
            t, best = self._bins[-1]
            if diff < best:
                self._bins[-1] = (d, diff)
        elif self._bin_index is None or index > self._bin_index:
            self._bins.append((d, diff))
            self._bin_index = index
        else:  # device time went backwards (device restarted): start over
            self._bins.clear()
            self._recent.clear()
            self._device0, self._bin_index = device_s, 0
            d = 0.0
            self._bins.append((d, diff))
        self._recent.append((d, diff))
        self.n_pairs += 1

    def _fit(self) -> tuple[float, float] | None:
        """(slope, intercept) of the lower envelope, or None with too few bins."""
        if len(self._bins) < self.min_bins:
            return None
        t = np.array([b[0] for b in self._bins])
        y = np.array([b[1] for b in self._bins])
        if np.ptp(t) <= 0:
            return None
        slope, intercept = np.polyfit(t - t.mean(), y, 1)
        intercept -= slope * t.mean()
        # Shift the line down onto the envelope: no least-delayed point may lie below it.
        intercept += float(np.min(y - (slope * t + intercept)))
        return float(slope), float(intercept)

    def estimate(self) -> ClockEstimate:
        if not self._bins:
            return ClockEstimate(None, None, None, self.n_pairs, 0.0)
        last_t = self._recent[-1][0]
        span = last_t - self._bins[0][0]
        fit = self._fit()
        if fit is None:
            best = min(b[1] for b in self._bins)
            latency = float(np.median([r[1] - best for r in self._recent]))
            return ClockEstimate(best * 1e3, None, latency * 1e3, self.n_pairs, span)
        slope, intercept = fit
        offset = slope * last_t + intercept
        latency = float(np.median([r[1] - (slope * r[0] + intercept) for r in self._recent]))
        return ClockEstimate(offset * 1e3, slope * 1e6, latency * 1e3, self.n_pairs, span)

    def to_host(self, device_s: float) -> float | None:
        """Host time at which the device's ``device_s`` happened (least-delay estimate), None before any pair."""
        if self._device0 is None or not self._bins:
            return None
        d = device_s - self._device0
        fit = self._fit()
        if fit is None:
            return device_s + min(b[1] for b in self._bins)
        slope, intercept = fit
        return device_s + slope * d + intercept
