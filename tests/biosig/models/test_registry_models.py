"""Registry-wide contract: every registered model encodes any channel count and order, and trains end to end.

Add an entry to ``CASES`` when you register a model; ``test_every_registered_model_has_a_case`` fails until you do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import biosig.models  # noqa: F401  (registers the built-in models)
from biosig.models import EncoderClassifier, UnknownModelError, create_model, list_models, register_model

torch.set_num_threads(1)


@dataclass(frozen=True)
class Case:
    """How to exercise one registered model in these tests."""

    overrides: dict[str, Any] = field(default_factory=dict)  # shrink large models
    patch_len: int = 20  # n_times must be a multiple of it
    pretrain: bool = True  # has pretrain_loss(x, generator=None) -> (loss, details)
    pretrain_only: tuple[str, ...] = ("pretrain_head.",)  # parameter-name prefixes unused by forward()
    # Parameters whose gradient is zero in exact arithmetic (only rounding noise reaches them), with the reason.
    inert: tuple[str, ...] = ()
    # Models tied to one input geometry (CPEP's [CLS] transformers, channel-pooled encoders): (n_chans, n_patches);
    # None = any channel count, order and length.
    fixed: tuple[int, int] | None = None


# The RevIN affine sits right before LayerNorm(patch_len), which removes any offset and positive scale, so its
# gradient is rounding noise (docs/biofame.md); it is kept for fidelity to the released model.
_REVIN = ("revin.weight", "revin.bias")

CASES: dict[str, Case] = {
    "biofame_small": Case(inert=_REVIN),
    "biofame_anchored": Case(inert=_REVIN),
    "biofame_emg": Case(inert=_REVIN),
    "biofame_tiny": Case(inert=_REVIN),
    "nots_lw": Case(patch_len=8, pretrain_only=("decoder.",)),
    "nots_tiny": Case(patch_len=4, pretrain_only=("decoder.",)),
    # CPEP encoders know where each channel / joint sits (the spatial pattern of sEMG is the gesture), so they take
    # one geometry; their own tests (tests/biosig/models/test_cpep.py) check the errors for any other.
    "cpep_pose": Case(overrides=dict(n_frames=40, patch_frames=5), patch_len=5, fixed=(23, 8)),
    "cpep_emg_transformer": Case(overrides=dict(n_chans=3, n_times=160, patch_len=20), fixed=(3, 8)),
    "cpep_emg_biofame": Case(overrides=dict(n_chans=3, max_patches=8, patch_len=20), inert=_REVIN, fixed=(3, 8)),
    "cpep": Case(
        overrides=dict(emg_config=dict(n_chans=3, n_times=160, patch_len=20), pose_config=dict(n_frames=40)),
        pretrain=False,
        pretrain_only=("emg_encoder.pretrain_head.", "pose_encoder.", "logit_scale"),
        fixed=(3, 8),
    ),
}

NAMES = list_models()


def _build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, **CASES[name].overrides)


def _fixed(name: str) -> None:
    if CASES[name].fixed is not None:
        pytest.skip(f"{name} takes one input geometry {CASES[name].fixed} (channels, patches)")


def _input(name: str, b: int, c: int, n_patches: int) -> torch.Tensor:
    """A batch for ``name``: ``(b, c, n_patches * patch_len)``, or the model's one geometry when it has one."""
    case = CASES[name]
    if case.fixed is not None:
        c, n_patches = case.fixed
    return _signal(b, c, n_patches, case.patch_len)


def _signal(b: int, c: int, n_patches: int, patch_len: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, n_patches * patch_len, generator=gen)


def _check_grads(model: torch.nn.Module, case: Case, prefix: str = "") -> None:
    """Every parameter of ``model`` (named ``prefix + name`` inside the tested model) has a useful gradient."""
    skip = tuple(prefix + p for p in case.pretrain_only) if prefix else ()
    inert = {prefix + n for n in case.inert}
    missing, zero = [], []
    for name, p in model.named_parameters():
        if skip and name.startswith(skip):
            continue
        if p.grad is None:
            missing.append(name)
            continue
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        if name not in inert and not p.grad.abs().sum() > 0:
            zero.append(name)
    assert missing == [], f"parameters without a gradient: {missing}"
    assert zero == [], f"parameters with an all-zero gradient: {zero}"


def test_every_registered_model_has_a_case() -> None:
    assert sorted(set(NAMES) - set(CASES)) == [], "registered models missing from CASES"
    assert sorted(set(CASES) - set(NAMES)) == [], "CASES names models that are not registered"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_chans", [1, 3, 8])
def test_forward_any_channel_count(name: str, n_chans: int) -> None:
    _fixed(name)
    model = _build(name).eval()
    case = CASES[name]
    with torch.no_grad():
        out = model(_signal(2, n_chans, 8, case.patch_len))
    assert out.shape == (2, model.embed_dim)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_forward_lengths_that_are_multiples_of_the_patch(name: str) -> None:
    _fixed(name)
    model = _build(name).eval()
    case = CASES[name]
    with torch.no_grad():
        for n_patches in (2, 5, 16):
            out = model(_signal(1, 2, n_patches, case.patch_len))
            assert out.shape == (1, model.embed_dim) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_embedding_is_invariant_to_channel_order(name: str) -> None:
    _fixed(name)
    model = _build(name).eval()
    x = _signal(2, 5, 8, CASES[name].patch_len)
    perm = torch.tensor([3, 0, 4, 2, 1])
    with torch.no_grad():
        torch.testing.assert_close(model(x[:, perm]), model(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_embedding_and_head_train_every_encoder_weight(name: str) -> None:
    case = CASES[name]
    clf = EncoderClassifier(_build(name), n_classes=3).train()
    logits = clf(_input(name, 4, 3, 8))
    assert logits.shape == (4, 3)
    F.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    _check_grads(clf, case, prefix="encoder.")


@pytest.mark.parametrize("name", NAMES)
def test_pretraining_trains_every_weight(name: str) -> None:
    case = CASES[name]
    if not case.pretrain:
        pytest.skip(f"{name} has no standalone pretraining loss")
    model = _build(name).train()
    slots = getattr(model, "pretrain_channel_slots", None)
    c = slots if slots is not None else 3  # use every channel slot so every per-slot decoder is reached
    loss, details = model.pretrain_loss(_input(name, 2, c, 8), generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert isinstance(details, dict)
    loss.backward()
    _check_grads(model, case)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_chans", [1, 3, 8])
def test_pretraining_any_channel_count_where_supported(name: str, n_chans: int) -> None:
    case = CASES[name]
    model = _build(name)
    slots = getattr(model, "pretrain_channel_slots", None)
    if not case.pretrain or (slots is not None and n_chans > slots):
        pytest.skip(f"{name} pretrains at most {slots} channels")
    _fixed(name)
    loss, _ = model.pretrain_loss(_signal(2, n_chans, 6, case.patch_len))
    assert torch.isfinite(loss)


# ---------------------------------------------------------------------------------------------------------------------
# The registry itself


def test_unknown_model_lists_available_names() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'biofame_huge'; available: biofame_anchored, "):
        create_model("biofame_huge")


def test_overrides_reach_the_config() -> None:
    model = create_model("biofame_tiny", d_model=8, fusion_heads=2)
    assert model.config.d_model == 8 and model.embed_dim == 8


def test_registering_a_second_builder_under_a_taken_name_fails() -> None:
    def biofame_small() -> torch.nn.Module:  # same name as the registered builder
        raise AssertionError("never called")

    with pytest.raises(ValueError, match=r"model 'biofame_small' is already registered"):
        register_model(biofame_small)
    assert create_model("biofame_small").config.d_model == 64  # the original builder is untouched
