"""The uplink against the real service: ``biosig serve`` killed (SIGKILL) and restarted mid-stream, twice.

The same demonstration as test_uplink.py's against the reference server, with the service users run: every
sample of the replayed Myo session is persisted exactly once, in order, and the service's own accounting
(acknowledged samples, exported recording) agrees with what the bridge produced.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import biosig.io
from biosig.protocol import FrameScanner
from firmware_bridge.replay import ReplayBridge
from firmware_bridge.uplink import Backoff, Uplink
from tests.service.live import LiveServer

MYO = Path(__file__).resolve().parents[2] / "biosig" / "assets" / "myo" / "12345-1"
N_SAMPLES = 12_000  # the first minute of the session: 1,200 frames of 50 ms


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_service_killed_and_restarted_mid_stream_gets_every_sample_exactly_once(tmp_path):
    server = LiveServer(tmp_path / "service", tmp_path / "cache", port=_free_port())
    key, _ = server.key("acme")
    server.start()
    counts = np.rint(np.concatenate([r.data for r in biosig.io.read(MYO)], axis=1) * 128).astype(np.int8)
    kills: list[int] = []
    uplink: Uplink | None = None

    def killer() -> None:  # SIGKILL at 200 and 700 acknowledged frames, while the bridge keeps producing
        deadline = time.monotonic() + 120
        while len(kills) < 2 and time.monotonic() < deadline:
            if uplink is not None and uplink.status().frames_acked >= (200, 700)[len(kills)]:
                server.stop(signal.SIGKILL)
                kills.append(uplink.status().frames_acked)
                time.sleep(0.5)
                server.start()
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        with ReplayBridge(MYO, index=None, speed=20.0, chunk_s=0.05) as bridge:
            uplink = Uplink(f"ws://127.0.0.1:{server.requested_port}/v1/stream", stream="myo-1", info=bridge.info,
                            wire=bridge.wire, api_key=key, device=bridge.describe(), labels=False,
                            backoff=Backoff(initial_s=0.1, max_s=1.0), seed=0).start()  # fmt: skip
            for chunk in bridge.chunks():
                if chunk.first_sample >= N_SAMPLES:
                    break
                uplink.send(chunk)
            thread.join(120)
            status = uplink.close(timeout=60)
        assert len(kills) == 2, f"the stream ended before both kills ({kills})"
        assert status.state == "closed" and status.buffered_frames == 0 and status.pending_file is None, status
        assert status.reconnects >= 2
        assert server.alive()
        (rec,) = server.get("/v1/recordings", key).json()["data"]
        assert rec["samples"] == N_SAMPLES and rec["ended"] is not None
        assert status.samples_acked == N_SAMPLES
        # The persisted bytes, frame by frame: numbered 0..n-1, contiguous, equal to the session's counts.
        scanner = FrameScanner()
        frames = scanner.feed((tmp_path / "service" / "recordings" / "acme" / f"{rec['id']}.bsig").read_bytes())
        assert scanner.close() == 0 and not scanner.rejected
        assert [f.seq for f in frames] == list(range(len(frames)))
        firsts = np.array([f.first_sample for f in frames])
        assert firsts[0] == 0 and np.array_equal(firsts[1:], [f.next_sample for f in frames[:-1]])
        np.testing.assert_array_equal(np.concatenate([f.raw for f in frames], axis=1), counts[:, :N_SAMPLES])
        sessions = server.get(f"/v1/recordings/{rec['id']}", key).json()["sessions"]
        assert len(sessions) == 3  # one per service life: the uplink resumed twice
    finally:
        server.stop()
