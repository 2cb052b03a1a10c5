"""Service settings: pydantic-settings read from ``BIOSIG_SERVICE_*`` environment variables and a TOML file.

Precedence, highest first: values passed to ``ServiceSettings(...)`` (the CLI's flags), environment variables
(``BIOSIG_SERVICE_PORT=9000``), the TOML file named by ``BIOSIG_SERVICE_SETTINGS_FILE`` (or ``--settings`` of
``biosig serve``), then the defaults below. Nothing is read at import: :func:`load_settings` builds the object,
and :func:`service.app.create_app` takes it as an argument, so tests build their own.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["ENV_PREFIX", "SETTINGS_FILE_ENV", "ServiceSettings", "load_settings"]

ENV_PREFIX = "BIOSIG_SERVICE_"
#: Environment variable naming a TOML settings file (keys are the field names below, without the prefix).
SETTINGS_FILE_ENV = ENV_PREFIX + "SETTINGS_FILE"

#: A settings file given to :func:`load_settings`, in force while it builds the object (beats the variable).
_FILE_OVERRIDE: ContextVar[str | None] = ContextVar("biosig_service_settings_file", default=None)

FsyncPolicy = Literal["always", "batch", "none"]
Backend = Literal["auto", "onnx", "torch"]


class ServiceSettings(BaseSettings):
    """Everything the service can be told; every field has a working default.

    Paths are resolved against the working directory when the settings are built.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    # -- where things live --------------------------------------------------------------------------------------
    data_dir: Path = Field(
        Path("biosig-service-data"),
        description="Root of the service's state: metadata.sqlite3, recordings/, cache/ (created if missing).",
    )
    cache_dir: Path | None = Field(None, description="ONNX exports of the checkpoints (default: data_dir/cache).")

    # -- serving ------------------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Interface `biosig serve` binds (0.0.0.0 for all).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port of `biosig serve` (0: any free port).")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # -- models -------------------------------------------------------------------------------------------------
    encoder_checkpoint: Path | None = Field(
        None, description="Embedding encoder checkpoint (.pt) or export (.onnx); default: the bundled Myo model."
    )
    encoder_name: str | None = Field(None, description="Name under which the encoder is served (default: file stem).")
    backend: Backend = Field(
        "auto",
        description="auto: export checkpoints to ONNX at first start (parity-checked, cached) and run onnxruntime, "
        "falling back to torch with a warning; onnx: never fall back; torch: run the checkpoint on torch.",
    )
    threads: int = Field(1, ge=0, description="Intra-op threads per inference backend (0: one per core).")
    max_batch: int = Field(256, ge=1, description="Largest batch handed to an encoder in one call.")
    parity_atol: float = Field(1e-4, gt=0, description="Largest |torch - onnx| accepted when exporting at start.")

    gesture_model: Literal["bundled", "off"] = Field(
        "bundled",
        description="Without gesture_emg_model: 'bundled' serves the bundled CPEP Myo model (8 sEMG channels at "
        "200 Hz) for zero-shot gesture labels; 'off' serves no gesture model (gesture routes answer 503).",
    )
    gesture_emg_model: Path | None = Field(
        None, description="EMG side of a gesture model (CPEP checkpoint or export); overrides gesture_model."
    )
    gesture_pose_model: Path | None = Field(None, description="Pose side of the gesture model, given to the factory.")
    gesture_pose_factory: str | None = Field(
        None,
        description="'module:callable' returning a biosig.zeroshot PoseEncoder; called with gesture_pose_model "
        "(or no argument when that is unset).",
    )
    gesture_vocabulary: Literal["model", "builtin", "myo"] = Field(
        "model",
        description="Each tenant's starting vocabulary: the gestures the CPEP model was trained to name (model; "
        "every built-in gesture for a model that records none), every built-in gesture, or the 8 Myo classes.",
    )
    gesture_mode: Literal["knn", "prototype"] = "knn"
    gesture_k: int = Field(10, ge=1)
    gesture_unknown_threshold: float | None = Field(None, description="Best score below this is 'unknown'.")

    # -- streaming ----------------------------------------------------------------------------------------------
    hop_s: float = Field(0.05, gt=0, description="Seconds between result windows of a stream.")
    highpass: float | None = Field(None, gt=0, description="Causal high-pass (Hz) applied to streams before the model.")
    notch: float | None = Field(None, gt=0, description="Causal notch (Hz), e.g. 50 or 60 (mains).")
    max_unacked: int = Field(64, ge=1, description="Frames a client may send ahead of the last ack.")
    max_frame_bytes: int = Field(1 << 20, ge=64, description="Largest frame payload accepted (bytes).")
    max_control_bytes: int = Field(1 << 16, ge=256, description="Largest JSON control message accepted (bytes).")
    max_streams: int = Field(256, ge=1, description="Live WebSocket streams, all tenants together.")
    max_invalid_frames: int = Field(32, ge=1, description="Invalid frames in a row before closing with 1007.")
    hello_timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the hello before closing 4000.")
    result_queue: int = Field(64, ge=1, description="Results buffered for a slow reader before they are dropped.")

    # -- persistence --------------------------------------------------------------------------------------------
    fsync: FsyncPolicy = Field(
        "batch",
        description="always: fsync every frame before its ack; batch: group commit, fsync then one ack at most "
        "every fsync_interval_s (or max_unacked/2 frames); none: ack after write(2), fsync at session end.",
    )
    fsync_interval_s: float = Field(0.1, gt=0, description="Longest an accepted frame waits for its ack (batch).")

    # -- auth and limits ----------------------------------------------------------------------------------------
    rate_limit_rps: float = Field(20.0, gt=0, description="REST requests per second per API key (sustained).")
    rate_limit_burst: int = Field(40, ge=1, description="REST requests a key may make at once.")
    stream_connects_per_min: float = Field(60.0, gt=0, description="WebSocket connection attempts per key/minute.")
    max_streams_per_key: int = Field(32, ge=1, description="Live streams of one API key.")
    max_samples_per_s: float = Field(
        2_000_000.0,
        gt=0,
        description="Samples (scans x channels) per second one key may stream; beyond, reading "
        "slows down (nothing is refused).",
    )
    max_request_bytes: int = Field(8 << 20, ge=1024, description="Largest REST request body (bytes).")

    @field_validator("data_dir", "cache_dir", "encoder_checkpoint", "gesture_emg_model", "gesture_pose_model")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("gesture_pose_factory")
    @classmethod
    def _factory_ref(cls, value: str | None) -> str | None:
        if value is not None and (value.count(":") != 1 or not all(value.split(":"))):
            raise ValueError(f"must be 'package.module:callable', got {value!r}")
        return value

    @model_validator(mode="after")
    def _gesture_pair(self) -> ServiceSettings:
        if (self.gesture_emg_model is None) != (self.gesture_pose_factory is None):
            raise ValueError(
                "gesture_emg_model and gesture_pose_factory go together (the EMG and the pose side of one gesture "
                f"model); got gesture_emg_model={self.gesture_emg_model}, "
                f"gesture_pose_factory={self.gesture_pose_factory!r}"
            )
        return self

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.data_dir / "cache"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "metadata.sqlite3"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _FILE_OVERRIDE.get() or os.environ.get(SETTINGS_FILE_ENV)
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_settings_file(path)))
        return tuple(sources)


def _settings_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"settings file {p} does not exist (named by {SETTINGS_FILE_ENV} or --settings)")
    if p.suffix.lower() != ".toml":
        raise ValueError(f"settings file must be TOML (.toml), got {p.name!r}")
    return p


def load_settings(settings_file: str | os.PathLike[str] | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from the environment, ``settings_file`` (TOML) and ``overrides`` (highest precedence).

    ``None`` overrides are dropped, so unset CLI flags keep the environment's or the file's value.
    """
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    if settings_file is None:
        return ServiceSettings(**kwargs)
    token = _FILE_OVERRIDE.set(str(_settings_file(settings_file)))
    try:
        return ServiceSettings(**kwargs)
    finally:
        _FILE_OVERRIDE.reset(token)
