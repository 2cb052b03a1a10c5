"""REST API in-process (TestClient, lifespan entered): embeddings, models, health, metrics, auth, limits."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from biosig.signals.resample import resample


def windows(n: int = 2, n_ch: int = 8, n_times: int = 200, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, n_ch, n_times)) * 0.05).astype(np.float32)


def test_embeddings_match_the_encoder(service) -> None:
    key = service.key()
    x = windows()
    r = service.client.post("/v1/embeddings", json={"input": x.tolist(), "sfreq": 200}, headers=service.headers(key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["model"] == "biofame_emg_myo" and body["embed_dim"] == 64
    assert body["usage"] == {"windows": 2, "samples": 400, "prompt_tokens": 400, "total_tokens": 400}
    got = np.array([d["embedding"] for d in body["data"]], np.float32)
    expected = service.state.models.embedding.encoder.embed(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert [d["index"] for d in body["data"]] == [0, 1]


def test_base64_in_and_out(service) -> None:
    key = service.key()
    x = windows(1)
    counts = np.rint(x / 0.001).astype("<i2")
    req = {"input": [base64.b64encode(counts[0].tobytes()).decode()], "sfreq": 200, "dtype": "int16", "scale": 0.001,
           "n_channels": 8, "encoding_format": "base64"}  # fmt: skip
    r = service.client.post("/v1/embeddings", json=req, headers=service.headers(key))
    assert r.status_code == 200, r.text
    emb = np.frombuffer(base64.b64decode(r.json()["data"][0]["embedding"]), "<f4")
    expected = service.state.models.embedding.encoder.embed(counts.astype(np.float32) * np.float32(0.001))
    np.testing.assert_allclose(emb, expected[0], rtol=1e-5, atol=1e-5)


def test_windows_at_another_rate_are_resampled(service) -> None:
    key = service.key()
    x = windows(1, n_times=400)
    r = service.client.post("/v1/embeddings", json={"input": x.tolist(), "sfreq": 400}, headers=service.headers(key))
    assert r.status_code == 200, r.text
    expected = service.state.models.embedding.encoder.embed(resample(x, 400, 200))
    np.testing.assert_allclose(r.json()["data"][0]["embedding"], expected[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (
            {"input": windows(1, n_times=190).tolist()},
            "windows of 190 samples at 200 Hz are 190 samples at the "
            "model's 200 Hz; biofame_emg_myo takes a positive multiple of 20 samples",
        ),
        ({"input": [[[0.0, 1.0], [0.0]]]}, "input[0] must be a rectangular (n_channels, n_times) array"),
        ({"input": [[[float("nan")] * 200] * 8]}, "input[0] holds 1600 NaN or infinite value(s)"),
        ({"model": "nope"}, "unknown model 'nope'; available: biofame_emg_myo"),
        ({"channels": [{"name": "a", "type": "emg"}]}, "channels lists 1 channels but the windows have 8 rows"),
        ({"input": ["not base64!"], "n_channels": 8}, "input[0] is not valid base64"),
        (
            {"input": [base64.b64encode(b"\x00" * 6).decode()], "n_channels": 8},
            "input[0] holds 6 bytes, not a whole number of 8-channel float32 scans (32 bytes each)",
        ),
        ({"sfreq": -1}, "sfreq: Input should be greater than 0 (got -1)"),
        ({"sfreg": 200}, "sfreg: Extra inputs are not permitted"),
    ],
)
def test_bad_embedding_requests_say_what_was_wrong(service, change, detail) -> None:
    key = service.key()
    req = {"input": windows(1).tolist(), "sfreq": 200, **change}
    headers = {**service.headers(key), "content-type": "application/json"}
    r = service.client.post("/v1/embeddings", content=json.dumps(req), headers=headers)  # json.dumps writes NaN
    assert r.status_code in (404, 422), r.text
    assert detail in r.json()["detail"]


def test_a_unit_the_model_has_no_scale_for_is_refused(service) -> None:
    key = service.key()
    req = {"input": windows(1).tolist(), "sfreq": 200,
           "channels": [{"name": f"c{i}", "type": "ecg"} for i in range(8)]}  # fmt: skip
    r = service.client.post("/v1/embeddings", json=req, headers=service.headers(key))
    assert r.status_code == 422
    assert "no input scale for a 'ecg' channel in 'V'; this model was trained on emg in a.u." in r.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing API key: send 'Authorization: Bearer <key>'"),
        ({"Authorization": "Token abc"}, "malformed Authorization header: expected 'Bearer <key>'"),
        ({"Authorization": "Bearer abc"}, "malformed API key"),
    ],
)
def test_missing_or_malformed_keys_get_401(service, headers, detail) -> None:
    r = service.client.get("/v1/models", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"].startswith(detail)


def test_revoked_key_gets_401_and_a_key_in_the_url_is_never_accepted(service) -> None:
    key, row = service.state.keys.create("acme")
    assert service.client.get("/v1/models", headers=service.headers(key)).status_code == 200
    r = service.client.get(f"/v1/models?api_key={key}")
    assert r.status_code == 401 and "never accepted in the URL" in r.json()["detail"]
    service.state.keys.revoke(row.key_id)
    r = service.client.get("/v1/models", headers=service.headers(key))
    assert r.status_code == 401 and r.json()["detail"] == f"API key {row.key_id} was revoked"


def test_rate_limit_answers_429_with_retry_after(make_service) -> None:
    svc = make_service(rate_limit_rps=0.5, rate_limit_burst=2)
    key = svc.key()
    codes = [svc.client.get("/v1/models", headers=svc.headers(key)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = svc.client.get("/v1/models", headers=svc.headers(key))
    assert r.headers["retry-after"] in ("1", "2") and "over its rate limit" in r.json()["detail"]
    other = svc.key("acme")  # a different key has its own bucket
    assert svc.client.get("/v1/models", headers=svc.headers(other)).status_code == 200


def test_oversized_bodies_get_413(make_service) -> None:
    svc = make_service(max_request_bytes=2048)
    key = svc.key()
    r = svc.client.post("/v1/embeddings", json={"input": windows(1).tolist(), "sfreq": 200}, headers=svc.headers(key))
    assert r.status_code == 413 and r.json()["detail"] == "request body exceeds 2048 bytes (max_request_bytes)"


def test_models_health_readiness_metrics_openapi(service) -> None:
    key = service.key()
    models = service.client.get("/v1/models", headers=service.headers(key)).json()
    m = models["data"][0]
    assert models["gestures"] is False
    assert (m["id"], m["kind"], m["backend"], m["sfreq"], m["n_times"], m["embed_dim"]) == (
        "biofame_emg_myo", "embedding", "onnxruntime", 200.0, 200, 64)  # fmt: skip
    assert m["parity_max_abs_diff"] < 1e-4 and m["onnx"].endswith(".onnx")
    assert service.client.get("/healthz").json()["status"] == "ok"
    ready = service.client.get("/readyz")
    assert ready.status_code == 200 and all(ready.json()["checks"].values())
    text = service.client.get("/metrics").text
    assert 'biosig_http_requests_total{method="GET",route="/v1/models",status="200"} 1.0' in text
    paths = service.client.get("/openapi.json").json()["paths"]
    assert {"/v1/embeddings", "/v1/gestures/classify", "/v1/recordings/{recording_id}/export"} <= set(paths)


def test_a_second_service_on_the_same_data_dir_refuses_to_start(service, make_service) -> None:
    with pytest.raises(RuntimeError, match="is in use by another biosig service"):
        make_service(data_dir=service.state.settings.data_dir)
