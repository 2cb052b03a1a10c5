"""Against a real ``biosig serve`` process with real ``websockets`` and ``httpx`` clients.

After every scenario the service is still up, and the sample count it persisted (read back over REST, and
from the exported file where it matters) equals what it acknowledged.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import struct
import zlib

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import biosig.io
from biosig.protocol import DataFrame, encode_frame
from biosig.zeroshot import MYO_GESTURES
from tests.service.live import REPO, LiveServer, StreamClient, cli, myo_block, myo_hello

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory, served_models, model_cache):
    srv = LiveServer(tmp_path_factory.mktemp("live"), model_cache, max_frame_bytes="4096")
    srv.acme, srv.acme_id = srv.key("acme")
    srv.globex, _ = srv.key("globex")
    srv.start()
    yield srv
    code = srv.stop()  # SIGINT, as Ctrl-C: graceful shutdown, then uvicorn re-raises the signal
    assert code == 130 and "Application shutdown complete." in srv.log(), srv.log()[-3000:]


def run(coro):
    return asyncio.run(coro)


def check_consistent(server: LiveServer, key: str, client: StreamClient) -> None:
    assert server.alive(), server.log()[-3000:]
    assert server.persisted(key, client.stream_id) == client.acked_samples


def test_concurrent_streams_of_two_tenants(server) -> None:
    n_frames = 60

    async def one(key: str, i: int) -> tuple[StreamClient, dict]:
        c = StreamClient(server, key, myo_hello(f"conc-{i}", embeddings=i % 2 == 0, labels=i % 2 == 1))
        await c.open()
        rng = np.random.default_rng(i)
        for _ in range(n_frames):
            await c.send(myo_block(rng))
            await asyncio.sleep(0.01)  # 5x real time (a frame holds 50 ms)
        return c, await c.end()

    async def main():
        return await asyncio.gather(*(one(server.acme if i < 3 else server.globex, i) for i in range(6)))

    for i, (c, closed) in enumerate(run(main())):
        assert closed == {"type": "closed", "frames": n_frames, "samples": 600, "results": 41, "gaps": 0,
                          "rejected": 0}, closed  # fmt: skip
        assert c.acked_samples == 600 and c.acked_seq == n_frames - 1 and not c.unacked
        assert c.ws.close_code == 1000
        results = [m for m in c.messages if m["type"] == "result"]
        assert [r["end_sample"] for r in results] == list(range(200, 601, 10))
        # The bundled CPEP Myo model takes these streams: labels (from its 8 Myo gestures) where asked for.
        assert all(("embedding" in r) == (i % 2 == 0) and ("label" in r) == (i % 2 == 1) for r in results)
        assert all(r["label"] in MYO_GESTURES.values() for r in results if "label" in r)
        assert c.errors() == []
        assert all(r["latency_ms"] >= 0 for r in results)
        check_consistent(server, server.acme if i < 3 else server.globex, c)
    assert len(server.get("/v1/recordings", server.acme).json()["data"]) >= 3


def test_reconnect_and_resume_lose_and_duplicate_nothing(server) -> None:
    rng = np.random.default_rng(42)
    blocks = [myo_block(rng) for _ in range(60)]

    async def main() -> StreamClient:
        c = StreamClient(server, server.acme, myo_hello("resume-1"))
        await c.open()
        for b in blocks[:30]:
            await c.send(b)
        await c.wait_acked(10)
        await c.abort()  # the network drops; some frames may be persisted but not acknowledged
        for _ in range(50):  # the old session may still be closing: 4409 until it has
            try:
                ready = await c.open(resume=True)
                break
            except (AssertionError, ConnectionClosed):
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("could not resume")
        assert ready["resumed"] and 11 <= ready["next_seq"] <= 30
        await c.resend_unacked()
        for b in blocks[30:]:
            await c.send(b)
        closed = await c.end()
        assert closed["samples"] == 600 - 10 * ready["next_seq"]
        return c

    c = run(main())
    check_consistent(server, server.acme, c)
    assert c.acked_samples == 600
    r = server.get(f"/v1/recordings/{c.stream_id}/export", server.acme, params={"format": "npz"})
    assert r.status_code == 200
    with np.load(io.BytesIO(r.content), allow_pickle=False) as z:
        data = z["data"]
    np.testing.assert_array_equal(data, np.concatenate(blocks, axis=1).astype(np.float32) / np.float32(128))
    sessions = server.get(f"/v1/recordings/{c.stream_id}", server.acme).json()["sessions"]
    assert [s["resumed"] for s in sessions] == [False, True]
    assert sum(s["samples"] for s in sessions) == 600


def _corrupt_crc(data: bytes) -> bytes:
    out = bytearray(data)
    out[-1] ^= 0xFF
    return bytes(out)


def test_malformed_frames_are_refused_and_the_stream_goes_on(server) -> None:
    rng = np.random.default_rng(7)

    async def main() -> StreamClient:
        c = StreamClient(server, server.acme, myo_hello("bad-frames"))
        await c.open()
        for _ in range(5):
            await c.send(myo_block(rng))
        await c.wait_acked(4)
        ws = c.ws
        await ws.send(_corrupt_crc(c.frame(myo_block(rng))))  # bad CRC
        await ws.send(c.frame(rng.integers(-5, 5, (4, 10)).astype(np.int8)))  # wrong channel count
        await ws.send(c.frame(myo_block(rng), seq=c.next_seq + 2))  # out of order
        await ws.send(c.frame(myo_block(rng), first=c.next_sample - 5))  # overlap
        await ws.send(c.unacked.get(2) or c.frame(myo_block(rng), seq=2, first=20))  # duplicate of seq 2
        await ws.send(c.frame(rng.integers(-5, 5, (8, 10)).astype(np.int16)))  # wrong dtype
        await ws.send(b"\x00" * 10)  # truncated
        for _ in range(5):
            await c.send(myo_block(rng))
        closed = await c.end()
        codes = [e["code"] for e in c.errors()]
        assert codes == ["bad_crc", "config_mismatch", "out_of_order", "overlap", "config_mismatch", "truncated"]
        assert "frame has 4 channels; the hello declared 8" in c.errors()[1]["message"]
        assert closed["samples"] == 100 and closed["rejected"] == 6 and c.ws.close_code == 1000
        return c

    c = run(main())
    check_consistent(server, server.acme, c)
    assert c.acked_samples == 100


def test_nan_and_inf_in_float32_frames_are_refused(server) -> None:
    async def main() -> StreamClient:
        hello = myo_hello("float-1", dtype="float32", scale=1.0)
        c = StreamClient(server, server.acme, hello)
        await c.open()
        good = np.zeros((8, 10), np.float32)
        await c.send(good)
        for bad in (float("nan"), float("inf")):
            body = bytearray(c.frame(good)[:-4])
            struct.pack_into("<f", body, 48 + 4 * 3, bad)
            await c.ws.send(bytes(body) + struct.pack("<I", zlib.crc32(body)))
        await c.send(good + 0.25)
        closed = await c.end()
        assert [e["code"] for e in c.errors()] == ["non_finite", "non_finite"]
        assert closed["samples"] == 20
        return c

    check_consistent(server, server.acme, run(main()))


def test_oversized_message_closes_1009_after_persisting_what_was_accepted(server) -> None:
    async def main() -> StreamClient:
        c = StreamClient(server, server.acme, myo_hello("big-1"))
        await c.open()
        rng = np.random.default_rng(0)
        await c.send(myo_block(rng))
        await c.ws.send(c.frame(rng.integers(-5, 5, (8, 600)).astype(np.int8)))  # 4800-byte payload > 4096
        code = await c.closed()
        assert code == 1009 and c.errors()[-1]["code"] == "too_big"
        return c

    c = run(main())
    check_consistent(server, server.acme, c)
    assert c.acked_samples == 10


async def _first_message(url: str, **kw) -> tuple[int | None, dict]:
    """Connect, send a hello, return (close code, first message) once the service closes or answers."""
    async with connect(url, **kw) as ws:
        try:
            await ws.send(json.dumps(myo_hello("key-test")))
        except ConnectionClosed:  # the service may have refused the key before the hello went out
            pass
        first = json.loads(await ws.recv())
        if first["type"] == "ready":
            return None, first
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return ws.close_code, first


def test_wrong_missing_and_revoked_keys(server) -> None:
    key, key_id = server.key("acme", "to-revoke")
    wrong = {"Authorization": "Bearer bsk_0123456789ab_" + "x" * 43}
    for url, kw, message in [
        (server.ws_url, {}, "missing API key"),
        (server.ws_url, {"additional_headers": wrong}, "unknown API key (id 0123456789ab)"),
        (server.ws_url + f"?key={key}", {}, "API keys are never accepted in the URL"),
    ]:
        code, msg = run(_first_message(url, **kw))
        assert code == 1008 and msg["code"] == "unauthorized" and msg["message"].startswith(message), msg
    code, msg = run(_first_message(server.ws_url, subprotocols=["biosig.v1", f"key.{key}"]))
    assert code is None and msg["type"] == "ready"
    cli("keys", "revoke", key_id, "--data-dir", str(server.data_dir), env=server.env)
    code, msg = run(_first_message(server.ws_url, additional_headers={"Authorization": f"Bearer {key}"}))
    assert code == 1008 and msg["message"] == f"API key {key_id} was revoked"
    r = httpx.get(server.url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and r.json()["detail"] == f"API key {key_id} was revoked"
    assert key not in server.log()  # keys are never logged
    assert server.alive()


def test_cross_tenant_access_is_refused(server) -> None:
    async def main() -> tuple[StreamClient, StreamClient, int | None]:
        a = StreamClient(server, server.acme, myo_hello("shared-name"))
        await a.open()
        await a.send(myo_block(np.random.default_rng(1)))
        await a.wait_acked(0)
        b = StreamClient(server, server.globex, myo_hello("shared-name"))
        await b.open()  # same stream key, other tenant: a stream of its own
        assert b.stream_id != a.stream_id
        await b.send(myo_block(np.random.default_rng(2)))
        await b.wait_acked(0)
        raw = myo_block(np.random.default_rng(3))
        await b.ws.send(encode_frame(DataFrame(a.stream_id, 1, 10, 0, raw, 1 / 128)))  # A's stream id
        code = await b.closed()
        await a.end()
        return a, b, code

    a, b, code = run(main())
    assert code == 1008 and b.errors()[-1]["code"] == "forbidden"
    for path in (f"/v1/recordings/{a.stream_id}", f"/v1/recordings/{a.stream_id}/export"):
        r = server.get(path, server.globex)
        assert r.status_code == 404 and r.json()["detail"] == f"no recording {a.stream_id} for this API key's tenant"
    ids = {r["id"] for r in server.get("/v1/recordings", server.globex).json()["data"]}
    assert a.stream_id not in ids and b.stream_id in ids
    check_consistent(server, server.acme, a)
    check_consistent(server, server.globex, b)
    assert server.persisted(server.globex, b.stream_id) == 10


def test_exports_over_rest_read_back_as_edf(server) -> None:
    import mne

    rng = np.random.default_rng(5)
    blocks = [myo_block(rng) for _ in range(20)]

    async def main() -> StreamClient:
        c = StreamClient(server, server.acme, myo_hello("edf-1"))
        await c.open()
        for b in blocks:
            await c.send(b)
        await c.end()
        return c

    c = run(main())
    r = server.get(f"/v1/recordings/{c.stream_id}/export", server.acme, params={"format": "edf"})
    assert r.status_code == 200 and r.headers["content-disposition"].endswith(f'recording-{c.stream_id}.edf"')
    path = server.data_dir / "readback.edf"
    path.write_bytes(r.content)
    raw = mne.io.read_raw_edf(path, preload=True, verbose=False)
    assert raw.info["sfreq"] == 200 and raw.ch_names == [f"EMG emg{i}" for i in range(8)]  # EDF+ "<type> <name>"
    back = biosig.io.read(path)[0]
    assert back.info.ch_names == tuple(f"emg{i}" for i in range(8)) and set(back.info.ch_types) == {"emg"}
    expected = np.concatenate(blocks, axis=1) / 128
    np.testing.assert_allclose(raw.get_data(), expected, atol=2 * (120 / 128) / 65535 + 1e-9)
    bad = server.get(f"/v1/recordings/{c.stream_id}/export", server.acme, params={"format": "emg2pose"})
    assert bad.status_code == 422 and "emg2pose HDF5 holds 16 EMG channels" in bad.json()["detail"]


@pytest.fixture()
def fresh(tmp_path, served_models, model_cache):
    srv = LiveServer(tmp_path / "data", model_cache)
    srv.acme, _ = srv.key("acme")
    yield srv
    srv.stop(signal.SIGKILL)


def test_shutdown_closes_streams_with_1001_and_persists_what_was_acked(fresh) -> None:
    fresh.start()

    async def main() -> StreamClient:
        c = StreamClient(fresh, fresh.acme, myo_hello("down-1"))
        await c.open()
        for _ in range(10):
            await c.send(myo_block(np.random.default_rng(0)))
        await c.wait_acked(9)
        fresh.proc.send_signal(signal.SIGTERM)
        assert await c.closed(30) == 1001
        return c

    c = run(main())
    assert fresh.proc.wait(30) == -signal.SIGTERM and "Application shutdown complete." in fresh.log()
    assert c.errors()[-1]["code"] == "going_away"
    fresh.start()
    check_consistent(fresh, fresh.acme, c)


def test_after_a_crash_the_stream_resumes_from_what_was_persisted(fresh) -> None:
    fresh.start()
    rng = np.random.default_rng(9)
    blocks = [myo_block(rng) for _ in range(40)]

    async def first() -> StreamClient:
        c = StreamClient(fresh, fresh.acme, myo_hello("crash-1"))
        await c.open()
        for b in blocks[:25]:
            await c.send(b)
        await c.wait_acked(15)
        fresh.proc.kill()  # SIGKILL: no shutdown, no final fsync
        await c.closed(30)
        return c

    c = run(first())
    acked = c.acked_samples
    fresh.start()

    async def second() -> dict:
        ready = await c.open(resume=True)
        assert 10 * ready["next_seq"] >= acked  # everything acknowledged survived the crash
        await c.resend_unacked()
        for b in blocks[25:]:
            await c.send(b)
        return await c.end()

    run(second())
    check_consistent(fresh, fresh.acme, c)
    r = fresh.get(f"/v1/recordings/{c.stream_id}/export", fresh.acme, params={"format": "npz"})
    with np.load(io.BytesIO(r.content), allow_pickle=False) as z:
        np.testing.assert_array_equal(z["data"], np.concatenate(blocks, axis=1).astype(np.float32) / np.float32(128))


def test_a_gesture_model_from_settings_labels_stream_results(tmp_path, served_models, model_cache) -> None:
    from biosig.models.defaults import default_checkpoint

    srv = LiveServer(tmp_path / "g", model_cache, gesture_emg_model=str(default_checkpoint()),
                     gesture_pose_factory="tests.service.doubles:pose_encoder_double")  # fmt: skip
    key, _ = srv.key("acme")
    srv.start()
    try:

        async def main() -> StreamClient:
            c = StreamClient(srv, key, myo_hello("labels-1", labels=True))
            await c.open()
            rng = np.random.default_rng(0)
            for _ in range(22):
                await c.send(myo_block(rng))
            await c.end()
            return c

        c = run(main())
        results = [m for m in c.messages if m["type"] == "result"]
        assert len(results) == 3 and all(isinstance(r["label"], str) and r["scores"] for r in results)
        assert not c.errors()
        models = httpx.get(srv.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
        assert models["gestures"] is True and [m["kind"] for m in models["data"]] == ["embedding", "gesture"]
        check_consistent(srv, key, c)
    finally:
        assert srv.stop() == 130


def test_the_device_bridge_streams_into_the_service(server) -> None:
    """``biosig bridge`` (firmware_bridge's uplink) against ``biosig serve``: both sides of the protocol module."""
    out = cli("bridge", "--source", "replay", "--path", str(REPO / "biosig/assets/myo/12345-1"), "--speed", "20",
              "--duration", "3", "--to", server.ws_url, "--key", server.acme, "--stream", "bridge-1",
              "--no-labels", "--embeddings", env=server.env)  # fmt: skip
    text = out.stdout + out.stderr
    acked = int(re.search(r"samples_acked=(\d+)", text).group(1))
    assert acked == 600 and "rejected': 0" in text, text
    [rec] = server.get("/v1/recordings", server.acme, params={"stream": "bridge-1"}).json()["data"]
    assert rec["samples"] == acked and rec["ended"] is not None
    assert server.alive()
