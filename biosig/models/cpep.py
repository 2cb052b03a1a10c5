"""CPEP: contrastive pose-EMG pre-training (Cui et al., arXiv 2509.04699), encoders and the aligned model.

Three encoder families and the model that aligns them (``docs/cpep.md`` explains every choice):

* :class:`PoseEncoder` (``cpep_pose``): joint-angle windows ``(b, n_dof, n_frames)`` in radians, HAND_JOINTS
  order (:mod:`biosig.signals.pose`), cut into patches of ``patch_frames`` frames across all DOFs, a learned
  time position per patch, a [CLS] token and a pre-norm Transformer; the embedding is the final [CLS] state.
* :class:`EMGTransformer` (``cpep_emg_transformer``): sEMG windows ``(b, n_chans, n_times)``, each patch of
  ``patch_len`` samples across all channels embedded from its raw samples *and* its per-channel log-RMS
  (the amplitude a raw linear patch embedding cannot compute), then the same [CLS] Transformer.
* :class:`BioFAMEChannels` (``cpep_emg_biofame``): the bioFAME backbone (:mod:`biosig.models.biofame`) with
  amplitude tokens, whose embedding keeps channel identity (each channel's tokens averaged over time and
  concatenated in channel order) because a gesture's EMG is *where* on the forearm the muscles fire.

Each encoder has its own masked-autoencoder objective (``pretrain_loss``, 50% of the tokens masked): the [CLS]
Transformers encode the visible patches only and a light decoder reconstructs the masked ones (pose: the joint
angles; EMG: the per-channel log-RMS envelope by default, see :class:`EMGTransformerConfig`); the bioFAME backbone
keeps its frequency-maintain objective. :class:`CPEP` (``cpep``) then holds an EMG encoder with a projection
head and a (frozen) pose encoder, and :meth:`CPEP.contrastive_loss` is the symmetric InfoNCE between them with a
learnable temperature. ``CPEP.forward(x)`` is the aligned, L2-normalised EMG embedding, so a CPEP checkpoint is
an ordinary EMG encoder for :mod:`biosig.runtime` and ``biosig export onnx``; :meth:`CPEP.embed_pose` is the pose
side (:func:`biosig.runtime.load_pose_encoder`).

Shape letters: ``b`` batch, ``c`` EMG channels, ``j`` pose DOFs, ``t`` samples, ``f`` frames, ``n`` patches
(tokens), ``m`` masked tokens, ``p`` samples (or frames) per patch, ``d`` width, ``k`` target values per token.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biosig.errors import SignalError
from biosig.models.biofame import BioFAME, BioFAMEConfig
from biosig.models.checkpoint import SignalSpec
from biosig.models.layers import Transformer
from biosig.models.registry import apply_overrides, create_model, register_model
from biosig.signals.pose import HAND_JOINTS, N_HAND_JOINTS

__all__ = [
    "CPEP",
    "EMG_TARGETS",
    "POOLINGS",
    "BioFAMEChannels",
    "CPEPConfig",
    "EMGTransformer",
    "EMGTransformerConfig",
    "PoseEncoder",
    "PoseEncoderConfig",
    "ProjectionHead",
    "info_nce",
    "pose_signal_spec",
    "pose_spec_dict",
]

log = logging.getLogger(__name__)

POOLINGS = ("cls", "mean")
#: What the EMG transformer's decoder reconstructs for a masked patch.
EMG_TARGETS = ("envelope", "raw")
#: Floor inside the log of a patch RMS, in (scaled) input units: keeps silent or zero-padded patches finite.
LOG_RMS_FLOOR = 1e-3


def _check_windows(
    x: Any, what: str, rows: tuple[str, int], cols: tuple[str, int], window_s: float, rate: float
) -> None:
    """``x`` must be a float ``(batch >= 1, rows, cols)`` tensor; the error names the expected geometry."""
    (row_name, n_rows), (col_name, n_cols) = rows, cols
    if not isinstance(x, Tensor) or x.ndim != 3 or not x.is_floating_point():
        raise SignalError(
            f"{what} must be a float tensor of shape (batch, {n_rows}, {n_cols}), "
            f"got {tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
        )
    if x.shape[1:] != (n_rows, n_cols) or x.shape[0] < 1:
        raise SignalError(
            f"{what} must have shape (batch, {row_name}={n_rows}, {col_name}={n_cols}) "
            f"({window_s:g} s at {rate:g} Hz), got {tuple(x.shape)}"
        )


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_common(cfg: Any) -> None:
    for name in ("d_model", "depth", "heads", "mlp_dim", "decoder_dim", "decoder_depth"):
        _positive_int(name, getattr(cfg, name))
    if cfg.d_model % cfg.heads or cfg.decoder_dim % cfg.heads:
        raise ValueError(
            f"d_model={cfg.d_model} and decoder_dim={cfg.decoder_dim} must be divisible by heads={cfg.heads}"
        )
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout!r}")
    if not 0.0 < cfg.mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {cfg.mask_ratio!r}")
    if cfg.pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(map(repr, POOLINGS))}, got {cfg.pooling!r}")


def _check_rate(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number of Hz, got {value!r}")


# ---------------------------------------------------------------------------------------------------------------------
# The [CLS] Transformer with its masked-autoencoder head


class MAEDecoder(nn.Module):
    """Mask token, decoder positions, ``depth`` pre-norm blocks and a Linear(d -> k) predictor per token."""

    def __init__(self, d_in: int, dim: int, depth: int, heads: int, mlp_dim: int, n_tokens: int, k: int) -> None:
        super().__init__()
        self.embed = nn.Linear(d_in, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.pos = nn.Parameter(torch.randn(1, n_tokens + 1, dim) * 0.02)  # slot 0 is the [CLS] token
        self.blocks = Transformer(dim, depth, heads, mlp_dim, 0.0)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, k)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, encoded: Tensor, order: Tensor, n_masked: int) -> Tensor:
        """``encoded`` ``(b, 1 + n - m, d_in)`` ([CLS] then visible tokens in ``order[:, m:]`` order) ->
        ``(b, m, k)`` predictions for the masked tokens in ``order[:, :m]`` order."""
        z = self.embed(encoded)  # (b, 1 + n - m, dim)
        b, _, dim = z.shape
        n = order.shape[1]
        shuffled = torch.cat([self.mask_token.expand(b, n_masked, dim), z[:, 1:]], dim=1)  # (b, n, dim) in `order`
        restore = order.argsort(dim=1)  # (b, n)
        seq = shuffled.gather(1, restore[..., None].expand(b, n, dim))  # (b, n, dim) in time order
        seq = torch.cat([z[:, :1], seq], dim=1) + self.pos  # (b, 1 + n, dim)
        out = self.out(self.norm(self.blocks(seq)))[:, 1:]  # (b, n, k)
        return out.gather(1, order[:, :n_masked, None].expand(b, n_masked, out.shape[-1]))  # (b, m, k)


class _CLSTransformer(nn.Module):
    """Shared body of the pose and EMG transformers: tokens -> [CLS] Transformer -> embedding, and the MAE loss.

    Subclasses set ``config`` and implement ``tokenize(x) -> (b, n, d)`` and ``targets(x) -> (b, n, k)``.
    """

    config: Any

    def _build(self, n_tokens: int, target_dim: int) -> None:
        cfg = self.config
        d = cfg.d_model
        self.n_tokens = n_tokens
        self.embed_dim = d
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, d) * 0.02)  # one learned position per time patch
        self.blocks = Transformer(d, cfg.depth, cfg.heads, cfg.mlp_dim, cfg.dropout)
        self.norm = nn.LayerNorm(d)
        self.pretrain_head = MAEDecoder(
            d, cfg.decoder_dim, cfg.decoder_depth, cfg.heads, 2 * cfg.decoder_dim, n_tokens, target_dim
        )

    def tokenize(self, x: Tensor) -> Tensor:  # pragma: no cover (abstract)
        raise NotImplementedError

    def targets(self, x: Tensor) -> Tensor:  # pragma: no cover (abstract)
        raise NotImplementedError

    def check_input(self, x: Tensor) -> None:  # pragma: no cover (abstract)
        raise NotImplementedError

    def forward_tokens(self, x: Tensor) -> Tensor:
        """``x`` -> final states ``(b, 1 + n, d)``: the [CLS] token, then one state per time patch."""
        self.check_input(x)
        tokens = self.tokenize(x) + self.pos  # (b, n, d)
        seq = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)  # (b, 1 + n, d)
        return self.norm(self.blocks(seq))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` -> ``(b, d_model)``: the [CLS] state (``pooling='cls'``) or the mean of the patch states."""
        states = self.forward_tokens(x)
        return states[:, 0] if self.config.pooling == "cls" else states[:, 1:].mean(dim=1)

    def pretrain_loss(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Masked-autoencoder loss: ``int(mask_ratio * n)`` patches per example hidden from the encoder.

        The encoder sees the [CLS] token and the visible patches only (with their positions); the decoder sees
        their states plus a mask token at every hidden position and predicts ``targets(x)`` there. The loss is
        the MSE over the masked patches. ``generator`` (on ``x``'s device) draws the masks.

        Returns the loss and detached ``pred``/``target`` ``(b, m, k)`` and ``mask`` ``(b, n)`` (True = masked).
        """
        self.check_input(x)
        cfg = self.config
        tokens = self.tokenize(x) + self.pos  # (b, n, d)
        b, n, d = tokens.shape
        n_masked = int(cfg.mask_ratio * n)
        if n_masked < 1 or n_masked >= n:
            raise SignalError(
                f"{n} patches per window with mask_ratio={cfg.mask_ratio} must mask at least one and keep one"
            )
        order = torch.rand(b, n, generator=generator, device=x.device).argsort(dim=1)  # (b, n)
        visible = tokens.gather(1, order[:, n_masked:, None].expand(b, n - n_masked, d))  # (b, n - m, d)
        seq = torch.cat([self.cls_token.expand(b, -1, -1), visible], dim=1)  # (b, 1 + n - m, d)
        encoded = self.norm(self.blocks(seq))
        pred = self.pretrain_head(encoded, order, n_masked)  # (b, m, k)
        target = self.targets(x)  # (b, n, k)
        target = target.gather(1, order[:, :n_masked, None].expand(b, n_masked, target.shape[-1]))
        loss = F.mse_loss(pred, target)
        mask = torch.zeros(b, n, dtype=torch.bool, device=x.device)
        mask.scatter_(1, order[:, :n_masked], True)
        return loss, {"pred": pred.detach(), "target": target.detach(), "mask": mask}


# ---------------------------------------------------------------------------------------------------------------------
# Pose encoder


@dataclass(frozen=True)
class PoseEncoderConfig:
    """Hyper-parameters of :class:`PoseEncoder`.

    Input: ``n_dof`` joint angles (radians, HAND_JOINTS order: 20 finger angles then 3 wrist DOFs) over
    ``n_frames`` frames at ``frame_rate`` Hz. ``patch_frames`` frames (all DOFs) form one token. Transformer:
    ``d_model`` wide, ``depth`` blocks of ``heads`` heads with MLP width ``mlp_dim`` and ``dropout``; ``pooling``
    ``'cls'`` (the paper's) or ``'mean'``. Pretraining: ``mask_ratio`` of the patches hidden, a decoder
    ``decoder_dim`` wide and ``decoder_depth`` blocks deep reconstructs their angles. ``standardize``: training
    sets a per-DOF standardisation from its poses, each std floored at ``std_floor`` radians (see
    :class:`PoseEncoder`); off, the encoder reads radians as they are.
    """

    n_dof: int = N_HAND_JOINTS
    n_frames: int = 50
    frame_rate: float = 50.0
    patch_frames: int = 5
    d_model: int = 64
    depth: int = 3
    heads: int = 4
    mlp_dim: int = 128
    dropout: float = 0.1
    pooling: str = "cls"
    mask_ratio: float = 0.5
    decoder_dim: int = 64
    decoder_depth: int = 1
    standardize: bool = True
    std_floor: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.std_floor, bool) or not isinstance(self.std_floor, (int, float)) or not self.std_floor > 0:
            raise ValueError(f"std_floor must be a positive number of radians, got {self.std_floor!r}")
        for name in ("n_dof", "n_frames", "patch_frames"):
            _positive_int(name, getattr(self, name))
        _check_rate("frame_rate", self.frame_rate)
        if self.n_frames % self.patch_frames:
            raise ValueError(f"n_frames={self.n_frames} must be a multiple of patch_frames={self.patch_frames}")
        if self.n_frames // self.patch_frames < 2:
            raise ValueError(f"n_frames={self.n_frames} / patch_frames={self.patch_frames} gives fewer than 2 patches")
        _check_common(self)

    @property
    def n_patches(self) -> int:
        return self.n_frames // self.patch_frames

    @property
    def window_s(self) -> float:
        return self.n_frames / self.frame_rate


class PoseEncoder(_CLSTransformer):
    """Pose windows ``(b, n_dof, n_frames)`` radians -> ``(b, d_model)`` embeddings (see the module docstring).

    **Per-DOF standardisation.** Joint angles enter as ``(angle - pose_mean) / pose_std`` per DOF, with both
    ``(n_dof,)`` buffers set from the training poses by :meth:`set_normalization` (identity until then) and saved
    with the weights. The wrist's deviation range (0.3-0.45 rad) is a fraction of a finger's flexion range (up to
    1.9 rad), so on raw radians the masked-reconstruction loss, and with it the embedding, is dominated by the
    fingers: rest, radial and ulnar deviation embedded at cosine 0.98-0.99 of each other. The reconstruction
    target is the standardised angles too, so every DOF weighs alike.
    """

    def __init__(self, config: PoseEncoderConfig) -> None:
        super().__init__()
        if not isinstance(config, PoseEncoderConfig):
            raise TypeError(f"config must be a PoseEncoderConfig, got {type(config).__name__}")
        self.config = config
        width = config.n_dof * config.patch_frames
        self.register_buffer("pose_mean", torch.zeros(config.n_dof))
        self.register_buffer("pose_std", torch.ones(config.n_dof))
        self.patch_embed = nn.Sequential(nn.Linear(width, config.d_model), nn.LayerNorm(config.d_model))
        self._build(config.n_patches, width)

    def set_normalization(self, mean: Tensor, std: Tensor, min_std: float | None = None) -> None:
        """Standardise each DOF by ``mean`` and ``std`` ``(n_dof,)`` radians.

        ``std`` is floored at ``min_std`` (default ``config.std_floor``): joints that barely move in the training
        poses (finger abduction, std 0.03-0.07 rad) would otherwise turn sub-degree jitter into inputs of
        several units.
        """
        min_std = self.config.std_floor if min_std is None else min_std
        mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        n = self.config.n_dof
        if mean.shape != (n,) or std.shape != (n,) or not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise ValueError(f"mean and std must be finite ({n},) tensors, got {tuple(mean.shape)}, {tuple(std.shape)}")
        with torch.no_grad():
            self.pose_mean.copy_(mean)
            self.pose_std.copy_(std.clamp_min(min_std))

    def check_input(self, x: Tensor) -> None:
        cfg = self.config
        _check_windows(x, "poses", ("n_dof", cfg.n_dof), ("n_frames", cfg.n_frames), cfg.window_s, cfg.frame_rate)

    def _patches(self, x: Tensor) -> Tensor:
        x = (x - self.pose_mean[:, None]) / self.pose_std[:, None]  # (b, j, f) standardised
        b, j, f = x.shape
        p = self.config.patch_frames
        return x.reshape(b, j, f // p, p).permute(0, 2, 1, 3).reshape(b, f // p, j * p)  # (b, n, j*p)

    def tokenize(self, x: Tensor) -> Tensor:
        return self.patch_embed(self._patches(x))  # (b, n, d)

    def targets(self, x: Tensor) -> Tensor:
        return self._patches(x)  # (b, n, j*p): the masked patches' standardised angles


def pose_spec_dict(config: Any) -> dict[str, Any]:
    """``{"n_dof", "n_frames", "frame_rate", "joints", "units"}`` of a pose encoder config (checkpoint ``extra``)."""
    return {
        "n_dof": int(config.n_dof),
        "n_frames": int(config.n_frames),
        "frame_rate": float(config.frame_rate),
        "joints": list(HAND_JOINTS[: config.n_dof]),
        "units": "rad",
    }


def pose_signal_spec(config: Any) -> SignalSpec:
    """The pose encoder's input as a :class:`SignalSpec`: ``n_dof`` ``pose`` channels in radians at the frame rate."""
    return SignalSpec(
        sfreq=float(config.frame_rate),
        n_times=int(config.n_frames),
        ch_types=("pose",) * config.n_dof,
        units=("rad",) * config.n_dof,
        ch_names=tuple(HAND_JOINTS[: config.n_dof]),
    )


# ---------------------------------------------------------------------------------------------------------------------
# EMG transformer


@dataclass(frozen=True)
class EMGTransformerConfig:
    """Hyper-parameters of :class:`EMGTransformer`.

    Input: ``n_chans`` sEMG channels, ``n_times`` samples at ``sfreq`` Hz (inputs scaled to order one by the
    training pipeline's robust scaling). ``patch_len`` samples of all channels form one token, embedded as
    ``Linear(raw samples) + Linear(log-RMS per channel)``. Transformer as in :class:`PoseEncoderConfig`.
    ``target`` of the masked-patch reconstruction: ``'envelope'`` (default) the per-channel log-RMS of each
    masked patch; ``'raw'`` its samples. The sEMG carrier inside a patch is broadband noise that its neighbours
    do not predict, so a raw-sample MSE is minimised by predicting zero and teaches little; the envelope is the
    part of a patch that the muscles' activation, and thus the context, determines.
    """

    n_chans: int = 16
    sfreq: float = 500.0
    n_times: int = 500
    patch_len: int = 25
    d_model: int = 64
    depth: int = 4
    heads: int = 4
    mlp_dim: int = 128
    dropout: float = 0.1
    pooling: str = "cls"
    mask_ratio: float = 0.5
    decoder_dim: int = 64
    decoder_depth: int = 1
    target: str = "envelope"

    def __post_init__(self) -> None:
        for name in ("n_chans", "n_times", "patch_len"):
            _positive_int(name, getattr(self, name))
        _check_rate("sfreq", self.sfreq)
        if self.n_times % self.patch_len:
            raise ValueError(f"n_times={self.n_times} must be a multiple of patch_len={self.patch_len}")
        if self.n_times // self.patch_len < 2:
            raise ValueError(f"n_times={self.n_times} / patch_len={self.patch_len} gives fewer than 2 patches")
        if self.target not in EMG_TARGETS:
            raise ValueError(f"target must be one of {', '.join(map(repr, EMG_TARGETS))}, got {self.target!r}")
        _check_common(self)

    @property
    def n_patches(self) -> int:
        return self.n_times // self.patch_len


def patch_log_rms(patches: Tensor) -> Tensor:
    """``(..., p)`` patches -> ``(...)`` log of each patch's RMS (floored at :data:`LOG_RMS_FLOOR`)."""
    return torch.log(patches.pow(2).mean(dim=-1).sqrt() + LOG_RMS_FLOOR)


class EMGTransformer(_CLSTransformer):
    """sEMG windows ``(b, n_chans, n_times)`` -> ``(b, d_model)`` embeddings (see the module docstring)."""

    def __init__(self, config: EMGTransformerConfig) -> None:
        super().__init__()
        if not isinstance(config, EMGTransformerConfig):
            raise TypeError(f"config must be an EMGTransformerConfig, got {type(config).__name__}")
        self.config = config
        c, p, d = config.n_chans, config.patch_len, config.d_model
        self.raw_embed = nn.Linear(c * p, d)
        self.amplitude_embed = nn.Linear(c, d)
        self.embed_norm = nn.LayerNorm(d)
        self._build(config.n_patches, c if config.target == "envelope" else c * p)

    def check_input(self, x: Tensor) -> None:
        cfg = self.config
        _check_windows(x, "x", ("n_chans", cfg.n_chans), ("n_times", cfg.n_times), cfg.n_times / cfg.sfreq, cfg.sfreq)

    def _patches(self, x: Tensor) -> Tensor:
        b, c, t = x.shape
        p = self.config.patch_len
        return x.reshape(b, c, t // p, p).permute(0, 2, 1, 3)  # (b, n, c, p)

    def tokenize(self, x: Tensor) -> Tensor:
        patches = self._patches(x)  # (b, n, c, p)
        raw = self.raw_embed(patches.flatten(2))  # (b, n, d)
        amplitude = self.amplitude_embed(patch_log_rms(patches))  # (b, n, c) -> (b, n, d)
        return self.embed_norm(raw + amplitude)

    def targets(self, x: Tensor) -> Tensor:
        patches = self._patches(x)  # (b, n, c, p)
        return patch_log_rms(patches) if self.config.target == "envelope" else patches.flatten(2)


# ---------------------------------------------------------------------------------------------------------------------
# bioFAME backbone with channel identity


class BioFAMEChannels(BioFAME):
    """bioFAME whose embedding is each channel's fused tokens averaged over time, concatenated in channel order.

    ``(b, n_chans, t)`` -> ``(b, n_chans * d_model)``. The backbone stays channel-independent (shared patch
    embedding, no channel position), so channel identity enters only here, at pooling: the same pooling as the
    released bioFAME's ``latent_expand='cat'`` and as ``biosig eval --pooling channels``. The channel count is
    fixed to ``config.n_chans``.
    """

    def __init__(self, config: BioFAMEConfig) -> None:
        super().__init__(config)
        self.embed_dim = config.n_chans * config.d_model

    def forward(self, x: Tensor, sfreq: float | None = None) -> Tensor:
        if isinstance(x, Tensor) and x.ndim == 3 and x.shape[1] != self.config.n_chans:
            raise SignalError(
                f"x has {x.shape[1]} channels but this channel-pooled bioFAME embeds n_chans={self.config.n_chans}"
            )
        return self.forward_features(x, sfreq).mean(dim=2).flatten(1)  # (b, c, n, d) -> (b, c*d)


# ---------------------------------------------------------------------------------------------------------------------
# The aligned model


class ProjectionHead(nn.Module):
    """``LayerNorm -> Linear(in -> hidden) -> GELU -> Linear(hidden -> out)``; ``hidden=0``: one Linear layer."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.LayerNorm(in_dim)]
        if hidden:
            layers += [nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim)]
        else:
            layers.append(nn.Linear(in_dim, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def info_nce(u: Tensor, v: Tensor, logit_scale: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric InfoNCE (CLIP) of L2-normalised ``u`` ``(b, D)`` against ``v`` ``(b, D)``, pairs on the diagonal.

    ``logits = exp(logit_scale) * u v^T``; the loss is the mean of the cross-entropy over rows (EMG -> pose) and
    over columns (pose -> EMG). Returns the loss and the ``(b, b)`` logits.
    """
    logits = logit_scale.exp() * (u @ v.T)  # (b, b)
    labels = torch.arange(u.shape[0], device=u.device)
    loss = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    return loss, logits


@dataclass(frozen=True)
class CPEPConfig:
    """The aligned model: which encoders (registered names and their *full* configs), the head, the temperature.

    ``emg_arch`` / ``pose_arch`` name registered encoders and ``emg_config`` / ``pose_config`` hold their config
    fields (a training run stores the complete configs, so a checkpoint rebuilds exactly what was trained).
    ``head_hidden`` is the EMG projection head's hidden width (0: one Linear). ``pose_head`` adds a trainable
    Linear on the pose side (off: the aligned space is the frozen pose encoder's own embedding, as in the paper's
    ``v = E_p(p)[CLS]``). ``temperature_init`` (0.02 in the paper) starts the learnable temperature; it is kept at
    or above ``min_temperature`` (CLIP's clamp of the logit scale at 100).
    """

    emg_arch: str = "cpep_emg_transformer"
    emg_config: Mapping[str, Any] = field(default_factory=dict)
    pose_arch: str = "cpep_pose"
    pose_config: Mapping[str, Any] = field(default_factory=dict)
    head_hidden: int = 128
    pose_head: bool = False
    temperature_init: float = 0.02
    min_temperature: float = 0.01

    def __post_init__(self) -> None:
        for name in ("emg_config", "pose_config"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ValueError(f"{name} must be a mapping of config fields, got {type(value).__name__}")
            object.__setattr__(self, name, dict(value))
        if isinstance(self.head_hidden, bool) or not isinstance(self.head_hidden, int) or self.head_hidden < 0:
            raise ValueError(f"head_hidden must be an int >= 0, got {self.head_hidden!r}")
        for name in ("temperature_init", "min_temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if self.temperature_init < self.min_temperature:
            raise ValueError(
                f"temperature_init={self.temperature_init} is below min_temperature={self.min_temperature}"
            )


def _config_fields(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}


class CPEP(nn.Module):
    """EMG encoder + projection head aligned with a pose encoder.

    ``forward(x)``: ``(b, c, t)`` EMG -> ``(b, D)`` L2-normalised aligned embedding (what the zero-shot head
    compares with pose embeddings). ``embed_pose(p)``: ``(b, n_dof, n_frames)`` radians -> ``(b, D)``
    L2-normalised. ``contrastive_loss(x, p)``: symmetric InfoNCE of a batch of pairs.
    """

    def __init__(self, config: CPEPConfig) -> None:
        super().__init__()
        if not isinstance(config, CPEPConfig):
            raise TypeError(f"config must be a CPEPConfig, got {type(config).__name__}")
        self.emg_encoder = create_model(config.emg_arch, **config.emg_config)
        self.pose_encoder = create_model(config.pose_arch, **config.pose_config)
        if not isinstance(self.pose_encoder, PoseEncoder):
            raise ValueError(f"pose_arch {config.pose_arch!r} is not a pose encoder (cpep_pose)")
        # Store the complete sub-configs, so that save/load round trips whatever defaults the builders had.
        config = dataclasses.replace(
            config,
            emg_config=_config_fields(self.emg_encoder.config),
            pose_config=_config_fields(self.pose_encoder.config),
        )
        self.config = config
        self.embed_dim = int(self.pose_encoder.embed_dim)
        self.emg_head = ProjectionHead(int(self.emg_encoder.embed_dim), self.embed_dim, config.head_hidden)
        self.pose_head = nn.Linear(self.embed_dim, self.embed_dim) if config.pose_head else None
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature_init)))
        self.pose_frozen = False

    # -- specs -----------------------------------------------------------------------------------------------

    @property
    def emg_sfreq(self) -> float:
        return float(self.emg_encoder.config.sfreq)

    @property
    def time_multiple(self) -> int:
        """Accepted EMG window lengths are multiples of this: the one window of the [CLS] transformer."""
        cfg = self.emg_encoder.config
        return int(cfg.n_times) if isinstance(self.emg_encoder, EMGTransformer) else int(cfg.patch_len)

    @property
    def pose_config(self) -> PoseEncoderConfig:
        return self.pose_encoder.config

    @property
    def temperature(self) -> float:
        return float(1.0 / self.logit_scale.detach().exp())

    # -- training helpers ------------------------------------------------------------------------------------

    def freeze_pose(self) -> CPEP:
        """Freeze the pose encoder: no gradients, and eval mode (no dropout) even while the model trains."""
        self.pose_frozen = True
        self.pose_encoder.requires_grad_(False)
        self.pose_encoder.eval()
        return self

    def train(self, mode: bool = True) -> CPEP:
        super().train(mode)
        if self.pose_frozen:
            self.pose_encoder.eval()
        return self

    def clamp_temperature(self) -> None:
        """Keep the temperature at or above ``min_temperature`` (call after each optimiser step)."""
        with torch.no_grad():
            self.logit_scale.clamp_(max=math.log(1.0 / self.config.min_temperature))

    # -- embeddings ------------------------------------------------------------------------------------------

    def forward(self, x: Tensor) -> Tensor:
        """``(b, c, t)`` EMG -> ``(b, D)`` unit-norm aligned embeddings."""
        return F.normalize(self.emg_head(self.emg_encoder(x)), dim=-1)

    def embed_pose(self, poses: Tensor) -> Tensor:
        """``(b, n_dof, n_frames)`` radians -> ``(b, D)`` unit-norm embeddings in the aligned space."""
        z = self.pose_encoder(poses)
        if self.pose_head is not None:
            z = self.pose_head(z)
        return F.normalize(z, dim=-1)

    def contrastive_loss(self, x: Tensor, poses: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Symmetric InfoNCE between the EMG windows ``x`` ``(b, c, t)`` and their poses ``(b, n_dof, n_frames)``.

        Returns the loss and detached details: ``temperature`` and the in-batch top-1 retrieval accuracy
        ``accuracy`` (EMG -> pose).
        """
        if x.shape[0] != poses.shape[0]:
            raise SignalError(f"x holds {x.shape[0]} windows but poses {poses.shape[0]}; pairs must line up")
        if x.shape[0] < 2:
            raise SignalError("a contrastive batch needs at least 2 pairs")
        u = self(x)  # (b, D)
        if self.pose_frozen and self.pose_head is None:
            with torch.no_grad():
                v = self.embed_pose(poses)
        else:
            v = self.embed_pose(poses)  # (b, D)
        loss, logits = info_nce(u, v, self.logit_scale)
        hits = (logits.argmax(dim=1) == torch.arange(len(u), device=u.device)).float().mean()
        return loss, {"temperature": (1.0 / self.logit_scale.exp()).detach(), "accuracy": hits.detach()}


# ---------------------------------------------------------------------------------------------------------------------
# Registered configurations


@register_model
def cpep_pose(**overrides: Any) -> PoseEncoder:
    """Pose encoder: 23 DOFs x 50 frames (1 s at 50 Hz), patches of 5 frames, width 64, 3 blocks, [CLS]."""
    return PoseEncoder(apply_overrides(PoseEncoderConfig(), overrides))


@register_model
def cpep_emg_transformer(**overrides: Any) -> EMGTransformer:
    """EMG [CLS] Transformer: 16 ch x 500 samples (1 s at 500 Hz), patches of 25, width 64, 4 blocks."""
    return EMGTransformer(apply_overrides(EMGTransformerConfig(), overrides))


@register_model
def cpep_emg_biofame(**overrides: Any) -> BioFAMEChannels:
    """bioFAME backbone (amplitude tokens, released size, shared decoder) with channel-identity pooling, 16 ch."""
    # One shared decoder with slot positions: the released per-channel decoders run the decoder once per channel
    # over all c * n tokens (16 passes here), which costs more than the whole encoder.
    base = BioFAMEConfig(amplitude_token=True, n_chans=16, sfreq=500.0, patch_len=25, max_patches=20,
                         decoder_mode="shared", decoder_pos="slot")  # fmt: skip
    return BioFAMEChannels(apply_overrides(base, overrides))


@register_model
def cpep(**overrides: Any) -> CPEP:
    """The aligned CPEP model (EMG encoder + head, pose encoder); see :class:`CPEPConfig`."""
    return CPEP(apply_overrides(CPEPConfig(), overrides))
