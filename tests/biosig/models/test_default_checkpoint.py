"""The checkpoint shipped for the service: it loads, describes itself, and embeds real sEMG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biosig.datasets.catalog import bundled_myo_session
from biosig.evaluation.protocols import myo_pretraining_participants
from biosig.io import read
from biosig.models.checkpoint import load_checkpoint
from biosig.models.defaults import default_checkpoint
from biosig.training.scaling import InputScaling

HELD_OUT = ["12378", "14478", "19999", "45612", "45678", "46666", "51425", "56912", "64917", "65842", "77777"]
HELD_OUT += ["78549", "95462", "99998"]


def test_default_emg_checkpoint_describes_itself() -> None:
    model, meta = load_checkpoint(default_checkpoint("emg"))
    assert meta["arch"] == "biofame_emg"
    spec = meta["signal_spec"]
    assert (spec.sfreq, spec.n_times, spec.ch_types) == (200.0, 200, ("emg",) * 8)
    assert "biosig train biofame --config biofame_myo" in meta["training"]["command"]
    # Pretrained only on participants the evaluation split allows: no held-out participant was seen.
    seen = meta["training"]["data"]["groups"]["myo"]
    assert tuple(sorted(seen)) == myo_pretraining_participants(sorted(set(seen) | set(HELD_OUT)))
    assert sum(p.numel() for p in model.encoder_parameters()) < 200_000


def test_default_emg_checkpoint_embeds_the_bundled_session() -> None:
    model, meta = load_checkpoint(default_checkpoint("emg"))
    (rec,) = read(bundled_myo_session() / "7.txt.gz")
    scaling = InputScaling.from_checkpoint(meta)
    windows = np.stack([rec.data[:, s : s + 200] for s in range(0, 2000, 200)])  # (10, 8, 200)
    x = torch.from_numpy(scaling.apply(windows, rec.info.ch_types, rec.info.units).astype(np.float32))
    with torch.no_grad():
        z = model.eval()(x)
    assert z.shape == (10, 64) and torch.isfinite(z).all()
    assert z.std(dim=0).mean() > 1e-3  # different windows, different embeddings


def test_unknown_default_kind() -> None:
    with pytest.raises(ValueError, match="no default checkpoint for 'eeg'; available: cpep_emg2pose, cpep_myo, emg"):
        default_checkpoint("eeg")
