"""Input scaling for pretraining and inference: one robust scale per (channel type, unit), stored in checkpoints.

Why the pipeline scales at all: bioFAME's reconstruction target is in input units, so volts (EEG ~1e-5 V) give
losses of ~1e-10 that AdamW cannot learn from, and RevIN's ``eps`` (1e-5, added to the *variance*) swamps a
variance of ~1e-10, so the encoder would see a flattened signal. Dividing each channel by a scale of order its
typical amplitude fixes both. The scale depends on the channel type *and* unit, because sources disagree on
units (NeuroKit ECG in a.u., WFDB ECG in volts).

The scale is the normal-consistent median absolute deviation ``1.4826 * median|x - median_rc(x)|`` pooled over
all training recordings of a (type, unit), where ``median_rc`` is each recording-channel's own median. A model
trained with a scaling must be fed ``x / scale`` at inference: :meth:`InputScaling.apply` does that from the
checkpoint's ``extra["input_scaling"]`` (see :meth:`InputScaling.from_checkpoint`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from biosig.signals.recording import Recording

__all__ = ["MAD_TO_STD", "InputScaling"]

log = logging.getLogger(__name__)

#: 1 / Phi^-1(3/4): makes the median absolute deviation of Gaussian data equal its standard deviation.
MAD_TO_STD = 1.4826
#: At most this many samples per (type, unit) enter the median, taken at a regular stride: the estimate is then
#: exact to well under 1% and takes well under a second on the full Myo dataset.
MAX_SAMPLES = 2_000_000


@dataclass(frozen=True)
class InputScaling:
    """Divide each channel by ``scales[ch_type][unit]``; ``method`` ``"robust"`` or ``"none"`` (no scaling)."""

    method: str = "none"
    scales: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("robust", "none"):
            raise ValueError(f"method must be 'robust' or 'none', got {self.method!r}")
        for kind, per_unit in self.scales.items():
            for unit, value in per_unit.items():
                if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                    raise ValueError(f"scale of {kind!r} in {unit!r} must be a positive finite number, got {value!r}")

    # -- estimation ------------------------------------------------------------------------------------------

    @classmethod
    def estimate(cls, recordings: Sequence[Recording], max_samples: int = MAX_SAMPLES) -> InputScaling:
        """Robust scale per (type, unit) of already-centred ``recordings`` (see the module docstring)."""
        pooled: dict[tuple[str, str], list[np.ndarray]] = {}
        totals: dict[tuple[str, str], int] = {}
        for rec in recordings:
            for kind, unit in zip(rec.info.ch_types, rec.info.units):
                totals[(kind, unit)] = totals.get((kind, unit), 0) + rec.n_times
        for rec in recordings:
            for row, (kind, unit) in enumerate(zip(rec.info.ch_types, rec.info.units)):
                stride = max(1, math.ceil(totals[(kind, unit)] / max_samples))
                values = rec.data[row, ::stride]
                if rec.valid is not None:
                    values = values[rec.valid[::stride]]
                pooled.setdefault((kind, unit), []).append(values)
        scales: dict[str, dict[str, float]] = {}
        for (kind, unit), chunks in sorted(pooled.items()):
            values = np.abs(np.concatenate(chunks).astype(np.float64))
            scale = MAD_TO_STD * float(np.median(values)) if values.size else 0.0
            if not scale > 0:
                # Quantised signals that sit on one value more than half the time (Myo at rest) have MAD 0.
                scale = float(np.sqrt(np.mean(values**2))) if values.size else 0.0
                log.warning("%s in %s: median absolute deviation is 0; using the RMS %.4g instead", kind, unit, scale)
            if not scale > 0:
                log.warning("%s in %s: every training sample is 0; leaving it unscaled", kind, unit)
                scale = 1.0
            scales.setdefault(kind, {})[unit] = scale
            log.info("input scale of %s in %s: %.4g (from %d samples)", kind, unit, scale, values.size)
        return cls("robust", scales)

    # -- use -------------------------------------------------------------------------------------------------

    def scale_for(self, ch_type: str, unit: str) -> float:
        """The divisor of a channel of ``ch_type`` in ``unit`` (1 for ``method="none"``)."""
        if self.method == "none":
            return 1.0
        try:
            return float(self.scales[ch_type][unit])
        except KeyError:
            known = [f"{k} in {u}" for k, per_unit in self.scales.items() for u in per_unit]
            raise ValueError(
                f"no input scale for a {ch_type!r} channel in {unit!r}; this model was trained on {', '.join(known)}"
            ) from None

    def channel_scales(self, ch_types: Sequence[str], units: Sequence[str]) -> np.ndarray:
        """``(n_channels,)`` float32 divisors for channels described by ``ch_types`` and ``units``."""
        if len(ch_types) != len(units):
            raise ValueError(f"ch_types has {len(ch_types)} entries but units has {len(units)}")
        return np.array([self.scale_for(t, u) for t, u in zip(ch_types, units)], dtype=np.float32)

    def apply(self, x: np.ndarray | torch.Tensor, ch_types: Sequence[str], units: Sequence[str]) -> Any:
        """``x / scale`` per channel for ``(n_channels, n_times)`` or ``(batch, n_channels, n_times)`` arrays."""
        if x.ndim not in (2, 3) or x.shape[-2] != len(ch_types):
            raise ValueError(
                f"x must be (n_channels, n_times) or (batch, n_channels, n_times) with {len(ch_types)} channels, "
                f"got shape {tuple(x.shape)}"
            )
        divisor = self.channel_scales(ch_types, units)[:, None]  # (c, 1)
        if isinstance(x, torch.Tensor):
            return x / torch.as_tensor(divisor, dtype=x.dtype, device=x.device)
        return (x / divisor).astype(np.float32, copy=False)

    def apply_recording(self, rec: Recording) -> Recording:
        """``rec`` with every channel divided by its scale (units unchanged; the step goes into preprocessing)."""
        if self.method == "none":
            return rec
        history = tuple(rec.metadata.get("preprocessing", ())) + (f"input scaling ({self.method})",)
        return rec.replace(
            data=self.apply(rec.data, rec.info.ch_types, rec.info.units),
            metadata={**rec.metadata, "preprocessing": history},
        )

    # -- storage ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain content for a checkpoint's ``extra["input_scaling"]``."""
        return {
            "method": self.method,
            "scales": {k: dict(v) for k, v in self.scales.items()},
            "note": "feed the model x / scales[ch_type][unit]",
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InputScaling:
        return cls(str(raw["method"]), {k: {u: float(s) for u, s in v.items()} for k, v in raw["scales"].items()})

    @classmethod
    def from_checkpoint(cls, meta: Mapping[str, Any]) -> InputScaling:
        """The scaling recorded in the metadata returned by :func:`biosig.models.load_checkpoint`.

        Checkpoints written without one (not by :mod:`biosig.training`) give ``method="none"``, with a warning.
        """
        raw = (meta.get("extra") or {}).get("input_scaling")
        if raw is None:
            log.warning("checkpoint records no input scaling; feeding inputs unscaled")
            return cls()
        return cls.from_dict(raw)
