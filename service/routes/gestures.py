"""Zero-shot gesture labels and each tenant's gesture vocabulary (503 while no gesture model is loaded)."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, status

from biosig.zeroshot import PoseReference
from service.deps import GesturesDep, PrincipalDep, StateDep
from service.errors import BadInput, NotFound
from service.routes.embeddings import embed_input
from service.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    ExamplesIn,
    ExamplesOut,
    GestureIn,
    GestureList,
    GestureOut,
    Prediction,
)

router = APIRouter(prefix="/v1/gestures", tags=["gestures"])


def _out(ref: PoseReference) -> GestureOut:
    return GestureOut(
        name=ref.name,
        n_dof=ref.n_dof,
        static=ref.is_static,
        n_frames=1 if ref.is_static else int(ref.pose.shape[1]),
        frame_rate=ref.frame_rate,
        description=ref.description,
        origin=ref.origin,
    )


@router.post("/classify", response_model=ClassifyResponse, summary="Label windows of EMG with gestures")
def classify(req: ClassifyRequest, gestures: GesturesDep, who: PrincipalDep) -> ClassifyResponse:
    model = gestures.require()
    gestures.head(who.tenant)  # 503 before any work when there is no model
    emb, _ = embed_input(model.emg, req)
    predictions = gestures.classify(who.tenant, emb, req.user)
    data = [Prediction(index=i, **p.to_dict()) for i, p in enumerate(predictions)]
    return ClassifyResponse(model=model.emg.name, data=data)


@router.get("", response_model=GestureList, summary="The tenant's gesture vocabulary")
def list_gestures(gestures: GesturesDep, who: PrincipalDep) -> GestureList:
    vocab, _ = gestures.vocabulary(who.tenant)
    return GestureList(data=[_out(r) for r in vocab])


def _announce(state: StateDep, gestures: GesturesDep, tenant: str) -> None:
    """Tell the tenant's observers (the dashboard) about the changed vocabulary."""
    projection = gestures.projection(tenant)
    if projection is not None:
        state.watch.publish_threadsafe(tenant, projection.to_event())


@router.get("/{name}", summary="One gesture with its pose reference")
def get_gesture(name: str, gestures: GesturesDep, who: PrincipalDep) -> dict[str, object]:
    vocab, _ = gestures.vocabulary(who.tenant)
    if name not in vocab:
        raise NotFound(f"no gesture {name!r} in this tenant's vocabulary; it has {vocab.names}")
    ref = vocab.get(name)
    return _out(ref).model_dump() | {"pose": ref.pose.tolist()}


@router.post("", response_model=GestureOut, status_code=status.HTTP_201_CREATED, summary="Add a gesture by its pose")
def add_gesture(body: GestureIn, state: StateDep, gestures: GesturesDep, who: PrincipalDep) -> GestureOut:
    ref = PoseReference(body.name, np.asarray(body.pose, dtype=np.float64), body.frame_rate, body.description, "user")
    gestures.add_gesture(who.tenant, ref, replace=body.replace)
    _announce(state, gestures, who.tenant)
    return _out(ref)


@router.delete("/{name}", summary="Delete a gesture (and its few-shot examples)")
def delete_gesture(name: str, state: StateDep, gestures: GesturesDep, who: PrincipalDep) -> dict[str, str]:
    vocab, _ = gestures.vocabulary(who.tenant)
    if name not in vocab:
        raise NotFound(f"no gesture {name!r} in this tenant's vocabulary; it has {vocab.names}")
    try:
        gestures.remove_gesture(who.tenant, name)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    _announce(state, gestures, who.tenant)
    return {"deleted": name}


@router.post("/{name}/examples", response_model=ExamplesOut, summary="Add a user's few-shot EMG examples")
def add_examples(name: str, body: ExamplesIn, gestures: GesturesDep, who: PrincipalDep) -> ExamplesOut:
    model = gestures.require()
    vocab, _ = gestures.vocabulary(who.tenant)
    if name not in vocab:
        raise NotFound(f"no gesture {name!r} in this tenant's vocabulary; add its pose first ({vocab.names})")
    emb, _ = embed_input(model.emg, body)
    total = gestures.add_examples(who.tenant, body.user, name, emb)
    return ExamplesOut(gesture=name, user=body.user, added=len(emb), total=total)
