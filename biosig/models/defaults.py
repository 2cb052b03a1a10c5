"""Checkpoints shipped inside the package, so the service and the demo work on a machine with no data.

Each is described in ``biosig/assets/models/MODELS.md`` with the command that reproduces it.
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"

#: Kind of signal -> bundled checkpoint file.
DEFAULT_CHECKPOINTS: dict[str, str] = {
    # biofame_emg pretrained on the Myo sEMG of the 14 pretraining participants (1 s windows, 8 ch, 200 Hz).
    "emg": "biofame_emg_myo.pt",
}


def default_checkpoint(kind: str = "emg") -> Path:
    """Path of the bundled checkpoint for ``kind``; the error lists the kinds there are."""
    if kind not in DEFAULT_CHECKPOINTS:
        raise ValueError(f"no default checkpoint for {kind!r}; available: {', '.join(sorted(DEFAULT_CHECKPOINTS))}")
    path = MODELS_DIR / DEFAULT_CHECKPOINTS[kind]
    if not path.is_file():
        raise FileNotFoundError(f"bundled checkpoint {path} is missing; reinstall biosig or see MODELS.md beside it")
    return path
