"""``GET /v1/models``: what the service serves."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import ModelsDep, PrincipalDep
from service.schemas import ModelList, ModelOut

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelList, summary="Loaded models and their signal specs")
def list_models(models: ModelsDep, who: PrincipalDep) -> ModelList:
    return ModelList(data=[ModelOut(**m.describe()) for m in models.all()], gestures=models.gesture is not None)
