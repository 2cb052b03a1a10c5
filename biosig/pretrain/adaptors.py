"""Transfer of a pretrained NoTS: channel adaptor, deep prompt tuning with a task head, or full fine-tuning.

NoTS §3.3 adapts a frozen backbone with two small modules, which together stay under 1% of its weights:

* a **channel adaptor**, a linear map over the channel axis (``c_in -> c_model`` channels, applied to the signal
  before the tokenizer) plus re-initialised additive channel tokens, one ``d``-vector per adapted channel;
* a **task adaptor**: deep prompt tuning (VPT-deep: ``n_prompts`` new learnable tokens prepended at *every*
  Transformer layer and dropped after it) and a task-specific linear head on the mean of the raw group's tokens.

``mode='frozen'`` trains only those (the paper's setting (a)(b) = ✓✓); ``mode='full'`` also trains the backbone
(✓✗). Prompts are visible to every token and see every token; they do not change which real tokens see each other,
so the group-causal structure is preserved.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from biosig.errors import SignalError
from biosig.models.nots import NoTS

__all__ = ["ADAPT_MODES", "ChannelAdaptor", "NoTSAdapter"]

log = logging.getLogger(__name__)

#: Training modes of :class:`NoTSAdapter`.
ADAPT_MODES = ("frozen", "full")


class ChannelAdaptor(nn.Module):
    """``(b, c_in, t) -> (b, c_out, t)``: a linear map over channels, plus ``(c_out, d)`` channel tokens.

    The map starts as the identity when ``c_in == c_out`` (so an adapted model starts where the pretrained one was)
    and as a small random matrix otherwise; the channel tokens start at zero.
    """

    def __init__(self, c_in: int, c_out: int, dim: int) -> None:
        super().__init__()
        for name, value in (("c_in", c_in), ("c_out", c_out), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.c_in, self.c_out = c_in, c_out
        self.mix = nn.Linear(c_in, c_out)
        with torch.no_grad():
            if c_in == c_out:
                self.mix.weight.copy_(torch.eye(c_in))
                self.mix.bias.zero_()
        self.channel_tokens = nn.Parameter(torch.zeros(c_out, dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[1] != self.c_in:
            raise SignalError(f"x must have shape (batch, {self.c_in}, n_times), got {tuple(x.shape)}")
        return self.mix(x.transpose(1, 2)).transpose(1, 2)  # (b, t, c_in) -> (b, t, c_out) -> (b, c_out, t)


class NoTSAdapter(nn.Module):
    """A pretrained :class:`~biosig.models.nots.NoTS` with adaptors and a linear task head.

    Parameters
    ----------
    backbone
        The pretrained model; with ``mode='frozen'`` its weights are frozen here (``requires_grad=False``).
    n_outputs
        Outputs of the task head (classes or regression targets).
    in_channels
        Channels of the task's signals; gives a :class:`ChannelAdaptor` to ``model_channels`` (default: the same
        count). None: no channel adaptor, signals go straight to the backbone.
    n_prompts
        Prompt tokens per Transformer layer (0: no prompts).
    mode
        'frozen' (adaptors and head only) or 'full' (everything).

    ``forward(x)``: ``(b, c, t) -> (b, n_outputs)``.
    """

    def __init__(
        self,
        backbone: NoTS,
        n_outputs: int,
        *,
        in_channels: int | None = None,
        model_channels: int | None = None,
        n_prompts: int = 4,
        mode: str = "frozen",
    ) -> None:
        super().__init__()
        if not isinstance(backbone, NoTS):
            raise TypeError(f"backbone must be a NoTS model, got {type(backbone).__name__}")
        if mode not in ADAPT_MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, ADAPT_MODES))}, got {mode!r}")
        if isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs < 1:
            raise ValueError(f"n_outputs must be a positive int, got {n_outputs!r}")
        if isinstance(n_prompts, bool) or not isinstance(n_prompts, int) or n_prompts < 0:
            raise ValueError(f"n_prompts must be an int >= 0, got {n_prompts!r}")
        cfg = backbone.config
        self.backbone = backbone
        self.mode = mode
        self.channel_adaptor = (
            ChannelAdaptor(in_channels, model_channels or in_channels, cfg.d_model) if in_channels is not None else None
        )
        self.prompts = nn.Parameter(torch.randn(cfg.depth, n_prompts, cfg.d_model) * 0.02) if n_prompts else None
        self.head = nn.Linear(cfg.d_model, n_outputs)
        if mode == "frozen":
            backbone.requires_grad_(False)
        log.debug("NoTS adapter: %d of %d weights trainable", self.n_trainable, self.n_total)

    @property
    def n_trainable(self) -> int:
        """Weights that receive gradients."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def n_total(self) -> int:
        """All weights, backbone included (its decoder too, which downstream tasks never use)."""
        return sum(p.numel() for p in self.parameters())

    def adaptor_parameters(self) -> list[nn.Parameter]:
        """The weights that are new to the task: channel adaptor, prompts and head."""
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]

    def train(self, mode: bool = True) -> NoTSAdapter:
        super().train(mode)
        if self.mode == "frozen":
            self.backbone.eval()  # a frozen backbone keeps inference behaviour (no dropout) while adaptors train
        return self

    def forward_features(self, x: Tensor) -> Tensor:
        """``(b, c_in, t) -> (b, c, n, d)`` backbone tokens of the raw group, with the adaptors applied."""
        channel_tokens = None
        if self.channel_adaptor is not None:
            x = self.channel_adaptor(x)  # (b, c_out, t)
            channel_tokens = self.channel_adaptor.channel_tokens
        return self.backbone.forward_features(x, prompts=self.prompts, channel_tokens=channel_tokens)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x).mean(dim=(1, 2)))  # (b, n_outputs)
