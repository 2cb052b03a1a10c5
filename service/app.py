"""``create_app(settings)``: the FastAPI application. Nothing is built at import.

The lifespan opens the metadata database, takes the data directory's lock (one service per data directory),
loads the models (exporting the bundled checkpoint to ONNX at first start, see :mod:`service.models`), starts
the inference thread, and puts all of it on ``app.state.service`` (:class:`ServiceState`), which routes read
through the ``Annotated`` dependencies of :mod:`service.deps`. Run it with ``biosig serve`` or
``python -m uvicorn --factory service.app:app_from_env``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from biosig import __version__
from service.auth import KeyStore, RateLimiter
from service.db import Database
from service.errors import install_handlers
from service.gestures import GestureService
from service.inference import InferenceEngine
from service.logs import install_key_redaction
from service.metrics import Metrics
from service.models import ModelRegistry, load_models
from service.settings import ServiceSettings, load_settings
from service.watch import WatchHub

__all__ = ["ServiceState", "app_from_env", "create_app"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class ServiceState:
    """Everything the routes share, built in the lifespan."""

    settings: ServiceSettings
    db: Database
    keys: KeyStore
    limiter: RateLimiter
    metrics: Metrics
    models: ModelRegistry
    gestures: GestureService
    engine: InferenceEngine
    started: float = field(default_factory=time.time)
    #: (tenant, stream id) -> the live session's handler; at most one per stream.
    live: dict[tuple[str, int], Any] = field(default_factory=dict)
    #: Observers of live streams (the dashboard, WebSocket /v1/watch).
    watch: WatchHub = field(default_factory=WatchHub)
    ready: bool = False


class _DataDirLock:
    """An exclusive ``flock`` on ``data_dir/.lock``: a second service on the same directory fails at start."""

    def __init__(self, settings: ServiceSettings) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = settings.data_dir / ".lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RuntimeError(
                f"{settings.data_dir} is in use by another biosig service (lock {self.path}); give each service "
                "its own data_dir"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


class _BodyTooLarge(Exception):
    pass


class HttpMiddleware:
    """Request metrics by route template, and a hard limit on request bodies (413 beyond it)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500, "started": False}
        declared = dict(scope.get("headers") or []).get(b"content-length")
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                raise _BodyTooLarge
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if status["started"]:
                raise
            await _plain_json(send, 413, f"request body exceeds {self.max_body} bytes (max_request_bytes)")
            status["code"] = 413
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            state = getattr(scope.get("app"), "state", None)
            service = getattr(state, "service", None)
            if service is not None:
                service.metrics.http_requests.labels(scope["method"], template, str(status["code"])).inc()
                service.metrics.http_latency.labels(template).observe(time.perf_counter() - t0)


async def _plain_json(send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_state(settings: ServiceSettings, models: ModelRegistry | None = None) -> ServiceState:
    """The shared state (models loaded unless given); the caller closes it with :func:`close_state`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_path)
    try:
        metrics = Metrics()
        models = models if models is not None else load_models(settings)
        gestures = GestureService(models.gesture, db, settings)
        engine = InferenceEngine(gestures, metrics, settings.max_batch)
        limiter = RateLimiter(
            settings.rate_limit_rps,
            settings.rate_limit_burst,
            settings.stream_connects_per_min,
            settings.max_samples_per_s,
            settings.max_streams_per_key,
        )
        return ServiceState(settings, db, KeyStore(db), limiter, metrics, models, gestures, engine)
    except BaseException:
        db.close()
        raise


def create_app(settings: ServiceSettings | None = None, *, models: ModelRegistry | None = None) -> FastAPI:
    """The application for ``settings`` (default: from the environment). ``models`` skips loading (tests)."""
    settings = settings if settings is not None else load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_key_redaction()  # uvicorn has configured its loggers by now
        lock = _DataDirLock(settings)
        try:
            t0 = time.perf_counter()
            state = build_state(settings, models)
            state.engine.start()
            app.state.service = state
            state.ready = True
            log.info(
                "biosig service ready in %.1f s: data in %s, models %s, fsync=%s",
                time.perf_counter() - t0,
                settings.data_dir,
                ", ".join(f"{m.name} ({m.backend})" for m in state.models.all()),
                settings.fsync,
            )
            try:
                yield
            finally:
                state.ready = False
                from service.routes.stream import shutdown_streams

                await shutdown_streams(state)
                state.engine.stop()
                state.db.close()
        finally:
            lock.release()

    app = FastAPI(
        title="biosig service",
        version=__version__,
        summary="Embeddings and zero-shot gesture labels for wearable biosignals, over REST and WebSocket.",
        description="Authenticate with `Authorization: Bearer <API key>` (keys come from `biosig keys create`). "
        "The WebSocket protocol of `/v1/stream` is documented in docs/protocol.md.",
        lifespan=lifespan,
    )
    install_handlers(app)
    from service.routes import dashboard, embeddings, gestures, health, recordings, stream, streams, watch
    from service.routes import models as models_routes

    app.include_router(health.router)
    app.include_router(models_routes.router)
    app.include_router(embeddings.router)
    app.include_router(gestures.router)
    app.include_router(recordings.router)
    app.include_router(stream.router)
    app.include_router(streams.router)
    app.include_router(watch.router)
    dashboard.mount(app)
    app.add_middleware(HttpMiddleware, max_body=settings.max_request_bytes)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory service.app:app_from_env``: settings from the environment and file."""
    return create_app(load_settings())
