"""A real ``biosig serve`` process and a real ``websockets`` protocol client, for the live-server tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from biosig.protocol import FLAG_RESENT, DataFrame, encode_frame

REPO = Path(__file__).resolve().parents[2]
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def biosig_command() -> list[str]:
    """The ``biosig`` console script of this environment (as users run it), else the module."""
    script = Path(sys.executable).with_name("biosig")
    return [str(script)] if script.exists() else [sys.executable, "-m", "biosig.cli.main"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(biosig_command() + list(args), capture_output=True, text=True, env=env, timeout=120,
                          check=True)  # fmt: skip


class LiveServer:
    """``biosig serve`` on a data directory (``port`` 0: a free one, read from uvicorn's startup line).

    ``start`` may be called again after ``stop``/``kill``: a restart on the same data directory (and port).
    """

    def __init__(self, data_dir: Path, cache_dir: Path, port: int = 0, **settings: str) -> None:
        self.data_dir = data_dir
        self.requested_port = port
        self.env = {**os.environ, "BIOSIG_SERVICE_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO)}
        self.env.update({f"BIOSIG_SERVICE_{k.upper()}": v for k, v in settings.items()})
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.port = 0

    def key(self, tenant: str, name: str = "test") -> tuple[str, str]:
        out = json.loads(cli("keys", "create", "--tenant", tenant, "--name", name, "--json",
                             "--data-dir", str(self.data_dir), env=self.env).stdout)  # fmt: skip
        return out["key"], out["key_id"]

    def start(self, timeout: float = 90.0) -> LiveServer:
        cmd = biosig_command() + ["serve", "--port", str(self.requested_port), "--data-dir", str(self.data_dir),
                                  "--log-level", "info"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=self.env)
        found = threading.Event()

        def drain() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                m = _RUNNING.search(line)
                if m:
                    self.port = int(m.group(1))
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        t_end = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > t_end:
                self.stop()
                raise RuntimeError("biosig serve did not start:\n" + "".join(self.lines[-40:]))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def alive(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=5).json()["status"] == "ok"
        except httpx.HTTPError:
            return False

    def get(self, path: str, key: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30, **kw)

    def persisted(self, key: str, stream_id: int) -> int:
        r = self.get(f"/v1/recordings/{stream_id}", key)
        r.raise_for_status()
        return int(r.json()["samples"])

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log(self) -> str:
        return "".join(self.lines)


def myo_hello(stream: str, **kw: Any) -> dict[str, Any]:
    channels = [{"name": f"emg{i}", "type": "emg", "unit": "a.u."} for i in range(8)]
    return {"type": "hello", "stream": stream, "channels": channels, "sfreq": 200, "dtype": "int8",
            "scale": 1 / 128, "labels": False, **kw}  # fmt: skip


class StreamClient:
    """A protocol client that keeps every unacknowledged frame and resends from ``next_seq`` after a resume."""

    def __init__(self, server: LiveServer, key: str, hello: dict[str, Any]) -> None:
        self.server = server
        self.key = key
        self.hello = hello
        self.ws: ClientConnection | None = None
        self.stream_id = 0
        self.next_seq = 0
        self.next_sample = 0
        self.unacked: dict[int, bytes] = {}
        self.acked_seq = -1
        self.acked_samples = 0
        self.messages: list[dict[str, Any]] = []
        self.ready: dict[str, Any] = {}
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def open(self, resume: bool = False, **connect_kw: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.key}"}
        self._changed = asyncio.Event()  # bound to the running loop (a client may outlive one asyncio.run)
        self.ws = await connect(self.server.ws_url, additional_headers=headers, max_size=None, **connect_kw)
        await self.ws.send(json.dumps({**self.hello, "resume": resume}))
        self.ready = json.loads(await self.ws.recv())
        if self.ready["type"] != "ready":
            raise AssertionError(f"expected ready, got {self.ready}")
        self.stream_id = self.ready["stream_id"]
        server_next = self.ready["next_seq"]
        for seq in [s for s in self.unacked if s < server_next]:  # persisted before the drop
            del self.unacked[seq]
        self._reader = asyncio.create_task(self._read())
        return self.ready

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for text in self.ws:
                msg = json.loads(text)
                self.messages.append(msg)
                if msg["type"] == "ack":
                    self.acked_seq, self.acked_samples = msg["seq"], msg["samples"]
                    for seq in [s for s in self.unacked if s <= msg["seq"]]:
                        del self.unacked[seq]
                self._changed.set()
        except ConnectionClosed:
            pass
        self._changed.set()

    def frame(self, raw: np.ndarray, seq: int | None = None, first: int | None = None, flags: int = 0) -> bytes:
        scale = float(self.hello["scale"])
        return encode_frame(DataFrame(self.stream_id, self.next_seq if seq is None else seq,
                                      self.next_sample if first is None else first, 0, raw, scale, flags))  # fmt: skip

    async def send(self, raw: np.ndarray, first: int | None = None) -> int:
        """Send the next frame (kept until acknowledged); returns its sequence number."""
        assert self.ws is not None
        data = self.frame(raw, first=first)
        seq = self.next_seq
        self.unacked[seq] = data
        self.next_seq += 1
        self.next_sample = (self.next_sample if first is None else first) + raw.shape[1]
        await self.ws.send(data)
        return seq

    async def resend_unacked(self) -> int:
        assert self.ws is not None
        n = 0
        for seq in sorted(self.unacked):
            raw = bytearray(self.unacked[seq])
            raw[6] |= FLAG_RESENT  # the flag is inside the checksummed bytes: recompute the CRC
            raw[-4:] = struct.pack("<I", zlib.crc32(bytes(raw[:-4])))
            self.unacked[seq] = bytes(raw)
            await self.ws.send(bytes(raw))
            n += 1
        return n

    async def wait(self, predicate: Any, timeout: float = 15.0) -> dict[str, Any] | None:
        """The first message satisfying ``predicate`` (already received or arriving within ``timeout``)."""
        t_end = time.monotonic() + timeout
        seen = 0
        while True:
            for msg in self.messages[seen:]:
                if predicate(msg):
                    return msg
            seen = len(self.messages)
            left = t_end - time.monotonic()
            if left <= 0 or (self._reader is not None and self._reader.done()):
                return None
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return None

    async def wait_acked(self, seq: int, timeout: float = 15.0) -> None:
        if await self.wait(lambda m: m["type"] == "ack" and m["seq"] >= seq, timeout) is None:
            raise AssertionError(f"no ack of seq {seq} within {timeout} s; last ack {self.acked_seq}")

    async def end(self) -> dict[str, Any]:
        assert self.ws is not None
        await self.ws.send('{"type": "end"}')
        closed = await self.wait(lambda m: m["type"] == "closed", 30)
        await self.closed()
        if closed is None:
            raise AssertionError(f"no closed message; last messages {self.messages[-3:]}")
        return closed

    async def closed(self, timeout: float = 15.0) -> int | None:
        """Wait for the connection to close; its close code."""
        assert self.ws is not None and self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.ws.close_code

    async def abort(self) -> None:
        """Drop the TCP connection without a close handshake (a network failure)."""
        assert self.ws is not None and self._reader is not None
        self.ws.transport.abort()
        await asyncio.gather(self._reader, return_exceptions=True)

    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "error"]


def myo_block(rng: np.random.Generator, n: int = 10) -> np.ndarray:
    return rng.integers(-60, 60, size=(8, n)).astype(np.int8)
