"""The onnxruntime backend of :class:`~biosig.runtime.base.Encoder`, for files written by ``biosig export onnx``.

Session settings matter for a service that runs many small batches: ``intra_op_threads`` bounds the threads one
call uses (1-2 is usually fastest for batches of a few windows, and leaves cores to the rest of the process),
``inter_op_threads`` those used across independent graph nodes (sequential execution makes it moot, so it
stays 1), and full graph optimisation fuses LayerNorm/attention patterns. Everything the model needs to know
about its input (signal spec, window granularity, input scaling) comes from the file's metadata.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from biosig.errors import BiosigError
from biosig.runtime.base import BaseEncoder
from biosig.runtime.metadata import EncoderMetadata, MetadataError

__all__ = ["OnnxEncoder", "OnnxRuntimeMissing", "import_onnxruntime"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'biosig[service]' (or onnxruntime>=1.17)"


class OnnxRuntimeMissing(BiosigError, ImportError):
    """onnxruntime cannot be imported."""


def import_onnxruntime() -> ModuleType:
    """``onnxruntime``, imported on first use, or :class:`OnnxRuntimeMissing` with an install hint."""
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise OnnxRuntimeMissing(f"onnxruntime is not installed ({exc}); {INSTALL_HINT}") from exc


class OnnxEncoder(BaseEncoder):
    """An exported encoder run by onnxruntime.

    Parameters
    ----------
    path
        ``.onnx`` file written by :func:`biosig.export.export_onnx`.
    intra_op_threads, inter_op_threads
        onnxruntime thread pools (0 lets onnxruntime choose: one thread per core).
    max_batch
        Largest batch per session call.
    warmup
        Batch sizes to run once at load (empty: no warm-up).
    providers
        onnxruntime execution providers, in order of preference.
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        max_batch: int = 256,
        warmup: Sequence[int] = (1,),
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        ort = import_onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such ONNX file")
        for name, value in (("intra_op_threads", intra_op_threads), ("inter_op_threads", inter_op_threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int (0 = onnxruntime's default), got {value!r}")
        self._init_common(max_batch)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session: Any = ort.InferenceSession(str(self.path), sess_options=options, providers=list(providers))
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise MetadataError(f"{self.path}: onnxruntime cannot load it ({type(exc).__name__}: {exc})") from exc
        meta = EncoderMetadata.from_props(self.session.get_modelmeta().custom_metadata_map, where=str(self.path))
        self.metadata = meta
        self.signal_spec = meta.signal_spec
        self.embed_dim = meta.embed_dim
        self.time_multiple = meta.time_multiple
        self.input_scale = meta.input_scale
        self.name = f"{meta.arch}:{self.path.name}"
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name
        self.threads = (intra_op_threads, inter_op_threads)
        self.warmup_s = self.warmup(warmup) if warmup else 0.0
        log.info("loaded %s (threads intra=%d inter=%d)", self, intra_op_threads, inter_op_threads)

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self._output], {self._input: x})[0]
