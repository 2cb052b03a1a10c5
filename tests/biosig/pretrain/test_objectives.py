"""Baselines on the NoTS backbone: no target leakage, losses that train, same weight budget."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from biosig.errors import SignalError
from biosig.models.nots import NoTS, NoTSConfig
from biosig.pretrain.objectives import MaskedAutoencoder, NextPeriodPredictor

torch.set_num_threads(1)

TINY = NoTSConfig(width=8, n_down=2, d_model=16, depth=1, heads=2, mlp_dim=32, levels=3)
RAW = dataclasses.replace(TINY, normalize=False)


def _signals(b: int = 8, t: int = 64, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    time = torch.arange(t, dtype=torch.float32)
    freqs = torch.rand(b, 1, 1, generator=gen) * 0.1 + 0.02
    return torch.sin(2 * torch.pi * freqs * time) + 0.1 * torch.randn(b, 1, t, generator=gen)


def test_baselines_share_the_nots_budget() -> None:
    nots = sum(p.numel() for p in NoTS(NoTSConfig()).parameters())
    mae = sum(p.numel() for p in MaskedAutoencoder(NoTSConfig()).parameters())
    nxt = sum(p.numel() for p in NextPeriodPredictor(NoTSConfig()).parameters())
    level = NoTSConfig().levels * NoTSConfig().d_model
    assert nxt == nots - level  # no level embedding
    assert mae == nots - level + NoTSConfig().d_model  # plus the mask token


def test_next_period_output_never_sees_the_future() -> None:
    torch.manual_seed(0)
    model = NextPeriodPredictor(RAW).eval()  # whole-window normalisation would leak statistics; switch it off
    x = torch.randn(1, 2, 32)  # 8 periods of 4 samples
    edited = x.clone()
    edited[..., 20:] += torch.randn(1, 2, 12)  # change periods 5..7
    with torch.no_grad():
        a, b = model.forward_features(x), model.forward_features(edited)
    torch.testing.assert_close(a[:, :, :5], b[:, :, :5], rtol=0, atol=1e-6)
    assert (a[:, :, 5:] - b[:, :, 5:]).abs().max() > 1e-4


def test_masked_autoencoder_cannot_read_masked_samples() -> None:
    torch.manual_seed(0)
    model = MaskedAutoencoder(RAW)
    x = torch.randn(2, 1, 32)
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    _, details = model.pretrain_loss(x, gen_a)
    mask = details["mask"].repeat_interleave(4, dim=-1)  # (b, c, t)
    edited = x.masked_fill(mask, 5.0)  # change only what is masked
    _, details_edited = model.pretrain_loss(edited, gen_b)
    torch.testing.assert_close(details_edited["pred"], details["pred"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls", [MaskedAutoencoder, NextPeriodPredictor])
def test_losses_decrease_on_a_tiny_run(cls: type[NoTS]) -> None:
    torch.manual_seed(0)
    model = cls(TINY).train()
    x = _signals()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        loss, _ = model.pretrain_loss(x, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


@pytest.mark.parametrize("cls", [MaskedAutoencoder, NextPeriodPredictor])
def test_encoders_keep_the_registry_contract(cls: type[NoTS]) -> None:
    model = cls(TINY).eval()
    x = torch.randn(2, 3, 32)
    assert model.forward_features(x).shape == (2, 3, 8, 16)
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(model(x[:, perm]), model(x), rtol=0, atol=1e-5)


def test_baselines_have_no_narrative() -> None:
    with pytest.raises(NotImplementedError, match=r"MaskedAutoencoder reads the raw signal only"):
        MaskedAutoencoder(TINY).narrate(torch.zeros(1, 1, 1, 2, 16))


def test_mask_ratio_must_leave_something_visible() -> None:
    with pytest.raises(ValueError, match=r"mask_ratio must be in \(0, 1\), got 1.0"):
        MaskedAutoencoder(TINY, mask_ratio=1.0)


def test_mask_needs_enough_periods() -> None:
    with pytest.raises(SignalError, match=r"x has 1 periods; mask_ratio=0.5 must mask at least one and not all"):
        MaskedAutoencoder(TINY).pretrain_loss(torch.randn(1, 1, 4))


def test_next_period_needs_two_periods() -> None:
    with pytest.raises(SignalError, match=r"x has 4 samples; next-period prediction needs at least two periods of 4"):
        NextPeriodPredictor(TINY).pretrain_loss(torch.randn(1, 1, 4))
