"""WebSocket /v1/stream in-process (TestClient): hello handling, close codes and fine-grained frame rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from biosig.protocol import DataFrame, encode_frame

CHANNELS = [{"name": f"emg{i}", "type": "emg", "unit": "a.u."} for i in range(8)]


def hello(stream: str = "myo-1", **kw) -> str:
    return json.dumps({"type": "hello", "stream": stream, "channels": CHANNELS, "sfreq": 200, "dtype": "int8",
                       "scale": 1 / 128, **kw})  # fmt: skip


def frame(stream_id: int, seq: int, first: int | None = None, n: int = 10, seed: int = 0) -> bytes:
    raw = np.random.default_rng(seed + seq).integers(-30, 30, size=(8, n)).astype(np.int8)
    return encode_frame(DataFrame(stream_id, seq, seq * n if first is None else first, 0, raw, 1 / 128))


def connect(svc, key: str, **kw):
    return svc.client.websocket_connect("/v1/stream", headers=svc.headers(key), **kw)


def until(ws, kind: str, limit: int = 200) -> dict:
    for _ in range(limit):
        msg = json.loads(ws.receive_text())
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind!r} message within {limit} messages")


def closed_with(ws) -> tuple[int, dict | None]:
    """Read to the close: the fatal error (if one came) and the close code."""
    error = None
    try:
        while True:
            msg = json.loads(ws.receive_text())
            if msg["type"] == "error" and msg.get("fatal"):
                error = msg
    except WebSocketDisconnect as exc:
        return exc.code, error


def test_ready_then_acks_results_and_closed(service) -> None:
    with connect(service, service.key()) as ws:
        ws.send_text(hello(embeddings=True))
        ready = json.loads(ws.receive_text())
        assert ready["type"] == "ready" and ready["next_seq"] == 0 and ready["next_sample"] is None
        assert (ready["model"], ready["window_s"], ready["hop_s"], ready["max_unacked"]) == (
            "biofame_emg_myo", 1.0, 0.05, 64)  # fmt: skip
        assert until(ws, "error")["code"] == "no_gesture_model"
        for seq in range(25):
            ws.send_bytes(frame(ready["stream_id"], seq))
        ws.send_text('{"type": "end"}')
        msgs = []
        code, _ = None, None
        try:
            while True:
                msgs.append(json.loads(ws.receive_text()))
        except WebSocketDisconnect as exc:
            code = exc.code
    assert code == 1000
    acks = [m for m in msgs if m["type"] == "ack"]
    results = [m for m in msgs if m["type"] == "result"]
    assert acks[-1] == {"type": "ack", "seq": 24, "samples": 250}
    assert [r["end_sample"] for r in results] == list(range(200, 251, 10))
    assert all(len(r["embedding"]) == 64 and "label" not in r for r in results)
    assert msgs[-1] == {"type": "closed", "frames": 25, "samples": 250, "results": 6, "gaps": 0, "rejected": 0}


@pytest.mark.parametrize(
    ("first", "code", "text"),
    [
        (b"\x00binary", 4000, "the first message must be a JSON hello, got a binary message"),
        ('{"type": "end"}', 4000, "the first message must be a hello, got 'end'"),
        (
            '{"type": "hello", "stream": "s", "channels": [], "sfreg": 200}',
            1007,
            "hello has unknown field(s) ['sfreg']",
        ),
        (hello(resume=True), 1007, "no open stream 'myo-1' to resume"),
        (hello(protocol=2), 1007, "hello.protocol must be 1 (this service's protocol version), got 2"),
    ],
)
def test_bad_openings_close_with_the_documented_code(service, first, code, text) -> None:
    with connect(service, service.key()) as ws:
        ws.send_bytes(first) if isinstance(first, bytes) else ws.send_text(first)
        got, error = closed_with(ws)
    assert got == code and text in error["message"] and error["close_code"] == code


def test_no_hello_in_time_closes_4000(make_service) -> None:
    svc = make_service(hello_timeout_s=0.2)
    with connect(svc, svc.key()) as ws:
        code, error = closed_with(ws)
    assert code == 4000 and error["message"] == "no hello within 0.2 s"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "missing API key"),
        ({"headers": {"Authorization": "Bearer bsk_000000000000_" + "A" * 43}}, "unknown API key"),
        ({"subprotocols": ["biosig.v1", "key.nope"]}, "malformed API key"),
    ],
)
def test_bad_keys_close_1008(service, kwargs, message) -> None:
    with service.client.websocket_connect("/v1/stream", **kwargs) as ws:
        code, error = closed_with(ws)
    assert code == 1008 and error["code"] == "unauthorized" and error["message"].startswith(message)


def test_key_as_subprotocol_is_accepted_and_biosig_v1_selected(service) -> None:
    key = service.key()
    with service.client.websocket_connect("/v1/stream", subprotocols=["biosig.v1", f"key.{key}"]) as ws:
        assert ws.accepted_subprotocol == "biosig.v1"
        ws.send_text(hello())
        assert json.loads(ws.receive_text())["type"] == "ready"


def test_a_key_in_the_url_is_refused_even_when_valid(service) -> None:
    key = service.key()
    with service.client.websocket_connect(f"/v1/stream?key={key}") as ws:
        code, error = closed_with(ws)
    assert code == 1008 and "never accepted in the URL" in error["message"]


def test_second_connection_to_a_live_stream_gets_4409_and_a_new_hello_for_it_stream_exists(service) -> None:
    key = service.key()
    with connect(service, key) as first:
        first.send_text(hello())
        until(first, "ready")
        with connect(service, key) as second:
            second.send_text(hello(resume=True))
            assert closed_with(second)[0] == 4409
        with connect(service, key) as third:
            third.send_text(hello())
            code, error = closed_with(third)
        assert code == 1007 and error["code"] == "stream_exists"


def test_gap_is_reported_persisted_and_listed(service) -> None:
    key = service.key()
    with connect(service, key) as ws:
        ws.send_text(hello())
        sid = until(ws, "ready")["stream_id"]
        ws.send_bytes(frame(sid, 0, first=0))
        ws.send_bytes(frame(sid, 1, first=50))
        gap = until(ws, "gap")
        assert gap == {"type": "gap", "start_sample": 10, "stop_sample": 50, "seq": 1}
        ws.send_text('{"type": "end"}')
        assert until(ws, "closed")["gaps"] == 1
    rec = service.client.get(f"/v1/recordings/{sid}", headers=service.headers(key)).json()
    assert rec["gaps"] == [{"seq": 1, "start_sample": 10, "stop_sample": 50}]
    assert (rec["samples"], rec["first_sample"], rec["next_sample"]) == (20, 0, 60)


def test_bad_control_messages_are_answered_and_the_session_goes_on(service) -> None:
    with connect(service, service.key()) as ws:
        ws.send_text(hello(labels=False))
        sid = until(ws, "ready")["stream_id"]
        ws.send_text("{not json")
        assert until(ws, "error")["message"].startswith("control message is not valid JSON")
        ws.send_text(hello())
        assert until(ws, "error")["message"] == "hello was already received; this session is open"
        ws.send_text('{"type": "config", "embeddings": "yes"}')
        assert until(ws, "error")["message"] == "config.embeddings must be true or false, got 'yes'"
        ws.send_bytes(frame(sid, 0))
        assert until(ws, "ack") == {"type": "ack", "seq": 0, "samples": 10}


def test_too_many_invalid_frames_close_1007_after_persisting_the_good_ones(make_service) -> None:
    svc = make_service(max_invalid_frames=3)
    key = svc.key()
    with connect(svc, key) as ws:
        ws.send_text(hello(labels=False))
        sid = until(ws, "ready")["stream_id"]
        ws.send_bytes(frame(sid, 0))
        for _ in range(3):
            ws.send_bytes(b"BSIG" + b"\x00" * 60)
        code, error = closed_with(ws)
    assert code == 1007 and error["message"].endswith("3 invalid frames in a row, closing the session")
    assert svc.client.get(f"/v1/recordings/{sid}", headers=svc.headers(key)).json()["samples"] == 10


def test_oversized_binary_message_closes_1009(make_service) -> None:
    svc = make_service(max_frame_bytes=256)
    with connect(svc, svc.key()) as ws:
        ws.send_text(hello(labels=False))
        sid = until(ws, "ready")["stream_id"]
        ws.send_bytes(frame(sid, 0, n=40))  # 320-byte payload
        code, error = closed_with(ws)
    assert code == 1009 and error["code"] == "too_big" and "at most 308 are accepted" in error["message"]


@pytest.mark.parametrize("policy", ["always", "none"])
def test_every_fsync_policy_acknowledges_every_frame(make_service, policy) -> None:
    svc = make_service(fsync=policy)
    key = svc.key()
    with connect(svc, key) as ws:
        ws.send_text(hello(labels=False))
        sid = until(ws, "ready")["stream_id"]
        for seq in range(5):
            ws.send_bytes(frame(sid, seq))
            assert until(ws, "ack") == {"type": "ack", "seq": seq, "samples": 10 * (seq + 1)}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"channels": [{"name": "c", "type": "ecg"}]}, "no input scale for a 'ecg' channel in 'V'"),
        ({"sfreq": 333.3333}, "cannot resample"),
    ],
)
def test_a_stream_no_model_can_take_is_recorded_without_results(service, change, why) -> None:
    key = service.key()
    with connect(service, key) as ws:
        ws.send_text(json.dumps({**json.loads(hello()), **change}))
        ready = until(ws, "ready")
        assert not {"model", "window_s", "hop_s"} & set(ready)  # optional fields left out when there is no model
        notice = until(ws, "error")
        assert notice["code"] == "no_model" and not notice["fatal"] and why in notice["message"]
        n_ch = len(change.get("channels", CHANNELS))
        raw = np.zeros((n_ch, 10), np.int8)
        for seq in range(30):
            ws.send_bytes(encode_frame(DataFrame(ready["stream_id"], seq, 10 * seq, 0, raw, 1 / 128)))
        ws.send_text('{"type": "end"}')
        closed = until(ws, "closed")
    assert (closed["samples"], closed["results"]) == (300, 0)


class _FailingEncoder:
    """Wraps the real encoder; fails on real windows (the service's dry run at hello uses zeros)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        for name in ("name", "backend", "signal_spec", "embed_dim", "time_multiple", "input_scale"):
            setattr(self, name, getattr(inner, name))

    def embed(self, batch, ch_types=None, units=None):
        if np.any(batch):
            raise RuntimeError("simulated backend failure")
        return self.inner.embed(batch, ch_types, units)


def test_a_failed_inference_is_reported_and_loses_no_samples(make_service, served_models) -> None:
    from service.models import ModelRegistry, ServedModel

    real = served_models.embedding
    broken = ModelRegistry(ServedModel("broken", "embedding", _FailingEncoder(real.encoder), real.source))
    svc = make_service(models=broken)
    key = svc.key()
    with connect(svc, key) as ws:
        ws.send_text(hello(labels=False, embeddings=True))
        sid = until(ws, "ready")["stream_id"]
        for seq in range(22):
            ws.send_bytes(frame(sid, seq))
        error = until(ws, "error")
        assert error["code"] == "inference_failed" and not error["fatal"]
        assert "simulated backend failure" in error["message"]
        ws.send_text('{"type": "end"}')
        closed = until(ws, "closed")
    assert (closed["samples"], closed["results"]) == (220, 0)
    assert svc.client.get(f"/v1/recordings/{sid}", headers=svc.headers(key)).json()["samples"] == 220
