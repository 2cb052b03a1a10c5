"""Random-init checkpoints (and their ONNX exports) for the export, runtime and stream tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from biosig.models import SignalSpec, create_model, save_checkpoint

TRAINING = {"data": "random init (tests)", "command": None, "seed": 0, "metrics": None}


def make_checkpoint(
    path: Path,
    arch: str = "biofame_tiny",
    *,
    n_channels: int = 8,
    n_times: int = 200,
    sfreq: float = 200.0,
    extra: Mapping[str, Any] | None = None,
    seed: int = 0,
    **overrides: Any,
) -> Path:
    """Save a freshly initialised ``arch`` for ``n_channels`` EMG channels, ``n_times`` samples at ``sfreq``."""
    torch.manual_seed(seed)
    model = create_model(arch, sfreq=sfreq, **overrides)
    spec = SignalSpec(sfreq, n_times, ("emg",) * n_channels)
    return save_checkpoint(
        path, model, arch=arch, config=model.config, signal_spec=spec, training=TRAINING, extra=extra
    )
