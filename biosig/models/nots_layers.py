"""Building blocks of NoTS: a channel-independent 1-D ResNet tokenizer/decoder and a RoPE Transformer with masks.

The tokenizer maps every channel of every signal on its own, ``(b', 1, t) -> (b', n, d)`` with
``n = t / patch_len`` tokens (``patch_len = 2 ** n_down``); the decoder maps tokens back to ``(b', 1, t)``. The
Transformer takes any boolean attention mask (the group-causal mask of NoTS, a causal mask for next-period
prediction, none for masked autoencoding), rotary positions given per token, and optional deep prompts.

Shape letters: ``b'`` sequences (batch x channels x groups), ``w`` ResNet width, ``t`` samples, ``n`` tokens per
sequence, ``L`` tokens in a Transformer sequence, ``d`` model width, ``h`` heads, ``e`` head width, ``P`` prompts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ConvDecoder",
    "ConvTokenizer",
    "RoPETransformer",
    "causal_mask",
    "group_causal_mask",
    "rope_rotate",
]


class ChannelNorm(nn.Module):
    """LayerNorm over the feature axis of ``(b', w, t)`` maps, per time step (local: no statistics over time)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)  # (b', w, t)


class ResBlock1d(nn.Module):
    """``GELU(main(x) + skip(x))`` with ``main`` = conv(k, stride) -> norm -> GELU -> conv(k) -> norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 5, stride: int = 1) -> None:
        super().__init__()
        pad = kernel // 2
        self.main = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad),
            ChannelNorm(c_out),
            nn.GELU(),
            nn.Conv1d(c_out, c_out, kernel, padding=pad),
            ChannelNorm(c_out),
        )
        self.skip: nn.Module = (
            nn.Identity() if c_in == c_out and stride == 1 else nn.Conv1d(c_in, c_out, 1, stride=stride)
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.main(x) + self.skip(x))  # (b', c_out, t / stride)


class ConvTokenizer(nn.Module):
    """Channel-independent 1-D ResNet: ``(b', 1, t) -> (b', n, d)`` with ``n = t / 2**n_down``.

    A stem convolution (kernel 7) lifts the channel to ``width`` features, then ``n_down`` residual blocks halve the
    time axis each, and a 1x1 convolution projects to ``d``. Kernel 5 with stride 2 makes the receptive field of a
    token grow past its own ``patch_len`` samples, so neighbouring tokens overlap (unlike patching).
    """

    def __init__(self, width: int, dim: int, n_down: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, width, 7, padding=3), ChannelNorm(width), nn.GELU())
        self.blocks = nn.Sequential(*(ResBlock1d(width, width, stride=2) for _ in range(n_down)))
        self.proj = nn.Conv1d(width, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.blocks(self.stem(x))).transpose(1, 2)  # (b', 1, t) -> (b', n, d)


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvTokenizer`: ``(b', n, d) -> (b', 1, n * 2**n_up)``.

    Each stage refines at the current rate with a residual block, then doubles the time axis with a transposed
    convolution (kernel 4, stride 2, padding 1: exactly x2); a kernel-7 convolution gives the single output channel.
    Refining *before* upsampling keeps the costly blocks off the full sample rate (the decoder is the largest
    compute item of NoTS pretraining, which decodes K-1 levels per example).
    """

    def __init__(self, width: int, dim: int, n_up: int) -> None:
        super().__init__()
        self.proj = nn.Conv1d(dim, width, 1)
        self.stages = nn.ModuleList(
            nn.Sequential(ResBlock1d(width, width), nn.ConvTranspose1d(width, width, 4, stride=2, padding=1), nn.GELU())
            for _ in range(n_up)
        )
        self.head = nn.Conv1d(width, 1, 7, padding=3)

    def forward(self, tokens: Tensor) -> Tensor:
        y = self.proj(tokens.transpose(1, 2))  # (b', w, n)
        for stage in self.stages:
            y = stage(y)  # (b', w, 2 * previous)
        return self.head(y)  # (b', 1, t)


# ---------------------------------------------------------------------------------------------------------------------
# Masks and rotary positions


def group_causal_mask(n_groups: int, group_size: int, device: torch.device | None = None) -> Tensor:
    """``(L, L)`` bool, ``L = n_groups * group_size``: True where query group >= key group (may attend).

    Tokens are laid out group-major (all tokens of group 0, then group 1, ...). A token sees every token of its own
    group and of all earlier groups, so nothing in group ``k`` can influence the output of a group ``< k``.
    """
    gid = torch.arange(n_groups, device=device).repeat_interleave(group_size)  # (L,)
    return gid[:, None] >= gid[None, :]


def causal_mask(n: int, device: torch.device | None = None) -> Tensor:
    """``(n, n)`` bool lower-triangular mask: token ``i`` sees tokens ``0..i``."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def rope_rotate(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotary position embedding of ``x`` ``(..., L, e)`` (``e`` even) at integer ``positions`` ``(L,)``.

    Feature pairs ``(2i, 2i+1)`` rotate by ``positions * base**(-2i/e)`` radians; position 0 is the identity, so
    prompt tokens placed at 0 are left unrotated.
    """
    e = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, e, 2, device=x.device, dtype=torch.float32) / e)  # (e/2,)
    angles = positions.to(torch.float32)[:, None] * inv_freq[None, :]  # (L, e/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (..., L, e/2) each
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (..., L, e/2, 2)
    return out.flatten(-2)  # (..., L, e)


class RoPEAttention(nn.Module):
    """Multi-head self-attention with rotary positions on queries and keys and an optional boolean mask."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads or (dim // heads) % 2:
            raise ValueError(f"dim={dim} must split into heads={heads} heads of an even width (RoPE rotates pairs)")
        self.heads = heads
        self.dropout = dropout
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, positions: Tensor, mask: Tensor | None) -> Tensor:
        b, n, d = x.shape
        qkv = self.to_qkv(x).reshape(b, n, 3, self.heads, d // self.heads)  # (b, L, 3, h, e)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (b, h, L, e)
        q, k = rope_rotate(q, positions), rope_rotate(k, positions)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (b, h, L, e)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))  # (b, L, d)


class RoPETransformer(nn.Module):
    """``depth`` pre-norm blocks (RoPE attention + GELU MLP) and a final LayerNorm.

    ``forward(x, positions, mask, prompts)``: ``x`` ``(b, L, d)``, ``positions`` ``(L,)`` integer positions,
    ``mask`` ``(L, L)`` bool (True = may attend) or None, ``prompts`` None or ``(depth, P, d)``. With prompts
    (VPT-deep) each layer prepends its own ``P`` prompt tokens, visible to every token and placed at position 0,
    and drops them again after the layer; they never change which real tokens see each other.
    """

    def __init__(self, dim: int, depth: int, heads: int, mlp_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.depth = depth
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    "norm1": nn.LayerNorm(dim),
                    "attn": RoPEAttention(dim, heads, dropout),
                    "norm2": nn.LayerNorm(dim),
                    "mlp": nn.Sequential(
                        nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim)
                    ),
                }
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(
        self, x: Tensor, positions: Tensor, mask: Tensor | None = None, prompts: Tensor | None = None
    ) -> Tensor:
        n_prompt = 0 if prompts is None else prompts.shape[1]
        if n_prompt:
            assert prompts is not None and prompts.shape[0] == self.depth, "one set of prompts per layer"
            positions = torch.cat([positions.new_zeros(n_prompt), positions])  # (P + L,)
            if mask is not None:
                n = mask.shape[0]
                full = torch.ones(n_prompt + n, n_prompt + n, dtype=torch.bool, device=mask.device)
                full[n_prompt:, n_prompt:] = mask  # prompts are visible to all; real tokens keep their mask
                mask = full
        for i, layer in enumerate(self.layers):
            if n_prompt:
                assert prompts is not None
                x = torch.cat([prompts[i].expand(x.shape[0], -1, -1), x], dim=1)  # (b, P + L, d)
            x = x + layer["attn"](layer["norm1"](x), positions, mask)
            x = x + layer["mlp"](layer["norm2"](x))
            if n_prompt:
                x = x[:, n_prompt:]  # (b, L, d): prompts are replaced at every layer
        return self.norm(x)
