"""The uplink's bounded buffer of frames not yet acknowledged: memory first, a spill file when memory is full.

Frames are kept in sequence order. The oldest ones -- those in flight and the next to send -- are in memory,
up to ``memory_bytes``; newer frames go to an append-only spill file once memory is full (and for as long as
the file holds any frame, so that order is kept). An acknowledgement discards frames from the front and pulls
frames back from the file into memory. When the file is drained it is truncated. Memory and file together are
bounded (``memory_bytes + max_spill_bytes``): beyond that, :meth:`FrameBuffer.append` raises
:class:`~firmware_bridge.errors.BufferFullError` and the frame is not accepted -- nothing that was accepted is
ever dropped.

The spill file is a plain concatenation of encoded frames, so :class:`biosig.protocol.FrameScanner` reads it
back (and :meth:`FrameBuffer.dump` writes every pending frame to such a file when the uplink must give up).
Frames are addressed by their *index* in the buffer's life (0, 1, 2, ...); the uplink maps indices to
sequence numbers.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from biosig.protocol.frames import HEADER, HEADER_SIZE, OVERHEAD, WIRE_DTYPES, FrameError, decode_frame
from firmware_bridge.errors import BufferFullError, UplinkError

logger = logging.getLogger(__name__)

__all__ = ["FrameBuffer"]


def _frame_length(header: bytes) -> int:
    fields = HEADER.unpack(header)
    code, n_ch, n_samp = fields[2], fields[9], fields[11]
    return int(OVERHEAD + n_ch * n_samp * WIRE_DTYPES[code].itemsize)


class FrameBuffer:
    """Frames in order, addressed by index; thread-safe (one producer, one consumer).

    Parameters
    ----------
    memory_bytes
        Bytes of frames held in memory before spilling.
    spill_dir
        Folder for the spill file (default: the system's temporary folder). The file is created on first
        spill and removed by :meth:`close`.
    max_spill_bytes
        Largest spill file; 0 disables spilling (the buffer is memory only).
    """

    def __init__(
        self,
        memory_bytes: int = 32 << 20,
        spill_dir: str | os.PathLike[str] | None = None,
        max_spill_bytes: int = 1 << 30,
    ) -> None:
        if memory_bytes < OVERHEAD:
            raise ValueError(f"memory_bytes must hold at least one frame ({OVERHEAD} bytes), got {memory_bytes}")
        if max_spill_bytes < 0:
            raise ValueError(f"max_spill_bytes must be >= 0, got {max_spill_bytes}")
        self.memory_bytes = memory_bytes
        self.max_spill_bytes = max_spill_bytes
        self.spill_dir = None if spill_dir is None else Path(spill_dir)
        self._lock = threading.Lock()
        self._mem: deque[bytes] = deque()
        self._mem_bytes = 0
        self._first = 0  # index of the oldest frame held (memory front)
        self._n_spilled = 0  # frames in the file not yet read back
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._read_pos = 0
        self._write_pos = 0
        self.spilled_total = 0  # frames ever written to the file

    # -- sizes -----------------------------------------------------------------------------------------------

    @property
    def first(self) -> int:
        """Index of the oldest frame held."""
        return self._first

    @property
    def end(self) -> int:
        """Index the next appended frame gets."""
        return self._first + len(self._mem) + self._n_spilled

    def __len__(self) -> int:
        return len(self._mem) + self._n_spilled

    @property
    def in_memory(self) -> int:
        return len(self._mem)

    @property
    def spilled(self) -> int:
        """Frames currently in the spill file."""
        return self._n_spilled

    @property
    def spill_bytes(self) -> int:
        return self._write_pos - self._read_pos

    @property
    def spill_path(self) -> Path | None:
        return self._path

    # -- producer --------------------------------------------------------------------------------------------

    def append(self, frame: bytes) -> int:
        """Add one encoded frame; returns its index. Raises :class:`BufferFullError` when nothing has room."""
        with self._lock:
            size = len(frame)
            # A frame larger than memory_bytes still goes to an empty memory: the front frame must be sendable.
            if not self._n_spilled and (not self._mem or self._mem_bytes + size <= self.memory_bytes):
                self._mem.append(frame)
                self._mem_bytes += size
                return self.end - 1
            if self.spill_bytes + size > self.max_spill_bytes:
                raise BufferFullError(
                    f"frame buffer is full: {len(self._mem)} frames ({self._mem_bytes} bytes) in memory of "
                    f"{self.memory_bytes}, {self._n_spilled} frames ({self.spill_bytes} bytes) spilled of "
                    f"{self.max_spill_bytes} allowed; the service has not acknowledged them (is it reachable?)"
                )
            f = self._spill_file()
            f.seek(self._write_pos)
            f.write(frame)
            self._write_pos += size
            self._n_spilled += 1
            self.spilled_total += 1
            return self.end - 1

    def _spill_file(self) -> BinaryIO:
        if self._file is None:
            directory = self.spill_dir or Path(tempfile.gettempdir())
            directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="biosig-spill-", suffix=".bsig", dir=directory)
            self._file = os.fdopen(fd, "w+b")
            self._path = Path(name)
            logger.info("frame buffer spilling to %s", name)
        return self._file

    # -- consumer --------------------------------------------------------------------------------------------

    def get(self, index: int) -> bytes:
        """The frame at ``index``; it must be in memory (the uplink never runs ahead of memory)."""
        with self._lock:
            offset = index - self._first
            if not 0 <= offset < len(self._mem):
                raise IndexError(
                    f"frame {index} is not in memory (memory holds {self._first}..{self._first + len(self._mem) - 1})"
                )
            return self._mem[offset]

    def release(self, through: int) -> int:
        """Discard every frame with index <= ``through`` (acknowledged); returns how many were discarded."""
        with self._lock:
            n = 0
            while self._first <= through and (self._mem or self._n_spilled):
                if not self._mem:
                    self._refill(1)
                frame = self._mem.popleft()
                self._mem_bytes -= len(frame)
                self._first += 1
                n += 1
            self._refill()
            return n

    def _refill(self, at_least: int = 0) -> None:
        """Move frames from the file into memory while memory has room (at least ``at_least`` frames)."""
        f = self._file
        if not self._mem:
            at_least = max(at_least, 1)  # the front frame is always in memory
        while self._n_spilled and (at_least > 0 or self._mem_bytes < self.memory_bytes):
            assert f is not None
            f.seek(self._read_pos)
            header = f.read(HEADER_SIZE)
            length = self._length_at(header, self._read_pos)
            if at_least <= 0 and self._mem_bytes + length > self.memory_bytes:
                return
            frame = header + f.read(length - HEADER_SIZE)
            try:
                decode_frame(frame)
            except FrameError as exc:  # the disk returned something else than what was written
                raise UplinkError(f"spill file {self._path} is corrupted at byte {self._read_pos}: {exc}") from exc
            self._read_pos += length
            self._n_spilled -= 1
            self._mem.append(frame)
            self._mem_bytes += length
            at_least -= 1
        if not self._n_spilled and f is not None and self._write_pos:
            f.seek(0)
            f.truncate()
            self._read_pos = self._write_pos = 0

    def _length_at(self, header: bytes, pos: int) -> int:
        try:
            if len(header) < HEADER_SIZE:
                raise ValueError(f"{len(header)} bytes left")
            return _frame_length(header)
        except (KeyError, ValueError) as exc:
            raise UplinkError(f"spill file {self._path} has no valid frame header at byte {pos} ({exc})") from exc

    def pending(self) -> Iterator[bytes]:
        """Every frame held, oldest first (memory, then file), without removing them."""
        with self._lock:
            frames = list(self._mem)
            pos, left = self._read_pos, self._n_spilled
            f = self._file
            while left:
                assert f is not None
                f.seek(pos)
                header = f.read(HEADER_SIZE)
                length = self._length_at(header, pos)
                frames.append(header + f.read(length - HEADER_SIZE))
                pos += length
                left -= 1
        yield from frames

    def dump(self, path: str | os.PathLike[str]) -> int:
        """Write every frame held to ``path`` (a FrameScanner-readable file); returns the number of frames."""
        n = 0
        with open(path, "wb") as out:
            for frame in self.pending():
                out.write(frame)
                n += 1
            out.flush()
            os.fsync(out.fileno())
        return n

    def close(self) -> None:
        """Remove the spill file (call :meth:`dump` first to keep unacknowledged frames)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self._path is not None:
                self._path.unlink(missing_ok=True)
                self._path = None
            self._read_pos = self._write_pos = 0
