"""Building blocks of the encoders: RevIN, channel-independent patching, the Fourier filter, Transformer blocks.

Shape letters used in the comments: ``b`` batch, ``c`` channels, ``n`` tokens (patches) per channel, ``p`` samples
per patch, ``d`` model width, ``h`` heads, ``t`` samples per channel (``t = n * p``),
``f`` rfft bins (``n // 2 + 1``), ``a`` anchors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from biosig.errors import SignalError

__all__ = [
    "ANCHOR_SPACINGS",
    "FILTER_MODES",
    "EncoderClassifier",
    "FeedForward",
    "FreqFilter",
    "PatchEmbedding",
    "RevIN",
    "SelfAttention",
    "Transformer",
    "anchor_frequencies",
    "check_signal_batch",
]


#: Modes of :class:`FreqFilter`.
FILTER_MODES = ("pool", "self", "anchored")
#: Spacings of the anchored filter's anchor frequencies.
ANCHOR_SPACINGS = ("linear", "log")
#: Octaves spanned by 'log' anchor spacing: anchors are uniform in log2(1 + (2**O - 1) f / f_max) / O, i.e. dense
#: near 0 Hz (where physiological modulation lives) yet with an anchor exactly at 0 Hz and at ``anchor_max_hz``.
LOG_SPACING_OCTAVES = 6.0


def check_signal_batch(x: Tensor, patch_len: int, name: str = "x") -> None:
    """Raise :class:`~biosig.errors.SignalError` unless ``x`` is a ``(batch, n_channels, n_times)`` float batch.

    ``n_times`` must be a positive multiple of ``patch_len`` (patches never overlap nor pad, as in bioFAME).
    """
    if not isinstance(x, Tensor):
        raise SignalError(
            f"{name} must be a torch.Tensor of shape (batch, n_channels, n_times), got {type(x).__name__}"
        )
    if x.ndim != 3:
        raise SignalError(f"{name} must have shape (batch, n_channels, n_times), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise SignalError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    b, c, t = x.shape
    if b < 1 or c < 1:
        raise SignalError(f"{name} needs at least one example and one channel, got shape {tuple(x.shape)}")
    if t < patch_len or t % patch_len:
        raise SignalError(
            f"{name} has {t} samples per channel, which is not a positive multiple of patch_len={patch_len}; "
            "resample or crop the window first"
        )


class RevIN(nn.Module):
    """Reversible instance normalisation over time, with one learnable affine pair shared by all channels.

    Statistics are per example and per channel, computed over time and detached (so the normalisation is a fixed
    change of units, as in RevIN and the released bioFAME). The released code learns one affine pair per channel
    *slot*; that ties a weight to a channel position and breaks the encoder's promise of any channel count and order,
    so here the pair is shared across channels (``affine=False`` drops it).

    ``normalize`` returns the statistics rather than caching them on the module, so one module can serve several
    batches in flight (and ``torch.compile``/ONNX see a pure function).
    """

    def __init__(self, affine: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(1))
            self.bias = nn.Parameter(torch.zeros(1))

    def normalize(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(b, c, t)`` -> normalised ``(b, c, t)``, mean ``(b, c, 1)``, std ``(b, c, 1)`` (input units)."""
        mean = x.mean(dim=-1, keepdim=True).detach()  # (b, c, 1)
        std = torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=False) + self.eps).detach()  # (b, c, 1)
        z = (x - mean) / std  # (b, c, t)
        if self.affine:
            z = z * self.weight + self.bias
        return z, mean, std

    def denormalize(self, z: Tensor, mean: Tensor, std: Tensor) -> Tensor:
        """Inverse of :meth:`normalize`: ``(b, c, ...)`` normalised values -> input units.

        ``mean`` and ``std`` are ``(b, c, 1)`` (or broadcastable to ``z``). Like the released code, the affine weight
        is guarded by ``eps**2`` so a weight driven to zero cannot divide by zero.
        """
        if self.affine:
            z = (z - self.bias) / (self.weight + self.eps * self.eps)
        return z * std + mean


class PatchEmbedding(nn.Module):
    """Channel-independent non-overlapping patches: LayerNorm(p) -> Linear(p -> d) -> LayerNorm(d), shared by channels."""

    def __init__(self, patch_len: int, dim: int) -> None:
        super().__init__()
        self.patch_len = patch_len
        self.norm_in = nn.LayerNorm(patch_len)
        self.proj = nn.Linear(patch_len, dim)
        self.norm_out = nn.LayerNorm(dim)

    def patchify(self, x: Tensor) -> Tensor:
        """``(b, c, t)`` -> ``(b, c, n, p)`` raw patches (no copy when ``x`` is contiguous)."""
        b, c, t = x.shape
        return x.reshape(b, c, t // self.patch_len, self.patch_len)  # (b, c, n, p)

    def forward(self, x: Tensor) -> Tensor:
        """``(b, c, t)`` -> ``(b*c, n, d)`` tokens, one sequence per channel."""
        b, c, t = x.shape
        patches = x.reshape(b * c, t // self.patch_len, self.patch_len)  # (b*c, n, p)
        return self.norm_out(self.proj(self.norm_in(patches)))  # (b*c, n, d)


class FeedForward(nn.Module):
    """Linear(d -> hidden) -> GELU -> Dropout -> Linear(hidden -> d) -> Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (..., d) -> (..., d)


class SelfAttention(nn.Module):
    """Multi-head self-attention without positional terms: permuting the tokens permutes the output.

    The query/key/value projection has no bias and the output projection has one, as in the released bioFAME (which
    follows vit-pytorch). Dropout applies to the attention weights and to the output.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.dropout = dropout
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.to_qkv(x).reshape(b, n, 3, self.heads, d // self.heads)  # (b, n, 3, h, d/h)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (b, h, n, d/h)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (b, h, n, d/h)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))  # (b, n, d)


class Transformer(nn.Module):
    """``depth`` pre-norm blocks ``x = x + Attn(LN(x)); x = x + FFN(LN(x))``, no final norm (as released)."""

    def __init__(self, dim: int, depth: int, heads: int, mlp_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    "norm1": nn.LayerNorm(dim),
                    "attn": SelfAttention(dim, heads, dropout),
                    "norm2": nn.LayerNorm(dim),
                    "ffn": FeedForward(dim, mlp_dim, dropout),
                }
            )
            for _ in range(depth)
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:  # x: (b, n, d) throughout
            x = x + layer["attn"](layer["norm1"](x))
            x = x + layer["ffn"](layer["norm2"](x))
        return x


def _warp(freqs: Tensor, count: int, max_hz: float, spacing: str) -> Tensor:
    """Frequencies (Hz) -> fractional anchor index in ``[0, count - 1]`` (clamped beyond ``max_hz``)."""
    if spacing == "linear":
        u = freqs / max_hz
    else:
        u = torch.log2(1.0 + (2.0**LOG_SPACING_OCTAVES - 1.0) * freqs / max_hz) / LOG_SPACING_OCTAVES
    return (u * (count - 1)).clamp(0.0, count - 1.0)


def anchor_frequencies(count: int, max_hz: float, spacing: str = "log") -> Tensor:
    """The ``(count,)`` physical frequencies (Hz) of the anchored filter's response values, from 0 to ``max_hz``."""
    u = torch.linspace(0.0, 1.0, count, dtype=torch.float64)
    if spacing == "linear":
        return u * max_hz
    return max_hz * (2.0 ** (LOG_SPACING_OCTAVES * u) - 1.0) / (2.0**LOG_SPACING_OCTAVES - 1.0)


class FreqFilter(nn.Module):
    """Global filter over the token axis: ``irfft(rfft(x) * K)`` with a learnable complex ``K``.

    Modes (``x`` is ``(b', n, d)``, the FFT runs over ``n`` with ``norm='ortho'``):

    ``'pool'`` (released default)
        Heads ``K_h`` in C^d, stored as ``(h, d, 2)`` reals drawn from N(0, 0.02^2); for every (bin, feature) the head
        with the largest ``|X K_h|`` is kept, complex value and all. Because ``|X K_h| = |X| |K_h|``, the winner does
        not depend on the input nor on the bin: the layer is one complex gain per feature, flat across frequency
        (``y_d = Re(K_d) x_d - Im(K_d) H[x_d]`` with H the Hilbert transform along tokens, except that the DC and
        Nyquist bins keep only ``Re(K_d)``). It is computed in that closed form, which equals the released
        per-bin max-pool (tested) at ``h`` times less memory.
    ``'self'`` (released alternative)
        Per-bin head weights ``w = Linear(d -> h)(Re X)`` (no softmax, as released) and ``Y = sum_h w_h X K_h``.
        The response now varies with the input, but no weight is tied to a frequency.
    ``'anchored'`` (this library)
        ``anchor_count`` complex response values per feature at fixed *physical* frequencies (Hz), linearly
        interpolated (on the warped axis of :func:`anchor_frequencies`) to each input's bins at
        ``token_rate * k / n``; bins past the top anchor take its value. The response truly varies with frequency,
        one frequency in Hz gets the same gain whatever ``n`` or the sampling rate, and the weight count is fixed.
        Heads are not used: in 'pool' they only reparametrise one gain, see above.

    The token-domain frequencies are modulation rates of the patch features, from 0 to ``sfreq / (2 * patch_len)``
    Hz, not the frequencies inside a patch (which the patch projection sees).
    """

    def __init__(
        self,
        dim: int,
        mode: str = "pool",
        heads: int = 8,
        *,
        anchor_count: int = 16,
        anchor_max_hz: float = 2.5,
        anchor_spacing: str = "log",
    ) -> None:
        super().__init__()
        if mode not in FILTER_MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, FILTER_MODES))}, got {mode!r}")
        self.mode = mode
        self.anchor_count = anchor_count
        self.anchor_max_hz = float(anchor_max_hz)
        self.anchor_spacing = anchor_spacing
        n_resp = anchor_count if mode == "anchored" else heads
        # (h, d, 2) for pool/self, (a, d, 2) for anchored: real and imaginary parts, N(0, 0.02^2) as released.
        self.complex_weight = nn.Parameter(torch.randn(n_resp, dim, 2) * 0.02)
        if mode == "self":
            self.filter_weight = nn.Linear(dim, heads)

    def response(self, n: int, token_rate: float) -> Tensor:
        """The ``(n // 2 + 1, d)`` complex gain applied to each bin of an ``n``-token input (pool/anchored only)."""
        k = torch.view_as_complex(self.complex_weight)  # (h|a, d)
        if self.mode == "pool":
            best = k.abs().argmax(dim=0, keepdim=True)  # (1, d): the winning head of each feature
            return k.gather(0, best).expand(n // 2 + 1, -1)  # (f, d)
        if self.mode == "anchored":
            freqs = torch.arange(n // 2 + 1, device=k.device, dtype=torch.float32) * (token_rate / n)  # (f,) Hz
            u = _warp(freqs, self.anchor_count, self.anchor_max_hz, self.anchor_spacing)  # (f,)
            grid = torch.arange(self.anchor_count, device=k.device, dtype=torch.float32)  # (a,)
            # Hat functions on the anchor grid = piecewise-linear interpolation, written as a matmul (exportable).
            interp = (1.0 - (u[:, None] - grid[None, :]).abs()).clamp_min(0.0)  # (f, a)
            w = self.complex_weight  # (a, d, 2)
            re = interp @ w[..., 0]  # (f, d)
            im = interp @ w[..., 1]  # (f, d)
            return torch.complex(re, im)  # (f, d)
        raise ValueError("the 'self' filter has no input-independent response")

    def forward(self, x: Tensor, token_rate: float) -> Tensor:
        """``(b', n, d)`` tokens -> ``(b', n, d)``; ``token_rate`` (tokens per second) places the anchored bins."""
        n = x.shape[1]
        dtype = x.dtype
        spec = torch.fft.rfft(x.float(), dim=1, norm="ortho")  # (b', f, d) complex
        if self.mode == "self":
            head_w = self.filter_weight(spec.real)  # (b', f, h)
            w = self.complex_weight  # (h, d, 2)
            gain = torch.complex(head_w @ w[..., 0], head_w @ w[..., 1])  # (b', f, d) = sum_h w_h K_h
        else:
            gain = self.response(n, token_rate)  # (f, d)
        return torch.fft.irfft(spec * gain, n=n, dim=1, norm="ortho").to(dtype)  # (b', n, d)


class EncoderClassifier(nn.Module):
    """An encoder mapping ``(b, c, t)`` to ``(b, embed_dim)`` followed by one Linear layer to class logits.

    This is the fine-tuning model of bioFAME (``Linear(d -> classes)`` on the mean-pooled embedding). The encoder is
    used as given, so fine-tuning trains all of its weights unless the caller freezes them.
    """

    def __init__(self, encoder: nn.Module, n_classes: int) -> None:
        super().__init__()
        embed_dim = getattr(encoder, "embed_dim", None)
        if not isinstance(embed_dim, int) or embed_dim < 1:
            raise TypeError(f"encoder must expose a positive int attribute embed_dim, got {embed_dim!r}")
        self.encoder = encoder
        self.embed_dim = embed_dim
        self.head = nn.Linear(embed_dim, self._check_n_classes(n_classes))

    @staticmethod
    def _check_n_classes(n_classes: int) -> int:
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        return n_classes

    @property
    def n_classes(self) -> int:
        return self.head.out_features

    def reset_classifier(self, n_classes: int) -> None:
        """Replace the head by a freshly initialised ``Linear(embed_dim -> n_classes)`` on the encoder's device."""
        w = self.head.weight
        self.head = nn.Linear(self.embed_dim, self._check_n_classes(n_classes), device=w.device, dtype=w.dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``(b, c, t)`` signals -> ``(b, n_classes)`` logits."""
        return self.head(self.encoder(x))
