"""A fixed-capacity sample ring addressed by an absolute sample clock, with a per-sample validity mask.

Streams are indexed by the number of samples since their origin (sample ``0`` is the first sample the device
ever sent), not by positions in a buffer. :class:`SampleRing` keeps the newest ``capacity`` samples of such a
stream and answers ``read(start, stop)`` in that absolute clock, so the code that cuts windows never deals with
wrap-around. Samples the writer skipped (a jump of the clock, i.e. a gap in the stream) are stored as zeros and
marked invalid in :attr:`SampleRing.valid`, so a reader can tell real data from holes instead of joining across
them.
"""

from __future__ import annotations

import logging

import numpy as np

from biosig.errors import SignalError
from biosig.signals._validate import _check_n_channels

logger = logging.getLogger(__name__)

__all__ = ["SampleRing"]


def _check_index(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise SignalError(f"{name} must be a non-negative integer sample index, got {value!r}")
    return int(value)


class SampleRing:
    """The newest ``capacity`` samples of a ``(n_channels, ...)`` stream, addressed by absolute sample index.

    Parameters
    ----------
    n_channels
        Rows of every block.
    capacity
        Samples kept per channel; reads reach back at most this far from :attr:`end`.
    dtype
        Storage dtype (float32 by default, the library's storage type).

    Examples
    --------
    ::

        ring = SampleRing(8, capacity=400)
        ring.write(0, block)            # block: (8, 150), samples 0..149
        ring.write(200, block2)         # samples 150..199 are a gap: zeros, marked invalid
        data = ring.read(100, 300)      # (8, 200), the absolute clock decides, not the buffer layout
        ok = ring.valid(100, 300).all() # False: the window spans the gap
    """

    def __init__(self, n_channels: int, capacity: int, dtype: np.dtype | type = np.float32) -> None:
        self.n_channels = _check_n_channels(n_channels)
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise SignalError(f"capacity must be a positive integer number of samples, got {capacity!r}")
        self.capacity = int(capacity)
        self._data = np.zeros((self.n_channels, self.capacity), dtype=dtype)
        self._valid = np.zeros(self.capacity, dtype=bool)
        self._end = 0

    @property
    def end(self) -> int:
        """Absolute index one past the newest sample written (0 before any write)."""
        return self._end

    @property
    def start(self) -> int:
        """Absolute index of the oldest sample still held."""
        return max(0, self._end - self.capacity)

    def _positions(self, start: int, stop: int) -> np.ndarray:
        return np.arange(start, stop) % self.capacity

    def write(self, at: int, block: np.ndarray) -> None:
        """Store ``block`` ``(n_channels, n)`` as samples ``at .. at + n - 1``.

        ``at`` may lie past :attr:`end`: the samples in between are a gap, stored as zeros and marked invalid.
        It may not lie before :attr:`end` (the ring is append-only; rewriting the past would change windows
        that were already handed out).
        """
        at = _check_index(at, "at")
        block = np.asarray(block)
        if block.ndim != 2 or block.shape[0] != self.n_channels:
            raise SignalError(f"block must have shape (n_channels={self.n_channels}, n_times), got shape {block.shape}")
        if at < self._end:
            raise SignalError(
                f"cannot write at sample {at}: the ring already holds samples up to {self._end - 1} and is "
                f"append-only; write at {self._end} or later"
            )
        if at > self._end:
            self._mark_missing(self._end, at)
        n = block.shape[1]
        if n > self.capacity:  # only the newest `capacity` samples can be kept
            block = block[:, n - self.capacity :]
            at, n = at + n - self.capacity, self.capacity
        if n:
            pos = self._positions(at, at + n)
            self._data[:, pos] = block
            self._valid[pos] = True
        self._end = at + n if n else max(self._end, at)

    def _mark_missing(self, start: int, stop: int) -> None:
        """Zero and invalidate ``start .. stop - 1`` (only the part that can still be read matters)."""
        start = max(start, stop - self.capacity)
        pos = self._positions(start, stop)
        self._data[:, pos] = 0
        self._valid[pos] = False
        self._end = stop

    def _check_range(self, start: int, stop: int) -> None:
        if stop < start:
            raise SignalError(f"read range must have start <= stop, got start={start}, stop={stop}")
        if start < self.start or stop > self._end:
            raise SignalError(
                f"samples {start}..{stop - 1} are not all held; the ring holds {self.start}..{self._end - 1} "
                f"(capacity {self.capacity})"
            )

    def read(self, start: int, stop: int) -> np.ndarray:
        """A copy of samples ``start .. stop - 1``: ``(n_channels, stop - start)``; gaps read as zeros."""
        start, stop = _check_index(start, "start"), _check_index(stop, "stop")
        self._check_range(start, stop)
        first = start % self.capacity
        if first + (stop - start) <= self.capacity:  # contiguous in memory: one slice copy, no gather
            return self._data[:, first : first + stop - start].copy()
        return self._data[:, self._positions(start, stop)]

    def valid(self, start: int, stop: int) -> np.ndarray:
        """``(stop - start,)`` bool: True where a real sample was written, False inside gaps."""
        start, stop = _check_index(start, "start"), _check_index(stop, "stop")
        self._check_range(start, stop)
        return self._valid[self._positions(start, stop)]

    def __repr__(self) -> str:
        return f"SampleRing(n_channels={self.n_channels}, capacity={self.capacity}, holds={self.start}..{self._end})"
