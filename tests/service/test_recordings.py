"""Recordings over REST: listing, details, and exports (EDF, npz, emg2pose HDF5) that read back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import biosig.io
from biosig.io.emg2pose import read_session
from biosig.protocol import DataFrame, encode_frame
from tests.service.test_stream_inprocess import connect, until

EMG16 = [{"name": f"e{i}", "type": "emg", "unit": "uV"} for i in range(16)]


def stream_16ch(svc, key: str, blocks: list[np.ndarray], firsts: list[int]) -> int:
    """A 16-channel 2 kHz int16 stream (the emg2pose profile) with the given blocks; returns its id."""
    with connect(svc, key) as ws:
        ws.send_text(json.dumps({"type": "hello", "stream": "e2p", "channels": EMG16, "sfreq": 2000, "dtype": "int16",
                                 "scale": 0.5, "labels": False, "device": {"user": "ann", "side": "left"}}))  # fmt: skip
        sid = until(ws, "ready")["stream_id"]
        for seq, (raw, first) in enumerate(zip(blocks, firsts)):
            ws.send_bytes(encode_frame(DataFrame(sid, seq, first, 0, raw, 0.5)))
        ws.send_text('{"type": "end"}')
        until(ws, "closed")
    return sid


@pytest.fixture()
def recorded(service):
    key = service.key()
    rng = np.random.default_rng(0)
    blocks = [rng.integers(-2000, 2000, size=(16, 100)).astype(np.int16) for _ in range(4)]
    sid = stream_16ch(service, key, blocks, [0, 100, 200, 500])  # samples 300..499 never arrived
    return service, key, sid, blocks


def test_details_list_sessions_and_gaps(recorded) -> None:
    svc, key, sid, _ = recorded
    rec = svc.client.get(f"/v1/recordings/{sid}", headers=svc.headers(key)).json()
    assert (rec["stream"], rec["sfreq"], rec["samples"], rec["frames"], rec["live"]) == ("e2p", 2000.0, 400, 4, False)
    assert rec["ended"] is not None and rec["device"] == {"user": "ann", "side": "left"}
    assert rec["gaps"] == [{"seq": 3, "start_sample": 300, "stop_sample": 500}]
    assert [s["close_code"] for s in rec["sessions"]] == [1000]
    listed = svc.client.get("/v1/recordings", params={"stream": "e2p"}, headers=svc.headers(key)).json()["data"]
    assert [r["id"] for r in listed] == [sid]


def test_npz_export_keeps_the_gap_as_invalid_samples(recorded, tmp_path) -> None:
    svc, key, sid, blocks = recorded
    r = svc.client.get(f"/v1/recordings/{sid}/export", params={"format": "npz"}, headers=svc.headers(key))
    assert r.status_code == 200
    (tmp_path / "r.npz").write_bytes(r.content)
    rec = biosig.io.read(tmp_path / "r.npz")[0]
    assert rec.data.shape == (16, 600) and rec.info.units == ("uV",) * 16
    np.testing.assert_array_equal(rec.data[:, :300], np.concatenate(blocks[:3], axis=1) * np.float32(0.5))
    np.testing.assert_array_equal(rec.data[:, 500:], blocks[3] * np.float32(0.5))
    assert rec.valid[:300].all() and not rec.valid[300:500].any() and rec.valid[500:].all()
    assert list(rec.annotations.description) == ["BAD_gap"] and rec.annotations.onset[0] == pytest.approx(0.15)


def test_emg2pose_export_is_the_released_schema_without_the_missing_samples(recorded, tmp_path) -> None:
    svc, key, sid, blocks = recorded
    r = svc.client.get(f"/v1/recordings/{sid}/export", params={"format": "emg2pose"}, headers=svc.headers(key))
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-hdf5"
    (tmp_path / "r.hdf5").write_bytes(r.content)
    session = read_session(tmp_path / "r.hdf5")
    emg_uv = np.concatenate(blocks, axis=1).T * np.float32(0.5)  # the stream is in uV already
    np.testing.assert_array_equal(session.emg, emg_uv)  # 400 samples: the gap is absent, not zero-filled
    steps = np.diff(session.time)
    # float64 unix seconds resolve ~0.2 us, which is the format's precision
    assert np.allclose(steps[:299], 1 / 2000, rtol=0, atol=1e-6) and steps[299] == pytest.approx(201 / 2000, abs=1e-6)
    assert session.attrs["side"] == "left" and session.attrs["user"] == "ann" and session.sample_rate == 2000
    assert np.all(session.joint_angles == 0)  # no pose was streamed: every row reads as missing pose


def test_export_of_an_unknown_format_or_recording(recorded) -> None:
    svc, key, sid, _ = recorded
    r = svc.client.get(f"/v1/recordings/{sid}/export", params={"format": "csv"}, headers=svc.headers(key))
    assert r.status_code == 422 and "format: Input should be 'edf', 'emg2pose' or 'npz'" in r.json()["detail"]
    r = svc.client.get("/v1/recordings/9999/export", headers=svc.headers(key))
    assert r.status_code == 404 and r.json()["detail"] == "no recording 9999 for this API key's tenant"


def test_metrics_count_frames_samples_and_sessions(recorded) -> None:
    svc, _, _, _ = recorded
    text = svc.client.get("/metrics").text
    assert 'biosig_frames_total{outcome="accepted"} 4.0' in text
    assert "biosig_samples_persisted_total 400.0" in text
    assert 'biosig_stream_sessions_total{close_code="1000"} 1.0' in text
    assert "biosig_gaps_total 1.0" in text
