"""Many streams, one encoder: per-stream featurizers whose due windows are embedded together.

:class:`StreamHub` owns one :class:`~biosig.stream.featurizer.StreamFeaturizer` per stream id. ``push`` feeds a
chunk to its stream and queues the windows it completes; :meth:`StreamHub.embed_pending` then embeds every
queued window of every stream in as few encoder calls as possible: one call per group of windows that can
share a batch (same channel count, window length, channel types and units), split at ``max_batch``. A server
loop typically pushes whatever arrived during one hop for all streams and then calls ``embed_pending`` once,
so the encoder's cost per call is amortised over all streams (see ``bench/bench_streams.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from biosig.errors import SignalError
from biosig.runtime.base import Encoder
from biosig.stream.featurizer import FeaturizerConfig, PushResult, StreamFeaturizer, Window

__all__ = ["EmbeddedWindow", "StreamHub"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EmbeddedWindow:
    """A window and its ``(embed_dim,)`` float32 embedding."""

    window: Window
    embedding: np.ndarray

    @property
    def stream_id(self) -> str:
        return self.window.stream_id


class StreamHub:
    """Featurizers for many streams feeding one :class:`~biosig.runtime.base.Encoder`.

    Parameters
    ----------
    encoder
        Embeds the windows; every stream's ``sfreq`` must equal its ``signal_spec.sfreq`` and its window must
        be a multiple of its ``time_multiple``. May be None to only collect windows (:meth:`take_pending`).
    max_batch
        Largest batch handed to the encoder in one call.
    """

    def __init__(self, encoder: Encoder | None = None, *, max_batch: int = 256) -> None:
        if encoder is not None and not isinstance(encoder, Encoder):
            raise TypeError(f"encoder must implement biosig.runtime.Encoder, got {type(encoder).__name__}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive int, got {max_batch!r}")
        self.encoder = encoder
        self.max_batch = max_batch
        self._streams: dict[str, StreamFeaturizer] = {}
        self._pending: list[Window] = []
        self.last_embed_s = 0.0

    # -- streams -----------------------------------------------------------------------------------------------

    def add_stream(self, stream_id: str, config: FeaturizerConfig) -> StreamFeaturizer:
        """Start a stream; its windows must suit the encoder (rate and length), checked here, not mid-stream."""
        if stream_id in self._streams:
            raise SignalError(f"stream {stream_id!r} already exists; remove it first or use another id")
        if self.encoder is not None:
            spec = self.encoder.signal_spec
            if config.sfreq != spec.sfreq:
                raise SignalError(
                    f"stream {stream_id!r} emits windows at {config.sfreq:g} Hz but {self.encoder.name} expects "
                    f"{spec.sfreq:g} Hz; set the featurizer's sfreq to the model's"
                )
            if config.window % self.encoder.time_multiple:
                raise SignalError(
                    f"stream {stream_id!r} emits {config.window}-sample windows; {self.encoder.name} needs a "
                    f"multiple of {self.encoder.time_multiple} (its spec: {spec.n_times})"
                )
        featurizer = StreamFeaturizer(config, stream_id)
        self._streams[stream_id] = featurizer
        log.info("hub: added %r", featurizer)
        return featurizer

    def remove_stream(self, stream_id: str) -> list[Window]:
        """Close a stream; the windows its flush completes are queued (and returned) like any others."""
        featurizer = self._get(stream_id)
        windows = featurizer.close()
        del self._streams[stream_id]
        self._pending.extend(windows)
        return windows

    def _get(self, stream_id: str) -> StreamFeaturizer:
        try:
            return self._streams[stream_id]
        except KeyError:
            known = ", ".join(map(repr, sorted(self._streams))) or "none"
            raise SignalError(f"unknown stream {stream_id!r}; open streams: {known}") from None

    def stream(self, stream_id: str) -> StreamFeaturizer:
        return self._get(stream_id)

    @property
    def stream_ids(self) -> list[str]:
        return list(self._streams)

    def __len__(self) -> int:
        return len(self._streams)

    # -- data --------------------------------------------------------------------------------------------------

    def push(self, stream_id: str, first_sample: int, chunk: np.ndarray) -> PushResult:
        """Feed a chunk to one stream (see :meth:`StreamFeaturizer.push`); its due windows are queued."""
        result = self._get(stream_id).push(first_sample, chunk)
        self._pending.extend(result.windows)
        return result

    @property
    def pending(self) -> int:
        """Windows queued for the next :meth:`embed_pending`."""
        return len(self._pending)

    def take_pending(self) -> list[Window]:
        """Remove and return the queued windows (oldest first within each stream)."""
        windows, self._pending = self._pending, []
        return windows

    def embed_pending(self) -> list[EmbeddedWindow]:
        """Embed every queued window in batched encoder calls; results in queue order."""
        if self.encoder is None:
            raise SignalError("this hub has no encoder; construct it with one, or use take_pending()")
        windows = self.take_pending()
        if not windows:
            return []
        t0 = time.perf_counter()
        out = embed_windows(self.encoder, windows, (self._config_of(w) for w in windows), self.max_batch)
        self.last_embed_s = time.perf_counter() - t0
        return out

    def _config_of(self, window: Window) -> FeaturizerConfig | None:
        featurizer = self._streams.get(window.stream_id)
        return featurizer.config if featurizer is not None else None


def embed_windows(
    encoder: Encoder,
    windows: list[Window],
    configs: Iterable[FeaturizerConfig | None],
    max_batch: int,
) -> list[EmbeddedWindow]:
    """Group ``windows`` by (shape, channel types, units), one ``encoder.embed`` per group and ``max_batch``."""
    groups: dict[tuple, list[int]] = {}
    for i, (w, cfg) in enumerate(zip(windows, configs)):
        types = cfg.ch_types if cfg is not None else None
        units = cfg.units if cfg is not None else None
        groups.setdefault((w.data.shape, types, units), []).append(i)
    result: list[EmbeddedWindow | None] = [None] * len(windows)
    for (_, types, units), idx in groups.items():
        for start in range(0, len(idx), max_batch):
            part = idx[start : start + max_batch]
            batch = np.stack([windows[i].data for i in part])  # (b, c, t)
            emb = encoder.embed(batch, types, units)  # (b, d)
            for row, i in enumerate(part):
                result[i] = EmbeddedWindow(windows[i], emb[row])
    return [r for r in result if r is not None]
