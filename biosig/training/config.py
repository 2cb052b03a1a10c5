"""Training configuration: frozen dataclasses read from TOML, changed by ``--set section.field=value`` overrides.

A config file has four sections; every field has a default, so a file only names what it changes::

    [model]                 # name = a registered model; every other key overrides a field of its config
    name = "biofame_small"
    dropout = 0.1

    [data]                  # what to pretrain on (see DataConfig)
    datasets = ["myo"]
    sfreq = 200.0

    [optim]                 # AdamW and the schedule (see OptimConfig)
    lr = 1e-3

    [run]                   # seed, output, checkpoints, logging (see RunConfig)
    seed = 0

An unknown section or field raises :class:`ConfigError` naming the valid ones, because a misspelt key that was
silently ignored would train a different model than the one the user asked for. ``--set`` values are parsed as
TOML values when they can be (``1e-3``, ``true``, ``["a", "b"]``) and are then coerced to the field's declared
type (``--set data.include=12345`` gives ``("12345",)``). Model overrides are checked against the model's own
config dataclass, so ``--set model.d_modle=32`` fails before any data is read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biosig.errors import BiosigError

__all__ = [
    "CONFIG_DIR",
    "SCHEDULES",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "apply_set",
    "bundled_config",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "resolve_config_path",
    "save_config_json",
]

#: Configs shipped with the package (``biosig train biofame --config tiny`` finds them by name).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "assets" / "configs"
SCHEDULES = ("constant", "cosine")
SCALINGS = ("robust", "none")


class ConfigError(BiosigError, ValueError):
    """A config file or override that cannot be read, names an unknown key, or holds a value of the wrong type."""


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """``name`` of a registered model and ``overrides`` of its config fields (checked by :func:`load_config`)."""

    name: str = "biofame_small"
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    """What to pretrain on and how windows are cut.

    ``datasets``: catalog names (``myo``, ``eegmat``, ``physionet-wfdb``, ``neurokit``, ``scipy-ecg``) plus
    ``myo-bundled`` (the real Myo session shipped in the package) and ``synthetic-physio`` (NeuroKit2 simulators).
    ``data_dir``: data directory (None: ``$BIOSIG_DATA`` then ``../shared/data``; the CLI's ``--data-dir`` wins).
    Every recording is resampled to ``sfreq`` (Hz) and cut into ``window_s``-second windows every ``hop_s`` s.
    ``ch_types``: channel types kept (empty: every type but ``stim`` and ``misc``).
    ``include`` / ``exclude``: group ids (Myo participant, eegmat subject, WFDB record, NeuroKit file stem),
    optionally prefixed ``dataset:``; empty ``include`` keeps all. Unknown ids raise, so a typo cannot leak an
    evaluation participant into pretraining.
    ``scaling``: ``robust`` divides each (channel type, unit) by a robust scale estimated on the training data
    (stored in the checkpoint), ``none`` keeps input units. ``modality_dropout``: probability that a whole channel
    type is removed from a batch. ``max_windows``: a seeded random subset of this many windows (0 = all), for smoke
    runs. ``synthetic_per_class`` / ``synthetic_duration_s``: size of ``synthetic-physio``.
    ``num_workers``: DataLoader worker processes.
    """

    datasets: tuple[str, ...] = ("myo",)
    data_dir: str | None = None
    sfreq: float = 200.0
    window_s: float = 1.0
    hop_s: float = 0.25
    ch_types: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    scaling: str = "robust"
    modality_dropout: float = 0.0
    max_windows: int = 0
    synthetic_per_class: int = 4
    synthetic_duration_s: float = 30.0
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ConfigError("data.datasets must name at least one dataset")
        for name in ("sfreq", "window_s", "hop_s", "synthetic_duration_s"):
            _positive(f"data.{name}", getattr(self, name))
        if self.scaling not in SCALINGS:
            raise ConfigError(f"data.scaling must be one of {list(SCALINGS)}, got {self.scaling!r}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigError(f"data.modality_dropout must be in [0, 1), got {self.modality_dropout!r}")
        for name in ("max_windows", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"data.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.synthetic_per_class < 1:
            raise ConfigError(f"data.synthetic_per_class must be >= 1, got {self.synthetic_per_class!r}")
        both = sorted(set(self.include) & set(self.exclude))
        if both:
            raise ConfigError(f"data.include and data.exclude both name {both}")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW (``lr``, ``weight_decay``, ``betas``) as released; ``batch_size`` per process.

    Training runs ``epochs`` passes over the data, or exactly ``max_steps`` optimiser steps when that is > 0.
    ``schedule``: ``constant`` (released) or ``cosine`` decay to ``min_lr``, after ``warmup_steps`` of linear
    warm-up. ``grad_clip``: max gradient L2 norm (0 = off).
    """

    lr: float = 1e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 128
    epochs: int = 10
    max_steps: int = 0
    schedule: str = "constant"
    warmup_steps: int = 0
    min_lr: float = 0.0
    grad_clip: float = 0.0

    def __post_init__(self) -> None:
        _positive("optim.lr", self.lr)
        for name in ("weight_decay", "min_lr", "grad_clip"):
            _positive(f"optim.{name}", getattr(self, name), allow_zero=True)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"optim.betas must be two numbers in [0, 1), got {self.betas!r}")
        if self.batch_size < 1:
            raise ConfigError(f"optim.batch_size must be >= 1, got {self.batch_size!r}")
        if self.epochs < 1 and self.max_steps < 1:
            raise ConfigError(f"optim.epochs must be >= 1 (or optim.max_steps > 0), got {self.epochs!r}")
        for name in ("max_steps", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"optim.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")


@dataclass(frozen=True)
class RunConfig:
    """``seed`` for everything; ``out_dir`` (the CLI's ``--out`` wins); a resumable checkpoint every
    ``checkpoint_every`` steps (0 = only at the end or on Ctrl-C); a metrics line every ``log_every`` steps;
    ``threads`` torch intra-op threads per process (0 = torch's default); ``progress`` shows tqdm on rank 0."""

    seed: int = 0
    out_dir: str = "runs/biofame"
    checkpoint_every: int = 500
    log_every: int = 10
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("seed", "checkpoint_every", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"run.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.log_every < 1:
            raise ConfigError(f"run.log_every must be >= 1, got {self.log_every!r}")
        if not self.out_dir:
            raise ConfigError("run.out_dir must be a folder path, got an empty string")


@dataclass(frozen=True)
class TrainConfig:
    """The whole training configuration."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


_SECTIONS: dict[str, type] = {"data": DataConfig, "optim": OptimConfig, "run": RunConfig}


# -- coercion -------------------------------------------------------------------------------------------------


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` converted to ``annotation`` (int, float, bool, str, None unions, tuple[...]); else ConfigError."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where} cannot be None")
    if origin is tuple:
        args = typing.get_args(annotation)
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(args):
            raise ConfigError(f"{where} must hold {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(items, args)))
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)  # ids such as a participant 12345 arrive as TOML integers
        raise ConfigError(f"{where} must be a string, got {value!r}")
    raise ConfigError(f"{where}: unsupported field type {annotation!r}")  # pragma: no cover (internal)


def _section(cls: type, values: Mapping[str, Any], section: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown} in [{section}]; valid fields: {', '.join(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def _model_field_types(name: str) -> dict[str, Any]:
    """Field name -> annotation of model ``name``'s config dataclass (built once with its defaults)."""
    from biosig.models import create_model  # late: keeps `biosig --help` free of torch

    config = getattr(create_model(name), "config", None)
    if not dataclasses.is_dataclass(config):
        return {}
    hints = typing.get_type_hints(type(config))
    return {f.name: hints[f.name] for f in dataclasses.fields(config) if f.init}


def _model_section(values: Mapping[str, Any]) -> ModelConfig:
    values = dict(values)
    name = values.pop("name", ModelConfig.name)
    if not isinstance(name, str):
        raise ConfigError(f"model.name must be a string, got {name!r}")
    from biosig.models import UnknownModelError

    try:
        types_ = _model_field_types(name)
    except UnknownModelError as exc:
        raise ConfigError(f"model.name: {exc}") from exc
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ConfigError(
            f"unknown field(s) {unknown} in [model] for {name!r}; valid fields: name, {', '.join(types_)}"
        )
    overrides = {k: _coerce(v, types_[k], f"model.{k}") for k, v in values.items()}
    return ModelConfig(name=name, overrides=overrides)


def config_from_dict(raw: Mapping[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from nested plain values (a parsed TOML file)."""
    unknown = sorted(set(raw) - {"model", *_SECTIONS})
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; valid sections: model, {', '.join(_SECTIONS)}")
    for name, values in raw.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{name}] must be a table of fields, got {values!r}")
    model_raw = dict(raw.get("model", {}))
    if isinstance(model_raw.get("overrides"), Mapping):  # the JSON form written by config_to_dict
        model_raw = {"name": model_raw.get("name", ModelConfig.name), **model_raw["overrides"]}
    sections = {k: _section(cls, raw.get(k, {}), k) for k, cls in _SECTIONS.items()}
    return TrainConfig(model=_model_section(model_raw), **sections)


def _parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML value when it parses as one (numbers, booleans, arrays, quoted strings), else text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_set(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``section.field=value`` to the nested dict ``raw`` (returns a changed copy)."""
    return set_field(raw, assignment, ("model", *_SECTIONS), example="optim.lr=3e-4")


def set_field(raw: dict[str, Any], assignment: str, sections: Sequence[str], example: str) -> dict[str, Any]:
    """``section.field=value`` applied to a copy of ``raw``; ``section`` must be one of ``sections``.

    Shared by every training config (``biosig train biofame|nots|cpep --set``); ``example`` goes in the error.
    """
    key, sep, text = assignment.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set expects section.field=value (e.g. {example}), got {assignment!r}")
    section, name = parts
    if section not in sections:
        raise ConfigError(f"--set {assignment!r}: unknown section {section!r}; valid sections: {', '.join(sections)}")
    out = {k: dict(v) for k, v in raw.items()}
    out.setdefault(section, {})[name] = _parse_value(text.strip())
    return out


def bundled_config(name: str) -> Path:
    """Path of the shipped config ``name`` (``"tiny"`` or ``"tiny.toml"``); the error lists the shipped ones."""
    path = CONFIG_DIR / (name if name.endswith(".toml") else f"{name}.toml")
    if not path.is_file():
        shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
        raise ConfigError(f"no bundled config {name!r}; shipped configs: {', '.join(shipped)}")
    return path


def resolve_config_path(text: str | os.PathLike[str]) -> Path:
    """A config path as given, else the bundled config of that name (``--config biofame_myo``)."""
    path = Path(text)
    if path.is_file():
        return path
    if path.suffix in ("", ".toml") and path.parent == Path("."):
        try:
            return bundled_config(path.name)
        except ConfigError:
            pass
    shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    raise ConfigError(f"config file {path} does not exist (bundled configs by name: {', '.join(shipped)})")


def load_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read the TOML file at ``path`` (None: all defaults), apply ``--set`` ``overrides`` in order, validate."""
    raw = read_config_file(path)
    for assignment in overrides:
        raw = apply_set(raw, assignment)
    return config_from_dict(raw)


def read_config_file(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The parsed TOML at ``path`` (a path or a bundled config's name); ``{}`` for None (all defaults)."""
    if path is None:
        return {}
    p = resolve_config_path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from exc


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Nested plain values (tuples as lists) that :func:`config_from_dict` turns back into ``config``."""
    return plain_values(config)


def plain_values(value: Any) -> Any:
    """Dataclasses, mappings and sequences as nested dicts and lists of plain values (JSON-ready)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_values(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
    return value


def save_config_json(config: TrainConfig, path: str | os.PathLike[str], **extra: Any) -> Path:
    """Write the resolved config (plus ``extra`` top-level entries, e.g. the resolved model) as JSON."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**config_to_dict(config), **extra}, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return out
