"""Configuration of ``biosig train cpep``: TOML sections and ``--set section.field=value`` overrides.

A CPEP run has three stages, each with its own optimiser settings, and two encoders::

    [emg]        name = "cpep_emg_transformer" | "cpep_emg_biofame"; other keys override its config fields
    [pose]       name = "cpep_pose"; other keys override its config fields
    [cpep]       the aligned model: projection head, pose head, temperature, encoder learning-rate scale
    [data]       what to train on (CPEPDataConfig: corpus, Myo, windows, augmentation)
    [pose_mae]   stage 1a: masked-autoencoder pretraining of the pose encoder (AdamW, as [optim] of biofame)
    [emg_mae]    stage 1b: masked-autoencoder pretraining of the EMG encoder
    [align]      stage 2: symmetric InfoNCE, pose encoder frozen
    [run]        seed, output folder, checkpoints, logging, threads, progress

``pose_mae.init`` / ``emg_mae.init`` name a checkpoint of that stage to start from instead of training it (e.g.
the pose encoder of another run). The data fixes some encoder fields (channel count, rates, window length);
giving a conflicting value is an error. Unknown sections or fields raise :class:`ConfigError` listing the valid
ones, exactly as for ``biosig train biofame`` (see :mod:`biosig.training.config`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from biosig.training.config import (
    ConfigError,
    OptimConfig,
    RunConfig,
    _coerce,
    _model_field_types,
    _section,
    plain_values,
    read_config_file,
    set_field,
)
from biosig.training.cpep_data import CPEPDataConfig

__all__ = [
    "AlignConfig",
    "CPEPTrainConfig",
    "EncoderChoice",
    "MAEStageConfig",
    "apply_cpep_set",
    "cpep_config_from_dict",
    "cpep_config_to_dict",
    "load_cpep_config",
]

EMG_ENCODERS = ("cpep_emg_transformer", "cpep_emg_biofame")
POSE_ENCODERS = ("cpep_pose",)


@dataclass(frozen=True)
class EncoderChoice:
    """A registered encoder ``name`` and ``overrides`` of its config fields."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MAEStageConfig(OptimConfig):
    """A masked-autoencoder stage: :class:`OptimConfig` plus ``init``, a checkpoint to use instead of training."""

    init: str = ""


@dataclass(frozen=True)
class AlignConfig(OptimConfig):
    """The contrastive stage: :class:`OptimConfig` (batch 256 and 100 epochs in the paper)."""

    batch_size: int = 256
    lr: float = 3e-4


@dataclass(frozen=True)
class CPEPHeadConfig:
    """``head_hidden`` (EMG projection head's hidden width, 0 = one Linear), ``pose_head`` (a trainable Linear
    on the frozen pose encoder), ``temperature_init`` (0.02), ``min_temperature``, and ``emg_lr_scale``: the EMG
    encoder's learning rate in the contrastive stage is ``align.lr * emg_lr_scale`` (head and temperature use
    ``align.lr``); 0 freezes the encoder (the paper's ablation in which the aligned model collapses)."""

    head_hidden: int = 128
    pose_head: bool = False
    temperature_init: float = 0.02
    min_temperature: float = 0.01
    emg_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.head_hidden < 0:
            raise ConfigError(f"cpep.head_hidden must be >= 0, got {self.head_hidden!r}")
        if not 0 < self.min_temperature <= self.temperature_init < 1:
            raise ConfigError(
                f"cpep needs 0 < min_temperature <= temperature_init < 1, got {self.min_temperature} and "
                f"{self.temperature_init}"
            )
        if self.emg_lr_scale < 0:
            raise ConfigError(f"cpep.emg_lr_scale must be >= 0, got {self.emg_lr_scale!r}")


@dataclass(frozen=True)
class CPEPTrainConfig:
    """The whole ``biosig train cpep`` configuration."""

    emg: EncoderChoice = field(default_factory=lambda: EncoderChoice("cpep_emg_transformer"))
    pose: EncoderChoice = field(default_factory=lambda: EncoderChoice("cpep_pose"))
    cpep: CPEPHeadConfig = field(default_factory=CPEPHeadConfig)
    data: CPEPDataConfig = field(default_factory=CPEPDataConfig)
    pose_mae: MAEStageConfig = field(default_factory=lambda: MAEStageConfig(epochs=3))
    emg_mae: MAEStageConfig = field(default_factory=lambda: MAEStageConfig(epochs=5))
    align: AlignConfig = field(default_factory=lambda: AlignConfig(epochs=10))
    run: RunConfig = field(default_factory=lambda: RunConfig(out_dir="runs/cpep"))


_SECTIONS: dict[str, type] = {
    "cpep": CPEPHeadConfig,
    "data": CPEPDataConfig,
    "pose_mae": MAEStageConfig,
    "emg_mae": MAEStageConfig,
    "align": AlignConfig,
    "run": RunConfig,
}
_ENCODER_SECTIONS = {"emg": EMG_ENCODERS, "pose": POSE_ENCODERS}
ALL_SECTIONS = (*_ENCODER_SECTIONS, *_SECTIONS)


def _encoder_section(section: str, values: Mapping[str, Any], default: EncoderChoice) -> EncoderChoice:
    values = dict(values)
    if isinstance(values.get("overrides"), Mapping):  # the JSON form written by cpep_config_to_dict
        values = {"name": values.get("name", default.name), **values["overrides"]}
    name = values.pop("name", default.name)
    allowed = _ENCODER_SECTIONS[section]
    if name not in allowed:
        raise ConfigError(f"{section}.name must be one of {list(allowed)}, got {name!r}")
    types_ = _model_field_types(name)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {unknown} in [{section}] for {name!r}; valid fields: name, {', '.join(types_)}"
        )
    return EncoderChoice(name, {k: _coerce(v, types_[k], f"{section}.{k}") for k, v in values.items()})


def _stage_defaults(name: str) -> dict[str, Any]:
    default = getattr(CPEPTrainConfig(), name)
    return {f.name: getattr(default, f.name) for f in dataclasses.fields(default)}


def cpep_config_from_dict(raw: Mapping[str, Any]) -> CPEPTrainConfig:
    """Build and validate a :class:`CPEPTrainConfig` from nested plain values (a parsed TOML file)."""
    unknown = sorted(set(raw) - set(ALL_SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; valid sections: {', '.join(ALL_SECTIONS)}")
    for name, values in raw.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{name}] must be a table of fields, got {values!r}")
    defaults = CPEPTrainConfig()
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        # A stage's own defaults (e.g. align.batch_size 256) under the values the file gives.
        values = {**_stage_defaults(name), **dict(raw.get(name, {}))} if name != "data" else dict(raw.get(name, {}))
        sections[name] = _section(cls, values, name)
    return CPEPTrainConfig(
        emg=_encoder_section("emg", raw.get("emg", {}), defaults.emg),
        pose=_encoder_section("pose", raw.get("pose", {}), defaults.pose),
        **sections,
    )


def apply_cpep_set(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``section.field=value`` to the nested dict ``raw`` (returns a changed copy)."""
    return set_field(raw, assignment, ALL_SECTIONS, example="align.lr=3e-4")


def load_cpep_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()) -> CPEPTrainConfig:
    """Read the TOML file at ``path`` (a path or a bundled config's name; None: defaults), apply ``overrides``."""
    raw = read_config_file(path)
    for assignment in overrides:
        raw = apply_cpep_set(raw, assignment)
    return cpep_config_from_dict(raw)


def cpep_config_to_dict(config: CPEPTrainConfig) -> dict[str, Any]:
    """Nested plain values (tuples as lists) that :func:`cpep_config_from_dict` turns back into ``config``."""
    return plain_values(config)
