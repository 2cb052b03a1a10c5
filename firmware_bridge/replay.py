"""Replay any recording a biosig reader opens as a live stream, in real time or faster.

The recordings of one path (e.g. the 8 gesture files of a Myo session folder) are played back to back on one
continuous sample clock; they must share rate, channels and units (pick one with ``index`` otherwise). Their
per-sample labels travel with the chunks (``Chunk.labels``, names in ``label_names``), so a consumer can print
the true gesture next to the live one. Samples that are NaN/inf in the file (missing data) are not sent:
each run of them becomes a reported gap on the sample clock, never a silently dropped or invented value.

Wire format: Myo recordings (int8 counts / 128) go out as their original int8 counts with scale 1/128,
exactly; everything else as float32 (the library's own storage type, so also exact).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from biosig.signals.info import SignalInfo
from biosig.signals.recording import UNLABELLED, Recording
from firmware_bridge.base import Bridge, Chunk, Pacer, WireFormat
from firmware_bridge.errors import EndOfStream

logger = logging.getLogger(__name__)

__all__ = ["ReplayBridge", "concatenate_recordings"]

_MYO_WIRE = WireFormat("int8", 1 / 128)


def concatenate_recordings(recordings: Sequence[Recording]) -> Recording:
    """Recordings back to back on one clock; they must agree on rate, channel names, types and units."""
    if not recordings:
        raise ValueError("no recordings to replay")
    first = recordings[0]
    for i, rec in enumerate(recordings[1:], start=1):
        for what in ("sfreq", "ch_names", "ch_types", "units"):
            a, b = getattr(first.info, what), getattr(rec.info, what)
            if a != b:
                raise ValueError(
                    f"recording {i} has {what} {b}, recording 0 has {a}; recordings replayed together must "
                    "agree (choose one with index=...)"
                )
    if len(recordings) == 1:
        return first
    labelled = [r.labels is not None for r in recordings]
    labels = None
    names: dict[int, str] = {}
    if any(labelled):
        labels = np.concatenate(
            [r.labels if r.labels is not None else np.full(r.n_times, UNLABELLED) for r in recordings]
        )
        for r in recordings:
            for k, v in r.label_names.items():
                if names.setdefault(k, v) != v:
                    raise ValueError(f"label {k} is named {names[k]!r} in one recording and {v!r} in another")
    metadata = dict(first.metadata)
    metadata["parts"] = [str(r.metadata.get("path", i)) for i, r in enumerate(recordings)]
    return Recording(
        data=np.concatenate([r.data for r in recordings], axis=1),
        info=first.info,
        labels=labels,
        label_names=names,
        metadata=metadata,
    )


def _wire_for(rec: Recording) -> tuple[WireFormat, np.ndarray | None]:
    """Lossless wire format for the recording, and its integer counts when it has them."""
    if rec.metadata.get("format") == "myo":
        counts = rec.data.astype(np.float64) * 128.0
        ints = np.rint(counts)
        if np.array_equal(ints, counts) and ints.min() >= -128 and ints.max() <= 127:
            return _MYO_WIRE, ints.astype(np.int8)
        logger.warning("Myo recording does not hold int8/128 values; replaying it as float32")
    return WireFormat("float32", 1.0), None


class ReplayBridge(Bridge):
    """Play a recording (a path any biosig reader opens, or given recordings) as a live source.

    Parameters
    ----------
    path
        File or folder (e.g. ``biosig/assets/myo/12345-1``); read with :func:`biosig.io.read`.
    recordings
        Recordings to play instead of a path.
    format
        Reader name (default: detected).
    index
        Play only this recording of the path (default: all, back to back).
    speed
        1 = real time, 10 = ten times faster, ``inf`` = as fast as the consumer reads.
    chunk_s
        Seconds of signal per chunk.
    loop
        Start over at the end (the sample clock keeps counting) instead of ending.
    channels
        Channel names to keep (default: all).
    """

    kind = "replay"

    def __init__(
        self,
        path: str | PathLike[str] | None = None,
        *,
        recordings: Sequence[Recording] | None = None,
        format: str | None = None,
        index: int | None = None,
        speed: float = 1.0,
        chunk_s: float = 0.05,
        loop: bool = False,
        channels: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if (path is None) == (recordings is None):
            raise ValueError("give exactly one of path= or recordings=")
        self.path = None if path is None else Path(path)
        self._given = None if recordings is None else list(recordings)
        self.format = format
        self.index = index
        if not (isinstance(chunk_s, int | float) and 0 < chunk_s <= 10.0):
            raise ValueError(f"chunk_s must be in (0, 10] seconds, got {chunk_s!r}")
        self.chunk_s = float(chunk_s)
        self.speed = speed
        Pacer(1.0, speed)  # validates speed now
        self.loop = loop
        self.channels = None if channels is None else list(channels)
        self.recording: Recording | None = None
        self._counts: np.ndarray | None = None
        self._finite: np.ndarray | None = None
        self._pos = 0  # position in the recording
        self._clock = 0  # sample clock (keeps counting across loops)
        self._t0_us = 0

    def describe(self) -> dict[str, str]:
        name = str(self.path) if self.path is not None else "recordings"
        return {"kind": "replay", "name": name[-128:]}

    def _open(self) -> tuple[SignalInfo, WireFormat]:
        if self._given is not None:
            recs = self._given
        else:
            import biosig.io

            assert self.path is not None
            recs = biosig.io.read(self.path, self.format)
        if self.index is not None:
            if not (isinstance(self.index, int) and -len(recs) <= self.index < len(recs)):
                raise ValueError(f"index must be in [0, {len(recs)}) for {len(recs)} recording(s), got {self.index!r}")
            recs = [recs[self.index]]
        rec = concatenate_recordings(recs)
        if self.channels is not None:
            rec = rec.pick(self.channels)
        self.recording = rec
        wire, counts = _wire_for(rec)
        self._counts = counts
        self._finite = np.isfinite(rec.data).all(axis=0)
        n_bad = int((~self._finite).sum())
        if n_bad:
            logger.warning("%s: %d sample(s) hold NaN/inf; they are sent as gaps", self.path, n_bad)
        self.label_names = dict(rec.label_names)
        start = rec.info.start_time
        self._t0_us = int(round(start.timestamp() * 1e6)) if start is not None else 0
        self.chunk_len = max(1, int(round(self.chunk_s * rec.sfreq)))
        self.pacer = Pacer(rec.sfreq, self.speed)
        return rec.info, wire

    def _start(self) -> None:
        self.pacer.start()

    def _read(self, timeout: float | None) -> Chunk | None:
        rec = self.recording
        assert rec is not None and self._finite is not None
        while True:
            if self._pos >= rec.n_times:
                if not self.loop:
                    raise EndOfStream(f"replay of {rec.n_times} samples is complete")
                self._pos = 0
            stop = min(self._pos + self.chunk_len, rec.n_times)
            bad = np.flatnonzero(~self._finite[self._pos : stop])
            if len(bad) and bad[0] == 0:
                # Skip the run of missing samples: the clock advances, the next chunk reports the gap.
                good = np.flatnonzero(self._finite[self._pos :])
                skip = int(good[0]) if len(good) else rec.n_times - self._pos
                self._pos += skip
                self._clock += skip
                continue
            if len(bad):
                stop = self._pos + int(bad[0])
            break
        n = stop - self._pos
        if not self.pacer.wait_for(self._clock + n, timeout):
            return None
        sl = slice(self._pos, stop)
        chunk = Chunk(
            first_sample=self._clock,
            data=rec.data[:, sl],
            device_time_us=self._t0_us + int(round(self._clock * 1e6 / rec.sfreq)),
            host_time=time.time(),
            raw=None if self._counts is None else self._counts[:, sl],
            labels=None if rec.labels is None else rec.labels[sl],
        )
        self._pos = stop
        self._clock += n
        return chunk

    def _close(self) -> None:
        self.recording = None
        self._counts = None
        self._pos = self._clock = 0

    @property
    def duration_s(self) -> float:
        """Length of one pass in seconds (known after open)."""
        return math.nan if self.recording is None else self.recording.duration
