"""Polyphase resampling between two sampling rates, offline and streaming.

Both paths use the anti-aliasing FIR filter of :func:`scipy.signal.resample_poly` (Kaiser window, beta 5,
``20 * max(up, down) + 1`` taps, cutoff at the lower of the two Nyquist rates), with ``up / down`` the ratio
``sfreq_out / sfreq_in`` as a fraction whose denominator is at most ``max_denominator``.

* :func:`resample` is scipy's zero-phase offline resampler: output sample ``m`` sits at time ``m / sfreq_out``.
* :class:`StreamingResampler` is causal: it can only emit an output sample once the input it depends on has
  arrived, so its output lags by :attr:`StreamingResampler.delay` output samples. Its output ``y_stream``
  satisfies ``y_stream[delay + m] == resample(x)[m]`` for every sample it has emitted, and is the same whatever
  the chunking of the input.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from math import gcd

import numpy as np
from scipy import signal

from biosig.errors import SignalError
from biosig.signals._validate import _check_n_channels, _check_sfreq, _chunk_array, _out_dtype, _signal_array
from biosig.signals.recording import Recording

logger = logging.getLogger(__name__)

__all__ = ["StreamingResampler", "rational_ratio", "resample", "resample_recording"]

#: Kaiser window of scipy.signal.resample_poly's default filter.
_WINDOW = ("kaiser", 5.0)

#: Outputs computed per vectorised block; bounds the (n_channels, block, n_taps) gather in memory.
_BLOCK = 4096


def rational_ratio(sfreq_in: float, sfreq_out: float, max_denominator: int = 1000) -> tuple[int, int]:
    """``(up, down)`` with ``up / down == sfreq_out / sfreq_in`` exactly, both as small as possible.

    Raises
    ------
    SignalError
        When no fraction with ``down <= max_denominator`` equals the ratio to 1 part in 10^9 (e.g. 1000 Hz to
        999.9999 Hz); the message gives the closest such fraction and the rate it would really produce.
    """
    sfreq_in = _check_sfreq(sfreq_in, "sfreq_in")
    sfreq_out = _check_sfreq(sfreq_out, "sfreq_out")
    if isinstance(max_denominator, bool) or not isinstance(max_denominator, (int, np.integer)) or max_denominator < 1:
        raise SignalError(f"max_denominator must be a positive integer, got {max_denominator!r}")
    ratio = sfreq_out / sfreq_in
    frac = Fraction(ratio).limit_denominator(int(max_denominator))
    achieved = sfreq_in * frac.numerator / frac.denominator
    if abs(achieved - sfreq_out) > 1e-9 * sfreq_out:
        raise SignalError(
            f"cannot resample from {sfreq_in:g} Hz to {sfreq_out:g} Hz with a ratio whose denominator is at most "
            f"{max_denominator}: the closest, {frac.numerator}/{frac.denominator}, gives {achieved:.6f} Hz; "
            f"raise max_denominator or choose a rate with a simpler ratio"
        )
    return frac.numerator, frac.denominator


def resample(
    data: np.ndarray,
    sfreq_in: float,
    sfreq_out: float,
    max_denominator: int = 1000,
) -> np.ndarray:
    """Resample ``(n_channels, n_times)`` or ``(batch, n_channels, n_times)`` along the last axis.

    Returns ``ceil(n_times * sfreq_out / sfreq_in)`` samples per channel (scipy's length), in the float dtype
    of the input (float32 stays float32). Edges assume zeros outside the signal, as scipy does.
    """
    array = _signal_array(data)
    up, down = rational_ratio(sfreq_in, sfreq_out, max_denominator)
    if array.shape[-1] == 0:
        raise SignalError("data has 0 samples; there is nothing to resample")
    if up == down:
        return array.astype(_out_dtype(array), copy=True)
    out = signal.resample_poly(array.astype(np.float64, copy=False), up, down, axis=-1, window=_WINDOW)
    return out.astype(_out_dtype(array), copy=False)


def resample_recording(rec: Recording, sfreq: float, max_denominator: int = 1000) -> Recording:
    """A new recording at ``sfreq``; labels and the valid mask follow by nearest earlier sample.

    Annotations are in seconds and stay as they are. The step is appended to ``metadata["preprocessing"]``.
    """
    if not isinstance(rec, Recording):
        raise SignalError(f"rec must be a Recording, got {type(rec).__name__}")
    data = resample(rec.data, rec.sfreq, sfreq, max_denominator)
    n_out = data.shape[1]
    # Output sample m is at time m / sfreq; the input sample at or just before that time carries its label.
    src = np.minimum((np.arange(n_out) * rec.sfreq / float(sfreq)).astype(np.int64), rec.n_times - 1)
    labels = None if rec.labels is None else rec.labels[src]
    valid = None if rec.valid is None else rec.valid[src]
    step = f"resample({rec.sfreq:g} Hz -> {float(sfreq):g} Hz)"
    history = tuple(rec.metadata.get("preprocessing", ())) + (step,)
    return rec.replace(
        data=data,
        info=rec.info.with_sfreq(float(sfreq)),
        labels=labels,
        valid=valid,
        metadata={**rec.metadata, "preprocessing": history},
    )


class StreamingResampler:
    """Causal polyphase resampler for ``(n_channels, n)`` chunks.

    Output sample ``m`` of the stream is the anti-aliased input evaluated at upsampled index
    ``m * down - shift`` (``shift`` in ``[0, down)`` makes the lag a whole number of output samples); it is
    emitted as soon as the input samples it depends on have arrived. Hence:

    * the output is identical (to float64 rounding) for any chunking of the same input;
    * ``output[delay:]`` equals :func:`resample` of the same input, sample for sample, where
      :attr:`delay` ``= ceil(half_len / down)`` output samples (``half_len = 10 * max(up, down)`` in the
      upsampled domain), i.e. :attr:`delay_s` seconds;
    * :meth:`flush` emits the last ``delay`` samples assuming the input stops (zeros follow), after which the
      stream holds exactly ``delay + ceil(n_in * up / down)`` samples.

    Parameters
    ----------
    sfreq_in, sfreq_out
        Rates in Hz; their ratio must be a fraction with denominator <= ``max_denominator``.
    n_channels
        Rows of every chunk.
    """

    def __init__(self, sfreq_in: float, sfreq_out: float, n_channels: int, max_denominator: int = 1000) -> None:
        self.sfreq_in = _check_sfreq(sfreq_in, "sfreq_in")
        self.sfreq_out = _check_sfreq(sfreq_out, "sfreq_out")
        self.n_channels = _check_n_channels(n_channels)
        up, down = rational_ratio(self.sfreq_in, self.sfreq_out, max_denominator)
        g = gcd(up, down)
        self.up, self.down = up // g, down // g
        max_rate = max(self.up, self.down)
        if max_rate == 1:
            # Equal rates: a pass-through with no delay (resample() returns a copy in that case too).
            half_len, h = 0, np.ones(1)
        else:
            half_len = 10 * max_rate
            # The taps of scipy.signal.resample_poly (gain `up` restores the amplitude lost to zero-stuffing).
            h = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=_WINDOW) * self.up
        self._delay = -(-half_len // self.down)  # ceil
        self._shift = self._delay * self.down - half_len
        # Polyphase table: phase p uses taps h[p], h[p + up], ... against the newest input backwards.
        self._n_taps = -(-len(h) // self.up)
        padded = np.zeros(self._n_taps * self.up)
        padded[: len(h)] = h
        self._poly = padded.reshape(self._n_taps, self.up).T.copy()  # (up, n_taps)
        self.reset()

    @property
    def delay(self) -> int:
        """Lag of the stream behind :func:`resample`, in output samples."""
        return self._delay

    @property
    def delay_s(self) -> float:
        """Lag of the stream behind :func:`resample`, in seconds."""
        return self._delay / self.sfreq_out

    def reset(self) -> None:
        """Forget the stream: the next chunk starts a new signal (zeros are assumed before it)."""
        # The last n_taps input samples (zeros before the start), which the next outputs still need. One more
        # than the taps, because the very first outputs may sit before input 0 (newest input index -1).
        self._history = np.zeros((self.n_channels, self._n_taps))
        self._n_in = 0
        self._n_out = 0
        self._flushed = False

    def _n_ready(self, n_in: int) -> int:
        """Outputs computable once ``n_in`` inputs have arrived: those with ``m * down - shift < n_in * up``."""
        return (n_in * self.up + self._shift + self.down - 1) // self.down

    def _emit(self, buffer: np.ndarray, first_input: int, stop: int) -> np.ndarray:
        """Outputs ``self._n_out .. stop - 1``; ``buffer[:, j]`` holds input sample ``first_input + j``."""
        out = np.empty((self.n_channels, stop - self._n_out))
        taps = np.arange(self._n_taps)
        for start in range(self._n_out, stop, _BLOCK):
            m = np.arange(start, min(start + _BLOCK, stop))
            pos = m * self.down - self._shift  # index in the zero-stuffed input
            phase = pos % self.up
            newest = (pos - phase) // self.up - first_input  # buffer column of the newest contributing input
            gathered = buffer[:, newest[:, None] - taps[None, :]]  # (n_channels, block, n_taps)
            out[:, start - self._n_out : start - self._n_out + len(m)] = np.einsum(
                "cbt,bt->cb", gathered, self._poly[phase]
            )
        return out

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed ``(n_channels, n)`` input samples; returns the ``(n_channels, k)`` outputs now computable.

        ``k`` varies from call to call (it may be 0); over a stream it totals ``delay + n_in * up / down``.
        """
        if self._flushed:
            raise SignalError("this StreamingResampler was flushed; call reset() before feeding a new stream")
        array = _chunk_array(chunk, self.n_channels)
        out_dtype = _out_dtype(array)
        x = array.astype(np.float64, copy=False)
        first_input = self._n_in - self._history.shape[1]
        buffer = np.concatenate([self._history, x], axis=1)
        self._n_in += x.shape[1]
        stop = self._n_ready(self._n_in)
        out = self._emit(buffer, first_input, stop)
        self._n_out = stop
        self._history = buffer[:, buffer.shape[1] - self._n_taps :]
        return out.astype(out_dtype, copy=False)

    def flush(self, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """End the stream: the outputs still owed, computed as if zeros followed the last input.

        After this, the stream's total output is ``delay + ceil(n_in * up / down)`` samples and its tail
        equals the tail of :func:`resample`. Call :meth:`reset` before reusing the object.
        """
        if self._flushed:
            return np.zeros((self.n_channels, 0), dtype=dtype)
        total = self._delay + -(-self._n_in * self.up // self.down)
        n_zeros = max(0, -(-(total * self.down - self._shift) // self.up) - self._n_in + 1)
        first_input = self._n_in - self._history.shape[1]
        buffer = np.concatenate([self._history, np.zeros((self.n_channels, n_zeros))], axis=1)
        out = self._emit(buffer, first_input, max(total, self._n_out))
        self._n_out = max(total, self._n_out)
        self._flushed = True
        return out.astype(dtype, copy=False)
