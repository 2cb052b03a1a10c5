"""Frames out of a byte stream with no message boundaries (a capture file, a spill file, a TCP socket).

Over WebSocket every binary message is exactly one frame and :func:`~biosig.protocol.frames.decode_frame` is
enough. Where frames arrive as one stream of bytes, :class:`FrameScanner` finds them: it looks for the magic,
reads the header to learn the frame's length, waits until the whole frame is there, and checks the CRC. After
corruption it resynchronises on the next magic, and it counts every byte it had to skip and every frame it
rejected, by reason, so nothing is lost without a number attached to it.
"""

from __future__ import annotations

from collections import Counter

from biosig.protocol.frames import (
    DEFAULT_MAX_PAYLOAD,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    OVERHEAD,
    VERSION,
    WIRE_DTYPES,
    DataFrame,
    FrameError,
    decode_frame,
)

__all__ = ["FrameScanner"]


class FrameScanner:
    """Incremental frame parser: ``feed`` bytes in any split, get complete valid frames back in order.

    Attributes
    ----------
    n_frames
        Valid frames returned so far.
    skipped_bytes
        Bytes discarded while looking for a frame (garbage, or the remains of rejected frames).
    rejected
        Count of rejected frame candidates by :class:`FrameError` code.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self.n_frames = 0
        self.skipped_bytes = 0
        self.rejected: Counter[str] = Counter()

    @property
    def pending_bytes(self) -> int:
        """Bytes held back because they may be the start of a frame that has not fully arrived."""
        return len(self._buf)

    def _skip(self, n: int) -> None:
        del self._buf[:n]
        self.skipped_bytes += n

    def _candidate_length(self) -> int | None:
        """Total length of the frame the buffer starts with (it starts with MAGIC), None if the header is bad."""
        _, version, code, _, _, _, _, _, _, n_ch, _, n_samp, _ = HEADER.unpack_from(self._buf)
        if version != VERSION or code not in WIRE_DTYPES or n_ch < 1 or n_samp < 1:
            return None
        payload = n_ch * n_samp * WIRE_DTYPES[code].itemsize
        if payload > self.max_payload:
            return None
        return OVERHEAD + payload

    def feed(self, data: bytes | bytearray | memoryview) -> list[DataFrame]:
        """Append bytes; return every frame completed by them (possibly none)."""
        self._buf += data
        frames: list[DataFrame] = []
        while True:
            start = self._buf.find(MAGIC)
            if start < 0:
                # Keep a tail that could be the first bytes of a magic split across feeds.
                keep = next((k for k in range(len(MAGIC) - 1, 0, -1) if self._buf.endswith(MAGIC[:k])), 0)
                self._skip(len(self._buf) - keep)
                return frames
            if start:
                self._skip(start)
            if len(self._buf) < HEADER_SIZE:
                return frames
            length = self._candidate_length()
            if length is None:
                try:  # let the decoder name the problem, for the counters
                    decode_frame(bytes(self._buf[: HEADER_SIZE + 4]), max_payload=self.max_payload)
                except FrameError as exc:
                    self.rejected[exc.code] += 1
                self._skip(1)  # this magic was not a frame start; look for the next one
                continue
            if len(self._buf) < length:
                return frames
            try:
                frame = decode_frame(bytes(self._buf[:length]), max_payload=self.max_payload)
            except FrameError as exc:
                self.rejected[exc.code] += 1
                self._skip(1)
                continue
            del self._buf[:length]
            self.n_frames += 1
            frames.append(frame)

    def close(self) -> int:
        """End of stream: whatever is still buffered is an incomplete frame; returns and counts its bytes."""
        n = len(self._buf)
        if n:
            self.rejected["truncated"] += 1
            self._skip(n)
        return n
