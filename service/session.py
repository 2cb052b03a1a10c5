"""The session rules of the wire protocol (docs/protocol.md, "Session rules"), without any I/O.

:class:`SessionRules` decides, for every binary message of a stream session, whether the frame is accepted
(persist it), a duplicate of a persisted frame (acknowledge the high-water mark again), or refused (answer an
``error``, persist nothing). It owns the stream's position -- the next sequence number and the next device
sample -- and advances it only for accepted frames, so that a client which resends every unacknowledged frame
from the first one the service names loses nothing and duplicates nothing.

The WebSocket handler (:mod:`service.routes.stream`) does the I/O around it; the tests drive it directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from biosig.protocol import DataFrame, Error, FrameError, Gap, Hello, decode_frame

__all__ = ["Decision", "Progress", "SessionRules", "Verdict"]


class Verdict(Enum):
    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    REFUSE = "refuse"


@dataclass
class Progress:
    """A stream's persisted position (all sessions together)."""

    next_seq: int = 0
    first_sample: int | None = None
    next_sample: int | None = None
    n_samples: int = 0
    n_frames: int = 0


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    frame: DataFrame | None = None
    error: Error | None = None
    gap: Gap | None = None
    close_code: int | None = None  # set when the error is fatal


class SessionRules:
    """Order, exactly-once, gap and configuration checks for one session of one stream.

    Parameters
    ----------
    stream_id
        The id the service announced in ``ready``; frames must carry it.
    hello
        The session's hello: channel count, dtype and scale every frame must match.
    progress
        The stream's persisted position; mutated as frames are accepted.
    max_unacked
        Frames a client may run ahead of the last ack.
    max_payload
        Largest payload accepted (``too_big`` beyond).
    max_invalid
        Invalid frames in a row after which the session is closed with 1007.
    foreign
        ``foreign(stream_id)`` is True for the id of a stream of another tenant (closed with 1008).
    """

    def __init__(
        self,
        stream_id: int,
        hello: Hello,
        progress: Progress,
        *,
        max_unacked: int,
        max_payload: int,
        max_invalid: int,
        foreign: Callable[[int], bool] = lambda _: False,
    ) -> None:
        self.stream_id = stream_id
        self.hello = hello
        self.progress = progress
        self.max_unacked = max_unacked
        self.max_payload = max_payload
        self.max_invalid = max_invalid
        self.foreign = foreign
        self.last_acked = progress.next_seq - 1  # everything before this session was persisted (and synced)
        self.invalid_in_a_row = 0
        self.n_rejected = 0
        self.n_duplicates = 0
        self._scale32 = float(np.float32(hello.scale))

    # -- helpers ----------------------------------------------------------------------------------------------

    def _refuse(self, code: str, message: str, seq: int | None, *, invalid: bool) -> Decision:
        self.n_rejected += 1
        if invalid:
            self.invalid_in_a_row += 1
            if self.invalid_in_a_row >= self.max_invalid:
                msg = f"{message}; {self.invalid_in_a_row} invalid frames in a row, closing the session"
                return Decision(Verdict.REFUSE, error=Error(code, msg, seq, True, 1007), close_code=1007)
        return Decision(Verdict.REFUSE, error=Error(code, message, seq))

    def _mismatch(self, frame: DataFrame) -> str | None:
        h = self.hello
        if frame.n_channels != h.n_channels:
            return f"frame has {frame.n_channels} channels; the hello declared {h.n_channels}"
        if frame.dtype != h.dtype:
            return f"frame has dtype {frame.dtype}; the hello declared {h.dtype}"
        if not math.isclose(frame.scale, self._scale32, rel_tol=1e-6):
            return f"frame has scale {frame.scale:g}; the hello declared {h.scale:g}"
        return None

    # -- the rules ------------------------------------------------------------------------------------------------

    def check(self, data: bytes) -> Decision:
        """Judge one binary message; on ``ACCEPT`` the position has advanced past the frame."""
        try:
            frame = decode_frame(data, max_payload=self.max_payload)
        except FrameError as exc:
            return self._refuse(exc.code, str(exc), None, invalid=True)
        if frame.stream_id != self.stream_id:
            if self.foreign(frame.stream_id):
                self.n_rejected += 1
                msg = f"frame addresses stream {frame.stream_id}, which belongs to another tenant"
                return Decision(Verdict.REFUSE, error=Error("forbidden", msg, frame.seq, True, 1008), close_code=1008)
            msg = f"frame has stream id {frame.stream_id}; this session's stream id is {self.stream_id}"
            return self._refuse("config_mismatch", msg, frame.seq, invalid=True)
        problem = self._mismatch(frame)
        if problem is not None:
            return self._refuse("config_mismatch", problem, frame.seq, invalid=True)
        p = self.progress
        if frame.seq < p.next_seq:
            self.invalid_in_a_row = 0
            self.n_duplicates += 1
            return Decision(Verdict.DUPLICATE, frame=frame)
        if frame.seq > p.next_seq:
            msg = f"frame seq {frame.seq} arrived but seq {p.next_seq} is expected next; resend from {p.next_seq}"
            return self._refuse("out_of_order", msg, frame.seq, invalid=False)
        if frame.seq - self.last_acked > self.max_unacked:
            msg = (
                f"frame seq {frame.seq} is {frame.seq - self.last_acked} frames past the last ack "
                f"({self.last_acked}); at most {self.max_unacked} may be unacknowledged, resend it after the next ack"
            )
            return self._refuse("too_many_unacked", msg, frame.seq, invalid=False)
        gap = None
        if p.next_sample is not None and frame.first_sample < p.next_sample:
            msg = (
                f"frame seq {frame.seq} starts at sample {frame.first_sample} but samples up to {p.next_sample - 1} "
                f"are persisted; the next frame must start at {p.next_sample} or later"
            )
            return self._refuse("overlap", msg, frame.seq, invalid=True)
        if p.next_sample is not None and frame.first_sample > p.next_sample:
            gap = Gap(p.next_sample, frame.first_sample, frame.seq)
        self.invalid_in_a_row = 0
        p.next_seq = frame.seq + 1
        p.first_sample = frame.first_sample if p.first_sample is None else p.first_sample
        p.next_sample = frame.next_sample
        p.n_samples += frame.n_samples
        p.n_frames += 1
        return Decision(Verdict.ACCEPT, frame=frame, gap=gap)

    def mark_acked(self, seq: int | None = None) -> int:
        """Frames up to ``seq`` (default: all accepted so far) are persisted and acknowledged; returns it."""
        seq = self.progress.next_seq - 1 if seq is None else seq
        if not self.last_acked <= seq < self.progress.next_seq:
            raise ValueError(f"cannot ack seq {seq}: last ack {self.last_acked}, next seq {self.progress.next_seq}")
        self.last_acked = seq
        return seq

    @property
    def unacked(self) -> int:
        return self.progress.next_seq - 1 - self.last_acked
