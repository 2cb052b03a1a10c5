"""bioFAME: the frequency-aware masked autoencoder of Liu et al. (arXiv 2309.05927), after apple/ml-famae.

The encoder maps ``(batch, n_channels, n_times)`` signals to ``(batch, d_model)`` embeddings:

1. :class:`~biosig.models.layers.RevIN` normalises each channel of each example over time.
2. :class:`~biosig.models.layers.PatchEmbedding` cuts every channel into ``n = n_times / patch_len`` patches and
   embeds them with weights shared by all channels: ``(b, c, t) -> (b*c, n, d)``.
3. The frequency-aware encoder (:class:`FAEncoder`) mixes each channel's tokens with
   :class:`~biosig.models.layers.FreqFilter` in the Fourier domain over tokens; no weight depends on ``n`` nor on
   the sampling rate.
4. A fusion Transformer attends over all channels' tokens ``(b, c*n, d)`` without channel or time positions, so any
   channel count and order give the same embedding; the mean over tokens is the embedding.

Pretraining (:meth:`BioFAME.pretrain_loss`) masks half of each channel's tokens *after* the FA encoder, fuses the
visible ones, and decodes the masked patches back to input units. ``docs/biofame.md`` lists every deviation from
the released code and the analysis of the released filter (one flat complex gain per feature, see
:class:`~biosig.models.layers.FreqFilter`).

Shape letters: ``b`` batch, ``c`` channels, ``n`` tokens per channel, ``m`` masked tokens per channel, ``p`` samples
per patch, ``d`` width, ``h`` filter heads, ``f`` rfft bins (``n // 2 + 1``), ``a`` anchors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biosig.errors import SignalError
from biosig.models.layers import (
    ANCHOR_SPACINGS,
    FILTER_MODES,
    FeedForward,
    FreqFilter,
    PatchEmbedding,
    RevIN,
    Transformer,
    check_signal_batch,
)
from biosig.models.registry import apply_overrides, register_model

__all__ = [
    "BioFAME",
    "BioFAMEConfig",
    "FAEncoder",
    "LatentDecoder",
    "biofame_anchored",
    "biofame_small",
    "biofame_tiny",
    "modality_dropout",
    "modality_groups",
]

log = logging.getLogger(__name__)

DECODER_MODES = ("per_channel", "shared")
DECODER_POSITIONS = ("slot", "token")


@dataclass(frozen=True)
class BioFAMEConfig:
    """Hyper-parameters of :class:`BioFAME`; the defaults are the released configuration (~98k encoder weights).

    Encoder
        ``patch_len`` samples per patch (P); ``d_model`` width (D); ``fa_depth`` FA blocks with FFN width
        ``fa_mlp_dim``; ``filter_mode`` 'pool' | 'self' (released) | 'anchored' (frequency-varying, see
        :class:`FreqFilter`) with ``filter_heads`` heads; ``fusion_depth`` attention blocks with ``fusion_heads`` heads
        and MLP width ``fusion_mlp_dim``; ``dropout`` everywhere; ``revin`` / ``revin_affine`` toggle RevIN and its
        (shared) affine pair.
    Anchored filter
        ``sfreq`` (Hz) the model expects by default; ``anchor_count`` response values at physical token-domain
        frequencies from 0 to ``anchor_max_hz`` (None: the token Nyquist ``sfreq / (2 * patch_len)``), spaced
        ``anchor_spacing`` 'linear' | 'log'.
    Pretraining
        ``mask_ratio`` of each channel's tokens masked; ``decoder_mode`` 'per_channel' (one decoder and one
        reconstruction layer per channel slot, released default) | 'shared'; ``decoder_pos`` 'slot' (one learned
        position per channel slot and token, released: fixes the channel count) | 'token' (one per token index,
        shared by channels, plus a learned "channel being decoded" marker: any channel count); ``n_chans`` channel
        slots for 'per_channel'/'slot'; ``max_patches`` longest pretraining window in patches; ``decoder_depth``;
        ``revin_recover`` reconstructs targets in input units (released) instead of RevIN units.
    Amplitude (not in the released design)
        ``amplitude_token`` adds to every token a learned embedding of its patch's log-RMS, measured on the input
        before RevIN. The released tokenizer (RevIN per channel, then LayerNorm over each patch) removes every
        trace of amplitude, yet in sEMG which muscles are active, and how hard, is the signal: a random-init
        released encoder probes at chance on Myo gestures even within a participant (docs/biofame.md).
    """

    patch_len: int = 20
    d_model: int = 64
    fa_depth: int = 4
    fa_mlp_dim: int = 128
    filter_mode: str = "pool"
    filter_heads: int = 8
    fusion_depth: int = 1
    fusion_heads: int = 4
    fusion_mlp_dim: int = 64
    dropout: float = 0.2
    revin: bool = True
    revin_affine: bool = True
    sfreq: float = 100.0
    anchor_count: int = 16
    anchor_max_hz: float | None = None
    anchor_spacing: str = "log"
    mask_ratio: float = 0.5
    decoder_mode: str = "per_channel"
    decoder_pos: str = "slot"
    n_chans: int = 5
    max_patches: int = 150
    decoder_depth: int = 1
    revin_recover: bool = True
    amplitude_token: bool = False

    def __post_init__(self) -> None:
        for name in (
            "patch_len",
            "d_model",
            "fa_depth",
            "fa_mlp_dim",
            "filter_heads",
            "fusion_depth",
            "fusion_heads",
            "fusion_mlp_dim",
            "n_chans",
            "max_patches",
            "decoder_depth",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name, allowed in (
            ("filter_mode", FILTER_MODES),
            ("decoder_mode", DECODER_MODES),
            ("decoder_pos", DECODER_POSITIONS),
            ("anchor_spacing", ANCHOR_SPACINGS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {getattr(self, name)!r}")
        if self.d_model % self.fusion_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by fusion_heads={self.fusion_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio!r}")
        _check_sfreq(self.sfreq, "sfreq")
        if isinstance(self.anchor_count, bool) or not isinstance(self.anchor_count, int) or self.anchor_count < 2:
            raise ValueError(f"anchor_count must be an int >= 2, got {self.anchor_count!r}")
        if self.anchor_max_hz is not None:
            _check_sfreq(self.anchor_max_hz, "anchor_max_hz")

    @property
    def token_rate(self) -> float:
        """Tokens per second at the configured ``sfreq`` (Hz)."""
        return self.sfreq / self.patch_len

    @property
    def anchor_top_hz(self) -> float:
        """Frequency of the highest anchor (Hz): ``anchor_max_hz`` or the token Nyquist at ``sfreq``."""
        return self.anchor_max_hz if self.anchor_max_hz is not None else self.token_rate / 2


def _check_sfreq(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number of Hz, got {value!r}")
    return float(value)


class FAEncoder(nn.Module):
    """``depth`` pre-norm blocks ``x = x + Filt(LN(x)); x = x + FFN(LN(x))`` over each channel's tokens."""

    def __init__(self, config: BioFAMEConfig) -> None:
        super().__init__()
        d = config.d_model
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    "norm1": nn.LayerNorm(d),
                    "filter": FreqFilter(
                        d,
                        config.filter_mode,
                        config.filter_heads,
                        anchor_count=config.anchor_count,
                        anchor_max_hz=config.anchor_top_hz,
                        anchor_spacing=config.anchor_spacing,
                    ),
                    "norm2": nn.LayerNorm(d),
                    "ffn": FeedForward(d, config.fa_mlp_dim, config.dropout),
                }
            )
            for _ in range(config.fa_depth)
        )

    def forward(self, x: Tensor, token_rate: float) -> Tensor:
        for layer in self.layers:  # x: (b*c, n, d) throughout
            x = x + layer["filter"](layer["norm1"](x), token_rate)
            x = x + layer["ffn"](layer["norm2"](x))
        return x


# ---------------------------------------------------------------------------------------------------------------------
# Pretraining decoder


class LatentDecoder(nn.Module):
    """Mask token, decoder positions, depth-``decoder_depth`` decoder(s) and Linear(d -> p) patch predictors.

    With ``decoder_pos='slot'`` (released) every (channel slot, token) pair has its own learned position, which
    tells the decoder which channel a token belongs to but fixes the channel slots to ``n_chans``. With ``'token'``
    the position depends on the token index only and is shared by channels; the channel being decoded is then
    marked by adding a learned ``own_channel`` vector to its tokens, and the decoder runs once per channel (as the
    released per-channel decoders do anyway), so any channel count can be pretrained.
    """

    def __init__(self, config: BioFAMEConfig) -> None:
        super().__init__()
        self.config = config
        d, p = config.d_model, config.patch_len
        self.mask_token = nn.Parameter(torch.randn(d))  # N(0, 1) as released
        n_pos = config.max_patches * (config.n_chans if config.decoder_pos == "slot" else 1)
        self.pos = nn.Embedding(n_pos, d)
        if config.decoder_pos == "token":
            self.own_channel = nn.Parameter(torch.randn(d) * 0.02)
        n_dec = config.n_chans if config.decoder_mode == "per_channel" else 1

        def block() -> Transformer:
            return Transformer(d, config.decoder_depth, config.fusion_heads, config.fusion_mlp_dim, config.dropout)

        self.decoders = nn.ModuleList(block() for _ in range(n_dec))
        self.recon = nn.ModuleList(nn.Linear(d, p) for _ in range(n_dec))

    def forward(self, visible: Tensor, order: Tensor, n_masked: int, channel_ids: Tensor) -> Tensor:
        """Predict masked patches.

        ``visible`` ``(b, c, n - m, d)`` fused visible tokens in ``order[..., m:]`` order; ``order`` ``(b, c, n)`` the
        per-channel permutation whose first ``m`` entries are masked; ``channel_ids`` ``(c,)`` slot of each channel.
        Returns ``(b, c, m, p)`` predictions for the masked tokens in ``order[..., :m]`` order.
        """
        b, c, n_vis, d = visible.shape
        n = n_vis + n_masked
        mask = self.mask_token.expand(b, c, n_masked, d)  # (b, c, m, d)
        shuffled = torch.cat([mask, visible], dim=2)  # (b, c, n, d) in `order`
        restore = order.argsort(dim=-1)  # (b, c, n)
        seq = shuffled.gather(2, restore.unsqueeze(-1).expand(b, c, n, d))  # (b, c, n, d) in time order
        t = torch.arange(n, device=visible.device)  # (n,)
        if self.config.decoder_pos == "slot":
            seq = seq + self.pos(channel_ids[:, None] * self.config.max_patches + t[None, :])  # + (c, n, d)
        else:
            seq = seq + self.pos(t)  # + (n, d)

        # Which decoder / reconstruction layer serves each channel (one host sync, not one per channel).
        modules = channel_ids.tolist() if self.config.decoder_mode == "per_channel" else [0] * c
        shared_pass = self.config.decoder_pos == "slot" and self.config.decoder_mode == "shared"
        outs = []
        if shared_pass:
            # Slot positions already tell channels apart: one pass decodes all of them (released, shared decoder).
            out = self.decoders[0](seq.reshape(b, c * n, d)).reshape(b, c, n, d)
            outs = [out[:, i] for i in range(c)]
        else:
            for i in range(c):
                x = seq
                if self.config.decoder_pos == "token":
                    marker = torch.zeros(c, 1, 1, device=seq.device, dtype=seq.dtype)
                    marker[i] = 1.0
                    x = seq + marker * self.own_channel  # (b, c, n, d), channel i marked
                dec = self.decoders[modules[i]]
                outs.append(dec(x.reshape(b, c * n, d)).reshape(b, c, n, d)[:, i])  # keep own channel: (b, n, d)

        preds = []
        for i, out in enumerate(outs):
            masked = out.gather(1, order[:, i, :n_masked, None].expand(b, n_masked, d))  # (b, m, d)
            preds.append(self.recon[modules[i]](masked))  # (b, m, p)
        return torch.stack(preds, dim=1)  # (b, c, m, p)


# ---------------------------------------------------------------------------------------------------------------------
# The model


class BioFAME(nn.Module):
    """bioFAME encoder with its frequency-maintain pretraining head.

    ``forward(x)`` maps ``(b, c, t)`` signals (``t`` a multiple of ``patch_len``, any ``c``) to ``(b, d_model)``
    embeddings; ``pretrain_loss`` gives the masked-latent reconstruction loss. Parameters under ``pretrain_head``
    are used by pretraining only.
    """

    def __init__(self, config: BioFAMEConfig) -> None:
        super().__init__()
        if not isinstance(config, BioFAMEConfig):
            raise TypeError(f"config must be a BioFAMEConfig, got {type(config).__name__}")
        self.config = config
        self.embed_dim = config.d_model
        self.revin = RevIN(affine=config.revin_affine) if config.revin else None
        self.patch_embed = PatchEmbedding(config.patch_len, config.d_model)
        self.amplitude_embed = nn.Linear(1, config.d_model) if config.amplitude_token else None
        self.fa_encoder = FAEncoder(config)
        self.fusion = Transformer(
            config.d_model, config.fusion_depth, config.fusion_heads, config.fusion_mlp_dim, config.dropout
        )
        self.pretrain_head = LatentDecoder(config)

    @property
    def pretrain_channel_slots(self) -> int | None:
        """Channel slots pretraining is tied to (``n_chans``), or None when any channel count can be pretrained."""
        cfg = self.config
        if cfg.decoder_mode == "shared" and cfg.decoder_pos == "token":
            return None
        return cfg.n_chans

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the downstream encoder (everything but ``pretrain_head``)."""
        return [p for name, p in self.named_parameters() if not name.startswith("pretrain_head.")]

    def _encode_channels(self, x: Tensor, sfreq: float | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Normalised ``(b, c, t)``, mean and std ``(b, c, 1)``, FA-encoded tokens ``(b*c, n, d)``; ``x`` checked."""
        rate = (self.config.sfreq if sfreq is None else _check_sfreq(sfreq, "sfreq")) / self.config.patch_len
        if self.revin is not None:
            z, mean, std = self.revin.normalize(x)  # (b, c, t), (b, c, 1), (b, c, 1)
        else:
            z, mean, std = x, torch.zeros_like(x[..., :1]), torch.ones_like(x[..., :1])
        tokens = self.patch_embed(z)  # (b*c, n, d)
        if self.amplitude_embed is not None:
            tokens = tokens + self.amplitude_embed(patch_log_rms(x, self.config.patch_len))  # (b*c, n, d)
        tokens = self.fa_encoder(tokens, rate)  # (b*c, n, d)
        return z, mean, std, tokens

    def forward_features(self, x: Tensor, sfreq: float | None = None) -> Tensor:
        """``(b, c, t)`` -> fused tokens ``(b, c, n, d)``; ``sfreq`` (Hz) defaults to ``config.sfreq``."""
        check_signal_batch(x, self.config.patch_len)
        b, c, _ = x.shape
        _, _, _, tokens = self._encode_channels(x, sfreq)  # (b*c, n, d)
        n, d = tokens.shape[1:]
        fused = self.fusion(tokens.reshape(b, c * n, d))  # (b, c*n, d): all channels attend to each other
        return fused.reshape(b, c, n, d)

    def forward(self, x: Tensor, sfreq: float | None = None) -> Tensor:
        """``(b, c, t)`` -> ``(b, d)`` embeddings: the mean of the fused tokens over channels and time."""
        return self.forward_features(x, sfreq).mean(dim=(1, 2))

    def pretrain_loss(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        *,
        channel_ids: Sequence[int] | Tensor | None = None,
        sfreq: float | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Frequency-maintain masked reconstruction loss on a ``(b, c, t)`` batch.

        Each channel loses ``int(mask_ratio * n)`` tokens (a fresh random permutation per example and channel,
        drawn from ``generator``, which must live on ``x``'s device) *after* the FA encoder, so the FFT sees the
        whole window.
        ``channel_ids`` (default ``0..c-1``) gives the slot of each channel for 'per_channel' decoders and 'slot'
        positions, e.g. the kept channels returned by :func:`modality_dropout`.

        Returns the loss ``MSE(pred, target) / c`` (target patches in input units when ``revin_recover``) and
        detached details: ``pred`` and ``target`` ``(b, c, m, p)``, ``masked_index`` ``(b, c, m)`` (the token index of
        each predicted patch) and ``mask`` ``(b, c, n)`` bool (True = masked).
        """
        cfg = self.config
        check_signal_batch(x, cfg.patch_len)
        b, c, t = x.shape
        n = t // cfg.patch_len
        n_masked = int(cfg.mask_ratio * n)
        if n_masked < 1 or n_masked >= n:
            raise SignalError(
                f"x has {n} patches per channel; mask_ratio={cfg.mask_ratio} must mask at least one and leave at "
                f"least one visible, so use a longer window"
            )
        if n > cfg.max_patches:
            raise SignalError(
                f"x has {n} patches per channel but the decoder knows max_patches={cfg.max_patches}; "
                f"use windows of at most {cfg.max_patches * cfg.patch_len} samples"
            )
        ids = self._channel_ids(channel_ids, c, x.device)

        z, mean, std, tokens = self._encode_channels(x, sfreq)  # (b, c, t), (b, c, 1) x2, (b*c, n, d)
        d = tokens.shape[-1]
        tokens = tokens.reshape(b, c, n, d)
        order = torch.rand(b, c, n, generator=generator, device=x.device).argsort(dim=-1)  # (b, c, n)
        vis_idx = order[..., n_masked:]  # (b, c, n - m)
        visible = tokens.gather(2, vis_idx.unsqueeze(-1).expand(-1, -1, -1, d))  # (b, c, n - m, d)
        fused = self.fusion(visible.reshape(b, c * (n - n_masked), d)).reshape(b, c, n - n_masked, d)
        pred = self.pretrain_head(fused, order, n_masked, ids)  # (b, c, m, p)

        patches = self.patch_embed.patchify(z)  # (b, c, n, p), RevIN units
        target = patches.gather(2, order[..., :n_masked, None].expand(-1, -1, -1, cfg.patch_len))  # (b, c, m, p)
        if cfg.revin_recover and self.revin is not None:
            target = self.revin.denormalize(target, mean[..., None], std[..., None])  # input units
        loss = F.mse_loss(pred, target) / c  # / c as released (the MSE already averages over channels)
        mask = torch.zeros(b, c, n, dtype=torch.bool, device=x.device)
        mask.scatter_(2, order[..., :n_masked], True)
        details = {
            "pred": pred.detach(),
            "target": target.detach(),
            "mask": mask,
            "masked_index": order[..., :n_masked],
        }
        return loss, details

    def _channel_ids(self, channel_ids: Sequence[int] | Tensor | None, c: int, device: torch.device) -> Tensor:
        slots = self.pretrain_channel_slots
        if channel_ids is None:
            if slots is not None and c > slots:
                raise SignalError(
                    f"x has {c} channels but this model's pretraining head has n_chans={slots} channel slots "
                    "(decoder_mode='per_channel' or decoder_pos='slot'); use decoder_mode='shared' and "
                    "decoder_pos='token' to pretrain on any channel count"
                )
            return torch.arange(c, device=device)
        ids = torch.as_tensor(channel_ids, dtype=torch.long).flatten()
        limit = slots if slots is not None else c
        if ids.numel() != c or len(set(ids.tolist())) != c or (ids < 0).any() or (ids >= limit).any():
            raise ValueError(
                f"channel_ids must hold {c} distinct slots in [0, {limit}), one per channel of x, got {ids.tolist()}"
            )
        return ids.to(device)


# ---------------------------------------------------------------------------------------------------------------------
# Modality dropout (input space)


#: Floor of the patch RMS inside the log, in (scaled) input units: far below any real signal after the
#: training pipeline's robust scaling, and it keeps all-zero padding finite.
_LOG_RMS_FLOOR = 1e-4


def patch_log_rms(x: Tensor, patch_len: int) -> Tensor:
    """``(b, c, t)`` -> ``(b*c, n, 1)``: log of each patch's RMS amplitude (channel-independent, like the tokens)."""
    b, c, t = x.shape
    patches = x.reshape(b * c, t // patch_len, patch_len)  # (b*c, n, p)
    return torch.log(patches.pow(2).mean(dim=-1, keepdim=True).sqrt() + _LOG_RMS_FLOOR)  # (b*c, n, 1)


def modality_groups(ch_types: Sequence[str]) -> list[list[int]]:
    """Channel indices grouped by type, in order of first appearance: ``['eeg', 'eog', 'eeg'] -> [[0, 2], [1]]``."""
    groups: dict[str, list[int]] = {}
    for i, kind in enumerate(ch_types):
        groups.setdefault(kind, []).append(i)
    return list(groups.values())


def modality_dropout(
    x: Tensor,
    groups: Sequence[Sequence[int]],
    p: float,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Remove whole modalities (channel groups) from a ``(b, c, t)`` batch at random, keeping at least one.

    Each group is dropped with probability ``p``, independently, for the whole batch (the channel-independent
    encoder takes any channel count, so channels are removed, not zeroed). If every group is drawn, one group
    chosen uniformly is kept. Channels in no group are always kept. Draws use ``generator`` (a CPU generator).

    Returns the kept channels ``(b, c', t)`` in their original order and their indices ``(c',)`` (long), which
    :meth:`BioFAME.pretrain_loss` takes as ``channel_ids``.
    """
    if x.ndim != 3:
        raise SignalError(f"x must have shape (batch, n_channels, n_times), got {tuple(x.shape)}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    c = x.shape[1]
    seen: set[int] = set()
    for g, group in enumerate(groups):
        if len(group) == 0:
            raise ValueError(f"groups[{g}] is empty; every modality needs at least one channel")
        for ch in group:
            if isinstance(ch, bool) or not isinstance(ch, int) or not 0 <= ch < c:
                raise ValueError(f"groups[{g}] holds {ch!r}, not a channel index in [0, {c})")
            if ch in seen:
                raise ValueError(f"channel {ch} appears in more than one group")
            seen.add(ch)
    if len(groups) == 0:
        raise ValueError("groups is empty; give at least one channel group")

    drop = torch.rand(len(groups), generator=generator) < p  # (g,)
    ungrouped = [ch for ch in range(c) if ch not in seen]
    if bool(drop.all()) and not ungrouped:
        keep_one = int(torch.randint(len(groups), (1,), generator=generator))
        drop[keep_one] = False
    dropped = {ch for g, group in enumerate(groups) if drop[g] for ch in group}
    kept = torch.tensor([ch for ch in range(c) if ch not in dropped], dtype=torch.long)
    log.debug("modality dropout kept channels %s of %d", kept.tolist(), c)
    return x.index_select(1, kept.to(x.device)), kept


# ---------------------------------------------------------------------------------------------------------------------
# Registered configurations


@register_model
def biofame_small(**overrides: Any) -> BioFAME:
    """The released configuration: P=20, D=64, 4 FA blocks (pool, 8 heads), 1 fusion block; ~98k encoder weights."""
    return BioFAME(apply_overrides(BioFAMEConfig(), overrides))


@register_model
def biofame_anchored(**overrides: Any) -> BioFAME:
    """biofame_small with the frequency-varying anchored filter and a decoder that pretrains any channel count."""
    base = BioFAMEConfig(filter_mode="anchored", decoder_mode="shared", decoder_pos="token")
    return BioFAME(apply_overrides(base, overrides))


@register_model
def biofame_emg(**overrides: Any) -> BioFAME:
    """biofame_small whose tokens also carry their patch's log-RMS amplitude (``amplitude_token``), for sEMG."""
    return BioFAME(apply_overrides(BioFAMEConfig(amplitude_token=True), overrides))


@register_model
def biofame_tiny(**overrides: Any) -> BioFAME:
    """A few-thousand-weight bioFAME for tests and smoke runs (D=16, 2 FA blocks); pretrains any channel count."""
    base = BioFAMEConfig(
        d_model=16,
        fa_depth=2,
        fa_mlp_dim=32,
        filter_heads=2,
        fusion_heads=2,
        fusion_mlp_dim=16,
        decoder_mode="shared",
        decoder_pos="token",
        max_patches=64,
    )
    return BioFAME(apply_overrides(base, overrides))
