"""Test doubles for the service tests. ``PoseEncoderDouble`` stands in for a CPEP pose encoder until the real
bundled ones land: it is NOT a trained model, only something that implements ``biosig.zeroshot.PoseEncoder``.
"""

from __future__ import annotations

import numpy as np

from biosig.zeroshot import PoseSpec

#: The bundled Myo encoder's embedding width; the double's output must match the EMG side's.
EMBED_DIM = 64


class PoseEncoderDouble:
    """A fixed random linear map of a pose window's mean joint angles to ``EMBED_DIM`` values."""

    name = "pose-encoder-test-double"
    pose_spec = PoseSpec(n_dof=23, n_frames=8, frame_rate=50.0)
    embed_dim = EMBED_DIM

    def __init__(self, seed: int = 7) -> None:
        self.weights = np.random.default_rng(seed).standard_normal((23, EMBED_DIM)).astype(np.float32)
        self.calls = 0

    def embed_pose(self, poses: np.ndarray) -> np.ndarray:
        self.calls += 1
        return (np.asarray(poses, np.float32).mean(axis=2) @ self.weights).astype(np.float32)


def pose_encoder_double(path: object = None) -> PoseEncoderDouble:
    """The factory named in settings as ``tests.service.doubles:pose_encoder_double``."""
    return PoseEncoderDouble()
