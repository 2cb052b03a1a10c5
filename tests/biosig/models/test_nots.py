"""NoTS: group-causal structure, the objective, sizes and configuration errors."""

from __future__ import annotations

import pytest
import torch

from biosig.errors import SignalError
from biosig.models import create_model
from biosig.models.nots import NoTS, NoTSConfig
from biosig.models.nots_layers import causal_mask, group_causal_mask, rope_rotate

torch.set_num_threads(1)


def _tiny(**overrides: object) -> NoTS:
    torch.manual_seed(0)
    model = create_model("nots_tiny", **overrides)
    assert isinstance(model, NoTS)
    return model.eval()


def test_group_causal_mask_layout() -> None:
    mask = group_causal_mask(3, 2)
    expected = torch.tensor(
        [
            [1, 1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(mask, expected)
    assert torch.equal(causal_mask(3), group_causal_mask(3, 1))


@pytest.mark.parametrize("changed", [0, 1, 2])
def test_a_change_in_group_k_never_reaches_earlier_groups(changed: int) -> None:
    model = _tiny(levels=4)
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randn(2, 4, 3, 5, 16, generator=gen)  # (b, G, c, n, d)
    edited = tokens.clone()
    edited[:, changed] += torch.randn(2, 3, 5, 16, generator=gen)
    with torch.no_grad():
        out, out_edited = model.narrate(tokens), model.narrate(edited)
    torch.testing.assert_close(out_edited[:, :changed], out[:, :changed], rtol=0, atol=1e-6)
    assert (out_edited[:, changed:] - out[:, changed:]).abs().amax(dim=(0, 2, 3, 4)).min() > 1e-3  # later groups see it


def test_prompts_keep_the_group_causal_structure() -> None:
    model = _tiny(levels=3)
    prompts = torch.randn(model.config.depth, 2, 16)
    tokens = torch.randn(1, 3, 1, 4, 16)
    edited = tokens.clone()
    edited[:, 2] += 1.0
    with torch.no_grad():
        out = model.narrate(tokens, prompts=prompts)
        out_edited = model.narrate(edited, prompts=prompts)
        unprompted = model.narrate(tokens)
    torch.testing.assert_close(out_edited[:, :2], out[:, :2], rtol=0, atol=1e-6)
    assert (out - unprompted).abs().max() > 1e-4  # the prompts do change the outputs


def test_rope_is_relative() -> None:
    q, k = torch.randn(1, 1, 8), torch.randn(1, 1, 8)
    dots = [
        (rope_rotate(q, torch.tensor([p + 3])) * rope_rotate(k, torch.tensor([p]))).sum().item() for p in (0, 5, 11)
    ]
    assert dots == pytest.approx([dots[0]] * 3, abs=1e-5)  # depends on the offset only
    torch.testing.assert_close(rope_rotate(q, torch.tensor([0])), q)  # position 0 is the identity


def test_encoder_output_depends_on_every_level_and_the_raw_signal() -> None:
    model = _tiny()
    x = torch.randn(2, 1, 64)
    feats = model.forward_features(x)
    assert feats.shape == (2, 1, 16, 16)  # (b, c, n = 64 / patch_len 4, d)
    assert model(x).shape == (2, 16)


def test_pretrain_loss_is_the_sum_of_next_level_and_consistency_terms() -> None:
    model = _tiny(consistency_weight=0.5)
    loss, details = model.pretrain_loss(torch.randn(3, 2, 32))
    assert details["next_level"].shape == (2,)  # K - 1 = 2 predicted levels
    assert details["pred"].shape == (3, 2, 2, 32)  # (b, K-1, c, t)
    torch.testing.assert_close(loss.detach(), details["next_level"].sum() + 0.5 * details["consistency"])


def test_the_targets_are_the_next_levels_not_the_inputs() -> None:
    # With the decoder forced to return the input level (a copy), the loss is the L1 gap between levels k and k+1.
    model = _tiny()
    x = torch.randn(2, 1, 32)
    levels = model.degrade(model.normalize(x))  # (b, K, c, t)
    gaps = (levels[:, 1:] - levels[:, :-1]).abs().mean(dim=(0, 2, 3))
    model.decode = lambda tokens: levels[:, : tokens.shape[1]] if tokens.ndim == 5 else levels[:, -1]  # type: ignore[method-assign]
    _, details = model.pretrain_loss(x)
    torch.testing.assert_close(details["next_level"], gaps)
    assert details["consistency"] == 0


def test_pretraining_reduces_the_loss_on_a_tiny_run() -> None:
    torch.manual_seed(0)
    model = create_model("nots_tiny").train()
    t = torch.arange(64, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    freqs = torch.rand(16, 1, 1, generator=gen) * 0.1 + 0.02
    x = torch.sin(2 * torch.pi * freqs * t) + 0.1 * torch.randn(16, 1, 64, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, _ = model.pretrain_loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


def test_nots_lw_has_the_papers_size() -> None:
    model = create_model("nots_lw")
    n = sum(p.numel() for p in model.parameters())
    assert n == 243_345  # NoTS-lw is ~243k in the paper
    assert sum(p.numel() for p in model.decoder.parameters()) == 45_985  # pretraining only


def test_channel_embeddings_are_optional_and_tie_the_channel_count() -> None:
    model = _tiny(channel_slots=3)
    assert model.pretrain_channel_slots == 3
    x = torch.randn(1, 2, 32)
    with torch.no_grad():
        a = model.forward_features(x, channel_ids=[0, 1])
        b = model.forward_features(x, channel_ids=[2, 1])
    assert (a - b).abs().max() > 1e-4  # the slot changes the tokens


def test_too_many_channels_for_the_channel_slots() -> None:
    with pytest.raises(SignalError, match=r"x has 4 channels but the model has channel_slots=3 channel embeddings"):
        _tiny(channel_slots=3).pretrain_loss(torch.randn(1, 4, 32))


def test_duplicate_channel_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"channel_ids must hold 2 distinct slots in \[0, 3\), got \[1, 1\]"):
        _tiny(channel_slots=3).forward_features(torch.randn(1, 2, 32), channel_ids=[1, 1])


def test_window_must_be_a_multiple_of_the_token_stride() -> None:
    with pytest.raises(
        SignalError, match=r"x has 30 samples per channel, which is not a positive multiple of patch_len=4"
    ):
        _tiny()(torch.randn(1, 1, 30))


def test_channel_tokens_must_match_the_channels() -> None:
    with pytest.raises(ValueError, match=r"channel_tokens must have shape \(2, 16\), got \(3, 16\)"):
        _tiny().forward_features(torch.randn(1, 2, 32), channel_tokens=torch.zeros(3, 16))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"heads": 3}, r"d_model=16 must split into heads=3 heads of an even width"),
        ({"levels": 1}, r"levels must be an int >= 2, got 1"),
        ({"degradation": "noise"}, r"degradation must be one of 'box', 'sinc', got 'noise'"),
        ({"channel_slots": -1}, r"channel_slots must be an int >= 0, got -1"),
        ({"sfreq": 0}, r"sfreq must be a positive finite number of Hz, got 0"),
    ],
)
def test_invalid_configs(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("nots_tiny", **overrides)


def test_config_must_be_a_nots_config() -> None:
    with pytest.raises(TypeError, match=r"config must be a NoTSConfig, got dict"):
        NoTS({})  # type: ignore[arg-type]


def test_patch_len_follows_the_downsampling_stages() -> None:
    assert NoTSConfig(n_down=3).patch_len == 8
    assert create_model("nots_tiny").config.patch_len == 4
