"""Fixtures of the service tests: models loaded once per session, apps on temporary data directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from biosig.models.defaults import default_checkpoint
from service.app import create_app
from service.models import ModelRegistry, load_models
from service.settings import ServiceSettings

GESTURE_FACTORY = "tests.service.doubles:pose_encoder_double"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX exports shared by every service test (and the live servers), made once."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def served_models(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    """The embedding encoder alone (``gesture_model="off"``): the service without gesture labels."""
    settings = ServiceSettings(
        data_dir=tmp_path_factory.mktemp("models-data"), cache_dir=model_cache, gesture_model="off"
    )
    return load_models(settings)


@pytest.fixture(scope="session")
def bundled_models(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    """What ``biosig serve`` loads with default settings: the embedding encoder and the bundled CPEP Myo model."""
    settings = ServiceSettings(data_dir=tmp_path_factory.mktemp("bundled-data"), cache_dir=model_cache)
    return load_models(settings)


@pytest.fixture(scope="session")
def gesture_models(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    settings = ServiceSettings(
        data_dir=tmp_path_factory.mktemp("gesture-data"),
        cache_dir=model_cache,
        gesture_emg_model=default_checkpoint(),
        gesture_pose_factory=GESTURE_FACTORY,
    )
    return load_models(settings)


class Service:
    """A running in-process app (lifespan entered) with a TestClient and helpers to mint keys."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.state = client.app.state.service  # type: ignore[attr-defined]

    def key(self, tenant: str = "acme", **kw: Any) -> str:
        return self.state.keys.create(tenant, **kw)[0]

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def make_service(tmp_path: Path, served_models: ModelRegistry, model_cache: Path) -> Iterator[Any]:
    opened: list[TestClient] = []

    def make(models: ModelRegistry | None = None, **settings: Any) -> Service:
        settings.setdefault("data_dir", tmp_path / f"data{len(opened)}")
        s = ServiceSettings(cache_dir=model_cache, **settings)
        client = TestClient(create_app(s, models=models or served_models))
        client.__enter__()
        opened.append(client)
        return Service(client)

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture()
def service(make_service: Any) -> Service:
    return make_service()
