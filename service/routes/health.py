"""Liveness, readiness and Prometheus metrics (no API key needed)."""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz(state: StateDep) -> dict[str, Any]:
    return {"status": "ok", "uptime_s": round(time.time() - state.started, 3)}


@router.get("/readyz", summary="Readiness: models loaded, database and data directory usable")
def readyz(state: StateDep) -> JSONResponse:
    checks = {
        "models": state.ready and state.models is not None,
        "database": _safe(state.db.ping),
        "data_dir_writable": os.access(state.settings.recordings_dir, os.W_OK),
        "inference_thread": state.engine.alive,
    }
    ok = all(checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks,
            "models": [m.name for m in state.models.all()], "gestures": state.gestures.available}  # fmt: skip
    return JSONResponse(body, status_code=200 if ok else 503)


def _safe(check: Any) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
