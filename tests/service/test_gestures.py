"""Gesture routes: 503 without a gesture model; with one (EMG side + the pose-encoder test double), labels,
per-tenant vocabularies, few-shot examples, and persistence of both across a restart."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.zeroshot import GestureVocabulary

X = (np.random.default_rng(3).standard_normal((3, 8, 200)) * 0.05).astype(np.float32)
FLEX = [0.3] * 20 + [0.9, 0.0, 0.0]  # a static pose: fingers half bent, wrist flexed (radians)


def test_without_a_gesture_model_gesture_routes_answer_503(service) -> None:
    h = service.headers(service.key())
    r = service.client.post("/v1/gestures/classify", json={"input": X.tolist(), "sfreq": 200}, headers=h)
    assert r.status_code == 503
    assert r.json()["detail"].startswith("no gesture model is loaded: start the service with gesture_emg_model")
    assert service.client.get("/v1/gestures", headers=h).status_code == 503
    assert service.client.post("/v1/gestures", json={"name": "x", "pose": FLEX}, headers=h).status_code == 503


@pytest.fixture()
def gsvc(make_service, gesture_models):
    return make_service(models=gesture_models)


def test_classify_labels_windows_with_the_tenant_vocabulary(gsvc) -> None:
    h = gsvc.headers(gsvc.key())
    r = gsvc.client.post("/v1/gestures/classify", json={"input": X.tolist(), "sfreq": 200}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    names = GestureVocabulary.builtin().names
    assert body["model"] == "biofame_emg_myo" and len(body["data"]) == 3
    for i, p in enumerate(body["data"]):
        assert p["index"] == i and p["label"] in names and set(p["scores"]) == set(names)
        assert p["score"] == pytest.approx(p["scores"][p["nearest"]])
    # the same answer as the head itself gives on the encoder's embeddings
    emb = gsvc.state.models.gesture.emg.encoder.embed(X)
    direct = gsvc.state.gestures.classify("acme", emb)
    assert [p["label"] for p in body["data"]] == [p.label for p in direct]


def test_add_list_delete_gestures_per_tenant(gsvc) -> None:
    a, b = gsvc.headers(gsvc.key("acme")), gsvc.headers(gsvc.key("globex"))
    r = gsvc.client.post("/v1/gestures", json={"name": "flex_hold", "pose": FLEX, "description": "held"}, headers=a)
    assert r.status_code == 201, r.text
    assert r.json() == {"name": "flex_hold", "n_dof": 23, "static": True, "n_frames": 1, "frame_rate": None,
                        "description": "held", "origin": "user"}  # fmt: skip
    assert "flex_hold" in [g["name"] for g in gsvc.client.get("/v1/gestures", headers=a).json()["data"]]
    assert "flex_hold" not in [g["name"] for g in gsvc.client.get("/v1/gestures", headers=b).json()["data"]]
    again = gsvc.client.post("/v1/gestures", json={"name": "flex_hold", "pose": FLEX}, headers=a)
    assert again.status_code == 422 and "already in the vocabulary; pass replace=True" in again.json()["detail"]
    scores = gsvc.client.post("/v1/gestures/classify", json={"input": X.tolist(), "sfreq": 200}, headers=a).json()
    assert "flex_hold" in scores["data"][0]["scores"]
    assert gsvc.client.delete("/v1/gestures/flex_hold", headers=b).status_code == 404
    assert gsvc.client.delete("/v1/gestures/flex_hold", headers=a).json() == {"deleted": "flex_hold"}
    assert gsvc.client.delete("/v1/gestures/flex_hold", headers=a).status_code == 404


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "Bad Name", "pose": FLEX}, "gesture name must be snake_case"),
        (
            {"name": "short", "pose": [0.1] * 5},
            "pose must have shape (n_dof,) or (n_dof, n_frames) with n_dof 20 or 23",
        ),
        ({"name": "x", "pose": FLEX, "colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_gestures_are_refused(gsvc, body, detail) -> None:
    r = gsvc.client.post("/v1/gestures", json=body, headers=gsvc.headers(gsvc.key()))
    assert r.status_code == 422 and detail in r.json()["detail"]


def test_few_shot_examples_move_a_users_predictions(make_service, gesture_models) -> None:
    gsvc = make_service(models=gesture_models, gesture_k=3)  # her 3 examples are then the 3 voting neighbours
    h = gsvc.headers(gsvc.key())
    target = "fist"
    r = gsvc.client.post(f"/v1/gestures/{target}/examples", json={"user": "ann", "input": X.tolist(), "sfreq": 200},
                         headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json() == {"gesture": target, "user": "ann", "added": 3, "total": 3}
    req = {"input": X.tolist(), "sfreq": 200}
    ann = gsvc.client.post("/v1/gestures/classify", json={**req, "user": "ann"}, headers=h).json()["data"]
    assert [p["label"] for p in ann] == [target] * 3  # her own examples are the nearest bank entries
    others = gsvc.client.post("/v1/gestures/classify", json=req, headers=h).json()["data"]
    assert all(o["scores"][target] < a["scores"][target] for o, a in zip(others, ann))
    assert all(p["score"] == pytest.approx(1.0, abs=1e-5) for p in ann)
    missing = gsvc.client.post("/v1/gestures/nope/examples", json={"user": "ann", **req}, headers=h)
    assert missing.status_code == 404 and "no gesture 'nope'" in missing.json()["detail"]


def test_vocabulary_and_examples_survive_a_restart(make_service, gesture_models, tmp_path) -> None:
    data = tmp_path / "persist"
    svc = make_service(models=gesture_models, data_dir=data, gesture_k=3)
    key = svc.key()
    h = svc.headers(key)
    assert svc.client.post("/v1/gestures", json={"name": "flex_hold", "pose": FLEX}, headers=h).status_code == 201
    svc.client.post("/v1/gestures/flex_hold/examples", json={"user": "ann", "input": X.tolist(), "sfreq": 200},
                    headers=h)  # fmt: skip
    svc.client.__exit__(None, None, None)
    again = make_service(models=gesture_models, data_dir=data, gesture_k=3)
    names = [g["name"] for g in again.client.get("/v1/gestures", headers=h).json()["data"]]
    assert "flex_hold" in names
    ann = again.client.post("/v1/gestures/classify", json={"input": X.tolist(), "sfreq": 200, "user": "ann"},
                            headers=h).json()["data"]  # fmt: skip
    assert [p["label"] for p in ann] == ["flex_hold"] * 3
