"""Domain errors of the service and how they become HTTP responses (one place, not in every route)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from biosig.errors import BiosigError
from biosig.zeroshot import VocabularyError
from service.auth import AuthError
from service.gestures import GesturesUnavailable

__all__ = ["BadInput", "Conflict", "NotFound", "RateLimited", "ServiceError", "install_handlers"]

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status_code = 500

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class NotFound(ServiceError):
    status_code = 404


class BadInput(ServiceError):
    status_code = 422


class Conflict(ServiceError):
    status_code = 409


class RateLimited(ServiceError):
    status_code = 429

    def __init__(self, detail: str, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError) -> JSONResponse:
        request.app.state.service.metrics.auth_failures.labels("http").inc()
        return _json(401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RateLimited)
    async def _rate(request: Request, exc: RateLimited) -> JSONResponse:
        request.app.state.service.metrics.rate_limited.labels("http").inc()
        return _json(429, exc.detail, {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))})

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        return _json(exc.status_code, exc.detail)

    @app.exception_handler(GesturesUnavailable)
    async def _no_gestures(request: Request, exc: GesturesUnavailable) -> JSONResponse:
        return _json(503, str(exc))

    @app.exception_handler(VocabularyError)
    async def _vocab(request: Request, exc: VocabularyError) -> JSONResponse:
        return _json(422, str(exc))

    @app.exception_handler(BiosigError)
    async def _biosig(request: Request, exc: BiosigError) -> JSONResponse:
        return _json(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable line per problem: where, what was wrong, what arrived (pydantic's message says the rule).
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            got = err.get("input")
            shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
            lines.append(f"{where}: {err.get('msg')} (got {shown[:80]})")
        return JSONResponse({"detail": "; ".join(lines), "errors": jsonable(exc.errors())}, status_code=422)


def jsonable(errors: Sequence[Any]) -> Any:
    from fastapi.encoders import jsonable_encoder

    try:
        return jsonable_encoder(errors)
    except Exception:  # inputs that cannot be encoded (NaN, bytes): keep the messages only
        return [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
