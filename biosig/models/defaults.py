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
    # CPEP (aligned EMG encoder + frozen pose encoder) on Myo pseudo-pairs of the 14 pretraining participants: the
    # 8 Myo classes (biosig.zeroshot.MYO_GESTURES), 8 ch at 200 Hz, 1 s windows; for the live Myo demo.
    "cpep_myo": "cpep_myo.pt",
    # CPEP on the synthetic emg2pose corpus: 16 ch (the 2 kHz band resampled to 500 Hz), 1 s windows; for the
    # synthetic device stream.
    "cpep_emg2pose": "cpep_emg2pose.pt",
}


def default_checkpoint(kind: str = "emg") -> Path:
    """Path of the bundled checkpoint for ``kind``; the error lists the kinds there are."""
    if kind not in DEFAULT_CHECKPOINTS:
        raise ValueError(f"no default checkpoint for {kind!r}; available: {', '.join(sorted(DEFAULT_CHECKPOINTS))}")
    path = MODELS_DIR / DEFAULT_CHECKPOINTS[kind]
    if not path.is_file():
        raise FileNotFoundError(f"bundled checkpoint {path} is missing; reinstall biosig or see MODELS.md beside it")
    return path
