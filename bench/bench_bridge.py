"""Bridge and uplink figures, each against a baseline measured in the same run.

1. UART decoding (``PacketDecoder``: split at 0x00, COBS-decode, CRC32, parse) vs the least any decoder must do
   (split at 0x00 and CRC32 each piece), in MB/s and as a multiple of the emg2pose profile's byte rate.
2. Uplink throughput to the reference protocol server on loopback (buffer, header patching, window, acks) vs a
   bare ``websockets`` client sending the same encoded frames with the same window and no bookkeeping.
3. Memory of 200 MB of unacknowledged frames: ``FrameBuffer`` with 16 MB of memory (the rest spilled to disk)
   vs memory only (tracemalloc peak).

    .venv/bin/python bench/bench_bridge.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from biosig.protocol import DataFrame, encode_frame  # noqa: E402
from biosig.signals.info import SignalInfo  # noqa: E402
from firmware_bridge.base import Chunk, WireFormat  # noqa: E402
from firmware_bridge.buffer import FrameBuffer  # noqa: E402
from firmware_bridge.emulator import EmulatorConfig, make_packets  # noqa: E402
from firmware_bridge.uart import PacketDecoder, frame_packet  # noqa: E402
from firmware_bridge.uplink import Uplink  # noqa: E402
from tests.firmware_bridge.protocol_server import ServerProcess  # noqa: E402


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_uart(n_packets, repeat):
    packets = list(make_packets(EmulatorConfig(packets=n_packets)))
    stream = b"\x00" + b"".join(frame_packet(p) for p in packets)
    mb = len(stream) / 1e6

    def decode():
        out = PacketDecoder().feed(stream)
        assert len(out) == n_packets

    def baseline():
        n = 0
        for piece in stream.split(b"\x00"):
            if piece:
                zlib.crc32(piece)
                n += 1
        assert n == n_packets

    t_dec, t_base = best_of(decode, repeat), best_of(baseline, repeat)
    realtime = 2000 * 16 * 2 * (1 + 22 / 640)  # emg2pose profile: bytes per second on the line, with framing
    print(f"\n## UART decoding ({n_packets} packets of 16 ch x 20 samples, {mb:.1f} MB, best of {repeat})")
    print("| decoder | s | MB/s | x emg2pose real time |")
    print("|---|---|---|---|")
    print(
        f"| PacketDecoder (COBS + CRC32 + parse) | {t_dec:.3f} | {mb / t_dec:.1f} | {len(stream) / t_dec / realtime:.0f} |"
    )
    print(
        f"| baseline: split at 0x00 + CRC32 | {t_base:.3f} | {mb / t_base:.1f} | {len(stream) / t_base / realtime:.0f} |"
    )
    print(f"ratio PacketDecoder / baseline time: {t_dec / t_base:.1f}x")


def frames_for(n_frames, n_ch=16, n=100):
    rng = np.random.default_rng(0)
    raw = rng.integers(-3000, 3000, (n_ch, n * n_frames), dtype=np.int16)
    return raw


async def bare_client(url, key, raw, n, window):
    from websockets.asyncio.client import connect

    info = SignalInfo.uniform(raw.shape[0], 2000.0, "emg")
    hello = {"type": "hello", "stream": "bare", "sfreq": 2000.0, "dtype": "int16", "scale": 1.0,
             "channels": [{"name": c, "type": "emg"} for c in info.ch_names]}  # fmt: skip
    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        await ws.send(json.dumps(hello))
        ready = json.loads(await ws.recv())
        sid = ready["stream_id"]
        frames = [encode_frame(DataFrame(sid, i, i * n, 0, raw[:, i * n : (i + 1) * n], 1.0))
                  for i in range(raw.shape[1] // n)]  # fmt: skip
        acked, sent = -1, 0
        t0 = time.perf_counter()
        while acked < len(frames) - 1:
            while sent < len(frames) and sent - acked <= window:
                await ws.send(frames[sent])
                sent += 1
            msg = json.loads(await ws.recv())
            if msg["type"] == "ack":
                acked = msg["seq"]
        elapsed = time.perf_counter() - t0
        await ws.send('{"type":"end"}')
        while json.loads(await ws.recv())["type"] != "closed":
            pass
        return elapsed


def uplink_run(url, key, raw, n):
    info = SignalInfo.uniform(raw.shape[0], 2000.0, "emg")
    uplink = Uplink(url, stream="uplink", info=info, wire=WireFormat("int16", 1.0), api_key=key, frame_s=n / 2000)
    uplink.start()
    t0 = time.perf_counter()
    for k in range(0, raw.shape[1], 10 * n):  # chunks of 10 frames
        part = raw[:, k : k + 10 * n]
        uplink.send(Chunk(k, part.astype(np.float32), 0, time.time(), raw=part))
    assert uplink.wait_acked(120)
    elapsed = time.perf_counter() - t0
    uplink.close()
    return elapsed


def bench_uplink(n_frames):
    raw = frames_for(n_frames)
    with tempfile.TemporaryDirectory() as tmp:
        srv = ServerProcess(Path(tmp) / "store", "bench-key", "--max-unacked", "64").start()
        try:
            t_bare = asyncio.run(bare_client(srv.url, "bench-key", raw, 100, 64))
            t_up = uplink_run(srv.url, "bench-key", raw, 100)
        finally:
            srv.stop()
    samples = raw.shape[1]
    print(f"\n## Uplink to the reference server on loopback ({n_frames} frames of 16 ch x 100 int16, window 64)")
    print("| client | s | frames/s | samples/s | x emg2pose real time |")
    print("|---|---|---|---|---|")
    for name, t in (("Uplink (buffer, patching, acks)", t_up), ("baseline: bare websockets client", t_bare)):
        print(f"| {name} | {t:.2f} | {n_frames / t:,.0f} | {samples / t:,.0f} | {samples / t / 2000:.0f} |")
    print(f"ratio Uplink / bare time: {t_up / t_bare:.2f}x")


def bench_memory(total_mb):
    frame = encode_frame(DataFrame(0, 0, 0, 0, np.zeros((16, 100), np.int16), 1.0))
    n = int(total_mb * 1e6 / len(frame))
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, mem in (("FrameBuffer, 16 MB memory + spill", 16 << 20), ("memory only", 1 << 40)):
            tracemalloc.start()
            buf = FrameBuffer(memory_bytes=mem, spill_dir=tmp, max_spill_bytes=1 << 40)
            t0 = time.perf_counter()
            for _ in range(n):
                buf.append(bytes(bytearray(frame)))  # a distinct object per frame, as the uplink makes them
            buf.release(n - 1)
            elapsed = time.perf_counter() - t0
            peaks[name] = (tracemalloc.get_traced_memory()[1] / 1e6, elapsed)
            tracemalloc.stop()
            buf.close()
    print(f"\n## Buffering {n:,} unacknowledged frames ({total_mb:.0f} MB), then acknowledging them all")
    print("| buffer | peak MB (tracemalloc) | s |")
    print("|---|---|---|")
    for name, (peak, t) in peaks.items():
        print(f"| {name} | {peak:.1f} | {t:.2f} |")
    a, b = peaks.values()
    print(f"ratio peak memory spill / memory only: {a[0] / b[0]:.2f}x")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    bench_uart(500 if args.quick else 5000, 3)
    bench_uplink(2000 if args.quick else 10000)
    bench_memory(40 if args.quick else 200)


if __name__ == "__main__":
    main()
