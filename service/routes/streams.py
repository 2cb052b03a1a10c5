"""``/v1/streams``: the caller's live streams, and few-shot examples recorded from one of them."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from service.deps import GesturesDep, PrincipalDep, StateDep
from service.errors import BadInput, NotFound
from service.gestures import DEFAULT_USER
from service.schemas import ExamplesOut

router = APIRouter(prefix="/v1/streams", tags=["streams"])


class StreamExamplesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gesture: str = Field(description="a gesture of the tenant's vocabulary")
    seconds: float = Field(2.0, gt=0, le=30, description="use the windows that ended in the stream's last N s")
    user: str | None = Field(None, min_length=1, max_length=64, description="default: the stream's device user")


def _live(state: StateDep, tenant: str, stream: str):  # noqa: ANN202 - a StreamHandler
    for (t, _), handler in list(state.live.items()):
        if t == tenant and handler.hello is not None and handler.hello.stream == stream:
            return handler
    live = sorted(h.hello.stream for (t, _), h in list(state.live.items()) if t == tenant and h.hello is not None)
    raise NotFound(f"no live stream {stream!r} for this tenant; live streams: {live or 'none'}")


@router.get("", summary="The tenant's live streams with their counters")
def list_streams(state: StateDep, who: PrincipalDep) -> dict[str, object]:
    data = [h.describe() for (t, _), h in list(state.live.items()) if t == who.tenant and h.hello is not None]
    return {"object": "list", "data": sorted(data, key=lambda d: str(d["stream"]))}


@router.post("/{stream}/examples", response_model=ExamplesOut, summary="Few-shot examples from a live stream")
def record_examples(
    stream: str, body: StreamExamplesIn, state: StateDep, gestures: GesturesDep, who: PrincipalDep
) -> ExamplesOut:
    """Add the embeddings of the stream's most recent windows as the user's examples of ``gesture``.

    The person holds the gesture for a few seconds, then this is called: the windows that ended in the last
    ``seconds`` of the stream become examples (for the stream's device user, or ``user``).
    """
    model = gestures.require()
    vocab, _ = gestures.vocabulary(who.tenant)
    if body.gesture not in vocab:
        raise NotFound(f"no gesture {body.gesture!r} in this tenant's vocabulary; add its pose first ({vocab.names})")
    handler = _live(state, who.tenant, stream)
    if handler.model is not model.emg:
        raise BadInput(f"stream {stream!r} is not embedded by the gesture model ({model.emg.name}); no examples")
    embeddings = handler.recent_embeddings(body.seconds)
    if not embeddings:
        raise BadInput(f"stream {stream!r} has produced no window yet; stream for at least one window first")
    user = body.user or handler.hello.device.get("user") or DEFAULT_USER
    total = gestures.add_examples(who.tenant, user, body.gesture, np.stack(embeddings))
    return ExamplesOut(gesture=body.gesture, user=user, added=len(embeddings), total=total)
