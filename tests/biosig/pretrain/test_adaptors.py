"""Adaptors: small trainable share with the backbone frozen, full fine-tuning trains everything."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from biosig.errors import SignalError
from biosig.models import create_model
from biosig.pretrain.adaptors import ChannelAdaptor, NoTSAdapter

torch.set_num_threads(1)


def test_frozen_nots_lw_trains_under_one_percent_of_the_weights() -> None:
    adapter = NoTSAdapter(create_model("nots_lw"), n_outputs=5, in_channels=8, n_prompts=4)
    share = adapter.n_trainable / adapter.n_total
    assert adapter.n_trainable == sum(p.numel() for p in adapter.adaptor_parameters())
    # prompts 4 layers x 4 x 64 + channel map 8x8+8 + channel tokens 8x64 + head 64x5+5
    assert adapter.n_trainable == 4 * 4 * 64 + 72 + 512 + 325
    assert share < 0.01


def test_frozen_backbone_gets_no_gradient_and_adaptors_do() -> None:
    torch.manual_seed(0)
    backbone = create_model("nots_tiny")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    adapter = NoTSAdapter(backbone, n_outputs=3, in_channels=2, model_channels=3, n_prompts=2).train()
    assert not backbone.training  # frozen backbone stays in eval mode
    opt = torch.optim.SGD([p for p in adapter.parameters() if p.requires_grad], lr=0.1)
    loss = F.cross_entropy(adapter(torch.randn(4, 2, 32)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert all(p.grad is None for p in backbone.parameters())
    for name, p in adapter.named_parameters():
        if not name.startswith("backbone."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    opt.step()
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_full_fine_tuning_trains_the_backbone_encoder() -> None:
    adapter = NoTSAdapter(create_model("nots_tiny"), n_outputs=2, mode="full", n_prompts=0)
    adapter(torch.randn(2, 1, 32)).sum().backward()
    grads = [p.grad for n, p in adapter.backbone.named_parameters() if not n.startswith("decoder.")]
    assert all(g is not None for g in grads)
    assert adapter.n_trainable == adapter.n_total


def test_channel_adaptor_starts_as_identity_for_equal_counts() -> None:
    x = torch.randn(2, 3, 16)
    torch.testing.assert_close(ChannelAdaptor(3, 3, 8)(x), x)


def test_channel_adaptor_maps_channel_counts() -> None:
    assert ChannelAdaptor(5, 2, 8)(torch.randn(1, 5, 16)).shape == (1, 2, 16)


def test_channel_adaptor_rejects_the_wrong_channel_count() -> None:
    with pytest.raises(SignalError, match=r"x must have shape \(batch, 5, n_times\), got \(1, 4, 16\)"):
        ChannelAdaptor(5, 2, 8)(torch.randn(1, 4, 16))


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"mode must be one of 'frozen', 'full', got 'lora'"):
        NoTSAdapter(create_model("nots_tiny"), n_outputs=2, mode="lora")


def test_backbone_must_be_nots() -> None:
    with pytest.raises(TypeError, match=r"backbone must be a NoTS model, got BioFAME"):
        NoTSAdapter(create_model("biofame_tiny"), n_outputs=2)  # type: ignore[arg-type]
