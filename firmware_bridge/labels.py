"""True labels of a source's recent samples, for printing and scoring live results against them.

Replay and synthetic sources know the true gesture of every sample (``Chunk.labels``). :class:`LabelTrack`
keeps the last few seconds of them (thread-safe: results arrive in the uplink's thread) and answers what the
truth was at a sample or over a result's window.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

import numpy as np

from firmware_bridge.base import Chunk

__all__ = ["LabelTrack"]


class LabelTrack:
    """Per-sample true labels of the last ``keep_samples`` samples, with their ``names``."""

    def __init__(self, names: Mapping[int, str], keep_samples: int) -> None:
        self.names = dict(names)
        self.keep = int(keep_samples)
        self._parts: deque[tuple[int, np.ndarray]] = deque()
        self._lock = threading.Lock()

    def _name(self, value: int) -> str:
        return self.names.get(value, "unlabelled" if value < 0 else str(value))

    def add(self, chunk: Chunk) -> None:
        if chunk.labels is None:
            return
        with self._lock:
            self._parts.append((chunk.first_sample, np.asarray(chunk.labels)))
            while self._parts and self._parts[-1][0] - self._parts[0][0] > self.keep:
                self._parts.popleft()

    def at(self, sample: int) -> str | None:
        """The true label of one sample, None when it is not (or no longer) known."""
        with self._lock:
            for first, labels in reversed(self._parts):
                if first <= sample < first + len(labels):
                    return self._name(int(labels[sample - first]))
        return None

    def window(self, start: int, stop: int, min_fraction: float = 0.8) -> str | None:
        """The label covering at least ``min_fraction`` of samples ``[start, stop)``; None otherwise (unknown,
        unlabelled or a transition between gestures)."""
        with self._lock:
            parts = [(f, lab) for f, lab in self._parts if f < stop and f + len(lab) > start]
        if not parts or stop <= start:
            return None
        labels = np.concatenate([lab[max(0, start - f) : stop - f] for f, lab in parts])
        labels = labels[labels >= 0]
        if not len(labels):
            return None
        values, counts = np.unique(labels, return_counts=True)
        best = int(np.argmax(counts))
        if counts[best] < min_fraction * (stop - start):
            return None
        return self._name(int(values[best]))
