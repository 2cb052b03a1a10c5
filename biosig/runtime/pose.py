"""The pose side of a CPEP model at inference: :class:`biosig.zeroshot.PoseEncoder` over torch or onnxruntime.

A CPEP checkpoint (arch ``cpep``, written by ``biosig train cpep``) holds the aligned EMG encoder, which
:func:`biosig.runtime.load_encoder` serves like any encoder, *and* the frozen pose encoder that defines the aligned
space. :func:`load_pose_encoder` gives that pose encoder behind the zero-shot head's protocol::

    from biosig.runtime import load_encoder, load_pose_encoder, checkpoint_vocabulary
    from biosig.zeroshot import ZeroShotHead

    emg = load_encoder("cpep_myo.pt")                    # (B, 8, 200) Myo windows -> (B, 64) aligned, unit norm
    pose = load_pose_encoder("cpep_myo.pt")              # (n, 23, 50) radians -> (n, 64) aligned, unit norm
    head = ZeroShotHead(pose, checkpoint_vocabulary("cpep_myo.pt"), mode="prototype")
    head.classify(emg.embed(windows))

``load_pose_encoder`` also reads an ONNX export of the pose side (``biosig export onnx CKPT --part pose``) and
a stage-1 pose checkpoint (arch ``cpep_pose``, embeddings L2-normalised here). Poses are validated (shape,
finite values, plausible radians) before they reach a backend.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from biosig.errors import SignalError
from biosig.runtime.base import BaseEncoder
from biosig.runtime.onnx_encoder import OnnxEncoder, OnnxRuntimeMissing
from biosig.zeroshot.vocabulary import GestureVocabulary, PoseSpec

__all__ = ["POSE_PART", "RuntimePoseEncoder", "checkpoint_vocabulary", "load_pose_encoder", "pose_graph"]

log = logging.getLogger(__name__)

#: ``biosig.part`` metadata of an ONNX export of a CPEP model's pose side.
POSE_PART = "pose"
#: Joint angles beyond this many radians are not angles (degrees, or garbage).
MAX_ABS_RAD = 2 * math.pi


def pose_graph(model: Any) -> Any:
    """A torch module ``poses (b, n_dof, n_frames) -> (b, D)`` unit-norm embeddings, and its pose config.

    ``model`` is a :class:`~biosig.models.cpep.CPEP` (its :meth:`embed_pose`) or a bare
    :class:`~biosig.models.cpep.PoseEncoder` (its embedding, L2-normalised).
    """
    import torch.nn.functional as F
    from torch import nn

    from biosig.models.cpep import CPEP, PoseEncoder

    class _PoseGraph(nn.Module):
        def __init__(self, inner: nn.Module, embed_dim: int, config: Any) -> None:
            super().__init__()
            self.inner = inner
            self.embed_dim = embed_dim
            self.config = config

        def forward(self, poses: Any) -> Any:
            if isinstance(self.inner, CPEP):
                return self.inner.embed_pose(poses)
            return F.normalize(self.inner(poses), dim=-1)

    if isinstance(model, CPEP):
        return _PoseGraph(model, model.embed_dim, model.pose_config).eval()
    if isinstance(model, PoseEncoder):
        return _PoseGraph(model, model.embed_dim, model.config).eval()
    raise TypeError(f"model must be a CPEP model or a cpep_pose encoder, got {type(model).__name__}")


class RuntimePoseEncoder:
    """:class:`biosig.zeroshot.PoseEncoder` over a runtime backend (a :class:`~biosig.runtime.base.BaseEncoder`).

    ``embed_pose(poses)`` takes ``(n, n_dof, n_frames)`` radians (HAND_JOINTS order) and returns ``(n, D)``
    float32 unit-norm embeddings in the aligned space.
    """

    def __init__(self, backend: BaseEncoder, pose_spec: PoseSpec, name: str) -> None:
        self._backend = backend
        self.pose_spec = pose_spec
        self.name = name
        self.backend = backend.backend
        self.embed_dim = int(backend.embed_dim)
        self._types = ("pose",) * pose_spec.n_dof
        self._units = ("rad",) * pose_spec.n_dof

    def check_poses(self, poses: object) -> np.ndarray:
        """``poses`` as float32 ``(n, n_dof, n_frames)``, or a :class:`SignalError` saying what was wrong."""
        spec = self.pose_spec
        x = np.asarray(poses)
        if x.ndim != 3 or x.shape[1:] != (spec.n_dof, spec.n_frames) or x.shape[0] < 1:
            raise SignalError(
                f"poses must have shape (n, n_dof={spec.n_dof}, n_frames={spec.n_frames}) ({spec.window_s:g} s at "
                f"{spec.frame_rate:g} Hz, joints in HAND_JOINTS order), got shape {x.shape}"
            )
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise SignalError(f"poses must hold joint angles in radians, got dtype {x.dtype}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise SignalError("poses contain NaN or infinite angles")
        big = float(np.abs(x).max())
        if big > MAX_ABS_RAD:
            raise SignalError(f"poses must be radians; got a joint angle of {big:.3g} (degrees?)")
        return x

    def embed_pose(self, poses: np.ndarray) -> np.ndarray:
        return self._backend.embed(self.check_poses(poses), self._types, self._units)

    def __repr__(self) -> str:
        s = self.pose_spec
        return f"RuntimePoseEncoder({self.name!r}, {self.backend}, {s.n_dof} dof x {s.n_frames} @ {s.frame_rate:g} Hz)"


def _pose_spec(raw: Mapping[str, Any]) -> PoseSpec:
    return PoseSpec(int(raw["n_dof"]), int(raw["n_frames"]), float(raw["frame_rate"]))


def _torch_pose_encoder(path: Path, max_batch: int, threads: int | None) -> RuntimePoseEncoder:
    from biosig.models.checkpoint import load_checkpoint
    from biosig.models.cpep import pose_signal_spec
    from biosig.runtime.torch_encoder import TorchEncoder

    model, meta = load_checkpoint(path)
    if meta["arch"] not in ("cpep", "cpep_pose"):
        raise ValueError(f"{path}: a {meta['arch']!r} checkpoint has no pose encoder; expected a CPEP checkpoint")
    graph = pose_graph(model)
    spec = pose_signal_spec(graph.config)
    backend = TorchEncoder(graph, spec, name=f"{meta['arch']}:pose:{path.name}", time_multiple=spec.n_times,
                           max_batch=max_batch, threads=threads)  # fmt: skip
    pose_spec = PoseSpec(graph.config.n_dof, graph.config.n_frames, graph.config.frame_rate)
    return RuntimePoseEncoder(backend, pose_spec, backend.name)


def load_pose_encoder(
    path: str | os.PathLike[str],
    *,
    backend: str = "auto",
    fallback_checkpoint: str | os.PathLike[str] | None = None,
    threads: int = 1,
    max_batch: int = 256,
) -> RuntimePoseEncoder:
    """The pose encoder of a CPEP checkpoint (torch) or of its pose-side ONNX export.

    ``backend`` ``"auto"`` (by file type; an ``.onnx`` file falls back to ``fallback_checkpoint`` when
    onnxruntime is missing), ``"onnx"`` or ``"torch"``, as :func:`biosig.runtime.load_encoder`.
    """
    if backend not in ("auto", "onnx", "torch"):
        raise ValueError(f"backend must be one of ('auto', 'onnx', 'torch'), got {backend!r}")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such pose encoder file (a CPEP checkpoint or its pose ONNX export)")
    is_onnx = p.suffix.lower() == ".onnx"
    if backend == "torch" or (backend == "auto" and not is_onnx):
        if is_onnx:
            raise ValueError(f"{p}: backend='torch' needs a torch checkpoint, got an ONNX file")
        return _torch_pose_encoder(p, max_batch, threads)
    if not is_onnx:
        raise ValueError(f"{p}: backend='onnx' needs an .onnx file; export it with `biosig export onnx --part pose`")
    try:
        onnx = OnnxEncoder(p, intra_op_threads=threads, max_batch=max_batch, warmup=())
    except OnnxRuntimeMissing:
        if backend == "onnx" or fallback_checkpoint is None:
            raise
        log.warning("onnxruntime is missing; falling back to the torch checkpoint %s", fallback_checkpoint)
        return _torch_pose_encoder(Path(fallback_checkpoint), max_batch, threads)
    extra = onnx.metadata.extra
    if extra.get("part") != POSE_PART or "pose_spec" not in extra:
        raise ValueError(
            f"{p}: not the pose side of a CPEP model (metadata biosig.part={extra.get('part')!r}); export it with "
            "`biosig export onnx CKPT --part pose`"
        )
    return RuntimePoseEncoder(onnx, _pose_spec(json.loads(extra["pose_spec"])), onnx.name)


def checkpoint_vocabulary(source: str | os.PathLike[str] | Mapping[str, Any]) -> GestureVocabulary:
    """The gestures a CPEP checkpoint was trained to name, as built-in pose references (label order for Myo).

    ``source`` is a checkpoint path or the metadata :func:`biosig.models.load_checkpoint` returned. Add your own
    gestures to the returned vocabulary with :meth:`GestureVocabulary.add`.
    """
    if isinstance(source, Mapping):
        meta = source
    else:
        from biosig.models.checkpoint import load_checkpoint

        _, meta = load_checkpoint(source)
    record = (meta.get("extra") or {}).get("vocabulary")
    if not isinstance(record, Mapping) or not record.get("gestures"):
        raise ValueError(f"checkpoint ({meta.get('arch')!r}) records no CPEP vocabulary; is it a CPEP checkpoint?")
    return GestureVocabulary.builtin(list(record["gestures"]))
