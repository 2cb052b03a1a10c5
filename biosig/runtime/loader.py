"""``load_encoder``: the one way the service and the CLI obtain an :class:`~biosig.runtime.base.Encoder`.

Backend choice (``backend="auto"``):

* an ``.onnx`` file runs on onnxruntime; if onnxruntime cannot be imported, the torch checkpoint given as
  ``fallback_checkpoint`` is loaded instead (with a warning), and without one the error says how to fix it;
* anything else is a torch checkpoint and runs on torch.

``backend="onnx"`` or ``"torch"`` forces a backend and fails rather than fall back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from biosig.runtime.base import BaseEncoder
from biosig.runtime.onnx_encoder import OnnxEncoder, OnnxRuntimeMissing, import_onnxruntime
from biosig.runtime.torch_encoder import TorchEncoder

__all__ = ["BACKENDS", "load_encoder", "onnxruntime_available"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")


def onnxruntime_available() -> bool:
    """Whether onnxruntime can be imported in this process."""
    try:
        import_onnxruntime()
    except OnnxRuntimeMissing:
        return False
    return True


def load_encoder(
    path: str | os.PathLike[str],
    *,
    backend: str = "auto",
    fallback_checkpoint: str | os.PathLike[str] | None = None,
    threads: int = 1,
    max_batch: int = 256,
    warmup: Sequence[int] = (1,),
) -> BaseEncoder:
    """An encoder for ``path`` (an ``.onnx`` export or a torch checkpoint), warmed up and ready to ``embed``.

    Parameters
    ----------
    backend
        ``"auto"``, ``"onnx"`` or ``"torch"`` (see the module docstring).
    fallback_checkpoint
        Torch checkpoint used when ``path`` is ONNX but onnxruntime is missing (``backend="auto"`` only).
    threads
        Intra-op threads of the backend (for torch this sets the process-wide ``torch.set_num_threads``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such encoder file (an .onnx export or a torch checkpoint)")
    is_onnx = p.suffix.lower() == ".onnx"
    if backend == "torch" or (backend == "auto" and not is_onnx):
        if is_onnx:
            raise ValueError(f"{p}: backend='torch' needs a torch checkpoint, got an ONNX file")
        return TorchEncoder.from_checkpoint(p, max_batch=max_batch, threads=threads, warmup=warmup)
    if not is_onnx:
        raise ValueError(f"{p}: backend='onnx' needs an .onnx file; export the checkpoint with `biosig export onnx`")
    try:
        return OnnxEncoder(p, intra_op_threads=threads, inter_op_threads=1, max_batch=max_batch, warmup=warmup)
    except OnnxRuntimeMissing as exc:
        if backend == "onnx" or fallback_checkpoint is None:
            hint = "" if backend == "onnx" else "; or pass fallback_checkpoint= to run the torch model instead"
            raise OnnxRuntimeMissing(f"{exc}{hint}") from exc
        log.warning("%s; falling back to the torch checkpoint %s", exc, fallback_checkpoint)
        return TorchEncoder.from_checkpoint(fallback_checkpoint, max_batch=max_batch, threads=threads, warmup=warmup)
