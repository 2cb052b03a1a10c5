"""EMG amplitude envelopes: moving RMS and the linear envelope (full-wave rectification + low-pass).

Both are computed per channel along the last axis of ``(n_channels, n_times)`` (or ``(batch, n_channels,
n_times)`` offline) arrays, in the units of the input (volts in, volts out). Each has a streaming class whose
chunk-by-chunk output equals the causal offline version of the whole signal.

* Moving RMS over ``window`` samples: ``sqrt(mean(x**2))`` over the last ``window`` samples (causal) or over a
  window centred on the sample (offline). At the edges the mean is taken over the samples that exist, so the
  envelope does not dip towards zero at the start.
* Linear envelope: optional high-pass (removes offset and motion artefact before rectifying, which would
  otherwise turn the offset into envelope), ``abs``, then a Butterworth low-pass (typically 3-10 Hz).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from biosig.errors import SignalError
from biosig.signals._validate import _check_n_channels, _check_sfreq, _chunk_array, _out_dtype, _signal_array
from biosig.signals.filters import (
    CausalFilter,
    design_highpass,
    design_lowpass,
    filtfilt,
)
from biosig.signals.recording import Recording

logger = logging.getLogger(__name__)

__all__ = ["LinearEnvelope", "MovingRMS", "envelope_recording", "linear_envelope", "moving_rms"]


def _check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise SignalError(f"window must be a positive integer number of samples, got {window!r}")
    return int(window)


class MovingRMS:
    """Causal moving RMS over the last ``window`` samples, for ``(n_channels, n)`` chunks.

    Output sample ``t`` is ``sqrt(mean(x[max(0, t - window + 1) .. t] ** 2))``.
    """

    def __init__(self, n_channels: int, window: int) -> None:
        self.n_channels = _check_n_channels(n_channels)
        self.window = _check_window(window)
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        # Squares of the last window - 1 samples (zeros stand for "before the start", and add nothing).
        self._history = np.zeros((self.n_channels, self.window - 1))
        self._n_seen = 0

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """RMS at each of the next ``(n_channels, n)`` samples; returns ``(n_channels, n)`` in the chunk's dtype."""
        array = _chunk_array(chunk, self.n_channels)
        out_dtype = _out_dtype(array)
        n = array.shape[1]
        if n == 0:
            return np.zeros((self.n_channels, 0), dtype=out_dtype)
        x = array.astype(np.float64, copy=False)
        squares = np.concatenate([self._history, x * x], axis=1)
        csum = np.concatenate([np.zeros((self.n_channels, 1)), np.cumsum(squares, axis=1)], axis=1)
        h = self._history.shape[1]
        ends = np.arange(h + 1, h + n + 1)  # exclusive end in `squares` of each new sample's window
        sums = csum[:, ends] - csum[:, ends - self.window]
        counts = np.minimum(np.arange(self._n_seen + 1, self._n_seen + n + 1), self.window)
        # Cumulative-sum differences can dip a hair below 0 for silent stretches; RMS of real numbers cannot.
        out = np.sqrt(np.maximum(sums, 0.0) / counts)
        self._history = squares[:, squares.shape[1] - h :] if h else self._history
        self._n_seen += n
        return out.astype(out_dtype, copy=False)


def moving_rms(data: np.ndarray, window: int, mode: Literal["causal", "centered"] = "causal") -> np.ndarray:
    """Moving RMS over ``window`` samples along the last axis.

    Parameters
    ----------
    data
        ``(n_channels, n_times)`` or ``(batch, n_channels, n_times)``.
    mode
        ``"causal"``: the window ends at the sample (same as :class:`MovingRMS`), lagging by about
        ``(window - 1) / 2`` samples. ``"centered"``: samples ``t - (window - 1) // 2 .. t + window // 2``,
        no lag, offline only.
    """
    array = _signal_array(data)
    window = _check_window(window)
    rows = array.reshape(-1, array.shape[-1])
    if mode == "causal":
        out = MovingRMS(rows.shape[0], window).process(rows.astype(np.float64))
    elif mode == "centered":
        x = rows.astype(np.float64)
        n = x.shape[1]
        csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x * x, axis=1)], axis=1)
        t = np.arange(n)
        start = np.clip(t - (window - 1) // 2, 0, n)
        stop = np.clip(t + window // 2 + 1, 0, n)
        out = np.sqrt(np.maximum(csum[:, stop] - csum[:, start], 0.0) / (stop - start))
    else:
        raise SignalError(f"mode must be 'causal' or 'centered', got {mode!r}")
    return out.reshape(array.shape).astype(_out_dtype(array), copy=False)


class LinearEnvelope:
    """Causal linear envelope for ``(n_channels, n)`` chunks: [high-pass] -> ``abs`` -> low-pass.

    The high-pass starts in steady state from the first sample (so an offset gives no start-up transient);
    the low-pass starts from zero, i.e. the envelope rises from 0 at the start of the stream. Negative
    undershoot of the low-pass after sharp offsets is clipped to 0, since an amplitude cannot be negative.

    Parameters
    ----------
    sfreq
        Sampling rate in Hz.
    cutoff
        Low-pass -3 dB frequency in Hz (3-10 Hz is usual for EMG).
    highpass
        High-pass edge in Hz applied before rectification (e.g. 20 Hz for surface EMG), or None.
    """

    def __init__(
        self,
        sfreq: float,
        n_channels: int,
        cutoff: float = 6.0,
        order: int = 4,
        highpass: float | None = None,
    ) -> None:
        self.sfreq = _check_sfreq(sfreq)
        self.n_channels = _check_n_channels(n_channels)
        self._lowpass = CausalFilter(design_lowpass(cutoff, self.sfreq, order), self.n_channels, steady_state=False)
        self._highpass = (
            None
            if highpass is None
            else CausalFilter(design_highpass(highpass, self.sfreq, order), self.n_channels, steady_state=True)
        )

    def reset(self) -> None:
        """Forget the stream."""
        self._lowpass.reset()
        if self._highpass is not None:
            self._highpass.reset()

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Envelope of the next ``(n_channels, n)`` samples, ``(n_channels, n)`` in the chunk's dtype."""
        array = _chunk_array(chunk, self.n_channels)
        out_dtype = _out_dtype(array)
        x = array.astype(np.float64, copy=False)
        if self._highpass is not None:
            x = self._highpass.process(x)
        return np.maximum(self._lowpass.process(np.abs(x)), 0.0).astype(out_dtype, copy=False)


def linear_envelope(
    data: np.ndarray,
    sfreq: float,
    cutoff: float = 6.0,
    order: int = 4,
    highpass: float | None = None,
    zero_phase: bool = True,
) -> np.ndarray:
    """Linear envelope ([high-pass] -> ``abs`` -> low-pass) along the last axis, clipped at 0.

    ``zero_phase=True`` filters forwards and backwards (offline, no lag; both filters then have a squared
    magnitude response); ``False`` gives exactly :class:`LinearEnvelope`'s output for the whole signal.
    """
    array = _signal_array(data)
    sfreq = _check_sfreq(sfreq)
    out_dtype = _out_dtype(array)
    rows = array.reshape(-1, array.shape[-1]).astype(np.float64)
    if zero_phase:
        low = design_lowpass(cutoff, sfreq, order)
        x = rows if highpass is None else filtfilt(rows, design_highpass(highpass, sfreq, order), sfreq)
        out = np.maximum(filtfilt(np.abs(x), low, sfreq), 0.0)
    else:
        out = LinearEnvelope(sfreq, rows.shape[0], cutoff, order, highpass).process(rows)
    return out.reshape(array.shape).astype(out_dtype, copy=False)


def envelope_recording(
    rec: Recording,
    method: Literal["rms", "linear"] = "linear",
    window_s: float = 0.1,
    cutoff: float = 6.0,
    highpass: float | None = None,
    zero_phase: bool = True,
) -> Recording:
    """A new recording holding the envelope of every channel (same units, rate, labels and annotations).

    ``method="rms"`` uses a ``window_s``-second moving RMS (centred when ``zero_phase``, else causal);
    ``"linear"`` uses :func:`linear_envelope` with ``cutoff`` and ``highpass``.
    """
    if not isinstance(rec, Recording):
        raise SignalError(f"rec must be a Recording, got {type(rec).__name__}")
    if method == "rms":
        if not isinstance(window_s, (int, float)) or not window_s > 0:
            raise SignalError(f"window_s must be a positive number of seconds, got {window_s!r}")
        window = max(1, int(round(window_s * rec.sfreq)))
        data = moving_rms(rec.data, window, "centered" if zero_phase else "causal")
        step = f"envelope(rms, window={window} samples, zero_phase={zero_phase})"
    elif method == "linear":
        data = linear_envelope(rec.data, rec.sfreq, cutoff, highpass=highpass, zero_phase=zero_phase)
        step = f"envelope(linear, cutoff={cutoff}, highpass={highpass}, zero_phase={zero_phase})"
    else:
        raise SignalError(f"method must be 'rms' or 'linear', got {method!r}")
    history = tuple(rec.metadata.get("preprocessing", ())) + (step,)
    return rec.replace(data=data, metadata={**rec.metadata, "preprocessing": history})
