"""Tiny data folders and checkpoints for the evaluation tests (no shared data needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from biosig.datasets.catalog import bundled_myo_session

#: Participants of the tiny Myo folder; each gets sessions 1 and 2 (links to the bundled session's files).
TINY_PARTICIPANTS = ("11111", "22222", "33333", "44444")
TINY_GESTURES = (0, 1, 2, 3)


def make_tiny_myo(
    root: Path,
    participants: Sequence[str] = TINY_PARTICIPANTS,
    sessions: Sequence[int] = (1, 2),
    gestures: Sequence[int] = TINY_GESTURES,
) -> Path:
    """``root/myo-readings-dataset/_readings_right_hand/<p>-<s>/<k>.txt.gz`` symlinked to the bundled session."""
    src = bundled_myo_session()
    for p in participants:
        for s in sessions:
            folder = root / "myo-readings-dataset" / "_readings_right_hand" / f"{p}-{s}"
            folder.mkdir(parents=True)
            for k in gestures:
                (folder / f"{k}.txt.gz").symlink_to(src / f"{k}.txt.gz")
    return root


def make_tiny_checkpoint(
    path: Path,
    *,
    sfreq: float = 200.0,
    groups: Mapping[str, Sequence[str]] | None = None,
    input_scaling: Mapping[str, Any] | None = None,
    arch: str = "biofame_tiny",
) -> Path:
    """A tiny checkpoint (seeded random ``arch`` weights) recording ``groups`` and ``input_scaling`` like training does."""
    import torch

    from biosig.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model(arch, sfreq=sfreq)
    data: dict[str, Any] = {"datasets": ["myo"]}
    if groups is not None:
        data["groups"] = {k: list(v) for k, v in groups.items()}
    extra = {"input_scaling": dict(input_scaling)} if input_scaling is not None else {}
    return save_checkpoint(
        path,
        model,
        arch=arch,
        config=model.config,
        signal_spec={"sfreq": sfreq, "n_times": int(sfreq), "ch_types": ["emg"] * 8},
        training={"data": data, "command": "test", "seed": 0, "metrics": None},
        extra=extra,
    )
