"""Parity between a torch encoder and its ONNX export, on random and on real inputs.

A :class:`ParityReport` holds one :class:`ParityCase` per input batch: its shape, the largest absolute
difference between the torch and onnxruntime embeddings, and the largest absolute torch value (for scale).
The export passes when every case is within ``atol``. Random cases cover the exported dynamic axes (several
batch sizes, and other channel counts and window lengths when those axes are dynamic); real cases are windows
cut from recordings read with :func:`biosig.io.read` (by default the Myo session shipped with the package),
resampled to the model's rate and scaled as the checkpoint says, so the check runs on the value range the
model meets in use.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from biosig.errors import SignalError
from biosig.models.checkpoint import SignalSpec
from biosig.runtime.scaling import InputScale

__all__ = ["ParityCase", "ParityReport", "compare", "random_cases", "real_cases"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParityCase:
    """One input batch: ``shape`` ``(b, c, t)``, max ``|torch - onnx|`` and max ``|torch|`` over the embeddings."""

    name: str
    shape: tuple[int, int, int]
    max_abs_diff: float
    max_abs_ref: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "max_abs_diff": self.max_abs_diff,
            "max_abs_ref": self.max_abs_ref,
        }


@dataclass(frozen=True)
class ParityReport:
    """All cases of one check and the tolerance they are held to."""

    cases: tuple[ParityCase, ...]
    atol: float
    notes: tuple[str, ...] = field(default=())

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.cases), default=0.0)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and self.max_abs_diff <= self.atol

    def to_dict(self) -> dict[str, Any]:
        return {
            "atol": self.atol,
            "max_abs_diff": self.max_abs_diff,
            "passed": self.passed,
            "cases": [c.to_dict() for c in self.cases],
            "notes": list(self.notes),
        }

    def format(self) -> str:
        """A plain-text table, one line per case."""
        lines = [f"{'case':<28} {'shape':<16} {'max |diff|':>12} {'max |ref|':>11}"]
        for c in self.cases:
            shape = "x".join(map(str, c.shape))
            lines.append(f"{c.name:<28} {shape:<16} {c.max_abs_diff:>12.3e} {c.max_abs_ref:>11.3e}")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: max |diff| {self.max_abs_diff:.3e} (atol {self.atol:.1e})")
        lines.extend(self.notes)
        return "\n".join(lines)


def random_cases(
    spec: SignalSpec,
    *,
    time_multiple: int = 1,
    dynamic_channels: bool = False,
    dynamic_time: bool = False,
    seed: int = 0,
) -> list[tuple[str, np.ndarray]]:
    """Named ``(b, c, t)`` float32 batches: batch sizes 1, 3 and 8 at the spec's shape, plus other channel
    counts and window lengths when those axes are dynamic. Values are unit-variance noise with a random offset
    and gain per channel, so normalisation layers see varied statistics."""
    rng = np.random.default_rng(seed)
    c, t = len(spec.ch_types), spec.n_times

    def batch(b: int, ch: int, n: int) -> np.ndarray:
        gain = rng.uniform(0.2, 5.0, size=(1, ch, 1))
        offset = rng.normal(0.0, 2.0, size=(1, ch, 1))
        return (rng.standard_normal((b, ch, n)) * gain + offset).astype(np.float32)

    cases = [(f"random b={b}", batch(b, c, t)) for b in (1, 3, 8)]
    if dynamic_channels:
        cases += [("random fewer channels", batch(2, max(1, c // 2), t)), ("random more channels", batch(2, c + 3, t))]
    if dynamic_time:
        longer = 2 * t
        shorter = max(time_multiple, (t // 2) // time_multiple * time_multiple)
        cases += [("random longer window", batch(2, c, longer)), ("random shorter window", batch(2, c, shorter))]
    return cases


def real_cases(
    path: str | os.PathLike[str],
    spec: SignalSpec,
    input_scale: InputScale,
    *,
    max_windows: int = 64,
    batch_size: int = 16,
) -> list[tuple[str, np.ndarray]]:
    """Batches of spec-shaped windows cut from the recordings at ``path`` (any format :func:`biosig.io.read`
    knows), resampled to ``spec.sfreq`` and divided by the checkpoint's input scale.

    Windows are taken at evenly spaced offsets across the recordings (at most ``max_windows``), so the batches
    cover rest and activity alike.
    """
    from biosig.io import read
    from biosig.signals.resample import resample

    recordings = read(path)
    windows: list[np.ndarray] = []
    per_rec = max(1, max_windows // max(1, len(recordings)))
    for rec in recordings:
        data = rec.data
        if rec.sfreq != spec.sfreq:
            data = resample(data, rec.sfreq, spec.sfreq)
        n = data.shape[1] // spec.n_times
        if n == 0:
            continue
        div = input_scale.channel_divisors(rec.info.ch_types, rec.info.units)[:, None]
        for k in np.linspace(0, n - 1, num=min(n, per_rec)).astype(int):
            windows.append(data[:, k * spec.n_times : (k + 1) * spec.n_times] / div)
    if not windows:
        raise SignalError(
            f"{path}: no recording is long enough for one {spec.n_times}-sample window at {spec.sfreq:g} Hz"
        )
    shapes = {w.shape for w in windows}
    if len(shapes) > 1:  # recordings with different channel counts: keep the most common one
        common = max(shapes, key=lambda s: sum(w.shape == s for w in windows))
        windows = [w for w in windows if w.shape == common]
    windows = windows[:max_windows]
    stack = np.stack(windows).astype(np.float32)
    name = os.path.basename(os.fspath(path)) or os.fspath(path)
    return [
        (f"real {name}[{i}:{i + len(stack[i : i + batch_size])}]", stack[i : i + batch_size])
        for i in range(0, len(stack), batch_size)
    ]


def compare(
    model: nn.Module,
    run_onnx: Any,
    cases: Sequence[tuple[str, np.ndarray]],
    atol: float,
    notes: Sequence[str] = (),
) -> ParityReport:
    """Embed every case with ``model`` (torch, eval, no grad) and ``run_onnx(x) -> (b, d)``; compare."""
    results = []
    model.eval()
    with torch.no_grad():
        for name, x in cases:
            ref = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
            got = np.asarray(run_onnx(np.ascontiguousarray(x, dtype=np.float32)))
            if got.shape != ref.shape:
                raise SignalError(f"parity case {name!r}: onnx output has shape {got.shape}, torch {ref.shape}")
            diff = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
            results.append(ParityCase(name, tuple(x.shape), diff, float(np.max(np.abs(ref)))))
            log.debug("parity %s %s: max |diff| %.3e", name, x.shape, diff)
    return ParityReport(tuple(results), float(atol), tuple(notes))
