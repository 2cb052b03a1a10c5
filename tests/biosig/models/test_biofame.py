"""bioFAME: config validation, the frequency filters (incl. the flat-response analysis), pretraining, helpers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from biosig.errors import SignalError
from biosig.models import BioFAMEConfig, EncoderClassifier, create_model, modality_dropout, modality_groups
from biosig.models.layers import FreqFilter, RevIN, anchor_frequencies, check_signal_batch

torch.set_num_threads(1)


def _gain(filt: FreqFilter, x: torch.Tensor, token_rate: float) -> torch.Tensor:
    """Empirical complex gain Y/X per (example, bin, feature) of ``filt`` on ``x`` (b, n, d)."""
    with torch.no_grad():
        y = filt(x, token_rate)
    return torch.fft.rfft(y, dim=1, norm="ortho") / torch.fft.rfft(x, dim=1, norm="ortho")


def _released_pool(filt: FreqFilter, x: torch.Tensor) -> torch.Tensor:
    """The released FreqFilter_multihead 'pool' computation, literally: per (bin, feature) max over heads."""
    n = x.shape[1]
    spec = torch.fft.rfft(x, dim=1, norm="ortho")  # (b, f, d)
    per_head = spec[:, :, None, :] * torch.view_as_complex(filt.complex_weight)  # (b, f, h, d)
    best = per_head.abs().argmax(dim=2, keepdim=True)  # (b, f, 1, d)
    picked = per_head.gather(2, best).squeeze(2)  # (b, f, d)
    return torch.fft.irfft(picked, n=n, dim=1, norm="ortho")


# ---------------------------------------------------------------------------------------------------------------------
# Config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"d_model": 30, "fusion_heads": 4}, r"d_model=30 must be divisible by fusion_heads=4"),
        ({"patch_len": 0}, r"patch_len must be a positive int, got 0"),
        ({"fa_depth": 1.5}, r"fa_depth must be a positive int, got 1.5"),
        ({"filter_mode": "proj"}, r"filter_mode must be one of 'pool', 'self', 'anchored', got 'proj'"),
        ({"decoder_pos": "abs"}, r"decoder_pos must be one of 'slot', 'token', got 'abs'"),
        ({"mask_ratio": 1.0}, r"mask_ratio must be in \(0, 1\), got 1.0"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"sfreq": 0.0}, r"sfreq must be a positive finite number of Hz, got 0.0"),
        ({"anchor_max_hz": math.inf}, r"anchor_max_hz must be a positive finite number of Hz, got inf"),
        ({"anchor_count": 1}, r"anchor_count must be an int >= 2, got 1"),
    ],
)
def test_config_rejects_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BioFAMEConfig(**overrides)


def test_override_typo_raises_type_error_naming_the_field() -> None:
    with pytest.raises(TypeError, match=r"BioFAMEConfig has no field\(s\) 'dmodel'; fields: patch_len, d_model"):
        create_model("biofame_small", dmodel=32)


def test_anchor_top_defaults_to_token_nyquist() -> None:
    cfg = BioFAMEConfig(sfreq=2000.0, patch_len=20)
    assert cfg.token_rate == 100.0
    assert cfg.anchor_top_hz == 50.0
    assert BioFAMEConfig(anchor_max_hz=7.0).anchor_top_hz == 7.0


def test_small_matches_the_released_parameter_count() -> None:
    model = create_model("biofame_small")
    parts = ("revin", "patch_embed", "fa_encoder", "fusion")
    counts = {name: sum(p.numel() for p in getattr(model, name).parameters()) for name in parts}
    # Released: patch embedding 1.5k, FA-Enc 71.4k, Enc2 25.0k (the RevIN affine is one shared pair here).
    assert counts == {"revin": 2, "patch_embed": 1512, "fa_encoder": 71424, "fusion": 25024}
    assert sum(p.numel() for p in model.encoder_parameters()) == 97962


# ---------------------------------------------------------------------------------------------------------------------
# Frequency filters


def test_pool_equals_the_released_per_bin_max_pool() -> None:
    torch.manual_seed(0)
    filt = FreqFilter(16, "pool", heads=8)
    x = torch.randn(3, 24, 16)
    torch.testing.assert_close(filt(x, 5.0), _released_pool(filt, x), rtol=1e-5, atol=1e-6)


def test_pool_gradient_reaches_only_the_winning_head() -> None:
    torch.manual_seed(0)
    filt = FreqFilter(8, "pool", heads=4)
    filt(torch.randn(2, 10, 8), 5.0).pow(2).sum().backward()
    touched = filt.complex_weight.grad.abs().sum(dim=-1) > 0  # (h, d)
    winners = torch.view_as_complex(filt.complex_weight).abs().argmax(dim=0)  # (d,)
    assert touched.sum(dim=0).tolist() == [1] * 8
    assert touched.float().argmax(dim=0).tolist() == winners.tolist()


def test_released_pool_filter_is_flat_across_frequency_and_anchored_is_not() -> None:
    """The analysis of docs/biofame.md: 'pool' is one complex gain per feature, 'anchored' varies with frequency."""
    torch.manual_seed(0)
    x = torch.randn(4, 32, 16, dtype=torch.float32)
    pool = FreqFilter(16, "pool", heads=8)
    g = _gain(pool, x, token_rate=5.0)[:, 1:-1]  # interior bins: DC and Nyquist keep only Re(K) after irfft
    spread = (g - g[:, :1]).abs().amax() / g.abs().amax()
    assert spread < 1e-4  # the same complex gain at every bin, for every example
    # DC (and Nyquist) keep only the real part of that gain.
    k = pool.response(32, 5.0)[0]  # (d,)
    torch.testing.assert_close(_gain(pool, x, 5.0)[:, 0].real, k.real.expand(4, -1), rtol=1e-4, atol=1e-6)

    anchored = FreqFilter(16, "anchored", anchor_count=8, anchor_max_hz=2.5)
    ga = _gain(anchored, x, token_rate=5.0)[:, 1:-1]
    spread_a = (ga.abs() - ga[:, :1].abs()).abs().amax(dim=1) / ga.abs().amax(dim=1)  # (b, d)
    assert (spread_a > 0.1).all()  # every feature's gain magnitude changes across bins
    torch.testing.assert_close(ga[0], ga[3], rtol=1e-3, atol=1e-5)  # and does not depend on the input


def test_anchored_gives_one_frequency_the_same_gain_at_any_length_and_rate() -> None:
    torch.manual_seed(1)
    filt = FreqFilter(8, "anchored", anchor_count=16, anchor_max_hz=10.0)
    # 1 Hz is bin 4 of 20 tokens at 5 tok/s, bin 8 of 40 tokens at 5 tok/s, and bin 2 of 20 tokens at 10 tok/s.
    r1 = filt.response(20, 5.0)[4]
    torch.testing.assert_close(filt.response(40, 5.0)[8], r1)
    torch.testing.assert_close(filt.response(20, 10.0)[2], r1)
    # Past the top anchor the response holds the top anchor's value.
    top = torch.view_as_complex(filt.complex_weight)[-1]
    torch.testing.assert_close(filt.response(100, 40.0)[-1], top)


def test_anchored_interpolates_linearly_between_anchors() -> None:
    filt = FreqFilter(4, "anchored", anchor_count=6, anchor_max_hz=2.5, anchor_spacing="linear")
    k = torch.view_as_complex(filt.complex_weight).detach()  # (6, 4): anchors at 0, 0.5, ..., 2.5 Hz
    resp = filt.response(20, 5.0).detach()  # bins every 0.25 Hz
    torch.testing.assert_close(resp[::2], k)  # on the anchors exactly
    torch.testing.assert_close(resp[1], (k[0] + k[1]) / 2)  # 0.25 Hz: halfway between the first two


def test_anchor_frequencies_span_zero_to_max_and_log_is_dense_at_low_frequencies() -> None:
    lin = anchor_frequencies(5, 2.0, "linear")
    log = anchor_frequencies(5, 2.0, "log")
    torch.testing.assert_close(lin, torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0], dtype=torch.float64))
    assert log[0] == 0.0 and math.isclose(float(log[-1]), 2.0)
    assert (log[1:-1] < lin[1:-1]).all()


def test_self_mode_matches_the_released_weighted_sum_over_heads() -> None:
    torch.manual_seed(2)
    filt = FreqFilter(8, "self", heads=4)
    x = torch.randn(2, 12, 8)
    spec = torch.fft.rfft(x, dim=1, norm="ortho")  # (b, f, d)
    head_w = filt.filter_weight(spec.real)  # (b, f, h)
    per_head = spec[:, :, None, :] * torch.view_as_complex(filt.complex_weight)  # (b, f, h, d)
    expected = torch.fft.irfft((per_head * head_w[..., None]).sum(dim=2), n=12, dim=1, norm="ortho")
    torch.testing.assert_close(filt(x, 5.0), expected, rtol=1e-5, atol=1e-6)


def test_filter_parameter_count_does_not_depend_on_length_or_rate() -> None:
    model = create_model("biofame_anchored").eval()
    n_params = sum(p.numel() for p in model.parameters())
    for t, sfreq in ((200, 100.0), (3000, 100.0), (400, 2000.0)):
        assert model(torch.randn(1, 2, t), sfreq=sfreq).shape == (1, 64)
    assert sum(p.numel() for p in model.parameters()) == n_params


# ---------------------------------------------------------------------------------------------------------------------
# Encoder


def test_embedding_is_the_mean_of_the_fused_tokens() -> None:
    model = create_model("biofame_tiny").eval()
    x = torch.randn(2, 3, 120)
    feats = model.forward_features(x)
    assert feats.shape == (2, 3, 6, 16)
    torch.testing.assert_close(model(x), feats.mean(dim=(1, 2)))


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.randn(3, 120), r"x must have shape \(batch, n_channels, n_times\), got \(3, 120\)"),
        (torch.randn(1, 2, 130), r"x has 130 samples per channel, which is not a positive multiple of patch_len=20"),
        (torch.ones(1, 2, 120, dtype=torch.long), r"x must be a floating-point tensor, got dtype torch.int64"),
    ],
)
def test_forward_rejects_bad_input(x: torch.Tensor, message: str) -> None:
    with pytest.raises(SignalError, match=message):
        create_model("biofame_tiny")(x)


def test_check_signal_batch_rejects_non_tensor() -> None:
    with pytest.raises(SignalError, match=r"x must be a torch.Tensor of shape .* got list"):
        check_signal_batch([[1.0]], 20)  # type: ignore[arg-type]


def test_revin_roundtrip_and_unit_statistics() -> None:
    revin = RevIN()
    with torch.no_grad():
        revin.weight.fill_(2.0)
        revin.bias.fill_(0.5)
    x = torch.randn(2, 3, 100) * 1e-4 + 3e-3  # volts-scale signal with an offset
    z, mean, std = revin.normalize(x)
    assert mean.shape == std.shape == (2, 3, 1)
    torch.testing.assert_close(z.mean(dim=-1), torch.full((2, 3), 0.5), atol=1e-4, rtol=0)
    torch.testing.assert_close(revin.denormalize(z, mean, std), x, rtol=1e-4, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------------------
# Pretraining


def test_pretrain_loss_masks_half_of_each_channel_and_reconstructs_raw_patches() -> None:
    model = create_model("biofame_tiny").eval()
    x = torch.randn(2, 3, 200) * 5.0 + 1.0  # n = 10 patches per channel
    loss, details = model.pretrain_loss(x, torch.Generator().manual_seed(0))
    assert details["mask"].shape == (2, 3, 10)
    assert details["mask"].sum(dim=-1).tolist() == [[5, 5, 5], [5, 5, 5]]
    assert details["pred"].shape == details["target"].shape == (2, 3, 5, 20)
    # Targets are the masked input patches in input units (RevIN recover), in the order of masked_index.
    idx = details["masked_index"]
    assert torch.equal(details["mask"].sum(-1), torch.full((2, 3), 5)) and idx.shape == (2, 3, 5)
    assert details["mask"].gather(2, idx).all()
    expected = x.reshape(2, 3, 10, 20).gather(2, idx[..., None].expand(-1, -1, -1, 20))
    torch.testing.assert_close(details["target"], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss, F.mse_loss(details["pred"], details["target"]) / 3)


def test_pretrain_targets_in_revin_units_without_recover() -> None:
    model = create_model("biofame_tiny", revin_recover=False).eval()
    x = torch.randn(1, 2, 200) * 7.0 + 3.0
    _, details = model.pretrain_loss(x, torch.Generator().manual_seed(0))
    # With the default affine (1, 0) the target is the per-channel z-scored signal, not the raw one.
    z = (x - x.mean(-1, keepdim=True)) / x.std(-1, unbiased=False, keepdim=True)
    expected = z.reshape(1, 2, 10, 20).gather(2, details["masked_index"][..., None].expand(-1, -1, -1, 20))
    torch.testing.assert_close(details["target"], expected, rtol=1e-4, atol=1e-4)


def test_pretrain_loss_is_reproducible_with_a_generator() -> None:
    model = create_model("biofame_tiny").eval()
    x = torch.randn(2, 2, 200)
    a, da = model.pretrain_loss(x, torch.Generator().manual_seed(3))
    b, db = model.pretrain_loss(x, torch.Generator().manual_seed(3))
    _, dc = model.pretrain_loss(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and torch.equal(da["mask"], db["mask"])
    assert not torch.equal(da["mask"], dc["mask"])


DECODER_LAYOUTS = [("per_channel", "slot"), ("shared", "slot"), ("per_channel", "token"), ("shared", "token")]


@pytest.mark.parametrize(("decoder_mode", "decoder_pos"), DECODER_LAYOUTS)
def test_every_decoder_layout_trains_every_pretraining_weight(decoder_mode: str, decoder_pos: str) -> None:
    torch.manual_seed(0)
    model = create_model("biofame_tiny", decoder_mode=decoder_mode, decoder_pos=decoder_pos, n_chans=3)
    loss, _ = model.pretrain_loss(torch.randn(2, 3, 160), torch.Generator().manual_seed(0))
    loss.backward()
    dead = [n for n, p in model.named_parameters() if n.startswith("pretrain_head.") and not p.grad.abs().sum() > 0]
    assert dead == []


def test_slot_decoders_take_channel_ids_after_modality_dropout() -> None:
    model = create_model("biofame_tiny", decoder_mode="per_channel", decoder_pos="slot", n_chans=4)
    x = torch.randn(2, 4, 160)
    kept_x, kept = modality_dropout(x, [[0, 1], [2], [3]], p=1.0, generator=torch.Generator().manual_seed(0))
    loss, _ = model.pretrain_loss(kept_x, channel_ids=kept)
    loss.backward()
    used = {int(i) for i in kept}
    for i, recon in enumerate(model.pretrain_head.recon):
        assert (recon.weight.grad is not None) == (i in used)


def test_pretrain_rejects_more_channels_than_slots() -> None:
    model = create_model("biofame_small")
    with pytest.raises(SignalError, match=r"x has 6 channels but this model's pretraining head has n_chans=5"):
        model.pretrain_loss(torch.randn(1, 6, 200))


@pytest.mark.parametrize(
    ("channel_ids", "message"),
    [
        ([0, 0], r"channel_ids must hold 2 distinct slots in \[0, 5\), one per channel of x, got \[0, 0\]"),
        ([0, 5], r"channel_ids must hold 2 distinct slots in \[0, 5\), one per channel of x, got \[0, 5\]"),
        ([1], r"channel_ids must hold 2 distinct slots in \[0, 5\), one per channel of x, got \[1\]"),
    ],
)
def test_pretrain_rejects_bad_channel_ids(channel_ids: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("biofame_small").pretrain_loss(torch.randn(1, 2, 200), channel_ids=channel_ids)


def test_pretrain_rejects_windows_too_short_or_too_long() -> None:
    model = create_model("biofame_tiny")  # max_patches=64
    with pytest.raises(SignalError, match=r"x has 1 patches per channel; mask_ratio=0.5 must mask at least one"):
        model.pretrain_loss(torch.randn(1, 1, 20))
    with pytest.raises(SignalError, match=r"x has 65 patches per channel but the decoder knows max_patches=64"):
        model.pretrain_loss(torch.randn(1, 1, 1300))


# ---------------------------------------------------------------------------------------------------------------------
# Modality dropout and the classifier


def test_modality_groups_follow_channel_types() -> None:
    assert modality_groups(["eeg", "eog", "eeg", "resp"]) == [[0, 2], [1], [3]]


def test_modality_dropout_keeps_order_and_at_least_one_group() -> None:
    x = torch.arange(5.0).reshape(1, 5, 1).expand(2, 5, 20)
    groups = [[0, 2], [1], [3, 4]]
    kept_x, kept = modality_dropout(x, groups, p=0.0)
    assert kept.tolist() == [0, 1, 2, 3, 4] and torch.equal(kept_x, x)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        kept_x, kept = modality_dropout(x, groups, p=1.0, generator=gen)
        assert sorted(kept.tolist()) in ([0, 2], [1], [3, 4])  # exactly one whole group survives
        assert kept_x[0, :, 0].tolist() == [float(i) for i in kept.tolist()]


def test_modality_dropout_never_drops_ungrouped_channels() -> None:
    _, kept = modality_dropout(torch.randn(1, 3, 20), [[0], [1]], p=1.0)
    assert kept.tolist() == [2]


def test_modality_dropout_rate_is_close_to_p() -> None:
    gen = torch.Generator().manual_seed(1)
    kept = [len(modality_dropout(torch.randn(1, 4, 20), [[0], [1], [2], [3]], 0.25, gen)[1]) for _ in range(400)]
    assert abs(sum(kept) / (400 * 4) - 0.75) < 0.04


@pytest.mark.parametrize(
    ("groups", "p", "message"),
    [
        ([[0], [0, 1]], 0.5, r"channel 0 appears in more than one group"),
        ([[0], [3]], 0.5, r"groups\[1\] holds 3, not a channel index in \[0, 3\)"),
        ([[0], []], 0.5, r"groups\[1\] is empty"),
        ([], 0.5, r"groups is empty"),
        ([[0]], 1.5, r"p must be a probability in \[0, 1\], got 1.5"),
    ],
)
def test_modality_dropout_rejects_bad_groups(groups: list, p: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        modality_dropout(torch.randn(1, 3, 20), groups, p)


def test_classifier_head_and_reset() -> None:
    clf = EncoderClassifier(create_model("biofame_tiny"), n_classes=5)
    assert clf(torch.randn(2, 3, 100)).shape == (2, 5)
    encoder_weight = clf.encoder.patch_embed.proj.weight
    clf.reset_classifier(2)
    assert clf.n_classes == 2 and clf(torch.randn(2, 1, 100)).shape == (2, 2)
    assert clf.encoder.patch_embed.proj.weight is encoder_weight


def test_classifier_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"n_classes must be a positive int, got 0"):
        EncoderClassifier(create_model("biofame_tiny"), n_classes=0)
    with pytest.raises(TypeError, match=r"encoder must expose a positive int attribute embed_dim, got None"):
        EncoderClassifier(torch.nn.Linear(2, 2), n_classes=2)


def test_released_tokens_ignore_amplitude_but_amplitude_tokens_do_not() -> None:
    """RevIN + LayerNorm(patch) make the released encoder blind to scale; ``amplitude_token`` restores it."""
    from biosig.models import create_model

    torch.manual_seed(0)
    x = torch.randn(2, 3, 100)
    louder = x * torch.tensor([1.0, 4.0, 0.25])[None, :, None]  # each channel at another level
    released = create_model("biofame_small", dropout=0.0).eval()
    aware = create_model("biofame_emg", dropout=0.0).eval()
    with torch.no_grad():
        assert torch.allclose(released(x), released(louder), atol=1e-4)
        assert (aware(x) - aware(louder)).abs().max() > 1e-2
