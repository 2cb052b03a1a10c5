"""Request and response bodies of the REST API (pydantic lives here and in settings, nowhere in biosig).

Signal windows arrive as JSON arrays ``(n_channels, n_times)`` per window, or as base64 strings of raw
little-endian ``dtype`` values in channel-major order (what ``np.ndarray.tobytes()`` gives for a C-ordered
``(n_channels, n_times)`` array), times ``scale``.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from biosig.signals.info import CHANNEL_TYPES, DEFAULT_UNITS
from service.errors import BadInput

WireDtype = Literal["float32", "int8", "int16", "int32"]


class Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    type: str = Field(description=f"one of {sorted(CHANNEL_TYPES)}")
    unit: str | None = Field(None, max_length=16, description="default: the type's unit")


class SignalInput(BaseModel):
    """Windows of one channel layout, at one sampling rate."""

    model_config = ConfigDict(extra="forbid")
    input: list[list[list[float]]] | list[str] = Field(
        description="windows: (n_channels, n_times) arrays, or base64 strings of raw dtype values (channel-major)",
        min_length=1,
        max_length=1024,
    )
    sfreq: float = Field(gt=0, description="sampling rate of the windows in Hz (resampled to the model's rate)")
    channels: list[Channel] | None = Field(None, description="default: the model's channels (types and units)")
    n_channels: int | None = Field(None, ge=1, le=1024, description="rows of base64 windows when channels is unset")
    dtype: WireDtype = Field("float32", description="value type of base64 windows")
    scale: float = Field(1.0, description="base64 windows: value x scale = value in the channel's unit")

    def windows(
        self, default_types: tuple[str, ...], default_units: tuple[str, ...]
    ) -> tuple[list[np.ndarray], tuple[str, ...], tuple[str, ...]]:
        """The windows as float32 ``(n_channels, n_times)`` arrays, with their channel types and units."""
        if self.channels is not None:
            bad = sorted({c.type for c in self.channels} - CHANNEL_TYPES)
            if bad:
                raise BadInput(f"channels: unknown type(s) {bad}; allowed: {sorted(CHANNEL_TYPES)}")
            names = [c.name for c in self.channels]
            if len(set(names)) != len(names):
                raise BadInput(f"channels: names must be unique, got {names}")
            types = tuple(c.type for c in self.channels)
            units = tuple(c.unit or DEFAULT_UNITS[c.type] for c in self.channels)
        else:
            types, units = (), ()
        if not math.isfinite(self.scale) or self.scale == 0:
            raise BadInput(f"scale must be a finite non-zero number, got {self.scale!r}")
        arrays: list[np.ndarray] = []
        for i, item in enumerate(self.input):
            if isinstance(item, str):
                arrays.append(self._decode_b64(i, item, len(types) or self.n_channels or len(default_types)))
            else:
                try:
                    x = np.asarray(item, dtype=np.float32)
                except ValueError:
                    raise BadInput(
                        f"input[{i}] must be a rectangular (n_channels, n_times) array; its rows differ in length "
                        f"({sorted({len(r) for r in item})})"
                    ) from None
                if x.ndim != 2 or x.shape[1] < 1:
                    raise BadInput(f"input[{i}] must be (n_channels, n_times), got shape {x.shape}")
                arrays.append(x)
        shapes = {a.shape[0] for a in arrays}
        if len(shapes) != 1:
            raise BadInput(f"all windows must have the same channel count, got {sorted(shapes)}")
        n_ch = shapes.pop()
        for i, a in enumerate(arrays):
            if not np.all(np.isfinite(a)):
                raise BadInput(f"input[{i}] holds {int(np.sum(~np.isfinite(a)))} NaN or infinite value(s)")
        if not types:
            if n_ch == len(default_types):
                types, units = default_types, default_units
            elif len(set(default_types)) == 1:
                types, units = (default_types[0],) * n_ch, (default_units[0],) * n_ch
            else:
                raise BadInput(f"windows have {n_ch} channels; give 'channels' (the model has {len(default_types)})")
        if len(types) != n_ch:
            raise BadInput(f"channels lists {len(types)} channels but the windows have {n_ch} rows")
        return arrays, types, units

    def _decode_b64(self, i: int, text: str, n_channels: int) -> np.ndarray:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(f"input[{i}] is not valid base64") from None
        dt = np.dtype(self.dtype).newbyteorder("<")
        if len(raw) == 0 or len(raw) % (dt.itemsize * n_channels):
            raise BadInput(
                f"input[{i}] holds {len(raw)} bytes, not a whole number of {n_channels}-channel {self.dtype} scans "
                f"({dt.itemsize * n_channels} bytes each)"
            )
        values = np.frombuffer(raw, dtype=dt).reshape(n_channels, -1)
        return (values.astype(np.float64) * self.scale).astype(np.float32)


class EmbeddingRequest(SignalInput):
    """``POST /v1/embeddings``: like the common embeddings APIs, extended with the signal's geometry."""

    model: str | None = Field(None, description="a model id from GET /v1/models (default: the embedding model)")
    encoding_format: Literal["float", "base64"] = Field("float", description="base64: little-endian float32")
    user: str | None = Field(None, max_length=64)


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    windows: int
    samples: int = Field(description="scans received, all windows together (before resampling)")
    prompt_tokens: int = Field(description="= samples (for clients of token-based embeddings APIs)")
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    model: str
    data: list[EmbeddingData]
    embed_dim: int
    usage: Usage


class ClassifyRequest(SignalInput):
    user: str | None = Field(None, min_length=1, max_length=64, description="adds this user's few-shot examples")


class Prediction(BaseModel):
    index: int
    label: str
    nearest: str
    score: float
    scores: dict[str, float]
    unknown: bool
    votes: dict[str, int] | None = None


class ClassifyResponse(BaseModel):
    object: Literal["list"] = "list"
    model: str
    data: list[Prediction]


class GestureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="snake_case label")
    pose: list[float] | list[list[float]] = Field(
        description="(n_dof,) static pose or (n_dof, n_frames) trajectory in radians, HAND_JOINTS order, n_dof 20/23"
    )
    frame_rate: float | None = Field(None, gt=0, description="Hz of a trajectory; unset for a static pose")
    description: str = Field("", max_length=200)
    replace: bool = False


class GestureOut(BaseModel):
    name: str
    n_dof: int
    static: bool
    n_frames: int
    frame_rate: float | None
    description: str
    origin: str


class GestureList(BaseModel):
    object: Literal["list"] = "list"
    data: list[GestureOut]


class ExamplesIn(SignalInput):
    user: str = Field(min_length=1, max_length=64)


class ExamplesOut(BaseModel):
    gesture: str
    user: str
    added: int
    total: int


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["model"] = "model"
    kind: str
    backend: str
    embed_dim: int
    sfreq: float
    n_times: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
    gestures: bool = Field(description="whether a gesture model is loaded")


class SessionOut(BaseModel):
    id: str
    started: float
    ended: float | None
    resumed: bool
    frames: int
    samples: int
    results: int
    gaps: int
    rejected: int
    duplicates: int
    close_code: int | None


class GapOut(BaseModel):
    seq: int
    start_sample: int
    stop_sample: int


class RecordingOut(BaseModel):
    id: int
    stream: str
    created: float
    ended: float | None
    live: bool
    sfreq: float
    channels: list[dict[str, Any]]
    dtype: str
    scale: float
    device: dict[str, str]
    frames: int
    samples: int = Field(description="scans persisted (the last ack's 'samples' of a finished session)")
    first_sample: int | None
    next_sample: int | None
    next_seq: int
    bytes: int
    gaps: list[GapOut] = []
    sessions: list[SessionOut] = []


class RecordingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RecordingOut]
