"""Observers of live streams (WebSocket /v1/watch), GET /v1/streams, examples recorded from a stream, the
dashboard's files, and the helpers behind them (display decimation, the 2-D projection)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from biosig.zeroshot import GestureVocabulary
from service.watch import DISPLAY_RATE_HZ, Projection, display_samples
from tests.service.test_stream_inprocess import frame, hello, until


@pytest.fixture()
def gsvc(make_service, gesture_models):
    return make_service(models=gesture_models)


def watch(svc, key: str):
    return svc.client.websocket_connect("/v1/watch", subprotocols=["biosig.v1", f"key.{key}"])


def stream(svc, key: str):
    return svc.client.websocket_connect("/v1/stream", headers=svc.headers(key))


def read_until(ws, predicate, limit: int = 500) -> list[dict]:
    """Messages up to and including the first one ``predicate`` accepts."""
    seen = []
    for _ in range(limit):
        seen.append(json.loads(ws.receive_text()))
        if predicate(seen[-1]):
            return seen
    raise AssertionError(f"no matching message within {limit}: last {seen[-3:]}")


def test_observer_gets_a_snapshot_then_the_streams_samples_results_and_close(gsvc) -> None:
    key = gsvc.key()
    with watch(gsvc, key) as w:
        snap = json.loads(w.receive_text())
        names = GestureVocabulary.builtin().names
        assert snap["type"] == "snapshot" and snap["tenant"] == "acme" and snap["streams"] == []
        assert list(snap["projection"]["gestures"]) == names
        assert all(len(xy) == 2 for xy in snap["projection"]["gestures"].values())
        with stream(gsvc, key) as ws:
            ws.send_text(hello(labels=True, device={"kind": "myo", "user": "ann"}))
            ready = until(ws, "ready")
            sent = [frame(ready["stream_id"], seq) for seq in range(25)]
            for data in sent:
                ws.send_bytes(data)
            ws.send_text('{"type": "end"}')
            until(ws, "closed")
        events = read_until(w, lambda m: m["type"] == "stream" and m["event"] == "closed")
    opened = events[0]
    assert opened["type"] == "stream" and opened["event"] == "open" and opened["stream"] == "myo-1"
    assert opened["channels"] == [f"emg{i}" for i in range(8)] and opened["device"]["user"] == "ann"
    samples = [e for e in events if e["type"] == "samples"]
    # 200 Hz is below the display rate: every sample, in order, as the frames carried them (raw x scale).
    got = np.concatenate([np.array(e["data"]) for e in samples], axis=1)
    assert [e["start"] for e in samples] == list(range(0, 250, 10)) and got.shape == (8, 250)
    from biosig.protocol import decode_frame

    expect = np.concatenate([decode_frame(d).samples for d in sent], axis=1)
    np.testing.assert_allclose(got, expect, rtol=1e-6)
    results = [e for e in events if e["type"] == "result"]
    assert [r["end_sample"] for r in results] == list(range(200, 251, 10))
    assert all(r["label"] in names and len(r["xy"]) == 2 and set(r["scores"]) == set(names) for r in results)
    closed = events[-1]
    assert closed["close_code"] == 1000 and closed["samples"] == 250 and closed["frames"] == 25


def test_results_are_computed_for_observers_even_when_the_client_asks_for_none(gsvc) -> None:
    key = gsvc.key()
    with watch(gsvc, key) as w:
        json.loads(w.receive_text())
        with stream(gsvc, key) as ws:
            ws.send_text(hello(labels=False))
            ready = until(ws, "ready")
            for seq in range(22):
                ws.send_bytes(frame(ready["stream_id"], seq))
            ws.send_text('{"type": "end"}')
            closed = until(ws, "closed")
        events = read_until(w, lambda m: m["type"] == "stream" and m["event"] == "closed")
    assert closed["results"] == 0  # the client got none...
    assert len([e for e in events if e["type"] == "result"]) == 3  # ...the dashboard saw the windows 200, 210, 220


def test_observer_with_a_bad_key_is_closed_with_1008(gsvc) -> None:
    with watch(gsvc, "bsk_000000000000_notakey") as w:
        msg = json.loads(w.receive_text())
        assert msg["type"] == "error" and msg["code"] == "unauthorized" and msg["close_code"] == 1008
        with pytest.raises(WebSocketDisconnect) as info:
            w.receive_text()
    assert info.value.code == 1008


def test_observers_see_only_their_own_tenant(gsvc) -> None:
    acme, globex = gsvc.key("acme"), gsvc.key("globex")
    with watch(gsvc, globex) as wg, watch(gsvc, acme) as wa:
        assert json.loads(wg.receive_text())["streams"] == json.loads(wa.receive_text())["streams"] == []
        (globex_watcher,) = gsvc.state.watch._watchers["globex"]
        with stream(gsvc, acme) as ws:
            ws.send_text(hello(labels=True))
            ready = until(ws, "ready")
            for seq in range(21):
                ws.send_bytes(frame(ready["stream_id"], seq))
            ws.send_text('{"type": "end"}')
            until(ws, "closed")
        seen = read_until(wa, lambda m: m["type"] == "stream" and m["event"] == "closed")
        assert len(seen) > 20  # acme's observer saw acme's stream...
        assert not globex_watcher.queue and globex_watcher.dropped == 0  # ...globex's saw nothing of it


def test_live_streams_are_listed_and_examples_are_recorded_from_one(gsvc) -> None:
    key = gsvc.key()
    h = gsvc.headers(key)
    assert gsvc.client.get("/v1/streams", headers=h).json() == {"object": "list", "data": []}
    with stream(gsvc, key) as ws:
        ws.send_text(hello(labels=True))
        ready = until(ws, "ready")
        for seq in range(40):  # 2 s: windows end at 1.00, 1.05, ... 2.00 s
            ws.send_bytes(frame(ready["stream_id"], seq))
        seen = {"ack": 0, "result": 0}
        while seen["result"] < 21 or not seen["ack"]:  # acks and results interleave in any order
            kind = json.loads(ws.receive_text())["type"]
            seen[kind] = seen.get(kind, 0) + 1
        listed = gsvc.client.get("/v1/streams", headers=h).json()["data"]
        assert [s["stream"] for s in listed] == ["myo-1"] and listed[0]["model"] == "biofame_emg_myo"
        r = gsvc.client.post("/v1/streams/myo-1/examples", json={"gesture": "fist", "seconds": 0.5}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json() == {"gesture": "fist", "user": "default", "added": 11, "total": 11}  # ends 1.50 .. 2.00 s
        head = gsvc.state.gestures.head("acme")
        assert head.example_counts("default") == {"fist": 11}
        missing = gsvc.client.post("/v1/streams/nope/examples", json={"gesture": "fist"}, headers=h)
        assert missing.status_code == 404 and "live streams: ['myo-1']" in missing.json()["detail"]
        unknown = gsvc.client.post("/v1/streams/myo-1/examples", json={"gesture": "wave"}, headers=h)
        assert unknown.status_code == 404 and "no gesture 'wave'" in unknown.json()["detail"]
        ws.send_text('{"type": "end"}')
        until(ws, "closed")
    other = gsvc.client.get("/v1/streams", headers=gsvc.headers(gsvc.key("globex"))).json()
    assert other["data"] == []


def test_one_gesture_with_its_pose(gsvc) -> None:
    h = gsvc.headers(gsvc.key())
    body = gsvc.client.get("/v1/gestures/fist", headers=h).json()
    np.testing.assert_allclose(body["pose"], GestureVocabulary.builtin().get("fist").pose)
    assert body["origin"] == "builtin" and body["static"] is True
    assert gsvc.client.get("/v1/gestures/wave", headers=h).status_code == 404


def test_vocabulary_changes_are_announced_to_observers(gsvc) -> None:
    key = gsvc.key()
    with watch(gsvc, key) as w:
        json.loads(w.receive_text())
        pose = [0.3] * 20 + [0.9, 0.0, 0.0]
        r = gsvc.client.post("/v1/gestures", json={"name": "flex_hold", "pose": pose}, headers=gsvc.headers(key))
        assert r.status_code == 201
        msg = json.loads(w.receive_text())
    assert msg["type"] == "projection" and "flex_hold" in msg["gestures"]


def test_dashboard_page_and_files_are_served(service) -> None:
    page = service.client.get("/dashboard")
    assert page.status_code == 200 and "<title>biosig dashboard</title>" in page.text
    assert service.client.get("/dashboard/static/dashboard.js").status_code == 200
    assert service.client.get("/", follow_redirects=False).headers["location"] == "/dashboard"


# -- helpers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sfreq", [200.0, 2000.0, 1000.0])
def test_display_decimation_is_on_the_absolute_grid(sfreq) -> None:
    x = np.arange(3 * 997, dtype=np.float32).reshape(3, 997)
    _, rate, whole = display_samples(x, sfreq, 5)
    assert rate <= DISPLAY_RATE_HZ or sfreq <= DISPLAY_RATE_HZ
    pieces, start = [], 5
    for n in (1, 7, 100, 389, 500):
        first, _, kept = display_samples(x[:, start - 5 : start - 5 + n], sfreq, start)
        assert kept.shape[1] == 0 or first % max(1, round(sfreq / rate)) == 0
        pieces.append(kept)
        start += n
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), whole)


def test_projection_places_prototypes_on_their_anchors() -> None:
    rng = np.random.default_rng(0)
    protos = rng.standard_normal((5, 16)).astype(np.float32)
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    p = Projection.from_prototypes(3, list("abcde"), protos)
    for i in range(5):
        np.testing.assert_allclose(p.project(protos[i]), p.anchors[i], atol=1e-3)
    assert p.to_event()["version"] == 3 and list(p.to_event()["gestures"]) == list("abcde")
    two = Projection.from_prototypes(1, ["a", "b"], protos[:2])
    assert two.anchors.shape == (2, 2) and np.all(np.isfinite(two.anchors))
