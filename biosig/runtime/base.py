"""The one interface every inference backend offers, and the input handling they share.

:class:`Encoder` is what the streaming hub and the service call: ``embed(batch) -> (B, D)`` on windows in the
units the device delivers (the checkpoint's input scaling is applied inside), with ``signal_spec`` saying what
the model expects. :class:`BaseEncoder` implements the shared part (validation, input scaling, splitting a
batch into ``max_batch`` pieces, warm-up, timing counters); backends implement ``_run`` only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from biosig.errors import SignalError
from biosig.models.checkpoint import SignalSpec
from biosig.runtime.scaling import InputScale

__all__ = ["BaseEncoder", "Encoder"]

log = logging.getLogger(__name__)


@runtime_checkable
class Encoder(Protocol):
    """Maps ``(batch, n_channels, n_times)`` windows to ``(batch, embed_dim)`` float32 embeddings.

    ``signal_spec`` is the signal the model was trained on (rate, window, channel types); ``time_multiple``
    is the granularity of accepted window lengths; ``name`` identifies the model and backend in logs.
    ``ch_types``/``units`` describe the batch's channels (default: the spec's, when the counts agree) so
    that the checkpoint's input scaling can be applied.
    """

    name: str
    backend: str
    signal_spec: SignalSpec
    embed_dim: int
    time_multiple: int
    input_scale: InputScale

    def embed(
        self,
        batch: np.ndarray,
        ch_types: Sequence[str] | None = None,
        units: Sequence[str] | None = None,
    ) -> np.ndarray: ...


class BaseEncoder:
    """Shared input handling; subclasses set the attributes of :class:`Encoder` and implement :meth:`_run`."""

    name: str
    backend: str
    signal_spec: SignalSpec
    embed_dim: int
    time_multiple: int
    input_scale: InputScale
    max_batch: int

    def _init_common(self, max_batch: int) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive int, got {max_batch!r}")
        self.max_batch = max_batch
        self.n_calls = 0
        self.n_windows = 0
        self.busy_s = 0.0  # time spent inside the backend, for throughput reports
        self._divisor_cache: dict[tuple[tuple[str, ...], tuple[str, ...]], np.ndarray] = {}

    def _run(self, x: np.ndarray) -> np.ndarray:
        """``(b, c, t)`` float32, already scaled, ``b <= max_batch`` -> ``(b, embed_dim)`` float32."""
        raise NotImplementedError

    def _divisors(self, n_channels: int, ch_types: Sequence[str] | None, units: Sequence[str] | None) -> np.ndarray:
        spec = self.signal_spec
        if ch_types is None:
            if len(spec.ch_types) == n_channels:
                ch_types = spec.ch_types
            elif len(set(spec.ch_types)) == 1:  # a one-type model: any count of that type
                ch_types = (spec.ch_types[0],) * n_channels
            else:
                raise SignalError(
                    f"batch has {n_channels} channels but the model's spec has {len(spec.ch_types)} of several "
                    f"types {sorted(set(spec.ch_types))}; pass ch_types so the input scaling can be applied"
                )
        if units is None:
            if tuple(ch_types) == spec.ch_types:
                units = spec.units
            else:
                by_type = dict(zip(spec.ch_types, spec.units))
                units = tuple(by_type.get(t, "*") for t in ch_types)
        key = (tuple(ch_types), tuple(units))
        if len(key[0]) != n_channels or len(key[1]) != n_channels:
            raise SignalError(
                f"ch_types and units must have one entry per channel ({n_channels}), "
                f"got {len(key[0])} and {len(key[1])}"
            )
        if key not in self._divisor_cache:
            self._divisor_cache[key] = self.input_scale.channel_divisors(*key)[:, None]  # (c, 1)
        return self._divisor_cache[key]

    def check_batch(self, batch: object) -> np.ndarray:
        """``batch`` as a C-contiguous float32 ``(b, c, t)`` array, or a :class:`SignalError` naming the problem."""
        x = np.asarray(batch)
        if x.ndim != 3:
            raise SignalError(f"batch must have shape (batch, n_channels, n_times), got shape {x.shape}")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise SignalError(f"batch must hold real numbers, got dtype {x.dtype}")
        b, c, t = x.shape
        if b < 1 or c < 1:
            raise SignalError(f"batch needs at least one window and one channel, got shape {x.shape}")
        if t < self.time_multiple or t % self.time_multiple:
            raise SignalError(
                f"windows of {t} samples are not a positive multiple of {self.time_multiple} for {self.name}; "
                f"the model expects {self.signal_spec.n_times} samples at {self.signal_spec.sfreq:g} Hz"
            )
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise SignalError("batch contains NaN or infinite samples")
        return x

    def embed(
        self,
        batch: np.ndarray,
        ch_types: Sequence[str] | None = None,
        units: Sequence[str] | None = None,
    ) -> np.ndarray:
        """``(b, c, t)`` windows in device units -> ``(b, embed_dim)`` float32 embeddings.

        Batches larger than ``max_batch`` run in several backend calls; the result does not depend on the split
        (every window is embedded independently).
        """
        x = self.check_batch(batch)
        div = self._divisors(x.shape[1], ch_types, units)
        if not self.input_scale.is_identity:
            x = x / div  # (b, c, t) / (c, 1)
        out = np.empty((x.shape[0], self.embed_dim), dtype=np.float32)
        t0 = time.perf_counter()
        for start in range(0, x.shape[0], self.max_batch):
            out[start : start + self.max_batch] = self._run(x[start : start + self.max_batch])
        self.busy_s += time.perf_counter() - t0
        self.n_calls += 1
        self.n_windows += x.shape[0]
        return out

    def warmup(self, batch_sizes: Sequence[int] = (1,), n_channels: int | None = None, repeats: int = 2) -> float:
        """Run zeros-plus-noise windows of the spec's shape through the backend; returns the seconds spent.

        The first calls of a session allocate memory and pick kernels; doing that at load time keeps it out of
        the first real request's latency.
        """
        spec = self.signal_spec
        c = n_channels or len(spec.ch_types)
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for b in batch_sizes:
            x = rng.standard_normal((min(int(b), self.max_batch), c, spec.n_times)).astype(np.float32)
            for _ in range(repeats):
                self._run(x)
        elapsed = time.perf_counter() - t0
        log.info("%s: warm-up with batches %s took %.3f s", self.name, list(batch_sizes), elapsed)
        return elapsed

    def __repr__(self) -> str:
        s = self.signal_spec
        return (
            f"{type(self).__name__}({self.name!r}, backend={self.backend}, {len(s.ch_types)} ch x {s.n_times} "
            f"@ {s.sfreq:g} Hz -> {self.embed_dim})"
        )
