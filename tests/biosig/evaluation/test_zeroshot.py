"""``biosig eval zeroshot``: the splits, the methods, few-shot personalisation, leakage checks and the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from biosig.cli.main import main
from biosig.evaluation.zeroshot import (
    GestureSplit,
    LeakageError,
    few_shot,
    load_cpep_models,
    run_zeroshot_eval,
    synthetic_splits,
    zero_shot_knn,
)
from biosig.training.cpep import train_cpep
from biosig.training.cpep_config import load_cpep_config


@pytest.fixture(scope="module")
def checkpoint(cpep_corpus, tmp_path_factory):
    config = load_cpep_config("cpep_tiny", [f"data.corpus={cpep_corpus}"])
    return train_cpep(config, out_dir=tmp_path_factory.mktemp("zs") / "run", command="test").model_path


def test_synthetic_splits_hold_out_users_and_the_unseen_stage(cpep_corpus, checkpoint):
    models = load_cpep_models(checkpoint)
    assert models.emg_mae is not None  # found beside the checkpoint
    splits, notes = synthetic_splits(cpep_corpus, models, progress=False)
    seen, unseen = splits
    assert seen.gestures == ("fist", "open_hand") and unseen.gestures == ("ok", "peace", "point", "thumbs_up")
    assert set(seen.train_group) == {"user000", "user001"} and set(seen.test_group) == {"user002"}
    assert set(unseen.train_group) == {"user000", "user001"} and set(unseen.test_group) == {"user002"}
    assert seen.test_x.shape[1:] == (16, 500) and seen.test_pose.shape[1:] == (23, 50)
    assert seen.test_calib.any() and (~seen.test_calib).any()
    assert any("unseen test" in n for n in notes)


def test_leakage_is_refused(cpep_corpus, checkpoint):
    models = load_cpep_models(checkpoint)
    models.meta["training"]["data"]["corpus"]["users"].append("user002")
    with pytest.raises(LeakageError, match=r"the checkpoint trained on users \['user002'\], which the seen test holds"):
        synthetic_splits(cpep_corpus, models, progress=False)
    models = load_cpep_models(checkpoint)
    models.meta["training"]["data"]["corpus"]["stages"].append("Signs")
    with pytest.raises(LeakageError, match=r"trained on stage\(s\) \['Signs'\] holding the unseen gestures"):
        synthetic_splits(cpep_corpus, models, progress=False)


class _OneHot(nn.Module):
    """EMG embedding = the first sample of channels 0..3 (a one-hot class code); pose embedding = noise."""

    embed_dim = 4

    def __init__(self) -> None:
        super().__init__()
        from biosig.models.cpep import PoseEncoderConfig

        self.pose_config = PoseEncoderConfig(decoder_dim=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x[:, :4, 0], dim=-1)

    def embed_pose(self, poses: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(poses.abs().sum() * 1000) % 2**31)
        return F.normalize(torch.randn(len(poses), 4, generator=g), dim=-1)


def _split(n_per_class: int = 12) -> GestureSplit:
    gestures = ("fist", "open_hand", "point", "peace")
    y = np.repeat(np.arange(4), n_per_class)
    x = np.zeros((len(y), 4, 10), dtype=np.float32)
    x[np.arange(len(y)), y, 0] = 1.0
    x += np.random.default_rng(0).normal(0, 0.05, size=x.shape).astype(np.float32)
    users = np.array(["a", "b"] * (len(y) // 2))
    calib = np.tile([True, True, False, False], len(y) // 4)
    return GestureSplit("unseen", gestures, x, y, users, x, y, users, calib)


def test_few_shot_examples_personalise_the_head():
    split = _split()
    model = _OneHot()
    for mode in ("prototype", "knn"):
        curve = few_shot(model, split, [0, 3, 5], seed=0, mode=mode)
        assert sorted(curve) == [0, 3, 5]
        # Pose references are useless here (noise), the user's own examples are not.
        assert curve[5][0] == 1.0 and curve[5][1] == 1.0
        assert curve[0][0] < 0.8


def test_knn_zero_shot_votes_with_the_training_poses():
    split = _split()
    split.train_pose = np.zeros((len(split.train_y), 23, 50), dtype=np.float32)
    labels = zero_shot_knn(_OneHot(), split, k=3)
    assert labels.shape == split.test_y.shape and set(labels.tolist()) <= {0, 1, 2, 3}
    split.train_pose = None
    with pytest.raises(ValueError, match=r"split 'unseen' has no recorded poses for a kNN bank"):
        zero_shot_knn(_OneHot(), split)


@pytest.mark.slow
def test_report_has_the_papers_columns_and_every_baseline(cpep_corpus, checkpoint):
    report = run_zeroshot_eval("synthetic", [checkpoint], corpus=cpep_corpus, seeds=[0], shots=[0, 1],
                               supervised_epochs=1, progress=False)  # fmt: skip
    assert report.columns == ("probe seen", "probe unseen", "zero-shot seen", "zero-shot unseen")
    methods = {s.method for s in report.scores}
    assert {"TD + LDA", "EMG-MAE probe (transformer)", "supervised EMG (same architecture, CE on seen)",
            "CPEP (transformer) probe", "CPEP (transformer) zero-shot, k=10 over training poses",
            "CPEP (transformer) zero-shot, vocabulary (prototype)",
            "pose-MAE probe (upper bound: reads the pose)"} <= methods  # fmt: skip
    assert all(0.0 <= s.accuracy <= 1.0 for s in report.scores)
    markdown = report.to_markdown()
    assert "| method | probe seen | probe unseen | zero-shot seen | zero-shot unseen |" in markdown
    assert "| CPEP (transformer) | unseen | prototype |" in markdown
    assert json.loads(json.dumps(report.to_dict(), default=str))["columns"][0] == "probe seen"


def test_cli_errors(capsys, checkpoint):
    assert main(["eval", "zeroshot", "--task", "synthetic", "--checkpoint", str(checkpoint)]) == 1
    assert "--task synthetic needs --corpus DIR" in capsys.readouterr().err
    assert main(["eval", "zeroshot", "--task", "synthetic", "--corpus", "x", "--checkpoint", str(checkpoint),
                 "--seeds", "1", "1"]) == 1  # fmt: skip
    assert "--seeds must be distinct, got [1, 1]" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_writes_markdown_and_json(cpep_corpus, checkpoint, tmp_path, capsys):
    out = tmp_path / "zs.md"
    code = main(["eval", "zeroshot", "--task", "synthetic", "--corpus", str(cpep_corpus), "--checkpoint",
                 str(checkpoint), "--seeds", "0", "--shots", "0", "--supervised-epochs", "1", "--out", str(out)])  # fmt: skip
    assert code == 0
    text = out.read_text()
    assert text.startswith("# CPEP zero-shot evaluation") and "biosig eval zeroshot --task synthetic" in text
    assert json.loads(out.with_suffix(".json").read_text())["header"]["task"] == "synthetic"
    assert "| TD + LDA |" in capsys.readouterr().out


@pytest.fixture(scope="module")
def myo_checkpoint(cpep_corpus, tmp_path_factory):
    """A tiny CPEP on the bundled Myo session (participant 12345, a pretraining participant), two classes held out."""
    config = load_cpep_config("cpep_tiny", [f"data.corpus={cpep_corpus}", "data.source=myo-bundled", "data.hop_s=1.0",
                                            "emg.patch_len=20", 'data.exclude_gestures=["pronation", "supination"]'])  # fmt: skip
    return train_cpep(config, out_dir=tmp_path_factory.mktemp("zs-myo") / "run", command="test").model_path


def test_myo_checkpoint_records_its_classes(myo_checkpoint):
    models = load_cpep_models(myo_checkpoint)
    vocab = models.meta["extra"]["vocabulary"]
    assert vocab["kind"] == "myo" and vocab["gestures"][1] == "wrist_flexion"
    assert vocab["unseen_gestures"] == ["pronation", "supination"] and len(vocab["trained_gestures"]) == 6
    assert models.meta["signal_spec"].sfreq == 200.0 and models.meta["signal_spec"].units == ("a.u.",) * 8


@pytest.mark.slow
def test_myo_evaluation_scores_all_trained_and_held_out_classes(myo_checkpoint, shared_data):
    report = run_zeroshot_eval("myo", [myo_checkpoint], data_dir=shared_data, seeds=[0], shots=[0, 1], hop_s=1.0,
                               progress=False)  # fmt: skip
    assert report.columns == ("probe all 8", "probe trained", "probe held out", "zero-shot all 8",
                              "zero-shot trained", "zero-shot held out")  # fmt: skip
    held = [s for s in report.scores if s.split == "held out"]
    assert held and all(s.n_test > 0 for s in held)
    assert any(s.method == "TD + LDA" and s.column == "probe all 8" for s in report.scores)
    assert {row["split"] for row in report.few_shot} == {"all 8", "trained", "held out"}
    split_note = next(n for n in report.notes if n.startswith("seed 0: probe-train"))
    assert re.fullmatch(r"seed 0: probe-train \d{5}(, \d{5}){6}; test \d{5}(, \d{5}){6}", split_note), split_note


def test_the_embedding_cache_never_hands_one_array_the_embeddings_of_another():
    """A dropped array's id goes to the next array of its size (CPython reuses the memory); each must get its own."""
    from biosig.evaluation import zeroshot as zs

    def double(t: torch.Tensor) -> torch.Tensor:
        return 2 * t

    with zs._embedding_cache():
        for i in range(20):  # what the vocabulary head does: fresh pose windows at every refresh
            x = np.full((4, 3), float(i), np.float32)
            np.testing.assert_array_equal(zs._embed(double, x), 2 * x)
            del x
        kept = np.ones((4, 3), np.float32)
        first = zs._embed(double, kept)
        assert zs._embed(double, kept) is first  # the same live array is embedded once
