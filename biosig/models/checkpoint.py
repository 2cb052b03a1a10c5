"""Self-describing checkpoints: architecture, config, weights, signal spec, training record and code version.

A checkpoint is one ``torch.save`` file holding only plain containers (dict, list, tuple, str, int, float, bool,
None) and tensors, so :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` and never unpickles
code. Its top level is::

    {"format": "biosig-checkpoint", "format_version": 1,
     "arch": "biofame_small", "config": {...}, "state_dict": {name: tensor},
     "signal_spec": {"sfreq", "n_times", "ch_types", "units", "ch_names"},
     "training": {"data", "command", "seed", "metrics", ...},
     "code_version": {"biosig", "git_commit", "git_dirty"}, "extra": {...}}

The model is rebuilt through the registry (``create_model(arch, **config)``), so the file never names a class.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biosig.errors import ReaderError
from biosig.models.registry import UnknownModelError, create_model, get_model_builder, list_models
from biosig.signals.info import CHANNEL_TYPES, DEFAULT_UNITS, SignalInfo

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CheckpointError",
    "SignalSpec",
    "current_code_version",
    "load_checkpoint",
    "save_checkpoint",
]

log = logging.getLogger(__name__)

FORMAT_NAME = "biosig-checkpoint"
#: Bump when the layout changes; :func:`load_checkpoint` refuses files from a newer format.
FORMAT_VERSION = 1
TRAINING_KEYS = ("data", "command", "seed", "metrics")
_REQUIRED_KEYS = ("arch", "config", "state_dict", "signal_spec", "training", "code_version")


class CheckpointError(ReaderError):
    """A checkpoint file that is missing, unreadable, from a newer format, or describes a model we cannot build."""


@dataclass(frozen=True)
class SignalSpec:
    """The signal a model expects: ``sfreq`` (Hz), ``n_times`` samples per window, one type/unit per channel.

    ``ch_types`` (and ``ch_names`` when given) describe the channels the model was trained on; encoders that take
    any channel count still record them, so users know what the weights have seen.
    """

    sfreq: float
    n_times: int
    ch_types: tuple[str, ...]
    units: tuple[str, ...] = field(default=())
    ch_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.sfreq, bool) or not isinstance(self.sfreq, (int, float)) or not math.isfinite(self.sfreq):
            raise ValueError(f"sfreq must be a positive finite number of Hz, got {self.sfreq!r}")
        if self.sfreq <= 0:
            raise ValueError(f"sfreq must be a positive finite number of Hz, got {self.sfreq!r}")
        object.__setattr__(self, "sfreq", float(self.sfreq))
        if isinstance(self.n_times, bool) or not isinstance(self.n_times, int) or self.n_times < 1:
            raise ValueError(f"n_times must be a positive int (samples per window), got {self.n_times!r}")
        for name in ("ch_types", "units", "ch_names"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise ValueError(f"{name} must be a sequence of strings, got {value!r}")
            object.__setattr__(self, name, tuple(str(v) for v in value))
        if not self.ch_types:
            raise ValueError("ch_types must name at least one channel type")
        unknown = sorted(set(self.ch_types) - CHANNEL_TYPES)
        if unknown:
            raise ValueError(f"unknown channel type(s) {unknown}; allowed: {', '.join(sorted(CHANNEL_TYPES))}")
        if not self.units:
            object.__setattr__(self, "units", tuple(DEFAULT_UNITS[t] for t in self.ch_types))
        for name in ("units", "ch_names"):
            value = getattr(self, name)
            if value and len(value) != len(self.ch_types):
                raise ValueError(f"{name} has {len(value)} entries but ch_types has {len(self.ch_types)}")

    @property
    def window_s(self) -> float:
        """Window length in seconds."""
        return self.n_times / self.sfreq

    @classmethod
    def from_info(cls, info: SignalInfo, n_times: int) -> SignalSpec:
        """The spec of ``n_times``-sample windows of the channels described by ``info``."""
        return cls(info.sfreq, n_times, info.ch_types, info.units, info.ch_names)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def current_code_version() -> dict[str, Any]:
    """``{"biosig": __version__, "git_commit": sha or None, "git_dirty": bool or None}`` of the running code."""
    import biosig  # late: biosig/__init__ must not depend on the models package

    root = Path(biosig.__file__).resolve().parent
    commit: str | None = None
    dirty: bool | None = None
    try:
        commit = _git(root, "rev-parse", "HEAD")
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError) as exc:
        # An installed wheel has no git checkout; the version string alone still identifies the code.
        log.debug("no git commit for %s: %s", root, exc)
    return {"biosig": biosig.__version__, "git_commit": commit, "git_dirty": dirty}


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True)
    return out.stdout.strip()


def _plain(value: Any, where: str) -> Any:
    """``value`` as weights_only-loadable content; numpy scalars/arrays and paths are converted, the rest refused."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}; checkpoint dictionaries need string keys")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    raise TypeError(
        f"{where} holds a {type(value).__name__}; checkpoints store only None, bool, int, float, str, lists, "
        "tuples, dicts with string keys, tensors and numpy arrays"
    )


def _config_dict(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"config must be a config dataclass or a mapping, got {type(config).__name__}")


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    arch: str,
    config: Any,
    signal_spec: SignalSpec | Mapping[str, Any],
    training: Mapping[str, Any],
    code_version: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` and its description to ``path`` (atomically: a partial file never replaces a good one).

    Parameters
    ----------
    arch
        Registered model name; ``create_model(arch, **config)`` must rebuild a model with ``model``'s weights
        (checked before writing, so every saved checkpoint loads).
    config
        The model's config dataclass (or its fields as a mapping). Must equal ``model.config`` when it has one.
    signal_spec
        What the model expects as input. Its ``sfreq`` must equal the config's ``sfreq`` field, if any.
    training
        At least ``data``, ``command``, ``seed`` and ``metrics`` (values may be None); other keys are kept.
    code_version
        Defaults to :func:`current_code_version` of the running code.
    """
    get_model_builder(arch)  # UnknownModelError lists the available names
    cfg = _config_dict(config)
    model_cfg = getattr(model, "config", None)
    if dataclasses.is_dataclass(model_cfg) and _config_dict(model_cfg) != cfg:
        raise ValueError(f"config does not match model.config; got {cfg}, the model has {_config_dict(model_cfg)}")
    spec = signal_spec if isinstance(signal_spec, SignalSpec) else SignalSpec(**dict(signal_spec))
    if "sfreq" in cfg and float(cfg["sfreq"]) != spec.sfreq:
        raise ValueError(
            f"signal_spec.sfreq={spec.sfreq} Hz differs from the model config's sfreq={cfg['sfreq']} Hz; "
            "build the model with the sampling rate it is trained at"
        )
    if not isinstance(training, Mapping):
        raise TypeError(
            f"training must be a mapping with keys {', '.join(TRAINING_KEYS)}, got {type(training).__name__}"
        )
    missing = [k for k in TRAINING_KEYS if k not in training]
    if missing:
        raise ValueError(f"training is missing key(s) {', '.join(missing)}; a checkpoint records {TRAINING_KEYS}")

    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    rebuilt = create_model(arch, **cfg).state_dict()
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if shapes != {k: tuple(v.shape) for k, v in rebuilt.items()}:
        diff = sorted(set(shapes).symmetric_difference(rebuilt)) or [
            k for k in shapes if shapes[k] != tuple(rebuilt[k].shape)
        ]
        raise ValueError(
            f"create_model({arch!r}, **config) builds different weights than model; first differences: {diff[:5]}"
        )

    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "config": _plain(cfg, "config"),
        "state_dict": state,
        "signal_spec": _plain(spec.to_dict(), "signal_spec"),
        "training": _plain(dict(training), "training"),
        "code_version": _plain(
            dict(code_version) if code_version is not None else current_code_version(), "code_version"
        ),
        "extra": _plain(dict(extra or {}), "extra"),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("saved %s checkpoint to %s", arch, out)
    return out


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved at ``path`` through the registry, load its weights and put it in eval mode.

    Returns the model and the metadata: ``arch``, ``config`` (dict), ``signal_spec`` (:class:`SignalSpec`),
    ``training``, ``code_version``, ``extra``, ``format_version``.

    Raises
    ------
    CheckpointError
        The file is missing or unreadable, is not a biosig checkpoint, comes from a newer format, names an
        unknown architecture, or its config/weights do not fit the registered model.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(p, "no such checkpoint file")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises pickle/zip/runtime errors of many types for a bad file
        got = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise CheckpointError(p, "cannot be read as a checkpoint", "a file written by save_checkpoint", got) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        got = repr(payload.get("format")) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(p, "not a biosig checkpoint", f"format {FORMAT_NAME!r}", got)
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            p,
            "unsupported checkpoint format version (written by a newer biosig?)",
            f"1..{FORMAT_VERSION}",
            repr(version),
        )
    missing = [k for k in _REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(p, f"checkpoint lacks {', '.join(missing)}")

    arch = payload["arch"]
    try:
        model = create_model(arch, **payload["config"])
    except UnknownModelError as exc:
        raise CheckpointError(p, f"unknown architecture {arch!r}", f"one of {', '.join(list_models())}") from exc
    except (TypeError, ValueError) as exc:
        raise CheckpointError(p, f"its config does not fit this version of {arch!r}", got=str(exc)) from exc
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(p, f"its weights do not fit {arch!r}", got=str(exc)[:300]) from exc
    model.eval()
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "format")}
    meta["signal_spec"] = SignalSpec(**payload["signal_spec"])
    meta.setdefault("extra", {})
    log.info("loaded %s checkpoint from %s", arch, p)
    return model, meta
