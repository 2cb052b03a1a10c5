"""The uplink against the reference protocol server, a real websockets server process that can be killed."""

from __future__ import annotations

import math
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import biosig.io
from biosig.protocol import FrameScanner
from biosig.signals.info import SignalInfo
from firmware_bridge.base import Chunk, WireFormat
from firmware_bridge.errors import UplinkError
from firmware_bridge.replay import ReplayBridge
from firmware_bridge.uplink import Backoff, Uplink

from .protocol_server import ServerProcess

MYO = Path(__file__).resolve().parents[2] / "biosig" / "assets" / "myo" / "12345-1"
KEY = "test-key-1"


@pytest.fixture()
def server(tmp_path):
    servers = []

    def start(*extra):
        srv = ServerProcess(tmp_path / f"store{len(servers)}", KEY, *extra).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="module")
def myo_counts():
    recs = biosig.io.read(MYO)
    return np.rint(np.concatenate([r.data for r in recs], axis=1) * 128).astype(np.int8)  # the whole session


def _uplink(srv, bridge, **kw):
    kw.setdefault("backoff", Backoff(initial_s=0.05, max_s=0.5))
    return Uplink(srv.url, stream=kw.pop("stream", "myo-1"), info=bridge.info, wire=bridge.wire, api_key=KEY,
                  device=bridge.describe(), seed=0, **kw)  # fmt: skip


def _assert_exactly_once_in_order(frames, counts):
    assert [f.seq for f in frames] == list(range(len(frames))), "sequence numbers must be 0..n-1, each once"
    firsts = np.array([f.first_sample for f in frames])
    nexts = np.array([f.next_sample for f in frames])
    assert firsts[0] == 0 and np.array_equal(firsts[1:], nexts[:-1]), "samples must be contiguous, each once"
    np.testing.assert_array_equal(np.concatenate([f.raw for f in frames], axis=1), counts)


def test_a_stream_arrives_exactly_with_coalesced_acks_a_small_window_and_results(server, myo_counts):
    srv = server("--max-unacked", "4", "--ack-every", "3", "--hop", "20")
    results = []
    with ReplayBridge(MYO, index=0, speed=math.inf, chunk_s=0.5) as bridge:
        with _uplink(srv, bridge, on_result=results.append, frame_s=0.05) as uplink:
            for chunk in bridge.chunks():
                uplink.send(chunk)
        status = uplink.status()
    frames = srv.frames("myo-1")
    _assert_exactly_once_in_order(frames, myo_counts[:, :11925])
    assert len(frames) == 1193 and frames[0].n_samples == 10  # 50 ms frames
    assert status.state == "closed" and status.errors == {} and status.frames_resent == 0
    assert (status.frames_sent, status.frames_acked, status.samples_acked) == (1193, 1193, 11925)
    assert status.closed == {"frames": 1193, "samples": 11925, "results": len(results), "gaps": 0, "rejected": 0}
    assert len(results) > 500 and results[0].label in ("active", "rest") and results[0].end_sample == 200
    assert srv.meta("myo-1")["ended"] is True and srv.meta("myo-1")["hello"]["device"]["kind"] == "replay"


@pytest.mark.slow
@pytest.mark.parametrize("memory_bytes", [32 << 20, 40 * 132], ids=["memory", "spilling"])
def test_killing_and_restarting_the_server_mid_stream_delivers_every_sample_exactly_once_in_order(
    server, myo_counts, memory_bytes, tmp_path
):
    """The issue's demonstration: kill -9 the server twice mid-stream; every sample arrives once, in order."""
    srv = server()
    kills: list[int] = []
    uplink = None

    def killer():  # kill at 1/6 and 1/2 of the 2,400 frames acknowledged, while the bridge goes on producing
        deadline = time.monotonic() + 90
        while len(kills) < 2 and time.monotonic() < deadline:
            if uplink is not None and uplink.status().frames_acked >= (400, 1200)[len(kills)]:
                srv.kill()  # SIGKILL: no close frame, frames in flight are lost with the process
                kills.append(uplink.status().frames_acked)
                time.sleep(0.7)
                srv.start()
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    with ReplayBridge(MYO, index=None, speed=40.0, chunk_s=0.05) as bridge:
        uplink = _uplink(srv, bridge, memory_bytes=memory_bytes, spill_dir=tmp_path).start()
        max_spilled = 0
        for chunk in bridge.chunks():
            if chunk.first_sample >= 24_000:  # 2 minutes of the session, 3 s at 40x
                break
            uplink.send(chunk)
            max_spilled = max(max_spilled, uplink.buffer.spilled)
        thread.join(90)  # on a slow machine the acks lag the bridge: wait for both kills
        status = uplink.close(timeout=30)
    assert len(kills) == 2, f"the stream ended before both kills ({kills})"
    assert status.state == "closed" and status.buffered_frames == 0 and status.pending_file is None
    assert status.reconnects == 2 and status.connect_failures >= 2
    frames = srv.frames("myo-1")
    _assert_exactly_once_in_order(frames, myo_counts[:, :24_000])
    assert status.frames_sent == len(frames) + status.frames_resent  # each frame sent once, plus the resends
    assert status.frames_acked == len(frames) == status.frames_submitted
    if memory_bytes < 1 << 20:
        assert max_spilled > 50, "the outage should have spilled frames to disk"
        assert uplink.buffer.spilled_total >= max_spilled


def test_a_refused_key_stops_the_uplink_and_keeps_the_frames(server, tmp_path):
    srv = server()
    info = SignalInfo.uniform(2, 100.0, "emg")
    uplink = Uplink(srv.url, stream="s1", info=info, wire=WireFormat("int16", 1.0), api_key="wrong-key",
                    spill_dir=tmp_path).start()  # fmt: skip
    raw = np.arange(20, dtype=np.int16).reshape(2, 10)
    uplink.send(Chunk(0, raw.astype(np.float32), 0, time.time(), raw=raw))
    deadline = time.monotonic() + 10
    while uplink.failed is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "API key" in uplink.failed  # from the error message or the 1008 close, whichever the client read first
    with pytest.raises(UplinkError, match="the uplink has stopped: .*API key.*buffered"):
        uplink.send(Chunk(10, raw.astype(np.float32), 0, time.time(), raw=raw))
    status = uplink.close(timeout=1)
    assert status.state == "failed"
    kept = FrameScanner().feed(Path(status.pending_file).read_bytes())
    assert [f.first_sample for f in kept] == [0, 5, 10, 15]  # both chunks (50 ms frames at 100 Hz), nothing lost


def test_an_unreachable_service_is_retried_then_given_up_with_the_frames_kept(tmp_path):
    info = SignalInfo.uniform(1, 10.0, "emg")
    uplink = Uplink("ws://127.0.0.1:9/v1/stream", stream="s1", info=info, wire=WireFormat("float32", 1.0),
                    max_retries=2, backoff=Backoff(0.01, 0.02), spill_dir=tmp_path).start()  # fmt: skip
    uplink.send(Chunk(0, np.ones((1, 5), np.float32), 0, time.time()))
    status = uplink.close(timeout=5)
    assert status.state == "failed" and status.connect_failures == 3
    assert "gave up after 3 failed attempt(s)" in status.last_error
    kept = FrameScanner().feed(Path(status.pending_file).read_bytes())
    assert len(kept) == 5  # 50 ms frames hold one sample at 10 Hz
    np.testing.assert_array_equal(np.concatenate([f.samples for f in kept], axis=1), np.ones((1, 5)))


def test_resuming_a_stream_from_a_new_uplink_continues_its_sample_clock(server, myo_counts):
    srv = server()
    info, wire = SignalInfo.uniform(8, 200.0, "emg", unit="a.u."), WireFormat("int8", 1 / 128)
    a, b = myo_counts[:, :1000], myo_counts[:, 1000:1600]
    for part, resume in ((a, False), (b, True)):
        with Uplink(srv.url, stream="myo-r", info=info, wire=wire, api_key=KEY, resume=resume) as uplink:
            uplink.send(Chunk(0, part / np.float32(128), 0, time.time(), raw=part))  # each run starts at 0
        assert uplink.status().state == "closed"
    assert uplink.sample_offset == 1000
    frames = srv.frames("myo-r")
    _assert_exactly_once_in_order(frames, myo_counts[:, :1600])


def test_resuming_a_stream_that_does_not_exist_is_refused(server, tmp_path):
    srv = server()
    uplink = Uplink(srv.url, stream="nope", info=SignalInfo.uniform(1, 10.0, "emg"), wire=WireFormat("float32", 1.0),
                    api_key=KEY, resume=True, spill_dir=tmp_path).start()  # fmt: skip
    uplink.send(Chunk(0, np.ones((1, 5), np.float32), 0, time.time()))
    status = uplink.close(timeout=5)
    assert status.state == "failed"
    assert "bad_hello: cannot resume stream 'nope': it does not exist" in status.last_error
    assert Path(status.pending_file).parent == tmp_path  # the frame is kept, not lost


def test_a_gap_in_the_chunks_is_recorded_by_the_service(server):
    srv = server()
    info = SignalInfo.uniform(1, 100.0, "emg")
    with Uplink(srv.url, stream="gappy", info=info, wire=WireFormat("float32", 1.0), api_key=KEY) as uplink:
        uplink.send(Chunk(0, np.ones((1, 100), np.float32), 0, time.time()))
        uplink.send(Chunk(150, np.ones((1, 100), np.float32), 1_500_000, time.time()))
        with pytest.raises(ValueError, match="chunk starts at sample 200 but samples up to 249 were already sent"):
            uplink.send(Chunk(200, np.ones((1, 10), np.float32), 0, time.time()))
        with pytest.raises(ValueError, match="samples / scale span"):
            Uplink(srv.url, stream="x", info=info, wire=WireFormat("int8", 1.0)).send(
                Chunk(0, np.full((1, 3), 1000.0, np.float32), 0, time.time())
            )
    assert uplink.status().gaps_reported == 1
    assert srv.meta("gappy")["gaps"] == [[100, 150]]


def test_results_carry_embeddings_when_asked(server):
    srv = server("--hop", "50", "--window", "100")
    results = []
    info = SignalInfo.uniform(3, 100.0, "emg")
    x = np.random.default_rng(0).standard_normal((3, 400)).astype(np.float32)
    with Uplink(srv.url, stream="emb", info=info, wire=WireFormat("float32", 1.0), api_key=KEY, embeddings=True,
                on_result=results.append) as uplink:  # fmt: skip
        uplink.send(Chunk(0, x, 0, time.time()))
    assert [r.end_sample for r in results] == [100, 150, 200, 250, 300, 350, 400][: len(results)] and results
    np.testing.assert_allclose(results[0].embedding, np.sqrt(np.mean(x[:, :100].astype(np.float64) ** 2, axis=1)),
                               rtol=1e-5)  # fmt: skip


def test_bad_arguments_are_refused_before_anything_is_sent():
    info = SignalInfo.uniform(1, 10.0, "emg")
    with pytest.raises(ValueError, match="url must start with ws:// or wss://, got 'http://x'"):
        Uplink("http://x", stream="s", info=info, wire=WireFormat())
    with pytest.raises(ValueError, match="hello.stream must be 1-64 characters"):
        Uplink("ws://x", stream="no spaces", info=info, wire=WireFormat())
    with pytest.raises(ValueError, match=r"memory_bytes must hold at least one frame \(56 bytes\), got 10"):
        Uplink("ws://x", stream="s", info=info, wire=WireFormat(), memory_bytes=10)
    with pytest.raises(ValueError, match="api_key must be a non-empty string without whitespace"):
        Uplink("ws://x", stream="s", info=info, wire=WireFormat(), api_key="a b")


def test_backoff_grows_with_jitter_and_is_capped():
    backoff, rng = Backoff(initial_s=0.1, max_s=2.0, factor=2.0, jitter=0.5), random.Random(0)
    delays = [backoff.delay(a, rng) for a in range(10)]
    for a, d in enumerate(delays):
        base = min(2.0, 0.1 * 2**a)
        assert base * 0.5 <= d <= base
    assert max(delays) <= 2.0
    with pytest.raises(ValueError, match="need 0 < initial_s <= max_s"):
        Backoff(initial_s=5, max_s=1)
