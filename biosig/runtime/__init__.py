"""Inference runtime: one :class:`Encoder` interface over onnxruntime sessions and torch models.

>>> from biosig.runtime import load_encoder
>>> enc = load_encoder("model.onnx", fallback_checkpoint="model.pt")   # onnxruntime, else torch
>>> emb = enc.embed(windows)                                           # (B, C, T) device units -> (B, D)
>>> pose = load_pose_encoder("cpep.pt")                                # a CPEP model's pose side (zero-shot head)
"""

from biosig.runtime.base import BaseEncoder, Encoder
from biosig.runtime.loader import BACKENDS, load_encoder, onnxruntime_available
from biosig.runtime.metadata import EncoderMetadata, MetadataError
from biosig.runtime.onnx_encoder import OnnxEncoder, OnnxRuntimeMissing, import_onnxruntime
from biosig.runtime.pose import RuntimePoseEncoder, checkpoint_vocabulary, load_pose_encoder
from biosig.runtime.scaling import InputScale
from biosig.runtime.torch_encoder import TorchEncoder

__all__ = [
    "BACKENDS",
    "BaseEncoder",
    "Encoder",
    "EncoderMetadata",
    "InputScale",
    "MetadataError",
    "OnnxEncoder",
    "OnnxRuntimeMissing",
    "RuntimePoseEncoder",
    "TorchEncoder",
    "checkpoint_vocabulary",
    "import_onnxruntime",
    "load_encoder",
    "load_pose_encoder",
    "onnxruntime_available",
]
