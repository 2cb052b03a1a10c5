"""A small protocol-conformant reference server for the uplink tests (docs/protocol.md), run as a real process.

::

    python tests/firmware_bridge/protocol_server.py --store DIR --key KEY [--port 0] [--max-unacked 64]
                                                    [--ack-every 1] [--hop 0] [--fsync]

prints ``listening ws://127.0.0.1:PORT/v1/stream`` once it accepts connections. It implements the session
rules the uplink relies on -- authentication (``Authorization: Bearer``, close 1008), ``hello``/``ready``,
in-order acceptance with cumulative acks, duplicates acknowledged but not stored, ``out_of_order``,
``too_many_unacked``, ``config_mismatch``, ``overlap``, gaps, ``resume``, ``stream_exists``, ``end``/``closed``
-- and persists every accepted frame, as received, to ``DIR/<stream>.bsig`` (written before it is acked) with
the stream's hello in ``DIR/<stream>.json``. Killed at any moment (``kill -9``) and started again on the same
store, it recovers ``next_seq``/``next_sample`` from the file (cutting a torn last frame), so a client that
resumes loses and duplicates nothing. With ``--hop N`` it pushes a ``result`` every N samples whose label
says whether the last window's RMS is above ``--threshold`` (``active``/``rest``) and whose embedding is the
per-channel RMS: a stand-in for the service's models, computed from the samples it received.

This is test infrastructure, not the service (issue 7); the service must pass the same uplink tests.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biosig.protocol import (
    DEFAULT_MAX_PAYLOAD,
    Ack,
    Closed,
    Config,
    ControlError,
    End,
    Error,
    FrameError,
    FrameScanner,
    Gap,
    Hello,
    Ready,
    Result,
    decode_frame,
    parse_message,
)

log = logging.getLogger("protocol_server")

MAX_INVALID_IN_A_ROW = 20


@dataclass
class StreamState:
    key: str
    stream_id: int
    hello: dict[str, Any]
    next_seq: int = 0
    next_sample: int | None = None
    samples: int = 0
    ended: bool = False
    busy: bool = False
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {"key": self.key, "stream_id": self.stream_id, "hello": self.hello, "ended": self.ended,
                "gaps": self.gaps}  # fmt: skip


class Store:
    """Streams on disk: ``<key>.json`` (hello, id, ended) and ``<key>.bsig`` (accepted frames, in order)."""

    def __init__(self, root: Path, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)
        self.streams: dict[str, StreamState] = {}
        self.files: dict[str, Any] = {}
        for meta_path in sorted(root.glob("*.json")):
            meta = json.loads(meta_path.read_text())
            state = StreamState(meta["key"], meta["stream_id"], meta["hello"], ended=meta["ended"],
                                gaps=[tuple(g) for g in meta.get("gaps", [])])  # fmt: skip
            self._recover(state)
            self.streams[state.key] = state

    def frames_path(self, key: str) -> Path:
        return self.root / f"{key}.bsig"

    def _recover(self, state: StreamState) -> None:
        path = self.frames_path(state.key)
        if not path.exists():
            return
        data = path.read_bytes()
        scanner = FrameScanner()
        for frame in scanner.feed(data):
            state.next_seq = frame.seq + 1
            state.next_sample = frame.next_sample
            state.samples += frame.n_samples
        # Every frame the scanner returned is whole; a torn tail (killed mid-write) is cut off.
        if scanner.pending_bytes:
            log.warning("%s: cutting a torn last frame (%d bytes)", path, scanner.pending_bytes)
            with open(path, "r+b") as f:
                f.truncate(len(data) - scanner.pending_bytes)

    def save_meta(self, state: StreamState) -> None:
        path = self.root / f"{state.key}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state.meta()))
        tmp.replace(path)

    def append(self, key: str, frame: bytes) -> None:
        f = self.files.get(key)
        if f is None:
            f = self.files[key] = open(self.frames_path(key), "ab")
        f.write(frame)
        f.flush()  # in the OS before the ack: survives the process being killed
        if self.fsync:
            os.fsync(f.fileno())


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.store = Store(Path(args.store), args.fsync)

    def _authorized(self, ws: Any) -> bool:
        header = ws.request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {self.args.key}".encode())

    async def handler(self, ws: Any) -> None:
        if ws.request.path != "/v1/stream":
            await ws.close(1008, f"unknown path {ws.request.path}")
            return
        if not self._authorized(ws):
            await self._error(ws, "unauthorized", "missing or unknown API key", fatal=True, close_code=1008)
            return
        try:
            first = await asyncio.wait_for(ws.recv(), self.args.hello_timeout)
        except TimeoutError:
            await ws.close(4000, "hello expected")
            return
        if not isinstance(first, str):
            await ws.close(4000, "hello expected: the first message must be a JSON hello")
            return
        try:
            hello = parse_message(first, sender="client")
        except ControlError as exc:
            await self._error(ws, exc.code, str(exc), fatal=True, close_code=1007)
            return
        if not isinstance(hello, Hello):
            await ws.close(4000, f"hello expected, got {hello.TYPE}")
            return
        state = self._open_stream(hello)
        if isinstance(state, tuple):
            code, message, close_code = state
            await self._error(ws, code, message, fatal=True, close_code=close_code)
            return
        state.busy = True
        try:
            await Session(self, ws, state, hello).run()
        finally:
            state.busy = False

    def _open_stream(self, hello: Hello) -> StreamState | tuple[str, str, int]:
        hello_dict = hello.to_dict()
        key = hello.stream
        state = self.store.streams.get(key)
        essential = ("channels", "sfreq", "dtype", "scale")
        if state is not None and state.busy:
            return "stream_busy", f"stream {key!r} is being streamed by another connection", 4409
        if hello.resume:
            if state is None:
                return "bad_hello", f"cannot resume stream {key!r}: it does not exist", 1007
            differ = [k for k in essential if state.hello[k] != hello_dict[k]]
            if differ:
                return "bad_hello", f"cannot resume stream {key!r}: {differ} differ from the stream's", 1007
            return state
        if state is not None and not state.ended:
            return "stream_exists", f"stream {key!r} exists and was not ended; send resume: true", 1007
        stream_id = 1 + max((s.stream_id for s in self.store.streams.values()), default=0)
        if state is not None:  # an ended stream: start it anew
            self.store.frames_path(key).unlink(missing_ok=True)
        state = StreamState(key, stream_id, {k: v for k, v in hello_dict.items() if k != "resume"})
        self.store.streams[key] = state
        self.store.save_meta(state)
        return state

    @staticmethod
    async def _error(ws: Any, code: str, message: str, *, seq: int | None = None, fatal: bool = False,
                     close_code: int | None = None) -> None:  # fmt: skip
        await ws.send(Error(code, message, seq, fatal, close_code).to_json())
        if fatal:
            await ws.close(close_code or 1007, message[:120])


class Session:
    def __init__(self, server: Server, ws: Any, state: StreamState, hello: Hello) -> None:
        self.server, self.ws, self.state, self.hello = server, ws, state, hello
        self.args = server.args
        self.last_acked = state.next_seq - 1
        self.labels, self.embeddings = hello.labels, hello.embeddings
        self.frames = self.results = self.rejected = self.invalid_in_a_row = 0
        self.window: list[np.ndarray] = []
        self.window_n = 0
        self.since_result = 0
        self.ack_task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        st = self.state
        ready = Ready(st.stream_id, uuid.uuid4().hex, st.key, st.next_seq, st.next_sample, self.hello.resume,
                      self.args.max_unacked, DEFAULT_MAX_PAYLOAD, "rms-reference", self.args.window / self.hello.sfreq,
                      (self.args.hop or 1) / self.hello.sfreq)  # fmt: skip
        await self.ws.send(ready.to_json())
        async for message in self.ws:
            if isinstance(message, bytes):
                await self.on_frame(message)
            else:
                if await self.on_text(message):
                    return

    async def ack(self) -> None:
        if self.state.next_seq - 1 > self.last_acked or self.args.ack_every == 1:
            self.last_acked = self.state.next_seq - 1
            if self.last_acked >= 0:
                await self.ws.send(Ack(self.last_acked, self.state.samples).to_json())

    async def _delayed_ack(self) -> None:
        await asyncio.sleep(0.02)
        self.ack_task = None
        await self.ack()

    async def on_frame(self, data: bytes) -> None:
        st, h = self.state, self.hello
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            await self.refuse(exc.code, str(exc), None)
            return
        if frame.seq < st.next_seq:  # a resend of something persisted: acknowledge, do not store
            await self.ws.send(Ack(st.next_seq - 1, st.samples).to_json())
            return
        if frame.seq > st.next_seq:
            await self.refuse("out_of_order", f"frame {frame.seq} arrived; expected {st.next_seq}", frame.seq)
            return
        if frame.seq - self.last_acked > self.args.max_unacked:
            await self.refuse("too_many_unacked", f"frame {frame.seq} is more than {self.args.max_unacked} ahead "
                              f"of the last ack {self.last_acked}", frame.seq)  # fmt: skip
            return
        differ = []
        if frame.stream_id != st.stream_id:
            differ.append(f"stream id {frame.stream_id} != {st.stream_id}")
        if frame.n_channels != len(h.channels):
            differ.append(f"{frame.n_channels} channels != {len(h.channels)}")
        if frame.dtype != h.dtype:
            differ.append(f"dtype {frame.dtype} != {h.dtype}")
        if np.float32(frame.scale) != np.float32(h.scale):
            differ.append(f"scale {frame.scale} != {h.scale}")
        if differ:
            await self.refuse("config_mismatch", "; ".join(differ), frame.seq)
            return
        if st.next_sample is not None and frame.first_sample < st.next_sample:
            await self.refuse("overlap", f"frame starts at sample {frame.first_sample} < {st.next_sample}", frame.seq)
            return
        if st.next_sample is not None and frame.first_sample > st.next_sample:
            st.gaps.append((st.next_sample, frame.first_sample))
            self.server.store.save_meta(st)
            await self.ws.send(Gap(st.next_sample, frame.first_sample, frame.seq).to_json())
        self.server.store.append(st.key, bytes(data))
        st.next_seq = frame.seq + 1
        st.next_sample = frame.next_sample
        st.samples += frame.n_samples
        self.frames += 1
        self.invalid_in_a_row = 0
        if st.next_seq - 1 - self.last_acked >= self.args.ack_every:
            await self.ack()
        elif self.ack_task is None:
            self.ack_task = asyncio.create_task(self._delayed_ack())
        await self.featurize(frame)

    async def refuse(self, code: str, message: str, seq: int | None) -> None:
        self.rejected += 1
        self.invalid_in_a_row += 1
        await Server._error(self.ws, code, message, seq=seq)
        if self.invalid_in_a_row >= MAX_INVALID_IN_A_ROW:
            await self.ws.close(1007, "too many invalid frames in a row")

    async def featurize(self, frame: Any) -> None:
        if not self.args.hop:
            return
        self.window.append(frame.samples)
        self.window_n += frame.n_samples
        self.since_result += frame.n_samples
        while self.window_n - self.window[0].shape[1] >= self.args.window:
            self.window_n -= self.window.pop(0).shape[1]
        if self.since_result < self.args.hop or self.window_n < self.args.window:
            return
        self.since_result = 0
        x = np.concatenate(self.window, axis=1)[:, -self.args.window :]
        rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1))
        level = float(rms.mean())
        active = level > self.args.threshold
        score = float(min(1.0, level / (2 * self.args.threshold))) if active else 1.0 - level / self.args.threshold / 2
        end = self.state.next_sample or 0
        result = Result(
            start_sample=end - self.args.window, end_sample=end, end_s=end / self.hello.sfreq,
            label=("active" if active else "rest") if self.labels else None,
            score=score if self.labels else None,
            scores={"active": score if active else 1 - score, "rest": 1 - score if active else score} if self.labels else None,
            unknown=False if self.labels else None,
            embedding=[float(v) for v in rms] if self.embeddings else None,
            latency_ms=0.0,
        )  # fmt: skip
        self.results += 1
        await self.ws.send(result.to_json())

    async def on_text(self, text: str) -> bool:
        try:
            message = parse_message(text, sender="client")
        except ControlError as exc:
            await Server._error(self.ws, exc.code, str(exc))
            return False
        if isinstance(message, Config):
            if message.labels is not None:
                self.labels = message.labels
            if message.embeddings is not None:
                self.embeddings = message.embeddings
            return False
        if isinstance(message, End):
            st = self.state
            st.ended = True
            self.server.store.save_meta(st)
            self.last_acked = -2  # force the final ack
            await self.ack()
            closed = Closed(self.frames, st.samples, self.results, len(st.gaps), self.rejected)
            await self.ws.send(closed.to_json())
            await self.ws.close(1000, "end")
            return True
        await Server._error(self.ws, "bad_message", f"unexpected {message.TYPE} after hello")
        return False


async def serve(args: argparse.Namespace) -> None:
    from websockets.asyncio.server import serve as ws_serve

    server = Server(args)
    async with ws_serve(server.handler, args.host, args.port, max_size=DEFAULT_MAX_PAYLOAD + 4096) as srv:
        port = srv.sockets[0].getsockname()[1]
        print(f"listening ws://{args.host}:{port}/v1/stream", flush=True)
        await asyncio.get_running_loop().create_future()  # until killed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="reference server of the biosig wire protocol (tests only)")
    p.add_argument("--store", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--max-unacked", type=int, default=64)
    p.add_argument("--ack-every", type=int, default=1)
    p.add_argument("--hop", type=int, default=0, help="samples between results (0: no results)")
    p.add_argument("--window", type=int, default=200, help="samples per result window")
    p.add_argument("--threshold", type=float, default=0.05, help="RMS above which a window is 'active'")
    p.add_argument("--hello-timeout", type=float, default=5.0)
    p.add_argument("--fsync", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="server %(levelname)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


# -- helpers for tests: the server as a child process ----------------------------------------------------------


class ServerProcess:
    """Start, kill (-9) and restart the reference server on the same port and store."""

    def __init__(self, store: Path, key: str, *extra: str) -> None:
        self.store, self.key, self.extra = store, key, list(extra)
        self.port = 0
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        import subprocess

        cmd = [sys.executable, __file__, "--store", str(self.store), "--key", self.key, "--port", str(self.port),
               *self.extra]  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline()
            if line.startswith("listening "):
                self.port = int(line.rsplit(":", 1)[1].split("/")[0])
                return self
            self.proc.wait()
            if time.monotonic() > deadline:  # e.g. the port is not free yet after a kill
                raise RuntimeError(f"protocol server did not start: {line!r}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def frames(self, stream: str) -> list[Any]:
        """Every frame the server persisted for ``stream``, decoded, in file order."""
        path = self.store / f"{stream}.bsig"
        scanner = FrameScanner()
        frames = scanner.feed(path.read_bytes()) if path.exists() else []
        assert scanner.skipped_bytes == 0 and not scanner.rejected, (scanner.skipped_bytes, scanner.rejected)
        return frames

    def meta(self, stream: str) -> dict[str, Any]:
        return json.loads((self.store / f"{stream}.json").read_text())


if __name__ == "__main__":
    sys.exit(main())
