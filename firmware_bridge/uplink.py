"""Uplink: a bridge's chunks to the service's ``/v1/stream`` WebSocket, losing nothing across reconnects.

::

    with Uplink("ws://127.0.0.1:8000/v1/stream", stream="myo-1", info=bridge.info, wire=bridge.wire,
                api_key=key, on_result=print) as uplink:
        for chunk in bridge.chunks():
            uplink.send(chunk)          # never blocks on the network
    # leaving the block sends 'end' once every frame is acknowledged, and waits for 'closed'

Protocol (docs/protocol.md): ``hello`` -> ``ready``; frames numbered from ``ready.next_seq``; at most
``max_unacked`` frames ahead of the last cumulative ``ack``; after a drop, reconnect with exponential back-off
and jitter, ``hello`` with ``resume``, drop the frames ``ready.next_seq`` says are persisted and resend the rest
with the *resent* flag. ``out_of_order``/``too_many_unacked`` answers are resolved the same way (reconnect and
resume: the service then says exactly where to continue). A refused key (close 1008, HTTP 401/403), a bad
hello (1007) or a frame the service calls inconsistent (``config_mismatch``, ``overlap``) stops the uplink
with :class:`~firmware_bridge.errors.UplinkError`: retrying cannot fix those.

Frames wait in a :class:`~firmware_bridge.buffer.FrameBuffer` (memory, then a spill file) until acknowledged.
If the uplink has to give up, every unacknowledged frame is written to ``UplinkStatus.pending_file``, which
:class:`biosig.protocol.FrameScanner` reads. Frames are encoded once, when a chunk is sent; the stream id,
sequence number, sample offset and *resent* flag are patched into the header (and the CRC recomputed) when the
frame goes out, because they are known only from the session's ``ready``.

Clocks: every chunk's (device time of its last sample, host receive time) feeds a
:class:`~firmware_bridge.clock.ClockEstimator`; the offset and drift are in :meth:`Uplink.status`.
Results (label, scores, embedding) go to ``on_result`` in the uplink's thread: keep the callback short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import struct
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from biosig.protocol import (
    FLAG_RESENT,
    OVERHEAD,
    Ack,
    ChannelSpec,
    Closed,
    ControlError,
    DataFrame,
    Error,
    Gap,
    Hello,
    Ready,
    Result,
    encode_frame,
    parse_message,
    quantize,
)
from biosig.signals.info import SignalInfo
from firmware_bridge._deps import require
from firmware_bridge.base import Chunk, WireFormat
from firmware_bridge.buffer import FrameBuffer
from firmware_bridge.clock import ClockEstimator
from firmware_bridge.errors import BridgeStateError, UplinkError

logger = logging.getLogger(__name__)

__all__ = ["Backoff", "Uplink", "UplinkStatus"]

#: Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes").
FATAL_CLOSE_CODES = {1007: "invalid data", 1008: "policy violation (API key)", 1009: "message too big",
                     4000: "hello expected"}  # fmt: skip
#: Error codes answered by reconnecting and resuming (the service's ready says where to continue).
RESYNC_ERRORS = {"out_of_order", "too_many_unacked", "bad_crc", "truncated", "length_mismatch", "bad_magic"}
#: Error codes that mean this client and the service disagree about the stream: stop.
FATAL_ERRORS = {"config_mismatch", "overlap", "too_big", "bad_dtype", "bad_shape", "bad_scale", "non_finite"}
#: Largest payload the uplink puts in one frame (frames are meant to be tens of milliseconds).
MAX_FRAME_PAYLOAD = 64 * 1024


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial_s * factor**attempt`` capped at ``max_s``, times a random factor in
    ``[1 - jitter, 1]`` (so that many bridges do not reconnect in lockstep after a service restart)."""

    initial_s: float = 0.2
    max_s: float = 10.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s):
            raise ValueError(f"need 0 < initial_s <= max_s, got initial_s={self.initial_s}, max_s={self.max_s}")
        if self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"need factor >= 1 and 0 <= jitter <= 1, got factor={self.factor}, jitter={self.jitter}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class UplinkStatus:
    """A snapshot of the uplink (all counters since it was created)."""

    state: str  # idle, connecting, streaming, backoff, ending, closed, failed
    connected: bool
    stream_id: int | None
    session: str | None
    frames_submitted: int
    samples_submitted: int
    frames_sent: int
    frames_resent: int
    frames_acked: int
    samples_acked: int  # the service's persisted sample count (all sessions of the stream)
    buffered_frames: int  # not yet acknowledged (memory + spill file)
    spilled_frames: int
    sessions: int  # readies received
    reconnects: int  # sessions after the first
    connect_failures: int  # connection attempts that failed, and connections that dropped
    results: int
    gaps_reported: int
    errors: dict[str, int]
    last_error: str | None
    rate_hz: float | None  # samples per second submitted, over the last few seconds (host clock)
    clock_offset_ms: float | None  # host clock minus device clock
    clock_drift_ppm: float | None
    clock_latency_ms: float | None
    pending_file: str | None = None  # where unacknowledged frames were written when the uplink gave up
    closed: dict[str, int] | None = None  # the service's 'closed' totals

    def line(self) -> str:
        """One status line for a terminal."""
        drift = "-" if self.clock_drift_ppm is None else f"{self.clock_drift_ppm:+.1f}ppm"
        rate = "-" if self.rate_hz is None else f"{self.rate_hz:.1f}Hz"
        spill = f" (spilled {self.spilled_frames})" if self.spilled_frames else ""
        err = f" last_error={self.last_error!r}" if self.last_error and self.state != "streaming" else ""
        return (
            f"{self.state:<9} rate={rate} sent={self.frames_sent} acked={self.frames_acked} "
            f"buffered={self.buffered_frames}{spill} resent={self.frames_resent} reconnects={self.reconnects} "
            f"results={self.results} drift={drift}{err}"
        )


class _Fatal(Exception):
    """Internal: stop the uplink with this message."""


class _Resync(Exception):
    """Internal: close this session and resume at once."""


def _patch(frame: bytes, stream_id: int, seq: int, first_sample: int, flags: int) -> bytes:
    """Set flags, stream id, seq and first sample in an encoded frame and recompute its CRC."""
    b = bytearray(frame)
    b[6] = flags
    struct.pack_into("<IQQ", b, 8, stream_id, seq, first_sample)
    struct.pack_into("<I", b, len(b) - 4, zlib.crc32(memoryview(b)[: len(b) - 4]))
    return bytes(b)


def _first_sample_of(frame: bytes) -> int:
    return int(struct.unpack_from("<Q", frame, 20)[0])


class Uplink:
    """Send a bridge's chunks to the service (see the module docstring).

    Parameters
    ----------
    url
        ``ws://host:port/v1/stream`` or ``wss://...``.
    stream
        The stream key (1-64 of ``A-Za-z0-9._:-``), unique per tenant.
    info, wire
        The bridge's :class:`~biosig.signals.SignalInfo` and :class:`~firmware_bridge.base.WireFormat`.
    api_key
        Sent as ``Authorization: Bearer <key>`` (never in the URL).
    device
        The hello's ``device`` object (kind, name, serial).
    labels, embeddings
        What results should carry.
    resume
        Continue an existing stream of this key (a previous run); its samples continue after the persisted ones.
    on_result
        Called with every :class:`~biosig.protocol.Result`, in the uplink's thread.
    frame_s
        Seconds of signal per frame at most.
    memory_bytes, spill_dir, max_spill_bytes
        The :class:`~firmware_bridge.buffer.FrameBuffer` bounds; unacknowledged frames are also written to
        ``spill_dir`` (default: the temporary folder) when the uplink gives up.
    backoff
        Reconnect delays.
    max_retries
        Give up after this many consecutive failed connection attempts (None: never).
    open_timeout
        Seconds for the WebSocket handshake and for ``ready``.
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        info: SignalInfo,
        wire: WireFormat,
        api_key: str | None = None,
        device: Mapping[str, str] | None = None,
        labels: bool = True,
        embeddings: bool = False,
        resume: bool = False,
        on_result: Callable[[Result], None] | None = None,
        frame_s: float = 0.05,
        memory_bytes: int = 32 << 20,
        spill_dir: str | Path | None = None,
        max_spill_bytes: int = 1 << 30,
        backoff: Backoff | None = None,
        max_retries: int | None = None,
        open_timeout: float = 10.0,
        seed: int | None = None,
    ) -> None:
        self._ws_mod = require("websockets")
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must start with ws:// or wss://, got {url!r}")
        if api_key is not None and (not isinstance(api_key, str) or not api_key or any(c.isspace() for c in api_key)):
            raise ValueError("api_key must be a non-empty string without whitespace")
        self.url = url
        self.api_key = api_key
        self.info = info
        self.wire = wire
        channels = tuple(ChannelSpec(n, t, u) for n, t, u in zip(info.ch_names, info.ch_types, info.units))
        hello = Hello(stream=stream, channels=channels, sfreq=info.sfreq, dtype=wire.dtype, scale=wire.scale,
                      resume=resume, device=dict(device or {}), labels=labels, embeddings=embeddings)  # fmt: skip
        Hello.parse(json.loads(hello.to_json()))  # the service's own validation, now: a bad stream key fails here
        self._hello = hello
        self.on_result = on_result
        if not (isinstance(frame_s, int | float) and frame_s > 0):
            raise ValueError(f"frame_s must be a positive number of seconds, got {frame_s!r}")
        itemsize = wire.numpy_dtype.itemsize
        self.frame_len = max(
            1, min(int(round(frame_s * info.sfreq)), MAX_FRAME_PAYLOAD // (itemsize * info.n_channels))
        )
        self._max_frame_bytes = OVERHEAD + self.frame_len * itemsize * info.n_channels
        if memory_bytes < self._max_frame_bytes:
            raise ValueError(
                f"memory_bytes must hold at least one frame ({self._max_frame_bytes} bytes), got {memory_bytes}"
            )
        self.spill_dir = None if spill_dir is None else Path(spill_dir)
        self.buffer = FrameBuffer(memory_bytes, spill_dir, max_spill_bytes)
        self.backoff = backoff or Backoff()
        self.max_retries = max_retries
        self.open_timeout = open_timeout
        self._rng = random.Random(seed)
        self.clock = ClockEstimator()

        # Producer side (caller's thread).
        self._send_lock = threading.Lock()
        self._next_local_sample: int | None = None
        self._frames_submitted = 0
        self._samples_submitted = 0
        self._rate: deque[tuple[float, int]] = deque()
        # Session side (uplink thread).
        self._state = "idle"
        self._connected = False
        self._stream_id: int | None = None
        self._session: str | None = None
        self._seq_base: int | None = None  # seq of buffer index 0
        self._sample_offset = 0  # added to the bridge's sample clock (resuming a stream from an earlier run)
        self._next = 0  # buffer index of the next frame to send
        self._high_sent = 0  # 1 + highest index ever sent (below it, a send is a resend)
        self._window = 1
        self._resume_next = resume
        self._hellos_sent = 0
        self._frames_sent = 0
        self._frames_resent = 0
        self._frames_acked = 0
        self._samples_acked = 0
        self._sessions = 0
        self._connect_failures = 0
        self._results = 0
        self._gaps = 0
        self._errors: Counter[str] = Counter()
        self._last_error: str | None = None
        self._failure: str | None = None
        self._closed: Closed | None = None
        self._pending_file: str | None = None
        self._ending = False
        self._end_sent = False
        self._stop_now = False
        # Thread plumbing.
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._loop_ready = threading.Event()
        self._done = threading.Event()
        self._all_acked = threading.Condition()

    # -- public API ------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start connecting in a background thread (frames sent before are buffered)."""
        if self._thread is not None:
            raise BridgeStateError("the uplink was already started")
        self._thread = threading.Thread(target=self._thread_main, name="biosig-uplink", daemon=True)
        self._thread.start()
        self._loop_ready.wait()
        return self

    def send(self, chunk: Chunk) -> int:
        """Frame a chunk and queue it; returns the number of frames. Never waits for the network.

        Raises ``ValueError`` for a chunk that does not fit the stream (channels, dtype, overlap, values out
        of the wire dtype's range), :class:`~firmware_bridge.errors.BufferFullError` when memory and spill file
        are full (the chunk is not taken), :class:`~firmware_bridge.errors.UplinkError` after the uplink has
        failed (the chunk is still buffered, so :meth:`close` saves it with the rest).
        """
        if self._ending:
            raise BridgeStateError("the uplink is closing; no more chunks are accepted")
        if chunk.n_channels != self.info.n_channels:
            raise ValueError(f"chunk has {chunk.n_channels} channels; the stream has {self.info.n_channels}")
        with self._send_lock:
            if self._next_local_sample is not None and chunk.first_sample < self._next_local_sample:
                raise ValueError(
                    f"chunk starts at sample {chunk.first_sample} but samples up to {self._next_local_sample - 1} "
                    "were already sent; chunks must move forward on the sample clock"
                )
            raw = chunk.raw
            if raw is None:
                raw = quantize(chunk.data, self.wire.dtype, self.wire.scale)
            elif raw.dtype != self.wire.numpy_dtype:
                raise ValueError(f"chunk raw dtype is {raw.dtype}; the stream's wire dtype is {self.wire.dtype}")
            n_frames = 0
            for start in range(0, chunk.n_samples, self.frame_len):
                part = raw[:, start : start + self.frame_len]
                t_us = chunk.device_time_us + int(round(start * 1e6 / self.info.sfreq))
                frame = DataFrame(0, 0, chunk.first_sample + start, t_us, part, self.wire.scale)
                self.buffer.append(encode_frame(frame))
                n_frames += 1
            self._next_local_sample = chunk.next_sample
            self._frames_submitted += n_frames
            self._samples_submitted += chunk.n_samples
            last_device_s = chunk.device_time_us / 1e6 + (chunk.n_samples - 1) / self.info.sfreq
            self.clock.add(last_device_s, chunk.host_time)
            self._rate.append((chunk.host_time, chunk.n_samples))
            while self._rate and self._rate[0][0] < chunk.host_time - 5.0:
                self._rate.popleft()
        if self._failure is not None:
            raise UplinkError(
                f"the uplink has stopped: {self._failure} (this chunk is buffered with the other unacknowledged "
                "frames; close() writes them to a pending file)"
            )
        self._kick()
        return n_frames

    def wait_acked(self, timeout: float | None = None) -> bool:
        """Wait until every frame sent so far is acknowledged; False on timeout or failure."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._all_acked:
            while len(self.buffer) and self._failure is None and not self._done.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._all_acked.wait(0.1 if left is None else min(left, 0.1))
        return not len(self.buffer)

    def close(self, timeout: float = 10.0) -> UplinkStatus:
        """Send everything, then ``end``; wait up to ``timeout`` s for the service's ``closed``.

        Frames still unacknowledged after that are written to ``status().pending_file``. Idempotent.
        """
        if self._thread is None:
            self.start()
        self._ending = True
        self._kick()
        if not self._done.wait(timeout):
            logger.warning("uplink: no 'closed' from the service within %.1f s; stopping", timeout)
            self._stop_now = True
            self._kick()
            self._done.wait(5.0)
        if len(self.buffer) and self._pending_file is None:
            directory = self.spill_dir or Path(tempfile.gettempdir())
            directory.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%S")
            path = directory / f"biosig-unsent-{self._hello.stream}-{stamp}.bsig"
            n = self.buffer.dump(path)
            self._pending_file = str(path)
            logger.error("uplink: %d frame(s) were never acknowledged; they are kept in %s", n, path)
        self.buffer.close()
        if self._state not in ("failed",):
            self._state = "closed"
        return self.status()

    def status(self) -> UplinkStatus:
        est = self.clock.estimate()
        rate = None
        if len(self._rate) >= 2:
            span = self._rate[-1][0] - self._rate[0][0]
            if span > 0:
                rate = sum(n for _, n in list(self._rate)[1:]) / span
        return UplinkStatus(
            state=self._state,
            connected=self._connected,
            stream_id=self._stream_id,
            session=self._session,
            frames_submitted=self._frames_submitted,
            samples_submitted=self._samples_submitted,
            frames_sent=self._frames_sent,
            frames_resent=self._frames_resent,
            frames_acked=self._frames_acked,
            samples_acked=self._samples_acked,
            buffered_frames=len(self.buffer),
            spilled_frames=self.buffer.spilled,
            sessions=self._sessions,
            reconnects=max(0, self._sessions - 1),
            connect_failures=self._connect_failures,
            results=self._results,
            gaps_reported=self._gaps,
            errors=dict(self._errors),
            last_error=self._failure or self._last_error,
            rate_hz=rate,
            clock_offset_ms=est.offset_ms,
            clock_drift_ppm=est.drift_ppm,
            clock_latency_ms=est.latency_ms,
            pending_file=self._pending_file,
            closed=None if self._closed is None else {k: v for k, v in self._closed.to_dict().items() if k != "type"},
        )

    @property
    def sample_offset(self) -> int:
        """Added to the bridge's sample clock on the wire (non-zero when resuming a stream of an earlier run)."""
        return self._sample_offset

    @property
    def failed(self) -> str | None:
        """Why the uplink stopped for good, or None."""
        return self._failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the uplink thread -----------------------------------------------------------------------------------

    def _kick(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop is shutting down
                pass

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # a bug must not die silently in a daemon thread
            logger.exception("uplink thread crashed")
            self._failure = f"internal error: {exc!r}"
            self._state = "failed"
        finally:
            self._connected = False
            self._done.set()
            with self._all_acked:
                self._all_acked.notify_all()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._loop_ready.set()
        ws = self._ws_mod
        attempt = 0
        resyncs = 0
        while not self._stop_now:
            if self._ending and not self._frames_submitted and not self._sessions:
                break  # nothing was ever sent: nothing to end
            self._state = "ending" if self._ending else "connecting"
            acked_before = self._frames_acked
            try:
                await self._session_once()
                if self._closed is not None:
                    self._state = "closed"
                    return
                reason = "connection closed"
            except _Fatal as exc:
                self._fail(str(exc))
                return
            except _Resync as exc:
                resyncs += 1
                if resyncs > 20:
                    self._fail(f"resumed 20 times without progress; last reason: {exc}")
                    return
                logger.info("uplink: %s; reconnecting to resume", exc)
                attempt = 0
                continue
            except (OSError, TimeoutError, ws.exceptions.WebSocketException) as exc:
                try:
                    reason = self._classify(exc)
                except _Fatal as fatal:
                    self._fail(str(fatal))
                    return
            finally:
                self._connected = False
            if self._frames_acked > acked_before:
                attempt, resyncs = 0, 0
            self._last_error = reason
            if self._stop_now:
                break
            self._connect_failures += 1
            if self.max_retries is not None and attempt >= self.max_retries:
                self._fail(f"gave up after {attempt + 1} failed attempt(s): {reason}")
                return
            delay = self.backoff.delay(attempt, self._rng)
            attempt += 1
            self._state = "backoff"
            logger.warning("uplink: %s; reconnecting in %.2f s", reason, delay)
            await self._sleep(delay)
        if self._state not in ("failed", "closed"):
            self._state = "closed"

    def _classify(self, exc: BaseException) -> str:
        """A failed or dropped connection: raise _Fatal if retrying cannot help, else return a reason."""
        ws = self._ws_mod
        if isinstance(exc, ws.exceptions.InvalidStatus):
            code = exc.response.status_code
            if code in (401, 403):
                raise _Fatal(f"the service refused the API key (HTTP {code}); check --key") from exc
            if code == 404:
                raise _Fatal(f"no WebSocket endpoint at {self.url} (HTTP 404)") from exc
            return f"handshake refused with HTTP {code}"
        if isinstance(exc, ws.exceptions.InvalidURI):
            raise _Fatal(f"invalid URL {self.url!r}: {exc}") from exc
        if isinstance(exc, ws.exceptions.ConnectionClosed):
            rcvd = exc.rcvd
            if rcvd is not None and rcvd.code in FATAL_CLOSE_CODES:
                raise _Fatal(
                    f"the service closed the stream with {rcvd.code} ({FATAL_CLOSE_CODES[rcvd.code]}): "
                    f"{rcvd.reason or self._last_error or 'no reason given'}"
                ) from exc
            return f"connection closed ({rcvd.code if rcvd else 'no close frame'}{': ' + rcvd.reason if rcvd and rcvd.reason else ''})"
        return f"{type(exc).__name__}: {exc}"

    def _fail(self, message: str) -> None:
        logger.error("uplink stopped: %s", message)
        self._failure = message
        self._state = "failed"

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        deadline = time.monotonic() + seconds
        while not self._stop_now and time.monotonic() < deadline:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), deadline - time.monotonic())
            except TimeoutError:
                return

    async def _session_once(self) -> None:
        ws_mod = self._ws_mod
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else None
        async with ws_mod.connect(
            self.url,
            additional_headers=headers,
            open_timeout=self.open_timeout,
            max_size=4 << 20,
            close_timeout=2.0,
            ping_interval=20.0,
            ping_timeout=20.0,
        ) as ws:
            hello = replace(self._hello, resume=self._resume_next)
            await ws.send(hello.to_json())
            self._hellos_sent += 1
            try:
                text = await asyncio.wait_for(ws.recv(), self.open_timeout)
            except TimeoutError:
                raise _Resync(f"no 'ready' within {self.open_timeout:g} s") from None
            message = self._parse(text)
            if isinstance(message, Error):
                self._on_hello_error(message)
                return
            if not isinstance(message, Ready):
                raise _Fatal(f"the service answered hello with {type(message).__name__}, expected 'ready'")
            self._on_ready(message)
            self._connected = True
            self._state = "ending" if self._ending else "streaming"
            tasks = {asyncio.create_task(self._sender(ws)), asyncio.create_task(self._receiver(ws))}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                exc = task.exception()
                if exc is not None:
                    raise exc

    def _parse(self, text: str | bytes) -> Any:
        if isinstance(text, bytes):
            raise _Resync("the service sent a binary message; it only sends JSON control messages")
        try:
            return parse_message(text, sender="service")
        except ControlError as exc:
            raise _Resync(f"unreadable message from the service: {exc}") from exc

    def _on_hello_error(self, error: Error) -> None:
        self._errors[error.code] += 1
        self._last_error = f"{error.code}: {error.message}"
        if error.code == "stream_exists" and not self._resume_next and self._hellos_sent > 1:
            # Our own earlier hello may have created the stream before that connection dropped.
            self._resume_next = True
            raise _Resync("the stream exists (an earlier hello of this client may have created it); resuming")
        if error.code in ("bad_hello", "stream_exists", "unknown_stream", "unauthorized"):
            raise _Fatal(f"the service refused the hello: {error.code}: {error.message}")
        # stream_busy, try-again-later and anything else: retry with back-off
        raise ConnectionError(f"the service answered hello with error {error.code}: {error.message}")

    def _on_ready(self, ready: Ready) -> None:
        if ready.stream != self._hello.stream:
            raise _Fatal(f"ready is for stream {ready.stream!r}, this client sent {self._hello.stream!r}")
        buf = self.buffer
        if self._seq_base is None:
            self._seq_base = ready.next_seq
            if ready.resumed and ready.next_sample is not None:
                first_local = _first_sample_of(buf.get(buf.first)) if len(buf) else self._next_local_sample or 0
                self._sample_offset = ready.next_sample - first_local
                logger.info("uplink: resuming stream %s at seq %d, sample %d", ready.stream, ready.next_seq,
                            ready.next_sample)  # fmt: skip
        index = ready.next_seq - self._seq_base
        if index < buf.first:
            raise _Fatal(
                f"the service asks for frame {ready.next_seq}, but frames up to {self._seq_base + buf.first - 1} were "
                "acknowledged as persisted and discarded; the service lost acknowledged data"
            )
        if index > buf.end:
            raise _Fatal(
                f"the service expects frame {ready.next_seq} next, but this client has only created frames up to "
                f"{self._seq_base + buf.end - 1}; is another client streaming with this key?"
            )
        if index > buf.first:
            released = buf.release(index - 1)
            self._frames_acked += released
        self._resume_next = True
        self._stream_id = ready.stream_id
        self._session = ready.session
        self._sessions += 1
        self._next = index
        self._window = max(1, ready.max_unacked)
        if self._max_frame_bytes > ready.max_frame_bytes:
            raise _Fatal(
                f"this stream's frames take up to {self._max_frame_bytes} bytes; the service accepts at most "
                f"{ready.max_frame_bytes} (lower frame_s)"
            )
        self._notify_acked()
        logger.info("uplink: session %s, stream id %d, next seq %d (%d frame(s) to resend)", ready.session,
                    ready.stream_id, ready.next_seq, max(0, self._high_sent - index))  # fmt: skip

    def _notify_acked(self) -> None:
        with self._all_acked:
            self._all_acked.notify_all()

    async def _sender(self, ws: Any) -> None:
        assert self._wake is not None and self._seq_base is not None and self._stream_id is not None
        buf = self.buffer
        while not self._stop_now:
            self._wake.clear()
            can_send = (
                self._next < buf.end
                and self._next - buf.first < self._window
                and self._next < buf.first + buf.in_memory
            )
            if not can_send:
                if self._ending and not len(buf) and not self._end_sent:
                    await ws.send('{"type":"end"}')
                    self._end_sent = True
                await self._wake.wait()
                continue
            frame = buf.get(self._next)
            resent = self._next < self._high_sent
            seq = self._seq_base + self._next
            data = _patch(frame, self._stream_id, seq, _first_sample_of(frame) + self._sample_offset,
                          FLAG_RESENT if resent else 0)  # fmt: skip
            await ws.send(data)
            self._frames_sent += 1
            if resent:
                self._frames_resent += 1
            self._next += 1
            self._high_sent = max(self._high_sent, self._next)

    async def _receiver(self, ws: Any) -> None:
        assert self._seq_base is not None
        async for text in ws:
            message = self._parse(text)
            if isinstance(message, Ack):
                index = message.seq - self._seq_base
                if index >= self.buffer.first:
                    if index >= self._high_sent:
                        raise _Fatal(f"the service acknowledged frame {message.seq}, which was never sent")
                    self._frames_acked += self.buffer.release(index)
                self._samples_acked = message.samples
                self._notify_acked()
                assert self._wake is not None
                self._wake.set()
            elif isinstance(message, Result):
                self._results += 1
                if self.on_result is not None:
                    try:
                        self.on_result(message)
                    except Exception:
                        logger.exception("uplink: the on_result callback raised; result %s dropped by it", message)
            elif isinstance(message, Gap):
                self._gaps += 1
                logger.info("service recorded a gap: samples [%d, %d) never arrived", message.start_sample,
                            message.stop_sample)  # fmt: skip
            elif isinstance(message, Error):
                self._errors[message.code] += 1
                self._last_error = f"{message.code}: {message.message}"
                logger.warning("service error %s (seq %s): %s", message.code, message.seq, message.message)
                if message.code in FATAL_ERRORS:
                    raise _Fatal(f"the service refused a frame: {message.code}: {message.message}")
                if message.code in RESYNC_ERRORS:
                    raise _Resync(f"service answered {message.code}")
            elif isinstance(message, Closed):
                self._closed = message
                logger.info("stream %s closed by the service: %s", self._hello.stream, message.to_dict())
                if len(self.buffer):
                    raise _Fatal(f"the service closed the stream with {len(self.buffer)} frame(s) unacknowledged")
                return
            elif isinstance(message, Ready):
                raise _Resync("a second 'ready' in one session")
        rcvd = getattr(ws, "close_code", None)
        if rcvd in FATAL_CLOSE_CODES:
            raise _Fatal(
                f"the service closed the stream with {rcvd} ({FATAL_CLOSE_CODES[rcvd]}): "
                f"{getattr(ws, 'close_reason', '') or self._last_error or 'no reason given'}"
            )
