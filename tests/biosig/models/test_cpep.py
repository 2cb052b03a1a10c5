"""CPEP encoders and the aligned model: shapes, input errors, the masked objectives, InfoNCE and freezing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from biosig.errors import SignalError
from biosig.models import create_model, load_checkpoint, save_checkpoint
from biosig.models.cpep import CPEP, CPEPConfig, info_nce, patch_log_rms, pose_signal_spec, pose_spec_dict

torch.set_num_threads(1)

SMALL = dict(d_model=16, depth=1, heads=2, mlp_dim=32, decoder_dim=16)


def _pose(**kw):
    torch.manual_seed(0)
    return create_model("cpep_pose", **{**SMALL, **kw})


def _emg(**kw):
    torch.manual_seed(0)
    return create_model("cpep_emg_transformer", **{**SMALL, "n_chans": 4, "n_times": 100, **kw})


def _cpep(**kw):
    torch.manual_seed(0)
    return create_model(
        "cpep",
        emg_config={**SMALL, "n_chans": 4, "n_times": 100},
        pose_config=dict(SMALL),
        head_hidden=16,
        **kw,
    )


def test_pose_encoder_maps_windows_to_embeddings():
    model = _pose().eval()
    out = model(torch.randn(3, 23, 50))
    assert out.shape == (3, 16) and model.embed_dim == 16
    assert model.config.n_patches == 10 and model.config.window_s == 1.0


def test_pose_encoder_names_the_expected_shape():
    with pytest.raises(
        SignalError, match=r"poses must have shape \(batch, n_dof=23, n_frames=50\) \(1 s at 50 Hz\), got \(2, 20, 50\)"
    ):
        _pose()(torch.randn(2, 20, 50))
    with pytest.raises(SignalError, match=r"poses must be a float tensor of shape \(batch, 23, 50\), got \(23, 50\)"):
        _pose()(torch.randn(23, 50))


def test_emg_transformer_names_the_expected_shape():
    with pytest.raises(
        SignalError, match=r"x must have shape \(batch, n_chans=4, n_times=100\) \(0.2 s at 500 Hz\), got \(1, 4, 120\)"
    ):
        _emg()(torch.randn(1, 4, 120))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_frames=52), r"n_frames=52 must be a multiple of patch_frames=5"),
        (dict(pooling="max"), r"pooling must be one of 'cls', 'mean', got 'max'"),
        (dict(mask_ratio=1.0), r"mask_ratio must be in \(0, 1\), got 1.0"),
        (dict(d_model=18), r"d_model=18 and decoder_dim=16 must be divisible by heads=4"),
    ],
)
def test_pose_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model("cpep_pose", **{"decoder_dim": 16, **kwargs})


def test_emg_target_must_be_known():
    with pytest.raises(ValueError, match=r"target must be one of 'envelope', 'raw', got 'spectrum'"):
        create_model("cpep_emg_transformer", target="spectrum")


def test_mae_masks_half_the_patches_and_reconstructs_them():
    model = _pose()
    x = torch.randn(4, 23, 50)
    loss, details = model.pretrain_loss(x, torch.Generator().manual_seed(0))
    assert details["mask"].shape == (4, 10) and details["mask"].sum(dim=1).tolist() == [5, 5, 5, 5]
    assert details["pred"].shape == details["target"].shape == (4, 5, 23 * 5)
    # The targets are the masked patches' angles, in the order the mask drew them.
    patches = x.reshape(4, 23, 10, 5).permute(0, 2, 1, 3).reshape(4, 10, 115)
    masked = details["mask"]
    assert torch.allclose(torch.sort(details["target"].sum(-1), dim=1).values,
                          torch.sort(patches[masked].reshape(4, 5, 115).sum(-1), dim=1).values)  # fmt: skip
    assert torch.isclose(loss, F.mse_loss(details["pred"], details["target"]))


def test_mae_is_seeded_by_the_generator():
    model = _pose().eval()
    x = torch.randn(2, 23, 50)
    a = model.pretrain_loss(x, torch.Generator().manual_seed(3))[1]["mask"]
    b = model.pretrain_loss(x, torch.Generator().manual_seed(3))[1]["mask"]
    c = model.pretrain_loss(x, torch.Generator().manual_seed(4))[1]["mask"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_emg_envelope_target_is_the_per_channel_log_rms():
    model = _emg()
    x = torch.randn(2, 4, 100)
    target = model.targets(x)
    assert target.shape == (2, 4, 4)  # 4 patches of 25, 4 channels each
    expected = torch.log(x[0, 2, 25:50].pow(2).mean().sqrt() + 1e-3)
    assert torch.isclose(target[0, 1, 2], expected)
    raw = _emg(target="raw").targets(x)
    assert raw.shape == (2, 4, 100) and torch.equal(raw[0, 1].reshape(4, 25)[2], x[0, 2, 25:50])


def test_emg_transformer_sees_amplitude():
    """Scaling the signal changes the embedding: amplitude (how hard the muscles work) reaches the model."""
    model = _emg().eval()
    x = torch.randn(1, 4, 100)
    assert not torch.allclose(model(x), model(3 * x), atol=1e-3)
    assert torch.all(patch_log_rms(torch.zeros(1, 25)) == math.log(1e-3))  # silent patches stay finite


def test_biofame_backbone_keeps_channel_identity():
    torch.manual_seed(0)
    model = create_model("cpep_emg_biofame", d_model=16, fa_depth=1, fusion_heads=2, filter_heads=2, n_chans=3,
                         patch_len=20, max_patches=5).eval()  # fmt: skip
    x = torch.randn(2, 3, 100)
    out = model(x)
    assert out.shape == (2, 48) and model.embed_dim == 48
    swapped = model(x[:, [1, 0, 2]])
    assert not torch.allclose(out, swapped, atol=1e-4)  # channel order matters
    assert torch.allclose(out.reshape(2, 3, 16)[:, [1, 0, 2]], swapped.reshape(2, 3, 16), atol=1e-5)
    with pytest.raises(SignalError, match=r"x has 4 channels but this channel-pooled bioFAME embeds n_chans=3"):
        model(torch.randn(1, 4, 100))


def test_info_nce_matches_its_definition():
    torch.manual_seed(0)
    u, v = F.normalize(torch.randn(5, 8), dim=-1), F.normalize(torch.randn(5, 8), dim=-1)
    scale = torch.tensor(math.log(1 / 0.02))
    loss, logits = info_nce(u, v, scale)
    sims = (u @ v.T) / 0.02
    rows = -torch.log_softmax(sims, dim=1).diagonal().mean()
    cols = -torch.log_softmax(sims, dim=0).diagonal().mean()
    assert torch.allclose(logits, sims, atol=1e-4) and torch.isclose(loss, 0.5 * (rows + cols), atol=1e-5)


def test_cpep_embeddings_are_unit_norm_in_one_space():
    model = _cpep().eval()
    z = model(torch.randn(3, 4, 100))
    p = model.embed_pose(torch.randn(2, 23, 50))
    assert z.shape == (3, 16) and p.shape == (2, 16)
    assert torch.allclose(z.norm(dim=-1), torch.ones(3)) and torch.allclose(p.norm(dim=-1), torch.ones(2))
    assert model.temperature == pytest.approx(0.02)
    assert model.config.emg_config["d_model"] == 16 and "decoder_depth" in model.config.emg_config  # full config


def test_frozen_pose_encoder_gets_no_gradient_and_stays_in_eval_mode():
    model = _cpep().freeze_pose()
    model.train()
    assert not model.pose_encoder.training and model.emg_encoder.training
    loss, details = model.contrastive_loss(torch.randn(4, 4, 100), torch.randn(4, 23, 50))
    loss.backward()
    assert all(p.grad is None for p in model.pose_encoder.parameters())
    assert model.emg_head.net[-1].weight.grad is not None and model.logit_scale.grad is not None
    assert set(details) == {"temperature", "accuracy"}


def test_temperature_is_learnable_and_clamped():
    model = _cpep(min_temperature=0.015)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1 / 0.001))
    model.clamp_temperature()
    assert model.temperature == pytest.approx(0.015)


def test_alignment_learns_pairs():
    """A few steps of InfoNCE on fixed pairs raise the in-batch retrieval accuracy from chance."""
    torch.manual_seed(0)
    model = _cpep().freeze_pose()
    x, poses = torch.randn(16, 4, 100), torch.randn(16, 23, 50)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(60):
        loss, _ = model.contrastive_loss(x, poses)
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        loss, details = model.contrastive_loss(x, poses)
    assert float(loss) < 0.5 * first
    assert float(details["accuracy"]) > 0.5  # chance is 1/16


def test_contrastive_batch_errors():
    model = _cpep()
    with pytest.raises(SignalError, match=r"x holds 3 windows but poses 2; pairs must line up"):
        model.contrastive_loss(torch.randn(3, 4, 100), torch.randn(2, 23, 50))
    with pytest.raises(SignalError, match=r"a contrastive batch needs at least 2 pairs"):
        model.contrastive_loss(torch.randn(1, 4, 100), torch.randn(1, 23, 50))


def test_cpep_config_errors():
    with pytest.raises(ValueError, match=r"temperature_init=0.005 is below min_temperature=0.01"):
        CPEPConfig(temperature_init=0.005)
    with pytest.raises(ValueError, match=r"pose_arch 'cpep_emg_transformer' is not a pose encoder"):
        CPEP(CPEPConfig(pose_arch="cpep_emg_transformer"))


def test_checkpoint_round_trip_rebuilds_the_aligned_model(tmp_path):
    model = _cpep().eval()
    spec = dict(sfreq=500.0, n_times=100, ch_types=("emg",) * 4)
    path = save_checkpoint(tmp_path / "cpep.pt", model, arch="cpep", config=model.config, signal_spec=spec,
                           training=dict(data=None, command="test", seed=0, metrics=None),
                           extra={"pose_spec": pose_spec_dict(model.pose_config)})  # fmt: skip
    loaded, meta = load_checkpoint(path)
    x, p = torch.randn(2, 4, 100), torch.randn(2, 23, 50)
    assert torch.equal(loaded(x), model(x)) and torch.equal(loaded.embed_pose(p), model.embed_pose(p))
    assert meta["extra"]["pose_spec"]["joints"][-1] == "WRIST_PS"
    spec = pose_signal_spec(model.pose_config)
    assert spec.ch_types == ("pose",) * 23 and spec.units[0] == "rad" and spec.sfreq == 50.0


def test_pose_standardisation_is_per_dof_and_saved_with_the_weights(tmp_path):
    model = _pose().eval()
    x = torch.randn(2, 23, 50)
    before = model(x)
    mean, std = torch.linspace(-0.2, 0.2, 23), torch.full((23,), 0.3)
    std[0] = 0.01  # floored at 0.1 rad
    model.set_normalization(mean, std)
    assert model.pose_std[0] == pytest.approx(0.1) and model.pose_std[1] == pytest.approx(0.3)
    patches = model.targets(x)  # the standardised angles
    assert torch.allclose(patches[0, 0, :5], (x[0, 0, :5] - mean[0]) / 0.1)
    assert not torch.allclose(model(x), before)
    path = save_checkpoint(tmp_path / "pose.pt", model, arch="cpep_pose", config=model.config,
                           signal_spec=pose_signal_spec(model.config),
                           training=dict(data=None, command="test", seed=0, metrics=None))  # fmt: skip
    loaded, _ = load_checkpoint(path)
    assert torch.equal(loaded.pose_mean, model.pose_mean) and torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match=r"mean and std must be finite \(23,\) tensors, got \(22,\), \(23,\)"):
        model.set_normalization(torch.zeros(22), torch.ones(23))


def test_pose_std_floor_comes_from_the_config_and_is_validated():
    from biosig.models.cpep import PoseEncoder, PoseEncoderConfig

    model = PoseEncoder(PoseEncoderConfig(decoder_dim=16, std_floor=0.25))
    model.set_normalization(torch.zeros(23), torch.full((23,), 0.05))
    assert torch.allclose(model.pose_std, torch.full((23,), 0.25))
    for bad in (0, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match="std_floor must be a positive number of radians"):
            PoseEncoderConfig(std_floor=bad)
