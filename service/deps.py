"""``Annotated`` dependencies: routes read the shared state and the caller's identity through these.

Tests replace any of them with ``app.dependency_overrides``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.app import ServiceState
from service.auth import AuthError, Principal
from service.errors import RateLimited
from service.gestures import GestureService
from service.models import ModelRegistry

__all__ = ["GesturesDep", "ModelsDep", "PrincipalDep", "StateDep"]

_bearer = HTTPBearer(auto_error=False, description="An API key from `biosig keys create`.")


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_models(state: StateDep) -> ModelRegistry:
    return state.models


def get_gestures(state: StateDep) -> GestureService:
    return state.gestures


ModelsDep = Annotated[ModelRegistry, Depends(get_models)]
GesturesDep = Annotated[GestureService, Depends(get_gestures)]


def get_principal(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's key, verified and within its rate limit."""
    if any(k in request.query_params for k in ("key", "api_key", "apikey", "token", "access_token")):
        raise AuthError("API keys are never accepted in the URL; send 'Authorization: Bearer <key>'")
    if credentials is None and "authorization" in request.headers:
        raise AuthError("malformed Authorization header: expected 'Bearer <key>'")
    who = state.keys.verify(credentials.credentials if credentials else None)
    wait = state.limiter.request(who)
    if wait > 0:
        raise RateLimited(f"API key {who.key_id} is over its rate limit; retry in {wait:.2f} s", wait)
    return who


PrincipalDep = Annotated[Principal, Depends(get_principal)]
