"""Per-channel amplitude normalisation: z-score, robust (median/IQR) and exponential moving standardisation.

Inputs are ``(n_channels, n_times)`` or ``(batch, n_channels, n_times)``; statistics are taken per channel
(and per batch item) along the last axis. Arithmetic runs in float64; float32 in gives float32 out.

Constant channels (a flat line, a disconnected electrode) have no spread to divide by: they come out as zeros
instead of NaN, and a debug log line says which rows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Literal

import numpy as np
from scipy import signal

from biosig.errors import SignalError
from biosig.signals._validate import _check_n_channels, _chunk_array, _out_dtype, _signal_array
from biosig.signals.recording import Recording

logger = logging.getLogger(__name__)

__all__ = [
    "ExponentialMovingStandardizer",
    "exponential_moving_standardize",
    "normalize_recording",
    "robust_scale",
    "zscore",
]


def _scaled(x: np.ndarray, center: np.ndarray, spread: np.ndarray, what: str) -> np.ndarray:
    """``(x - center) / spread`` where the spread is positive, zeros where it is 0."""
    flat = spread <= 0
    if np.any(flat):
        logger.debug("%s: %d constant channel(s) set to 0", what, int(flat.sum()))
    out = (x - center) / np.where(flat, 1.0, spread)
    return np.where(flat, 0.0, out)


def zscore(data: np.ndarray) -> np.ndarray:
    """Per-channel ``(x - mean) / std`` (population std) along the last axis; constant channels become 0."""
    array = _signal_array(data)
    x = array.astype(np.float64, copy=False)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    # A flat channel's std can come out as 1e-17 instead of 0 after rounding; test the range, which is exact.
    std = np.where(np.ptp(x, axis=-1, keepdims=True) == 0, 0.0, std)
    return _scaled(x, mean, std, "zscore").astype(_out_dtype(array), copy=False)


def robust_scale(data: np.ndarray, quantiles: tuple[float, float] = (25.0, 75.0)) -> np.ndarray:
    """Per-channel ``(x - median) / (q_high - q_low)`` along the last axis (sklearn's ``RobustScaler``).

    Parameters
    ----------
    quantiles
        Percentiles in [0, 100] bounding the spread; the default is the inter-quartile range.
        Channels whose spread is 0 are centred and then set to 0.
    """
    array = _signal_array(data)
    if (
        len(quantiles) != 2
        or not all(isinstance(q, (int, float)) and 0 <= q <= 100 for q in quantiles)
        or not quantiles[0] < quantiles[1]
    ):
        raise SignalError(f"quantiles must be two percentiles 0 <= low < high <= 100, got {quantiles!r}")
    x = array.astype(np.float64, copy=False)
    median = np.median(x, axis=-1, keepdims=True)
    low, high = np.percentile(x, quantiles, axis=-1, keepdims=True)
    return _scaled(x, median, high - low, "robust_scale").astype(_out_dtype(array), copy=False)


class ExponentialMovingStandardizer:
    """Streaming exponential moving standardisation (Schirrmeister et al. 2017; braindecode's
    ``exponential_moving_standardize``).

    For each channel, with ``a = factor_new`` and weights ``(1 - a)**(t - i)`` over past samples ``i <= t``
    (pandas ``ewm(alpha=a, adjust=True)``)::

        m_t = weighted mean of x up to t
        v_t = weighted mean of (x_i - m_i)**2 up to t
        y_t = (x_t - m_t) / max(sqrt(v_t), eps)

    With ``init_block_size`` the first block is instead standardised with its own mean and std (as braindecode
    does); those outputs can only be computed once the block is complete, so :meth:`process` returns nothing
    until then and :meth:`flush` standardises a stream that ended earlier with what it got.

    Concatenated outputs are the same for any chunking and equal :func:`exponential_moving_standardize`.

    Parameters
    ----------
    n_channels
        Rows of every chunk.
    factor_new
        Weight ``a`` of the newest sample, in (0, 1]; ``1 / factor_new`` is roughly the memory in samples.
    eps
        Floor of the standard deviation, in the data's units (1e-4 suits microvolts, as in braindecode;
        use a value in the units of your data, e.g. 1e-10 for volts).
    init_block_size
        Samples standardised as one block at the start, or None.
    """

    def __init__(
        self,
        n_channels: int,
        factor_new: float = 1e-3,
        eps: float = 1e-4,
        init_block_size: int | None = None,
    ) -> None:
        self.n_channels = _check_n_channels(n_channels)
        if not isinstance(factor_new, (int, float)) or not 0 < factor_new <= 1:
            raise SignalError(f"factor_new must be a number in (0, 1], got {factor_new!r}")
        if not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
            raise SignalError(f"eps must be a positive finite number, got {eps!r}")
        if init_block_size is not None and (
            isinstance(init_block_size, bool)
            or not isinstance(init_block_size, (int, np.integer))
            or init_block_size < 1
        ):
            raise SignalError(f"init_block_size must be a positive integer or None, got {init_block_size!r}")
        self.factor_new = float(factor_new)
        self.eps = float(eps)
        self.init_block_size = None if init_block_size is None else int(init_block_size)
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        # Running weighted sums S (of x) and Q (of squared deviations) and the running weight total W.
        self._sum = np.zeros((self.n_channels, 1))
        self._sq = np.zeros((self.n_channels, 1))
        self._weight = 0.0
        self._pending_raw: list[np.ndarray] = []
        self._pending_std: list[np.ndarray] = []
        self._block_done = self.init_block_size is None

    def _ema(self, values: np.ndarray, previous: np.ndarray | float) -> np.ndarray:
        """``r_t = values_t + (1 - a) * r_{t-1}`` along the last axis, starting from ``previous``."""
        decay = 1.0 - self.factor_new
        zi = decay * np.broadcast_to(np.asarray(previous, dtype=np.float64), values.shape[:-1] + (1,))
        out, _ = signal.lfilter([1.0], [1.0, -decay], values, axis=-1, zi=zi)
        return out

    def _standardize(self, x: np.ndarray) -> np.ndarray:
        weight = self._ema(np.ones((1, x.shape[1])), self._weight)  # (1, n)
        sums = self._ema(x, self._sum)
        dev = x - sums / weight
        squares = self._ema(dev * dev, self._sq)
        self._sum, self._sq, self._weight = sums[:, -1:].copy(), squares[:, -1:].copy(), float(weight[0, -1])
        return dev / np.maximum(self.eps, np.sqrt(squares / weight))

    def _block(self, raw: np.ndarray) -> np.ndarray:
        mean = raw.mean(axis=1, keepdims=True)
        std = raw.std(axis=1, keepdims=True)
        return (raw - mean) / np.maximum(self.eps, std)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Standardise the next ``(n_channels, n)`` samples; returns ``(n_channels, k)`` in the chunk's dtype.

        ``k == n`` except while the initial block is being collected (see the class docstring).
        """
        array = _chunk_array(chunk, self.n_channels)
        out_dtype = _out_dtype(array)
        x = array.astype(np.float64, copy=False)
        if x.shape[1] == 0:
            return np.zeros((self.n_channels, 0), dtype=out_dtype)
        standardized = self._standardize(x)
        if self._block_done:
            return standardized.astype(out_dtype, copy=False)
        self._pending_raw.append(x.copy())
        self._pending_std.append(standardized)
        raw = np.concatenate(self._pending_raw, axis=1)
        assert self.init_block_size is not None
        if raw.shape[1] < self.init_block_size:
            return np.zeros((self.n_channels, 0), dtype=out_dtype)
        out = np.concatenate(self._pending_std, axis=1)
        out[:, : self.init_block_size] = self._block(raw[:, : self.init_block_size])
        self._pending_raw, self._pending_std, self._block_done = [], [], True
        return out.astype(out_dtype, copy=False)

    def flush(self, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Outputs held back for an initial block that never completed (the stream ended first)."""
        if self._block_done or not self._pending_raw:
            return np.zeros((self.n_channels, 0), dtype=dtype)
        out = self._block(np.concatenate(self._pending_raw, axis=1))
        self._pending_raw, self._pending_std, self._block_done = [], [], True
        return out.astype(dtype, copy=False)


def exponential_moving_standardize(
    data: np.ndarray,
    factor_new: float = 1e-3,
    eps: float = 1e-4,
    init_block_size: int | None = None,
) -> np.ndarray:
    """Offline :class:`ExponentialMovingStandardizer` over ``(n_channels, n_times)`` or a batch thereof.

    Each channel of each batch item is an independent stream starting at its first sample.
    """
    array = _signal_array(data)
    out_dtype = _out_dtype(array)
    rows = array.reshape(-1, array.shape[-1])
    ems = ExponentialMovingStandardizer(rows.shape[0], factor_new, eps, init_block_size)
    out = np.concatenate([ems.process(rows.astype(np.float64)), ems.flush(np.float64)], axis=1)
    return out.reshape(array.shape).astype(out_dtype, copy=False)


def normalize_recording(rec: Recording, method: Literal["zscore", "robust"] = "zscore") -> Recording:
    """A new recording normalised per channel; units become ``"a.u."`` since the values are no longer SI."""
    if not isinstance(rec, Recording):
        raise SignalError(f"rec must be a Recording, got {type(rec).__name__}")
    if method == "zscore":
        data = zscore(rec.data)
    elif method == "robust":
        data = robust_scale(rec.data)
    else:
        raise SignalError(f"method must be 'zscore' or 'robust', got {method!r}")
    info = replace(rec.info, units=("a.u.",) * rec.n_channels)
    history = tuple(rec.metadata.get("preprocessing", ())) + (f"normalize({method})",)
    return rec.replace(data=data, info=info, metadata={**rec.metadata, "preprocessing": history})
