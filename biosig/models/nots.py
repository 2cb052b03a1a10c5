"""NoTS: autoregressive next-*function* prediction over degraded variants (Liu et al., arXiv 2410.08421).

A signal ``S`` (one window, ``(c, t)``) is turned into the sequence ``S_1 .. S_K`` of increasingly faithful
variants (:class:`~biosig.pretrain.degrade.Degradation`; ``S_K`` is ``S``). Every variant is tokenised by the same
channel-independent 1-D ResNet ``E`` into a *group* of ``c * n`` tokens (``n = t / patch_len``), and an
autoregressive Transformer reads the groups with a group-causal mask: a token of group ``k`` sees all tokens of
groups ``1..k``. Rotary positions encode the time index inside a group (token ``i`` of every group and channel
shares position ``i``, so the levels line up in time); a learned level embedding says which group a token is in,
and optional learned channel embeddings say which channel.

Pretraining (:meth:`NoTS.pretrain_loss`, paper Eq. 3 with the target indexing fixed, see docs/nots.md)::

    L = sum_{k=1}^{K-1} L1(D(T(E(S_1..S_{K-1}))_k), S_{k+1})  +  lambda * L1(D(E(S_K)), S_K)

The first term predicts each next level from all simpler ones; the second (latent consistency) passes the raw
signal through ``E`` and ``D`` so its tokens live where the decoder expects them. The raw signal never enters the
Transformer during pretraining.

As an encoder (``forward``), the model builds all K variants of its input, runs the K groups through the
Transformer (raw group last, so it sees every simplified variant) and returns the mean of the raw group's output
tokens: ``(b, c, t) -> (b, d_model)``.

Shape letters: ``b`` batch, ``G`` groups (levels) in a pass, ``c`` channels, ``t`` samples, ``n`` tokens per
channel and group, ``d`` width, ``P`` prompts per layer.
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
from biosig.models.layers import check_signal_batch
from biosig.models.nots_layers import ConvDecoder, ConvTokenizer, RoPETransformer, group_causal_mask
from biosig.models.registry import apply_overrides, register_model
from biosig.pretrain.degrade import DEGRADATIONS, Degradation

__all__ = ["NoTS", "NoTSConfig", "nots_lw", "nots_tiny"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoTSConfig:
    """Hyper-parameters of :class:`NoTS`; the defaults are NoTS-lw (243,345 weights, decoder included).

    Tokenizer/decoder
        ``width`` ResNet features; ``n_down`` stride-2 stages, so each token covers ``patch_len = 2**n_down``
        samples (windows must be a multiple of it).
    Transformer
        ``d_model`` width, ``depth`` blocks, ``heads`` heads (head width even, for RoPE), ``mlp_dim`` MLP width,
        ``dropout``.
    Narrative
        ``levels`` K (K-1 degraded variants + the raw signal); ``degradation`` 'sinc' | 'box'.
    Other
        ``normalize``: z-score each example and channel over time first (the loss is then in those units, so
        signals of any scale weigh the same); ``channel_slots``: learned channel embeddings for that many channels
        (0 = none, the default, which keeps the encoder indifferent to channel count and order);
        ``consistency_weight`` lambda of the latent-consistency term; ``sfreq`` (Hz) the rate the model is meant
        for (recorded in checkpoints; no weight depends on it).
    """

    width: int = 32
    n_down: int = 3
    d_model: int = 64
    depth: int = 4
    heads: int = 4
    mlp_dim: int = 180
    dropout: float = 0.0
    levels: int = 6
    degradation: str = "sinc"
    normalize: bool = True
    channel_slots: int = 0
    consistency_weight: float = 1.0
    sfreq: float = 100.0

    def __post_init__(self) -> None:
        for name in ("width", "n_down", "d_model", "depth", "heads", "mlp_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError(f"d_model={self.d_model} must split into heads={self.heads} heads of an even width")
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 2:
            raise ValueError(f"levels must be an int >= 2, got {self.levels!r}")
        if self.degradation not in DEGRADATIONS:
            raise ValueError(
                f"degradation must be one of {', '.join(map(repr, DEGRADATIONS))}, got {self.degradation!r}"
            )
        if isinstance(self.channel_slots, bool) or not isinstance(self.channel_slots, int) or self.channel_slots < 0:
            raise ValueError(f"channel_slots must be an int >= 0, got {self.channel_slots!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not (isinstance(self.consistency_weight, (int, float)) and self.consistency_weight >= 0):
            raise ValueError(f"consistency_weight must be a number >= 0, got {self.consistency_weight!r}")
        sf = self.sfreq
        if isinstance(sf, bool) or not isinstance(sf, (int, float)) or not math.isfinite(sf) or sf <= 0:
            raise ValueError(f"sfreq must be a positive finite number of Hz, got {sf!r}")

    @property
    def patch_len(self) -> int:
        """Samples per token (the tokenizer's total stride)."""
        return 2**self.n_down


class NoTS(nn.Module):
    """The NoTS model: tokenizer ``E``, group-causal Transformer, decoder ``D`` (pretraining only).

    ``forward(x)`` maps ``(b, c, t)`` (``t`` a multiple of ``patch_len``) to ``(b, d_model)``;
    ``forward_features`` gives the raw group's tokens ``(b, c, n, d)``; ``pretrain_loss`` the NoTS objective.
    Parameters under ``decoder.`` serve pretraining only.
    """

    def __init__(self, config: NoTSConfig) -> None:
        super().__init__()
        if not isinstance(config, NoTSConfig):
            raise TypeError(f"config must be a NoTSConfig, got {type(config).__name__}")
        self.config = config
        self.embed_dim = config.d_model
        d = config.d_model
        self.degrade = Degradation(config.degradation, config.levels)
        self.tokenizer = ConvTokenizer(config.width, d, config.n_down)
        # Zero-initialised: the raw level (last row) is never an input during pretraining, so it stays zero there
        # ("no level offset") and is learned only when the model is adapted or fine-tuned.
        self.level_embed = nn.Parameter(torch.zeros(config.levels, d))
        self.channel_embed = nn.Parameter(torch.randn(config.channel_slots, d) * 0.02) if config.channel_slots else None
        self.transformer = RoPETransformer(d, config.depth, config.heads, config.mlp_dim, config.dropout)
        self.decoder = ConvDecoder(config.width, d, config.n_down)

    # -- pieces shared with the baselines (biosig.pretrain.objectives) ----------------------------------------------

    @property
    def pretrain_channel_slots(self) -> int | None:
        """Channel slots the model is tied to (``channel_slots``), or None when it takes any channel count."""
        return self.config.channel_slots or None

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters used by ``forward`` (everything but the decoder)."""
        return [p for name, p in self.named_parameters() if not name.startswith("decoder.")]

    def normalize(self, x: Tensor) -> Tensor:
        """``(b, c, t)`` -> per-example, per-channel z-scores over time (identity when ``normalize`` is off)."""
        if not self.config.normalize:
            return x
        mean = x.mean(dim=-1, keepdim=True)
        std = torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + 1e-5)
        return (x - mean) / std  # (b, c, t)

    def tokenize(self, s: Tensor) -> Tensor:
        """``(..., c, t)`` signals -> ``(..., c, n, d)`` tokens, every channel on its own."""
        *lead, t = s.shape
        tokens = self.tokenizer(s.reshape(-1, 1, t))  # (B', n, d)
        return tokens.reshape(*lead, t // self.config.patch_len, self.config.d_model)

    def decode(self, tokens: Tensor) -> Tensor:
        """``(..., n, d)`` tokens -> ``(..., t)`` signals, every channel on its own."""
        *lead, n, d = tokens.shape
        return self.decoder(tokens.reshape(-1, n, d)).reshape(*lead, n * self.config.patch_len)

    def channel_ids(self, channel_ids: Sequence[int] | Tensor | None, c: int, device: torch.device) -> Tensor | None:
        """Validated ``(c,)`` channel slots (default ``0..c-1``) when channel embeddings exist, else None."""
        slots = self.config.channel_slots
        if not slots:
            return None
        if channel_ids is None:
            if c > slots:
                raise SignalError(f"x has {c} channels but the model has channel_slots={slots} channel embeddings")
            return torch.arange(c, device=device)
        ids = torch.as_tensor(channel_ids, dtype=torch.long).flatten()
        if ids.numel() != c or len(set(ids.tolist())) != c or (ids < 0).any() or (ids >= slots).any():
            raise ValueError(f"channel_ids must hold {c} distinct slots in [0, {slots}), got {ids.tolist()}")
        return ids.to(device)

    def add_channel_embedding(self, tokens: Tensor, ids: Tensor | None) -> Tensor:
        """``(b, G, c, n, d)`` + the embedding of each channel's slot (no-op without channel embeddings)."""
        if self.channel_embed is None or ids is None:
            return tokens
        return tokens + self.channel_embed[ids][None, None, :, None, :]  # + (1, 1, c, 1, d)

    def narrate(self, tokens: Tensor, first_level: int = 0, prompts: Tensor | None = None) -> Tensor:
        """Group-causal Transformer over ``(b, G, c, n, d)`` token groups of levels ``first_level ..`` -> same shape.

        Groups are laid out group-major (then channel, then time); RoPE position = time index within the group.
        """
        b, g, c, n, d = tokens.shape
        levels = self.level_embed[first_level : first_level + g]  # (G, d)
        seq = (tokens + levels[None, :, None, None, :]).reshape(b, g * c * n, d)
        positions = torch.arange(n, device=tokens.device).repeat(g * c)  # (G*c*n,)
        mask = group_causal_mask(g, c * n, device=tokens.device)  # (L, L)
        return self.transformer(seq, positions, mask, prompts).reshape(b, g, c, n, d)

    # -- encoder ----------------------------------------------------------------------------------------------------

    def forward_features(
        self,
        x: Tensor,
        sfreq: float | None = None,
        *,
        channel_ids: Sequence[int] | Tensor | None = None,
        prompts: Tensor | None = None,
        channel_tokens: Tensor | None = None,
    ) -> Tensor:
        """``(b, c, t)`` -> ``(b, c, n, d)``: the raw group's output tokens after reading all K levels.

        ``sfreq`` is accepted for interface parity with the other encoders and ignored (nothing depends on it).
        Adaptors (:mod:`biosig.pretrain.adaptors`) pass ``prompts`` ``(depth, P, d)`` (deep prompts) and
        ``channel_tokens`` ``(c, d)`` (added to every token of each channel, in every group).
        """
        check_signal_batch(x, self.config.patch_len)
        ids = self.channel_ids(channel_ids, x.shape[1], x.device)
        levels = self.degrade(self.normalize(x))  # (b, K, c, t)
        tokens = self.add_channel_embedding(self.tokenize(levels), ids)  # (b, K, c, n, d)
        if channel_tokens is not None:
            if channel_tokens.shape != (x.shape[1], self.config.d_model):
                raise ValueError(
                    f"channel_tokens must have shape ({x.shape[1]}, {self.config.d_model}), got "
                    f"{tuple(channel_tokens.shape)}"
                )
            tokens = tokens + channel_tokens[None, None, :, None, :]  # + (1, 1, c, 1, d)
        return self.narrate(tokens, prompts=prompts)[:, -1]  # (b, c, n, d)

    def forward(self, x: Tensor, sfreq: float | None = None) -> Tensor:
        """``(b, c, t)`` -> ``(b, d)``: mean of the raw group's output tokens over channels and time."""
        return self.forward_features(x, sfreq).mean(dim=(1, 2))

    # -- pretraining ------------------------------------------------------------------------------------------------

    def pretrain_loss(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        *,
        channel_ids: Sequence[int] | Tensor | None = None,
        sfreq: float | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """NoTS loss on a ``(b, c, t)`` batch (deterministic: ``generator`` is accepted and unused).

        Returns ``(loss, details)``; ``details`` holds detached ``next_level`` ``(K-1,)`` (L1 of predicting level
        ``k+1`` from levels ``1..k``, in normalised units), ``consistency`` (L1 of ``D(E(S_K))`` vs ``S_K``) and
        ``pred`` ``(b, K-1, c, t)`` (the predicted levels 2..K).
        """
        check_signal_batch(x, self.config.patch_len)
        ids = self.channel_ids(channel_ids, x.shape[1], x.device)
        levels = self.degrade(self.normalize(x))  # (b, K, c, t)
        tokens = self.add_channel_embedding(self.tokenize(levels), ids)  # (b, K, c, n, d)
        out = self.narrate(tokens[:, :-1])  # (b, K-1, c, n, d): groups 1..K-1 in, predictions of 2..K out
        pred = self.decode(out)  # (b, K-1, c, t)
        next_level = (pred - levels[:, 1:]).abs().mean(dim=(0, 2, 3))  # (K-1,)
        recon = self.decode(tokens[:, -1])  # (b, c, t): D(E(S_K)), outside the Transformer
        consistency = F.l1_loss(recon, levels[:, -1])
        loss = next_level.sum() + self.config.consistency_weight * consistency
        details = {"next_level": next_level.detach(), "consistency": consistency.detach(), "pred": pred.detach()}
        return loss, details


# ---------------------------------------------------------------------------------------------------------------------
# Registered configurations


@register_model
def nots_lw(**overrides: Any) -> NoTS:
    """NoTS-lw: ResNet width 32 (stride 8), Transformer D=64 x 4 blocks x 4 heads (MLP 180), K=6 sinc levels; 243k."""
    return NoTS(apply_overrides(NoTSConfig(), overrides))


@register_model
def nots_tiny(**overrides: Any) -> NoTS:
    """A few-thousand-weight NoTS for tests and smoke runs (width 8, stride 4, D=16, 1 block, K=3)."""
    base = NoTSConfig(width=8, n_down=2, d_model=16, depth=1, heads=2, mlp_dim=32, levels=3)
    return NoTS(apply_overrides(base, overrides))
