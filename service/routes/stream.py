"""``WebSocket /v1/stream``: the service side of the wire protocol (docs/protocol.md).

One :class:`StreamHandler` per connection, three coroutines:

* the **reader** receives messages and puts them in a small queue (4 deep). It stops receiving while the
  queue is full, so a client that outruns the service is slowed by TCP flow control (backpressure), and it
  sleeps when the key streams faster than its sample rate limit. Each message is stamped on receipt.
* the **session loop** takes messages in order: frames are judged by :class:`service.session.SessionRules`,
  accepted ones appended to the recording file and fed to the stream's featurizer, whose completed windows go
  to the shared inference thread (:mod:`service.inference`); acknowledgements follow the fsync policy.
* the **sender** sends control messages first (acks coalesce: a newer cumulative ack replaces an unsent
  one), then results. Results wait in a bounded queue; for a client that does not read them the oldest are
  dropped (counted in ``biosig_results{fate="dropped"}``) -- never samples, and never acks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import struct
import time
import uuid
from collections import deque
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from biosig.errors import SignalError
from biosig.protocol import (
    OVERHEAD,
    Ack,
    Closed,
    Config,
    ControlError,
    End,
    Error,
    Hello,
    Message,
    Ready,
    Result,
    parse_message,
)
from biosig.stream import FeaturizerConfig, StreamFeaturizer, Window
from service.app import ServiceState
from service.auth import AuthError, Principal
from service.export import recording_file
from service.gestures import DEFAULT_USER
from service.inference import WindowJob, WindowOutput
from service.models import ServedModel
from service.session import Progress, SessionRules, Verdict
from service.storage import RecordingWriter, recover
from service.watch import display_samples

__all__ = ["SUBPROTOCOL", "StreamHandler", "authenticate_websocket", "router", "shutdown_streams"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["stream"])

#: The subprotocol the service selects; a key may ride along as ``key.<key>`` (for clients without headers).
SUBPROTOCOL = "biosig.v1"
KEY_SUBPROTOCOL_PREFIX = "key."
_INBOX = 4
_CONTROL_BACKLOG = 256  # unsent control messages after which the service stops reading frames
_PROGRESS_EVERY_S = 1.0
_WATCH_PROGRESS_EVERY_S = 0.5
_RECENT_S = 30.0  # embeddings kept per stream for recording few-shot examples from it
_URL_KEY_PARAMS = ("key", "api_key", "apikey", "token", "access_token")


class _Close(Exception):
    """End the session: send ``error`` (if any), then close with ``code``."""

    def __init__(self, code: int, error: Error | None = None) -> None:
        self.code = code
        self.error = error
        super().__init__(code)


def _fatal(code: str, message: str, close_code: int) -> _Close:
    return _Close(close_code, Error(code, message, None, True, close_code))


def _frame_values(data: bytes) -> int:
    """Values a frame declares (channels x samples), from its header, for the rate limiter; 0 if no header."""
    if len(data) < 48:
        return 0
    n_ch = struct.unpack_from("<H", data, 36)[0]
    n_samp = struct.unpack_from("<I", data, 40)[0]
    return int(n_ch) * int(n_samp)


class StreamHandler:
    """One WebSocket connection (see the module docstring)."""

    def __init__(self, state: ServiceState, ws: WebSocket) -> None:
        self.state = state
        self.settings = state.settings
        self.metrics = state.metrics
        self.ws = ws
        self.who: Principal | None = None
        self.session_id = uuid.uuid4().hex
        self.row_id: int | None = None
        self.hello: Hello | None = None
        self.rules: SessionRules | None = None
        self.writer: RecordingWriter | None = None
        self.featurizer: StreamFeaturizer | None = None
        self.model: ServedModel | None = None
        self.labels = False
        self.embeddings = False
        self.control: deque[Message] = deque()
        self.results: deque[tuple[WindowOutput, float]] = deque()
        self.n_results = 0
        self.n_gaps = 0
        self.pending_jobs = 0
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        self._jobs_done = asyncio.Event()
        self._stop_sender = False
        self._sender_dead = False
        self._inbox: asyncio.Queue[tuple[str, Any, float]] = asyncio.Queue(_INBOX)
        self._deadline: float | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._commit_error: BaseException | None = None
        self._last_progress = time.monotonic()
        self._shutdown_code: int | None = None
        self.close_code: int | None = None
        self._start_frames = self._start_samples = 0
        #: (window end in s on the device clock, embedding) of the last _RECENT_S seconds of results.
        self.recent: deque[tuple[float, Any]] = deque()
        self._last_watch_progress = 0.0

    # -- entry ------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        offered = list(self.ws.scope.get("subprotocols") or [])
        await self.ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        try:
            self.who = self._authenticate(offered)
        except AuthError as exc:
            self.metrics.auth_failures.labels("websocket").inc()
            await self._close_now(_fatal("unauthorized", str(exc), 1008))
            return
        if self.state.limiter.connect(self.who) > 0:
            self.metrics.rate_limited.labels("connect").inc()
            msg = f"API key {self.who.key_id} is over its connection rate limit; retry later and resume"
            await self._close_now(_fatal("rate_limited", msg, 1013))
            return
        if len(self.state.live) >= self.settings.max_streams:
            msg = f"the service is at its limit of {self.settings.max_streams} live streams; retry later"
            await self._close_now(_fatal("stream_limit", msg, 1013))
            return
        if not self.state.limiter.open_stream(self.who):
            msg = f"API key {self.who.key_id} has {self.settings.max_streams_per_key} live streams, its limit"
            await self._close_now(_fatal("stream_limit", msg, 1013))
            return
        try:
            await self._session()
        finally:
            self.state.limiter.close_stream(self.who)

    def _authenticate(self, offered: list[str]) -> Principal:
        return authenticate_websocket(self.state, self.ws, offered)

    async def _close_now(self, close: _Close) -> None:
        """Before the sender runs: send the error directly and close."""
        self.close_code = close.code
        try:
            if close.error is not None:
                await self.ws.send_text(close.error.to_json())
            await self.ws.close(close.code, _reason(close.error))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        self.metrics.sessions.labels(str(close.code)).inc()

    # -- hello ------------------------------------------------------------------------------------------------

    async def _receive_hello(self) -> Hello | None:
        try:
            msg = await asyncio.wait_for(self.ws.receive(), self.settings.hello_timeout_s)
        except TimeoutError:
            raise _fatal("hello_expected", f"no hello within {self.settings.hello_timeout_s:g} s", 4000) from None
        if msg["type"] == "websocket.disconnect":
            return None
        text = msg.get("text")
        if text is None:
            raise _fatal("hello_expected", "the first message must be a JSON hello, got a binary message", 4000)
        if len(text) > self.settings.max_control_bytes:
            msg_ = f"control message is {len(text)} bytes; at most {self.settings.max_control_bytes} are accepted"
            raise _fatal("too_big", msg_, 1009)
        try:
            parsed = parse_message(text, max_len=self.settings.max_control_bytes)
        except ControlError as exc:
            if exc.code == "bad_hello":
                raise _fatal("bad_hello", str(exc), 1007) from None
            raise _fatal("hello_expected", f"the first message must be a hello: {exc}", 4000) from None
        if not isinstance(parsed, Hello):
            raise _fatal("hello_expected", f"the first message must be a hello, got {parsed.TYPE!r}", 4000)
        return parsed

    def _open_stream(self, hello: Hello) -> Any:
        assert self.who is not None
        db, tenant = self.state.db, self.who.tenant
        row = db.open_stream(tenant, hello.stream)
        if hello.resume:
            if row is None:
                raise _fatal(
                    "bad_hello",
                    f"no open stream {hello.stream!r} to resume (it never started, or it ended); send the hello "
                    "without resume to start it",
                    1007,
                )
            diffs = _hello_diffs(row.hello, hello)
            if diffs:
                raise _fatal("bad_hello", f"cannot resume {hello.stream!r}: {'; '.join(diffs)}", 1007)
            return row
        if row is not None:
            raise _fatal(
                "stream_exists",
                f'stream {hello.stream!r} exists and has not ended; resume it ("resume": true) or end it first',
                1007,
            )
        try:
            return db.create_stream(tenant, hello.stream, hello.to_dict())
        except sqlite3.IntegrityError:
            raise _fatal(
                "stream_exists", f"stream {hello.stream!r} was just started by another connection", 1007
            ) from None

    def _choose_model(self, hello: Hello) -> tuple[ServedModel | None, FeaturizerConfig | None, str]:
        """The first model (gesture, then embedding) that takes the stream; else (None, None, why not)."""
        types = tuple(c.type for c in hello.channels)
        units = tuple(c.unit for c in hello.channels)
        models = self.state.models
        candidates = ([models.gesture.emg] if models.gesture is not None else []) + [models.embedding]
        problems = []
        for model in candidates:
            problem = model.check_channels(types, units)
            if problem is not None:
                problems.append(problem)
                continue
            spec = model.encoder.signal_spec
            try:
                config = FeaturizerConfig.for_model(
                    spec.sfreq,
                    spec.n_times,
                    sfreq_in=hello.sfreq,
                    n_channels=hello.n_channels,
                    hop_s=self.settings.hop_s,
                    highpass=self.settings.highpass,
                    notch=self.settings.notch,
                    ch_types=types,
                    units=units,
                )
            except SignalError as exc:
                problems.append(f"model {model.name}: {exc}")
                continue
            return model, config, ""
        return None, None, " | ".join(problems)

    # -- the session ------------------------------------------------------------------------------------------

    async def _session(self) -> None:
        try:
            hello = await self._receive_hello()
            if hello is None:
                return
            row = self._open_stream(hello)
            if (self.who.tenant, row.id) in self.state.live:  # type: ignore[union-attr]
                raise _fatal("stream_busy", f"stream {hello.stream!r} is streaming on another connection", 4409)
            model, config, why_not = self._choose_model(hello)
        except _Close as close:
            await self._close_now(close)
            return
        self.hello, self.row_id, self.model = hello, row.id, model
        self.labels, self.embeddings = hello.labels, hello.embeddings
        self.state.live[(self.who.tenant, row.id)] = self  # type: ignore[union-attr]
        self.metrics.streams_live.inc()
        try:
            await self._run_session(row, config, why_not)
        finally:
            self.state.live.pop((self.who.tenant, row.id), None)  # type: ignore[union-attr]
            self.metrics.streams_live.dec()
            self.metrics.sessions.labels(str(self.close_code)).inc()

    async def _run_session(self, row: Any, config: FeaturizerConfig | None, why_not: str) -> None:
        assert self.hello is not None and self.who is not None
        path = recording_file(self.settings.recordings_dir, row)
        rec = await asyncio.to_thread(
            recover,
            path,
            start=row.committed_bytes,
            n_frames=row.n_frames,
            n_samples=row.n_samples,
            next_seq=row.next_seq,
            first_sample=row.first_sample,
            next_sample=row.next_sample,
        )
        progress = Progress(rec.next_seq, rec.first_sample, rec.next_sample, rec.n_samples, rec.n_frames)
        self._start_frames, self._start_samples = rec.n_frames, rec.n_samples
        self.writer = RecordingWriter(path)
        tenant = self.who.tenant
        self.rules = SessionRules(
            row.id,
            self.hello,
            progress,
            max_unacked=self.settings.max_unacked,
            max_payload=self.settings.max_frame_bytes,
            max_invalid=self.settings.max_invalid_frames,
            foreign=lambda sid: (other := self.state.db.get_stream(sid)) is not None and other.tenant != tenant,
        )
        self.featurizer = StreamFeaturizer(config, f"{tenant}/{row.id}") if config is not None else None
        self.state.db.start_session(self.session_id, row.id, self.who.key_id, self.hello.resume)
        await self._save_progress()
        spec = self.model.encoder.signal_spec if self.model is not None else None
        ready = Ready(
            stream_id=row.id,
            session=self.session_id,
            stream=self.hello.stream,
            next_seq=progress.next_seq,
            next_sample=progress.next_sample,
            resumed=self.hello.resume,
            max_unacked=self.settings.max_unacked,
            max_frame_bytes=self.settings.max_frame_bytes,
            model=self.model.name if self.model is not None else None,
            window_s=spec.n_times / spec.sfreq if spec is not None else None,
            hop_s=config.hop_s if config is not None else None,
        )
        log.info("stream %s/%s (%s) session %s: %s", tenant, row.id, self.hello.stream, self.session_id, ready)
        await self.ws.send_text(ready.to_json())
        self._watch(self.describe() | {"type": "stream", "event": "open"})
        if self.model is None:
            msg = f"the stream is recorded, but no loaded model can take it, so there are no results: {why_not}"
            self.control.append(Error("no_model", msg, None))
        elif self.labels and self.model.kind != "gesture":
            self.control.append(Error("no_gesture_model", _no_labels_message(self.state), None))
        sender = asyncio.create_task(self._sender())
        reader = asyncio.create_task(self._reader())
        close: _Close | None = None
        try:
            close = await self._loop()
        except _Close as fatal:
            close = fatal
        except (WebSocketDisconnect, OSError):
            close = None
        except Exception as exc:  # a bug must not lose data: persist what was accepted, tell the client to resume
            log.exception("stream %s/%s: internal error", tenant, row.id)
            close = _fatal("internal", f"internal error ({type(exc).__name__}); reconnect and resume", 1011)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._finish(close, sender)

    async def _reader(self) -> None:
        assert self.who is not None
        try:
            while True:
                msg = await self.ws.receive()
                t = time.perf_counter()
                if msg["type"] == "websocket.disconnect":
                    await self._inbox.put(("disconnect", msg.get("code"), t))
                    return
                data = msg.get("bytes")
                if data is not None:
                    wait = self.state.limiter.samples(self.who, _frame_values(data))
                    if wait > 0:  # slow down, lose nothing: the client's frames wait in TCP buffers
                        self.metrics.rate_limited.labels("stream").inc()
                        await asyncio.sleep(min(wait, 5.0))
                    await self._inbox.put(("bytes", data, t))
                else:
                    await self._inbox.put(("text", msg.get("text", ""), t))
        except (WebSocketDisconnect, RuntimeError, OSError):
            await self._inbox.put(("disconnect", None, time.perf_counter()))

    async def _loop(self) -> _Close | None:
        rules = self.rules
        assert rules is not None
        while True:
            while len(self.control) > _CONTROL_BACKLOG and not self._sender_dead:
                self._sent.clear()
                await self._sent.wait()
            timeout = None
            if self._deadline is not None:
                timeout = max(0.0, self._deadline - time.monotonic())
            try:
                kind, payload, t_recv = await asyncio.wait_for(self._inbox.get(), timeout)
            except TimeoutError:
                self._start_commit()
                continue
            if kind == "disconnect":
                return None
            if self._commit_error is not None:
                exc = self._commit_error
                raise _fatal("internal", f"cannot persist ({type(exc).__name__}: {exc}); reconnect and resume", 1011)
            if kind == "tick":
                continue
            if kind == "shutdown":
                return _Close(payload, Error("going_away", "the service is shutting down; reconnect and resume",
                                             None, True, payload))  # fmt: skip
            if kind == "bytes":
                await self._on_frame(payload, t_recv)
            else:
                done = await self._on_text(payload)
                if done is not None:
                    return done
            if self.settings.fsync == "batch" and rules.unacked >= max(1, self.settings.max_unacked // 2):
                self._start_commit()

    # -- frames -----------------------------------------------------------------------------------------------

    async def _on_frame(self, data: bytes, t_recv: float) -> None:
        rules, writer = self.rules, self.writer
        assert rules is not None and writer is not None
        limit = self.settings.max_frame_bytes + OVERHEAD
        if len(data) > limit:
            self.metrics.frames.labels("too_big").inc()
            raise _fatal("too_big", f"binary message is {len(data)} bytes; at most {limit} are accepted "
                         f"(max_frame_bytes={self.settings.max_frame_bytes} of payload)", 1009)  # fmt: skip
        decision = rules.check(data)
        if decision.verdict is Verdict.REFUSE:
            assert decision.error is not None
            self.metrics.frames.labels(decision.error.code).inc()
            if decision.close_code is not None:
                raise _Close(decision.close_code, decision.error)
            self.control.append(decision.error)
            self._wake.set()
            return
        if decision.verdict is Verdict.DUPLICATE:
            self.metrics.frames.labels("duplicate").inc()
            if rules.unacked:
                self._start_commit()
            elif rules.last_acked >= 0:
                self._queue(Ack(rules.last_acked, rules.progress.n_samples))
            return
        frame = decision.frame
        assert frame is not None
        writer.append(data)
        self.metrics.frames.labels("accepted").inc()
        self.metrics.samples_persisted.inc(frame.n_samples)
        self.metrics.bytes_persisted.inc(len(data))
        if decision.gap is not None:
            self.n_gaps += 1
            self.metrics.gaps.inc()
            self.state.db.add_gap(self.row_id, decision.gap.seq, decision.gap.start_sample, decision.gap.stop_sample)  # type: ignore[arg-type]
            self.control.append(decision.gap)
        if self.settings.fsync == "always":
            self._start_commit()
        elif self.settings.fsync == "none":
            self._ack_now()
        elif self._deadline is None:
            self._deadline = time.monotonic() + self.settings.fsync_interval_s
        samples = frame.samples
        if self.featurizer is not None:
            result = self.featurizer.push(frame.first_sample, samples)
            if result.windows and (self.labels or self.embeddings or self.state.watch.watching(self.who.tenant)):  # type: ignore[union-attr]
                self._submit(result.windows, t_recv)
        if self.state.watch.watching(self.who.tenant):  # type: ignore[union-attr]
            start, rate, kept = display_samples(samples, self.hello.sfreq, frame.first_sample)  # type: ignore[union-attr]
            if kept.shape[1]:
                self._watch({"type": "samples", "stream": self.hello.stream, "start": start, "rate": rate,  # type: ignore[union-attr]
                             "data": kept.tolist()})  # fmt: skip
        self._wake.set()

    def _submit(self, windows: list[Window], t_recv: float) -> None:
        assert self.model is not None and self.featurizer is not None and self.who is not None
        self.pending_jobs += 1
        self._jobs_done.clear()
        user = (self.hello.device.get("user") if self.hello is not None else None) or DEFAULT_USER
        job = WindowJob(
            model=self.model,
            config=self.featurizer.config,
            windows=windows,
            t_recv=t_recv,
            labels=self.labels,
            tenant=self.who.tenant,
            user=user,
            loop=asyncio.get_running_loop(),
            deliver=self._deliver,
        )
        self.state.engine.submit(job)

    def _deliver(self, job: WindowJob, outputs: list[WindowOutput] | BaseException) -> None:
        self.pending_jobs -= 1
        if self.pending_jobs == 0:
            self._jobs_done.set()
        if isinstance(outputs, BaseException):
            msg = f"inference failed ({type(outputs).__name__}: {outputs}); samples are persisted, results lost"
            self.control.append(Error("inference_failed", msg, None))
        else:
            for out in outputs:
                self._remember(out)
                if not (self.labels or self.embeddings):
                    continue  # computed for observers only
                self.results.append((out, job.t_recv))
                if len(self.results) > self.settings.result_queue:
                    self.results.popleft()
                    self.metrics.results.labels("dropped").inc()
            if self.state.watch.watching(self.who.tenant):  # type: ignore[union-attr]
                self._watch_results(outputs, job.t_recv)
        self._wake.set()

    # -- observers (service.watch) ------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The stream as observers and ``GET /v1/streams`` show it."""
        assert self.hello is not None
        p = self.rules.progress if self.rules is not None else None
        return {
            "stream": self.hello.stream,
            "id": self.row_id,
            "session": self.session_id,
            "sfreq": self.hello.sfreq,
            "channels": [c.name for c in self.hello.channels],
            "ch_types": [c.type for c in self.hello.channels],
            "units": [c.unit for c in self.hello.channels],
            "device": dict(self.hello.device),
            "model": self.model.name if self.model is not None else None,
            "labels": self.labels,
            "resumed": self.hello.resume,
            "frames": p.n_frames if p is not None else 0,
            "samples": p.n_samples if p is not None else 0,
            "next_sample": p.next_sample if p is not None else None,
            "gaps": self.n_gaps,
            "rejected": self.rules.n_rejected if self.rules is not None else 0,
            "results": self.n_results,
        }

    def _watch(self, event: dict[str, Any]) -> None:
        assert self.who is not None
        self.state.watch.publish(self.who.tenant, event)

    def _remember(self, out: WindowOutput) -> None:
        assert self.hello is not None
        end_s = out.window.end / out.window.sfreq
        self.recent.append((end_s, out.embedding))
        while self.recent and self.recent[0][0] < end_s - _RECENT_S:
            self.recent.popleft()

    def recent_embeddings(self, seconds: float) -> list[Any]:
        """Embeddings of the windows that ended in the last ``seconds`` of the stream's clock."""
        if not self.recent:
            return []
        last = self.recent[-1][0]
        return [e for t, e in self.recent if t > last - seconds - 1e-9]

    def _watch_results(self, outputs: list[WindowOutput], t_recv: float) -> None:
        assert self.hello is not None and self.who is not None
        projection = self.state.gestures.projection(self.who.tenant) if self.model is not None and \
            self.model.kind == "gesture" else None  # fmt: skip
        for out in outputs:
            w = out.window
            ratio = self.hello.sfreq / w.sfreq
            event: dict[str, Any] = {
                "type": "result",
                "stream": self.hello.stream,
                "end_sample": int(round(w.end * ratio)),
                "end_s": round(w.end / w.sfreq, 4),
                "latency_ms": round((time.perf_counter() - t_recv) * 1e3, 3),
            }
            p = out.prediction
            if p is not None:
                event.update(label=p.label, nearest=p.nearest, score=round(p.score, 4), unknown=p.unknown,
                             scores={k: round(v, 4) for k, v in p.scores.items()})  # fmt: skip
            if projection is not None:
                event["xy"] = projection.project(out.embedding)
            self._watch(event)
        now = time.monotonic()
        if now - self._last_watch_progress >= _WATCH_PROGRESS_EVERY_S:
            self._last_watch_progress = now
            self._watch(self.describe() | {"type": "progress"})

    def _queue(self, msg: Message) -> None:
        if isinstance(msg, Ack) and self.control and isinstance(self.control[-1], Ack):
            self.control[-1] = msg  # cumulative: the newer ack says everything the older one did
        else:
            self.control.append(msg)
        self._wake.set()

    def _ack_now(self) -> None:
        rules = self.rules
        assert rules is not None
        seq = rules.mark_acked()
        self._queue(Ack(seq, rules.progress.n_samples))
        self.metrics.acks.inc()

    def _start_commit(self) -> None:
        """Commit in the background: the session loop goes on reading frames while the fsync runs.

        One commit runs at a time; frames accepted meanwhile are covered by the next one, which starts as soon
        as this one ends (``always``) or at the next deadline (``batch``).
        """
        self._deadline = None
        rules = self.rules
        assert rules is not None
        if rules.unacked == 0 or self._commit_task is not None:
            return
        self._commit_task = asyncio.create_task(self._background_commit())

    async def _background_commit(self) -> None:
        try:
            await self._commit()
        except Exception as exc:  # the fd failed: nothing more can be acknowledged; the session loop ends it
            log.exception("stream %s: commit failed", self.row_id)
            self._commit_error = exc
            self._tick()
            return
        finally:
            self._commit_task = None
        rules = self.rules
        assert rules is not None
        if rules.unacked:
            if self.settings.fsync == "always":
                self._start_commit()
            elif self._deadline is None:
                self._deadline = time.monotonic() + self.settings.fsync_interval_s
                self._tick()

    def _tick(self) -> None:
        """Wake the session loop (to see a new deadline or a failed commit); a full inbox wakes it anyway."""
        try:
            self._inbox.put_nowait(("tick", None, time.perf_counter()))
        except asyncio.QueueFull:
            pass

    async def _wait_commit(self) -> None:
        task = self._commit_task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _commit(self) -> None:
        """Make accepted frames durable under the policy, then acknowledge them (all accepted before the call)."""
        rules, writer = self.rules, self.writer
        assert rules is not None and writer is not None
        if rules.unacked == 0:
            return
        seq, samples = rules.progress.next_seq - 1, rules.progress.n_samples
        if self.settings.fsync != "none" and writer.dirty:
            t0 = time.perf_counter()
            await asyncio.to_thread(writer.sync)  # covers every byte written so far, frame `seq` included
            self.metrics.fsync_seconds.observe(time.perf_counter() - t0)
        rules.mark_acked(seq)
        self._queue(Ack(seq, samples))
        self.metrics.acks.inc()
        if time.monotonic() - self._last_progress >= _PROGRESS_EVERY_S:
            await self._save_progress()

    async def _save_progress(self) -> None:
        rules, writer = self.rules, self.writer
        assert rules is not None and writer is not None
        p = rules.progress
        self._last_progress = time.monotonic()
        await asyncio.to_thread(
            self.state.db.update_stream_progress,
            self.row_id,  # type: ignore[arg-type]
            next_seq=p.next_seq,
            first_sample=p.first_sample,
            next_sample=p.next_sample,
            n_samples=p.n_samples,
            n_frames=p.n_frames,
            committed_bytes=writer.synced_size if self.settings.fsync != "none" else writer.size,
        )

    def progress_snapshot(self) -> Progress:
        assert self.rules is not None
        p = self.rules.progress
        return Progress(p.next_seq, p.first_sample, p.next_sample, p.n_samples, p.n_frames)

    # -- control messages -------------------------------------------------------------------------------------

    async def _on_text(self, text: str) -> _Close | None:
        if len(text) > self.settings.max_control_bytes:
            msg = f"control message is {len(text)} bytes; at most {self.settings.max_control_bytes} are accepted"
            raise _fatal("too_big", msg, 1009)
        try:
            parsed = parse_message(text, max_len=self.settings.max_control_bytes)
        except ControlError as exc:
            self.control.append(Error("bad_message", str(exc), None))
            self._wake.set()
            return None
        if isinstance(parsed, Hello):
            self.control.append(Error("bad_message", "hello was already received; this session is open", None))
        elif isinstance(parsed, Config):
            if parsed.labels is not None:
                self.labels = parsed.labels
                if parsed.labels and self.model is not None and self.model.kind != "gesture":
                    self.control.append(Error("no_gesture_model", _no_labels_message(self.state), None))
            if parsed.embeddings is not None:
                self.embeddings = parsed.embeddings
        elif isinstance(parsed, End):
            return await self._end()
        self._wake.set()
        return None

    async def _end(self) -> _Close:
        assert self.rules is not None
        await self._wait_commit()
        await self._commit()
        tail = self.featurizer.close() if self.featurizer is not None else []
        if tail and (self.labels or self.embeddings):
            self._submit(tail, time.perf_counter())
        if self.pending_jobs:
            try:
                await asyncio.wait_for(self._jobs_done.wait(), 10.0)
            except TimeoutError:
                log.warning("stream %s: results still pending at end after 10 s; closing without them", self.row_id)
        self.state.db.end_stream(self.row_id)  # type: ignore[arg-type]
        return _Close(1000, None)

    # -- sending ----------------------------------------------------------------------------------------------

    def _result(self, out: WindowOutput, t_recv: float) -> Result:
        assert self.hello is not None
        w = out.window
        ratio = self.hello.sfreq / w.sfreq
        end = int(round(w.end * ratio))
        start = end - int(round(w.data.shape[1] * ratio))
        p = out.prediction if self.labels else None
        return Result(
            start_sample=start,
            end_sample=end,
            end_s=end / self.hello.sfreq,
            label=p.label if p is not None else None,
            score=round(p.score, 6) if p is not None else None,
            scores={k: round(v, 6) for k, v in p.scores.items()} if p is not None else None,
            unknown=p.unknown if p is not None else None,
            embedding=[float(v) for v in out.embedding] if self.embeddings else None,
            latency_ms=round((time.perf_counter() - t_recv) * 1e3, 3),
        )

    async def _sender(self) -> None:
        try:
            while True:
                if not (self.control or self.results):
                    if self._stop_sender:
                        return
                    await self._wake.wait()
                    self._wake.clear()
                    continue
                while self.control or self.results:
                    if self.control:
                        text = self.control.popleft().to_json()
                    else:
                        out, t_recv = self.results.popleft()
                        result = self._result(out, t_recv)
                        text = result.to_json()
                        self.n_results += 1
                        self.metrics.results.labels("sent").inc()
                        self.metrics.result_latency.observe((result.latency_ms or 0.0) / 1e3)
                    await self.ws.send_text(text)
                    self._sent.set()
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._sender_dead = True
            self._sent.set()

    async def _finish(self, close: _Close | None, sender: asyncio.Task[None]) -> None:
        """Persist, account, and close -- whatever ended the session."""
        rules, writer = self.rules, self.writer
        assert rules is not None and writer is not None
        try:
            await self._wait_commit()
            if rules.unacked and close is not None:
                await self._commit()  # the client is still there: it gets its acks
            await asyncio.to_thread(writer.close)
            await self._save_progress()
        except Exception:
            log.exception("stream %s: could not finish the recording cleanly", self.row_id)
        if close is not None and close.code == 1000:
            totals = (self._session_frames(), self._session_samples(), self.n_results + len(self.results))
            self._queue(Closed(*totals, self.n_gaps, rules.n_rejected))
        elif close is not None and close.error is not None:
            self.control.append(close.error)
        self._stop_sender = True
        self._wake.set()
        try:
            await asyncio.wait_for(sender, 10.0)
        except (TimeoutError, asyncio.CancelledError):
            sender.cancel()
        self.close_code = close.code if close is not None else None
        if close is not None and self.ws.client_state is WebSocketState.CONNECTED and not self._sender_dead:
            try:
                await self.ws.close(close.code, _reason(close.error))
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass
        if self.state.watch.watching(self.who.tenant):  # type: ignore[union-attr]
            self._watch(self.describe() | {"type": "stream", "event": "closed", "close_code": self.close_code})
        self.state.db.end_session(
            self.session_id,
            close_code=self.close_code,
            frames=self._session_frames(),
            samples=self._session_samples(),
            results=self.n_results,
            gaps=self.n_gaps,
            rejected=rules.n_rejected,
            duplicates=rules.n_duplicates,
        )
        log.info("stream %s session %s closed (%s): %d frames, %d samples, %d results, %d rejected", self.row_id,
                 self.session_id, self.close_code, self._session_frames(), self._session_samples(), self.n_results,
                 rules.n_rejected)  # fmt: skip

    def _session_frames(self) -> int:
        assert self.rules is not None
        return self.rules.progress.n_frames - self._start_frames

    def _session_samples(self) -> int:
        assert self.rules is not None
        return self.rules.progress.n_samples - self._start_samples

    async def request_close(self, code: int) -> None:
        """Ask the session loop to close with ``code`` (e.g. 1001 at shutdown)."""
        await self._inbox.put(("shutdown", code, time.perf_counter()))


def authenticate_websocket(state: ServiceState, ws: WebSocket, offered: list[str]) -> Principal:
    """The key of a WebSocket client: ``Authorization: Bearer`` or the ``key.<key>`` subprotocol, never the URL."""
    query = ws.query_params
    if any(k in query for k in _URL_KEY_PARAMS):
        raise AuthError(
            "API keys are never accepted in the URL; send 'Authorization: Bearer <key>' or the subprotocol "
            f"'{KEY_SUBPROTOCOL_PREFIX}<key>'"
        )
    header = ws.headers.get("authorization")
    key = None
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("malformed Authorization header: expected 'Bearer <key>'")
        key = value.strip()
    else:
        keys = [p[len(KEY_SUBPROTOCOL_PREFIX) :] for p in offered if p.startswith(KEY_SUBPROTOCOL_PREFIX)]
        if len(keys) > 1:
            raise AuthError("more than one key subprotocol offered; offer exactly one 'key.<key>'")
        key = keys[0] if keys else None
    return state.keys.verify(key)


def _reason(error: Error | None) -> str:
    """A close reason: at most 123 bytes of UTF-8."""
    if error is None:
        return ""
    return error.message.encode("utf-8")[:120].decode("utf-8", "ignore")


def _no_labels_message(state: ServiceState) -> str:
    return (
        "no gesture model is loaded, so results carry no labels (embeddings on request); start the service with "
        "a gesture model (gesture_emg_model, gesture_pose_factory) to get them"
    )


def _hello_diffs(stored: dict[str, Any], hello: Hello) -> list[str]:
    new = hello.to_dict()
    diffs = []
    for key in ("channels", "sfreq", "dtype", "scale"):
        a, b = stored.get(key), new.get(key)
        same = math.isclose(a, b, rel_tol=1e-9) if isinstance(a, float | int) and isinstance(b, float | int) else a == b
        if not same:
            diffs.append(f"{key} was {a!r}, the hello says {b!r}")
    return diffs


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    """Stream frames in, results out (docs/protocol.md)."""
    await StreamHandler(websocket.app.state.service, websocket).run()


async def shutdown_streams(state: ServiceState, code: int = 1001, timeout: float = 5.0) -> None:
    """Close every live session with ``code`` after persisting and acknowledging what it accepted."""
    handlers = list(state.live.values())
    if not handlers:
        return
    log.info("closing %d live stream(s) with %d", len(handlers), code)
    for h in handlers:
        await h.request_close(code)
    t_end = time.monotonic() + timeout
    while state.live and time.monotonic() < t_end:
        await asyncio.sleep(0.02)
