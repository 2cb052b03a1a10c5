"""Crash-safe sample storage: one append-only file of wire frames per stream, recovered on open.

Layout under ``data_dir``::

    metadata.sqlite3                       tenants' keys, streams, sessions, gaps, vocabularies (service.db)
    recordings/<tenant>/<stream id>.bsig   every accepted frame of the stream, as received (biosig.protocol)

A recording file is the concatenation of the stream's accepted data frames, byte for byte as
:func:`biosig.protocol.encode_frame` writes them (header, payload, CRC32). The frames already describe
themselves (sequence number, first sample index, channel count, dtype, scale) and carry a checksum, so the
file needs no index and no second format: a reader walks it frame by frame.

**Appends and fsync.** A frame is appended with ``write(2)`` on an ``O_APPEND`` descriptor before the service
acknowledges it; :class:`RecordingWriter.sync` is ``fsync(2)``. When the ack follows the fsync depends on the
policy (``always``: each frame; ``batch``: group commit every ``fsync_interval_s``; ``none``: at session end;
see docs/service.md). A crash can therefore only tear the last frame being written, which was never
acknowledged: :func:`recover` walks the file on open, keeps every complete frame whose CRC holds and
truncates whatever follows the last one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biosig.protocol import HEADER_SIZE, OVERHEAD, DataFrame, FrameError, decode_frame
from biosig.protocol.frames import HEADER, WIRE_DTYPES

__all__ = ["RecordingWriter", "RecoveredState", "Segment", "iter_frames", "read_segments", "recover"]

log = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class RecoveredState:
    """What a recording file holds after recovery: counters continue from here."""

    n_frames: int
    n_samples: int
    next_seq: int
    first_sample: int | None
    next_sample: int | None
    size: int
    truncated_bytes: int


def _frame_length(header: bytes) -> int | None:
    """Total length of the frame a header announces, None when the header cannot start a frame."""
    _, version, code, _, _, _, _, _, _, n_ch, _, n_samp, _ = HEADER.unpack_from(header)
    if code not in WIRE_DTYPES or n_ch < 1 or n_samp < 1:
        return None
    return int(OVERHEAD + n_ch * n_samp * WIRE_DTYPES[code].itemsize)


def iter_frames(
    path: str | os.PathLike[str], start: int = 0, max_payload: int = 1 << 30
) -> Iterator[tuple[int, DataFrame]]:
    """``(offset, frame)`` for every complete valid frame from byte ``start``; stops at the first bad one."""
    with open(path, "rb") as fh:
        fh.seek(start)
        offset = start
        while True:
            header = fh.read(HEADER_SIZE)
            if len(header) < HEADER_SIZE:
                return
            length = _frame_length(header)
            if length is None or length - OVERHEAD > max_payload:
                return
            rest = fh.read(length - HEADER_SIZE)
            if len(rest) < length - HEADER_SIZE:
                return
            try:
                frame = decode_frame(header + rest, max_payload=max_payload)
            except FrameError:
                return
            yield offset, frame
            offset += length


def recover(
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    n_frames: int = 0,
    n_samples: int = 0,
    next_seq: int = 0,
    first_sample: int | None = None,
    next_sample: int | None = None,
) -> RecoveredState:
    """Walk the file from ``start`` (a frame boundary the counters describe), truncate any torn tail.

    The counters passed in describe bytes ``[0, start)``; the result describes the whole file after recovery.
    If the file is shorter than ``start`` (the counters cannot be trusted) it is walked from 0.
    """
    p = Path(path)
    size = p.stat().st_size if p.exists() else 0
    if size < start:
        log.warning("%s: %d bytes but metadata says %d are committed; rescanning the whole file", p, size, start)
        start, n_frames, n_samples, next_seq, first_sample, next_sample = 0, 0, 0, 0, None, None
    end = start
    if size > start:
        for offset, frame in iter_frames(p, start):
            n_frames += 1
            n_samples += frame.n_samples
            next_seq = frame.seq + 1
            first_sample = frame.first_sample if first_sample is None else first_sample
            next_sample = frame.next_sample
            end = offset + OVERHEAD + frame.raw.nbytes
    truncated = size - end
    if truncated > 0:
        log.warning("%s: dropping %d bytes after the last complete frame (a write torn by a crash)", p, truncated)
        with open(p, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    return RecoveredState(n_frames, n_samples, next_seq, first_sample, next_sample, end, max(0, truncated))


class RecordingWriter:
    """Appends frames to one stream's file; one writer per file (the service allows one live session)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        if new:  # make the new directory entry durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self.size = os.fstat(self._fd).st_size
        self.synced_size = self.size

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self.size += len(data)

    def sync(self) -> None:
        if self.synced_size != self.size:
            os.fsync(self._fd)
            self.synced_size = self.size

    @property
    def dirty(self) -> bool:
        return self.synced_size != self.size

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = -1


@dataclass(frozen=True)
class Segment:
    """Contiguous samples ``[first_sample, first_sample + n)`` of a recording: ``(n_channels, n)`` float32."""

    first_sample: int
    data: np.ndarray

    @property
    def stop_sample(self) -> int:
        return self.first_sample + int(self.data.shape[1])


def read_segments(path: str | os.PathLike[str], n_channels: int, limit_bytes: int | None = None) -> list[Segment]:
    """The recording's samples (``raw * scale``), joined into gap-free segments in sample-clock order."""
    pieces: list[tuple[int, np.ndarray]] = []
    for offset, frame in iter_frames(path):
        if limit_bytes is not None and offset >= limit_bytes:
            break
        if frame.n_channels != n_channels:
            raise ValueError(f"{path}: frame {frame.seq} has {frame.n_channels} channels, the stream {n_channels}")
        pieces.append((frame.first_sample, frame.samples))
    segments: list[Segment] = []
    run: list[np.ndarray] = []
    run_start = run_stop = 0
    for first, samples in pieces:
        if run and first == run_stop:
            run.append(samples)
        else:
            if run:
                segments.append(Segment(run_start, np.concatenate(run, axis=1)))
            run, run_start = [samples], first
        run_stop = first + samples.shape[1]
    if run:
        segments.append(Segment(run_start, np.concatenate(run, axis=1)))
    return segments
