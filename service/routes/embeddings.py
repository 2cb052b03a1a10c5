"""``POST /v1/embeddings``: windows of signal in, one embedding per window out.

Plain ``def`` routes: FastAPI runs them in its threadpool, so CPU-bound inference never blocks the event loop.
"""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter

from biosig.signals.resample import resample
from service.deps import ModelsDep, PrincipalDep
from service.errors import BadInput, NotFound
from service.models import ServedModel
from service.schemas import EmbeddingData, EmbeddingRequest, EmbeddingResponse, SignalInput, Usage

router = APIRouter(prefix="/v1", tags=["embeddings"])


def embed_input(model: ServedModel, req: SignalInput) -> tuple[np.ndarray, int]:
    """``(n_windows, D)`` embeddings of the request's windows and the number of scans received.

    Windows at another rate are resampled to the model's (polyphase, zeros outside the window, as
    :func:`biosig.signals.resample.resample`); the result must be a positive multiple of the model's
    ``time_multiple`` samples.
    """
    enc = model.encoder
    spec = enc.signal_spec
    arrays, types, units = req.windows(spec.ch_types, spec.units)
    problem = model.check_channels(types, units)
    if problem is not None:
        raise BadInput(problem)
    n_in = {a.shape[1] for a in arrays}
    if len(n_in) != 1:
        raise BadInput(f"all windows must have the same length, got {sorted(n_in)} samples")
    x = np.stack(arrays)  # (b, c, t)
    if req.sfreq != spec.sfreq:
        x = resample(x, req.sfreq, spec.sfreq)
    t = x.shape[2]
    if t < enc.time_multiple or t % enc.time_multiple:
        raise BadInput(
            f"windows of {x.shape[2] if req.sfreq == spec.sfreq else n_in.pop()} samples at {req.sfreq:g} Hz are "
            f"{t} samples at the model's {spec.sfreq:g} Hz; {model.name} takes a positive multiple of "
            f"{enc.time_multiple} samples there (it was trained on {spec.n_times} = {spec.n_times / spec.sfreq:g} s)"
        )
    return enc.embed(x, types, units), int(sum(a.shape[1] for a in arrays))


def _model(models: ModelsDep, name: str | None) -> ServedModel:
    try:
        return models.get(name)
    except KeyError as exc:
        raise NotFound(str(exc.args[0])) from None


@router.post("/embeddings", response_model=EmbeddingResponse, summary="Embed windows of signal")
def create_embeddings(req: EmbeddingRequest, models: ModelsDep, who: PrincipalDep) -> EmbeddingResponse:
    model = _model(models, req.model)
    emb, n_samples = embed_input(model, req)
    data = []
    for i, row in enumerate(emb):
        value: list[float] | str
        if req.encoding_format == "base64":
            value = base64.b64encode(np.ascontiguousarray(row, dtype="<f4").tobytes()).decode("ascii")
        else:
            value = row.astype(float).tolist()
        data.append(EmbeddingData(index=i, embedding=value))
    usage = Usage(windows=len(emb), samples=n_samples, prompt_tokens=n_samples, total_tokens=n_samples)
    return EmbeddingResponse(model=model.name, data=data, embed_dim=int(emb.shape[1]), usage=usage)
