"""Baseline pretraining objectives on the NoTS backbone: masked autoencoding and next-period prediction.

Both reuse :class:`~biosig.models.nots.NoTS`'s tokenizer ``E``, Transformer and decoder ``D`` with the same config,
so a comparison against NoTS changes the objective and nothing else (the parameter budget differs only by NoTS's
``K x d`` level embedding, which the baselines drop, and the masked autoencoder's ``d``-wide mask token). Their
encoders read the raw signal only (one group); ``forward`` / ``forward_features`` keep the registry's contract,
``(b, c, t) -> (b, d)`` and ``(b, c, t) -> (b, c, n, d)``.

Leakage. ``E`` is a convolutional ResNet whose receptive field reaches several tokens past its own period, and
``D`` mixes neighbouring tokens. Applied naively, both objectives could read their targets through that overlap:

* :class:`MaskedAutoencoder` therefore masks in *input* space (as SimMTM-style masked modelling does): the masked
  periods are set to zero before ``E``, and a learned mask token is added to the tokens of masked periods so the
  Transformer knows which they are. The L1 loss covers the masked samples only.
* :class:`NextPeriodPredictor` tokenises every period on its own (``E`` applied to each ``patch_len``-sample
  period separately, zero padding at the period edges) and decodes every predicted token on its own, so the output
  at period ``i`` depends on periods ``0..i`` only; the loss is L1 between the prediction from periods ``0..i`` and
  period ``i + 1``. Its encoder tokenises the same way, so features match what was pretrained.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from biosig.errors import SignalError
from biosig.models.layers import check_signal_batch
from biosig.models.nots import NoTS, NoTSConfig
from biosig.models.nots_layers import group_causal_mask

__all__ = ["MaskedAutoencoder", "NextPeriodPredictor"]

log = logging.getLogger(__name__)


class _SingleGroup(NoTS):
    """NoTS's modules without the narrative: one group (the raw signal), no level embedding."""

    def __init__(self, config: NoTSConfig) -> None:
        super().__init__(config)
        del self.level_embed
        self.register_parameter("level_embed", None)  # the baselines read one level; keep the weight count honest

    def narrate(self, tokens: Tensor, first_level: int = 0, prompts: Tensor | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} reads the raw signal only; it has no narrative")


class MaskedAutoencoder(_SingleGroup):
    """Masked autoencoding on the NoTS backbone: ``mask_ratio`` of the periods are hidden and reconstructed.

    ``mask_ratio`` of the ``n`` periods of every example and channel (``patch_len`` samples each, drawn without
    replacement from ``generator``) are zeroed in the normalised input; the Transformer attends bidirectionally.
    """

    def __init__(self, config: NoTSConfig, mask_ratio: float = 0.5) -> None:
        super().__init__(config)
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio!r}")
        self.mask_ratio = mask_ratio
        self.mask_token = nn.Parameter(torch.randn(config.d_model) * 0.02)

    def _encode(self, z: Tensor, ids: Tensor | None) -> Tensor:
        """Normalised ``(b, c, t)`` -> Transformer output ``(b, c, n, d)`` (bidirectional over channels and time)."""
        tokens = self.add_channel_embedding(self.tokenize(z)[:, None], ids)[:, 0]  # (b, c, n, d)
        return self._attend(tokens)

    def _attend(self, tokens: Tensor) -> Tensor:
        b, c, n, d = tokens.shape
        positions = torch.arange(n, device=tokens.device).repeat(c)  # (c*n,)
        return self.transformer(tokens.reshape(b, c * n, d), positions).reshape(b, c, n, d)

    def forward_features(
        self, x: Tensor, sfreq: float | None = None, *, channel_ids: Sequence[int] | Tensor | None = None
    ) -> Tensor:
        """``(b, c, t)`` -> ``(b, c, n, d)`` tokens of the unmasked signal."""
        check_signal_batch(x, self.config.patch_len)
        return self._encode(self.normalize(x), self.channel_ids(channel_ids, x.shape[1], x.device))

    def pretrain_loss(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        *,
        channel_ids: Sequence[int] | Tensor | None = None,
        sfreq: float | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L1 reconstruction of the masked periods; ``details['mask']`` ``(b, c, n)`` bool (True = masked)."""
        p = self.config.patch_len
        check_signal_batch(x, p)
        b, c, t = x.shape
        n = t // p
        n_masked = int(round(self.mask_ratio * n))
        if not 1 <= n_masked < n:
            raise SignalError(f"x has {n} periods; mask_ratio={self.mask_ratio} must mask at least one and not all")
        ids = self.channel_ids(channel_ids, c, x.device)
        z = self.normalize(x)  # (b, c, t)
        order = torch.rand(b, c, n, generator=generator, device=x.device).argsort(dim=-1)  # (b, c, n)
        mask = torch.zeros(b, c, n, dtype=torch.bool, device=x.device)
        mask.scatter_(2, order[..., :n_masked], True)  # (b, c, n)
        sample_mask = mask.repeat_interleave(p, dim=-1)  # (b, c, t)
        tokens = self.add_channel_embedding(self.tokenize(z.masked_fill(sample_mask, 0.0))[:, None], ids)[:, 0]
        tokens = tokens + mask[..., None] * self.mask_token  # (b, c, n, d)
        recon = self.decode(self._attend(tokens))  # (b, c, t)
        loss = (recon - z).abs()[sample_mask].mean()
        return loss, {"mask": mask, "pred": recon.detach()}


class NextPeriodPredictor(_SingleGroup):
    """Next-period prediction on the NoTS backbone: causal over periods, each period tokenised on its own."""

    def _period_tokens(self, z: Tensor, ids: Tensor | None) -> Tensor:
        """Normalised ``(b, c, t)`` -> ``(b, c, n, d)``, one token per period computed from that period alone."""
        b, c, t = z.shape
        p = self.config.patch_len
        periods = z.reshape(b, c, t // p, p)  # (b, c, n, p)
        tokens = self.tokenize(periods)[..., 0, :]  # (b, c, n, 1, d) -> (b, c, n, d)
        return self.add_channel_embedding(tokens[:, None], ids)[:, 0]

    def _causal(self, tokens: Tensor) -> Tensor:
        """Causal Transformer over periods: period ``i`` of every channel sees periods ``0..i`` of all channels."""
        b, c, n, d = tokens.shape
        seq = tokens.transpose(1, 2).reshape(b, n * c, d)  # time-major: (b, n*c, d)
        positions = torch.arange(n, device=tokens.device).repeat_interleave(c)  # (n*c,)
        mask = group_causal_mask(n, c, device=tokens.device)  # a "group" is one period of all channels
        return self.transformer(seq, positions, mask).reshape(b, n, c, d).transpose(1, 2)  # (b, c, n, d)

    def forward_features(
        self, x: Tensor, sfreq: float | None = None, *, channel_ids: Sequence[int] | Tensor | None = None
    ) -> Tensor:
        """``(b, c, t)`` -> ``(b, c, n, d)`` causal tokens (token ``i`` summarises periods ``0..i``)."""
        check_signal_batch(x, self.config.patch_len)
        ids = self.channel_ids(channel_ids, x.shape[1], x.device)
        return self._causal(self._period_tokens(self.normalize(x), ids))

    def pretrain_loss(
        self,
        x: Tensor,
        generator: torch.Generator | None = None,
        *,
        channel_ids: Sequence[int] | Tensor | None = None,
        sfreq: float | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L1 between the period predicted from periods ``0..i`` and period ``i+1`` (deterministic)."""
        p = self.config.patch_len
        check_signal_batch(x, p)
        b, c, t = x.shape
        if t < 2 * p:
            raise SignalError(f"x has {t} samples; next-period prediction needs at least two periods of {p}")
        ids = self.channel_ids(channel_ids, c, x.device)
        z = self.normalize(x)  # (b, c, t)
        out = self._causal(self._period_tokens(z, ids))[:, :, :-1]  # (b, c, n-1, d): predictions of periods 1..n-1
        pred = self.decode(out[..., None, :])  # (b, c, n-1, p): each predicted token decoded on its own
        target = z[..., p:].reshape(b, c, t // p - 1, p)  # (b, c, n-1, p)
        loss = (pred - target).abs().mean()
        return loss, {"pred": pred.detach()}
