"""Degradation operators: the sequence ends at the raw signal and smooths monotonically."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biosig.errors import SignalError
from biosig.pretrain.degrade import Degradation, box_kernel, degradation_strengths, sinc_kernel


def _roughness(x: torch.Tensor) -> torch.Tensor:
    """Mean squared first difference over time, per level: ``(b, K, c, t) -> (K,)``."""
    return x.diff(dim=-1).pow(2).mean(dim=(0, 2, 3))


@pytest.mark.parametrize("kind", ["box", "sinc"])
def test_sequence_ends_exactly_at_the_raw_signal(kind: str) -> None:
    x = torch.randn(3, 2, 256, generator=torch.Generator().manual_seed(0))
    levels = Degradation(kind, levels=6)(x)
    assert levels.shape == (3, 6, 2, 256)
    assert torch.equal(levels[:, -1], x)


@pytest.mark.parametrize("kind", ["box", "sinc"])
def test_smoothing_weakens_monotonically_towards_the_raw_signal(kind: str) -> None:
    x = torch.randn(8, 1, 512, generator=torch.Generator().manual_seed(1))  # white noise: every frequency present
    rough = _roughness(Degradation(kind, levels=6)(x))
    assert torch.all(rough[1:] > rough[:-1] * 1.5), rough  # each level clearly rougher than the one before


def test_sinc_levels_keep_low_frequencies_and_remove_those_above_the_cutoff() -> None:
    t = torch.arange(512, dtype=torch.float32)
    slow = torch.sin(2 * torch.pi * t / 256)  # 1/256 cycles/sample: below every cutoff
    fast = torch.sin(2 * torch.pi * t * 0.2)  # 0.2 cycles/sample: above all cutoffs but the last (0.25)
    levels = Degradation("sinc", levels=6)((slow + fast)[None, None])[0, :, 0]  # (K, t)
    middle = slice(128, 384)  # away from the edges
    for k in range(4):  # cutoffs 1/64 .. 1/8
        torch.testing.assert_close(levels[k, middle], slow[middle], atol=0.02, rtol=0)
    assert (levels[4, middle] - slow[middle]).abs().max() > 0.5  # cutoff 1/4 passes the fast component


def test_box_kernel_is_a_centred_unit_gain_average() -> None:
    np.testing.assert_allclose(box_kernel(4), np.full(5, 0.2))


def test_sinc_kernel_has_unit_dc_gain_and_is_symmetric() -> None:
    k = sinc_kernel(1 / 16)
    assert len(k) == 65 and abs(k.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(k, k[::-1])


def test_strength_ladders() -> None:
    assert degradation_strengths("box", 6) == [32.0, 16.0, 8.0, 4.0, 2.0]
    assert degradation_strengths("sinc", 4) == [0.0625, 0.125, 0.25]


def test_short_windows_fall_back_to_edge_replication() -> None:
    x = torch.randn(2, 1, 16)
    levels = Degradation("sinc", levels=6)(x)  # the 1/64 kernel (257 taps) is longer than the window
    assert levels.shape == (2, 6, 1, 16) and torch.isfinite(levels).all()
    assert torch.equal(levels[:, -1], x)


def test_constant_signal_is_a_fixed_point() -> None:
    x = torch.full((1, 1, 128), 3.0)
    torch.testing.assert_close(Degradation("box", 5)(x), x[:, None].expand(1, 5, 1, 128), rtol=0, atol=1e-5)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"kind must be one of 'box', 'sinc', got 'gauss'"):
        Degradation("gauss")


def test_too_few_levels_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"levels must be an int >= 2"):
        Degradation("box", levels=1)


def test_odd_box_width_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"width must be an even int >= 2 \(samples\), got 3"):
        box_kernel(3)


def test_cutoff_outside_the_band_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"cutoff must be in \(0, 0.5\) cycles/sample, got 0.5"):
        sinc_kernel(0.5)


def test_input_must_be_a_batch() -> None:
    with pytest.raises(SignalError, match=r"x must have shape \(batch, n_channels, n_times\), got \(16,\)"):
        Degradation()(torch.randn(16))
