"""The torch backend of :class:`~biosig.runtime.base.Encoder`: the checkpoint's model in eval mode, no grad.

Used when onnxruntime is not installed, when no ONNX export exists, and as the reference the ONNX backend is
benchmarked and checked against.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biosig.models.checkpoint import SignalSpec, load_checkpoint
from biosig.runtime.base import BaseEncoder
from biosig.runtime.scaling import InputScale

__all__ = ["TorchEncoder"]

log = logging.getLogger(__name__)


class TorchEncoder(BaseEncoder):
    """An ``nn.Module`` encoder behind the :class:`~biosig.runtime.base.Encoder` interface.

    Parameters
    ----------
    model
        Maps ``(b, c, t)`` float32 tensors to ``(b, embed_dim)``; put in eval mode here.
    signal_spec
        What the model expects.
    name
        Shown in logs and reports.
    input_scale
        The checkpoint's input scaling (identity by default).
    time_multiple
        Accepted window lengths are multiples of this (default: the model's ``time_multiple``, else its config's
        ``patch_len``, else 1).
    max_batch
        Largest batch per forward call.
    threads
        ``torch.set_num_threads`` value, or None to leave torch's setting alone. Note it is process-wide.
    warmup
        Batch sizes to run once at construction (empty: no warm-up).
    """

    backend = "torch"

    def __init__(
        self,
        model: nn.Module,
        signal_spec: SignalSpec,
        *,
        name: str = "encoder",
        input_scale: InputScale | None = None,
        time_multiple: int | None = None,
        max_batch: int = 256,
        threads: int | None = None,
        warmup: Sequence[int] = (),
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(signal_spec, SignalSpec):
            raise TypeError(f"signal_spec must be a SignalSpec, got {type(signal_spec).__name__}")
        self._init_common(max_batch)
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive int or None, got {threads!r}")
            torch.set_num_threads(threads)
        self.model = model.eval()
        self.signal_spec = signal_spec
        self.name = name
        self.input_scale = input_scale if input_scale is not None else InputScale()
        config = getattr(model, "config", None)
        # A model that takes one window length says so (CPEP's ``time_multiple``); bioFAME takes multiples of a patch.
        self.time_multiple = int(
            time_multiple or getattr(model, "time_multiple", None) or getattr(config, "patch_len", 1)
        )
        embed_dim = getattr(model, "embed_dim", None)
        if not isinstance(embed_dim, int):
            with torch.no_grad():
                probe = torch.zeros(1, len(signal_spec.ch_types), signal_spec.n_times)
                embed_dim = int(self.model(probe).shape[-1])
        self.embed_dim = embed_dim
        self.warmup_s = self.warmup(warmup) if warmup else 0.0

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        *,
        max_batch: int = 256,
        threads: int | None = None,
        warmup: Sequence[int] = (1,),
    ) -> TorchEncoder:
        """Load a checkpoint written by :func:`~biosig.models.save_checkpoint`, with its recorded input scaling."""
        model, meta = load_checkpoint(path)
        return cls.from_model(
            model, meta, name=f"{meta['arch']}:{Path(path).name}", max_batch=max_batch, threads=threads, warmup=warmup
        )

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        meta: Mapping[str, Any],
        *,
        name: str | None = None,
        max_batch: int = 256,
        threads: int | None = None,
        warmup: Sequence[int] = (),
    ) -> TorchEncoder:
        """Wrap a model and the metadata that :func:`~biosig.models.load_checkpoint` returned with it."""
        return cls(
            model,
            meta["signal_spec"],
            name=name or str(meta.get("arch", "encoder")),
            input_scale=InputScale.from_meta(meta),
            max_batch=max_batch,
            threads=threads,
            warmup=warmup,
        )

    def _run(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(x)).numpy()
