"""Degradation operators of NoTS: the sequence of simplified variants S_1 (simplest) ... S_K (the raw signal).

Each degraded variant is a zero-phase row-wise convolution ``S_k = S * w_k`` (NoTS §3.2), with one of two kernels:

``'box'`` (local smoothing)
    A centred moving average of ``p_k + 1`` taps (``|n| <= p_k / 2``), weights ``1 / (p_k + 1)``. The paper writes
    ``1 / p_k`` for that support, which does not sum to one; unit DC gain keeps every variant on the raw signal's
    scale, so the weights here are normalised.
``'sinc'`` (global smoothing)
    A Hamming-windowed sinc low-pass of cutoff ``f_k`` cycles/sample (``2 f_k sinc(2 f_k n)``, unit DC gain) with
    ``4 / f_k + 1`` taps capped at ``max_taps``.

Strengths follow a factor-2 ladder, so ``levels = K`` gives K-1 degraded variants and the raw signal last:
box widths ``p_k = 2 ** (K - k)`` (K=6: 32, 16, 8, 4, 2) and sinc cutoffs ``f_k = 0.5 * 2 ** (k - K)`` (K=6:
1/64, 1/32, 1/16, 1/8, 1/4 cycles/sample), i.e. each level keeps twice the bandwidth of the one before and the
raw signal (cutoff 0.5 = Nyquist) closes the ladder. Cutoffs *rise* with k (more information at every step): the
paper's wording (``sinc(p_k n)``, "cutoff 0.5 p_k") read literally would make later levels smoother, which
contradicts the information ordering, so it is taken as a typo (docs/nots.md lists every such choice).

Edges use reflect padding (no artificial step at the window edges); when a kernel is longer than the window
(short test windows) the edge sample is repeated instead.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biosig.errors import SignalError

__all__ = ["DEGRADATIONS", "Degradation", "box_kernel", "degradation_strengths", "sinc_kernel"]

log = logging.getLogger(__name__)

#: Names of the degradation operators.
DEGRADATIONS = ("box", "sinc")


def box_kernel(width: int) -> np.ndarray:
    """``(width + 1,)`` centred moving-average taps (``width`` even, >= 2), summing to one."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 2 or width % 2:
        raise ValueError(f"width must be an even int >= 2 (samples), got {width!r}")
    return np.full(width + 1, 1.0 / (width + 1))


def sinc_kernel(cutoff: float, max_taps: int = 513) -> np.ndarray:
    """Odd-length Hamming-windowed sinc low-pass at ``cutoff`` cycles/sample (in (0, 0.5)), unit DC gain.

    The length is ``4 / cutoff`` taps rounded up to odd (a transition band of about ``cutoff``), capped at
    ``max_taps`` (odd).
    """
    if not 0.0 < cutoff < 0.5:
        raise ValueError(f"cutoff must be in (0, 0.5) cycles/sample, got {cutoff!r}")
    if isinstance(max_taps, bool) or not isinstance(max_taps, int) or max_taps < 3 or max_taps % 2 == 0:
        raise ValueError(f"max_taps must be an odd int >= 3, got {max_taps!r}")
    half = min(int(np.ceil(2.0 / cutoff)), (max_taps - 1) // 2)
    n = np.arange(-half, half + 1)
    taps = 2.0 * cutoff * np.sinc(2.0 * cutoff * n) * np.hamming(2 * half + 1)
    return taps / taps.sum()


def degradation_strengths(kind: str, levels: int) -> list[float]:
    """Strength of levels ``1..K-1`` (most degraded first): box widths (samples) or sinc cutoffs (cycles/sample)."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, DEGRADATIONS))}, got {kind!r}")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels must be an int >= 2 (degraded variants + the raw signal), got {levels!r}")
    if kind == "box":
        return [float(2 ** (levels - k)) for k in range(1, levels)]
    return [0.5 * 2.0 ** (k - levels) for k in range(1, levels)]


class Degradation(nn.Module):
    """``(b, c, t) -> (b, K, c, t)``: the K-1 degraded variants, most simplified first, then ``x`` itself.

    The last level is ``x`` bit for bit (no filter touches it). All K-1 kernels run as one ``conv1d`` with
    ``K-1`` output channels: each is zero-padded (centred) to the longest, which gives exactly the per-kernel
    convolution because the padding taps are zero. Kernels are non-persistent buffers, so they follow the module to
    a device but never enter a checkpoint (they are a function of ``kind`` and ``levels``).
    """

    def __init__(self, kind: str = "sinc", levels: int = 6, max_taps: int = 513) -> None:
        super().__init__()
        self.kind = kind
        self.levels = levels
        self.strengths = degradation_strengths(kind, levels)
        kernels = [box_kernel(int(s)) if kind == "box" else sinc_kernel(s, max_taps) for s in self.strengths]
        longest = max(len(k) for k in kernels)
        bank = np.zeros((len(kernels), 1, longest))
        for i, k in enumerate(kernels):
            start = (longest - len(k)) // 2
            bank[i, 0, start : start + len(k)] = k
        self.register_buffer("bank", torch.tensor(bank, dtype=torch.float32), persistent=False)  # (K-1, 1, taps)
        self.half = (longest - 1) // 2
        log.debug("degradation %s with %d levels, strengths %s, %d taps", kind, levels, self.strengths, longest)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, levels={self.levels}, strengths={self.strengths}"

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3:
            raise SignalError(f"x must have shape (batch, n_channels, n_times), got {tuple(x.shape)}")
        b, c, t = x.shape
        flat = x.reshape(b * c, 1, t)  # (b*c, 1, t)
        mode = "reflect" if self.half < t else "replicate"
        padded = F.pad(flat, (self.half, self.half), mode=mode)  # (b*c, 1, t + 2 * half)
        smooth = F.conv1d(padded, self.bank.to(x.dtype))  # (b*c, K-1, t)
        smooth = smooth.reshape(b, c, self.levels - 1, t).transpose(1, 2)  # (b, K-1, c, t)
        return torch.cat([smooth, x.unsqueeze(1)], dim=1)  # (b, K, c, t)
