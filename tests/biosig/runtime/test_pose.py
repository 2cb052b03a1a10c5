"""The pose side of CPEP checkpoints at inference: torch and ONNX pose encoders for the zero-shot head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from biosig.errors import SignalError
from biosig.export import ExportError, export_checkpoint
from biosig.models import create_model, save_checkpoint
from biosig.models.cpep import pose_spec_dict
from biosig.runtime import checkpoint_vocabulary, load_encoder, load_pose_encoder
from biosig.zeroshot import GestureVocabulary, PoseEncoder, ZeroShotHead
from tests.biosig.runtime.helpers import make_checkpoint

SMALL = dict(d_model=16, depth=1, heads=2, mlp_dim=32, decoder_dim=16)
VOCAB = {"kind": "myo", "gestures": ["rest", "wrist_flexion", "fist"], "trained_gestures": ["rest", "fist"],
         "unseen_gestures": ["wrist_flexion"], "label_of_gesture": {}}  # fmt: skip


@pytest.fixture(scope="module")
def cpep_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model("cpep", emg_config={**SMALL, "n_chans": 8, "n_times": 200, "sfreq": 200.0, "patch_len": 20},
                         pose_config=dict(SMALL), head_hidden=16).eval()  # fmt: skip
    path = tmp_path_factory.mktemp("cpep") / "cpep.pt"
    return save_checkpoint(
        path, model, arch="cpep", config=model.config, signal_spec=dict(sfreq=200.0, n_times=200, ch_types=("emg",) * 8,
        units=("a.u.",) * 8), training={"data": None, "command": "test", "seed": 0, "metrics": None},
        extra={"pose_spec": pose_spec_dict(model.pose_config), "vocabulary": VOCAB,
               "input_scaling": {"method": "robust", "scales": {"emg": {"a.u.": 0.02}}}, "temperature": 0.02},
    )  # fmt: skip


@pytest.fixture(scope="module")
def poses() -> np.ndarray:
    return np.random.default_rng(0).uniform(-0.3, 0.8, size=(5, 23, 50)).astype(np.float32)


def test_torch_pose_encoder_is_the_models_pose_side(cpep_checkpoint, poses):
    from biosig.models import load_checkpoint

    encoder = load_pose_encoder(cpep_checkpoint)
    assert isinstance(encoder, PoseEncoder) and encoder.backend == "torch" and encoder.embed_dim == 16
    assert encoder.pose_spec.to_dict() == {"n_dof": 23, "n_frames": 50, "frame_rate": 50.0}
    z = encoder.embed_pose(poses)
    model, _ = load_checkpoint(cpep_checkpoint)
    with torch.no_grad():
        expected = model.embed_pose(torch.from_numpy(poses)).numpy()
    assert z.dtype == np.float32 and np.allclose(z, expected, atol=1e-6)
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


def test_pose_encoder_errors(cpep_checkpoint, poses, tmp_path):
    encoder = load_pose_encoder(cpep_checkpoint)
    with pytest.raises(SignalError, match=r"poses must have shape \(n, n_dof=23, n_frames=50\) \(1 s at 50 Hz, "):
        encoder.embed_pose(poses[:, :20])
    with pytest.raises(SignalError, match=r"poses must be radians; got a joint angle of 45 \(degrees\?\)"):
        encoder.embed_pose(np.full((1, 23, 50), 45.0))
    with pytest.raises(SignalError, match=r"poses contain NaN or infinite angles"):
        encoder.embed_pose(np.full((1, 23, 50), np.nan))
    bio = make_checkpoint(tmp_path / "bio.pt")
    with pytest.raises(
        ValueError, match=r"a 'biofame_tiny' checkpoint has no pose encoder; expected a CPEP checkpoint"
    ):
        load_pose_encoder(bio)
    with pytest.raises(FileNotFoundError, match=r"no such pose encoder file"):
        load_pose_encoder(tmp_path / "missing.pt")


def test_onnx_pose_export_matches_torch(cpep_checkpoint, poses, tmp_path):
    result = export_checkpoint(cpep_checkpoint, tmp_path / "pose.onnx", part="pose")
    assert result.parity.passed and result.metadata.extra["part"] == "pose"
    onnx = load_pose_encoder(tmp_path / "pose.onnx")
    assert onnx.backend == "onnxruntime" and onnx.pose_spec == load_pose_encoder(cpep_checkpoint).pose_spec
    assert np.allclose(onnx.embed_pose(poses), load_pose_encoder(cpep_checkpoint).embed_pose(poses), atol=1e-5)


def test_onnx_emg_export_of_cpep_carries_the_vocabulary(cpep_checkpoint, tmp_path):
    result = export_checkpoint(cpep_checkpoint, tmp_path / "emg.onnx")
    meta = result.metadata.extra
    assert meta["part"] == "emg" and json.loads(meta["cpep"])["vocabulary"]["gestures"] == VOCAB["gestures"]
    emg = load_encoder(tmp_path / "emg.onnx")
    x = np.random.default_rng(1).normal(0, 0.05, size=(3, 8, 200)).astype(np.float32)
    assert np.allclose(emg.embed(x), load_encoder(cpep_checkpoint).embed(x), atol=1e-5)
    with pytest.raises(ValueError, match=r"not the pose side of a CPEP model \(metadata biosig.part='emg'\)"):
        load_pose_encoder(tmp_path / "emg.onnx")


def test_pose_part_needs_a_cpep_checkpoint(tmp_path):
    bio = make_checkpoint(tmp_path / "bio.pt")
    with pytest.raises(ExportError, match=r"a 'biofame_tiny' checkpoint has no pose side; --part pose needs CPEP"):
        export_checkpoint(bio, tmp_path / "x.onnx", part="pose")


def test_zero_shot_head_over_the_checkpoint(cpep_checkpoint):
    vocab = checkpoint_vocabulary(cpep_checkpoint)
    assert vocab.names == VOCAB["gestures"]
    head = ZeroShotHead(load_pose_encoder(cpep_checkpoint), vocab, mode="prototype")
    emg = load_encoder(cpep_checkpoint)
    preds = head.classify(emg.embed(np.random.default_rng(2).normal(0, 0.05, size=(4, 8, 200)).astype(np.float32)))
    assert len(preds) == 4 and all(p.label in vocab.names for p in preds)
    with pytest.raises(ValueError, match=r"records no CPEP vocabulary"):
        checkpoint_vocabulary({"arch": "biofame_tiny", "extra": {}})
    assert isinstance(GestureVocabulary.myo(), GestureVocabulary)
