"""The training loop on the tiny config: files written, checkpoint contents, exact resume after Ctrl-C, errors."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from biosig.models import load_checkpoint
from biosig.training.config import load_config
from biosig.training.data import build_pretrain_data
from biosig.training.distributed import state_hash
from biosig.training.loop import lr_at, resolve_model_overrides, train
from biosig.training.scaling import InputScaling


def tiny(*overrides: str):
    return load_config("tiny", list(overrides))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return train(tiny(), out_dir=out, command="biosig train biofame --config tiny")


def test_run_writes_config_metrics_summary_and_checkpoints(full_run):
    out = full_run.out_dir
    assert full_run.status == "completed" and full_run.step == full_run.total_steps == 12
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "metrics.jsonl",
        "model.pt",
        "resume.pt",
        "summary.json",
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "biofame_tiny"
    assert config["resolved"]["model_config"]["sfreq"] == 200.0 and config["resolved"]["total_steps"] == 12
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4, 6, 8, 10, 12]  # run.log_every = 2
    assert set(lines[0]) == {"step", "epoch", "loss", "lr", "samples_per_s", "elapsed_s"}
    assert lines[-1]["epoch"] == 2.0  # 96 windows / batch 16 = 6 steps per epoch
    assert all(line["loss"] > 0 and line["lr"] == 1e-3 for line in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["final_loss"] == lines[-1]["loss"]


def test_final_checkpoint_describes_itself_and_its_scaling(full_run):
    model, meta = load_checkpoint(full_run.model_path)
    assert meta["arch"] == "biofame_tiny"
    assert meta["signal_spec"].sfreq == 200.0 and meta["signal_spec"].n_times == 200
    assert meta["signal_spec"].ch_types == ("emg",) * 8
    assert meta["training"]["seed"] == 0 and meta["training"]["command"] == "biosig train biofame --config tiny"
    assert meta["training"]["data"]["groups"] == {"myo-bundled": ["12345"]}
    assert meta["training"]["metrics"]["step"] == 12
    scaling = InputScaling.from_checkpoint(meta)
    assert scaling.method == "robust" and 0.005 < scaling.scale_for("emg", "a.u.") < 0.2
    assert state_hash(model.state_dict()) == full_run.summary["weight_hash_per_rank"][0]
    with torch.no_grad():
        assert model(torch.randn(2, 8, 200)).shape == (2, 16)


def test_same_seed_same_weights_and_another_seed_differs(full_run, tmp_path):
    again = train(tiny(), out_dir=tmp_path / "again")
    other = train(tiny("run.seed=1"), out_dir=tmp_path / "other")
    assert again.summary["weight_hash_per_rank"] == full_run.summary["weight_hash_per_rank"]
    assert other.summary["weight_hash_per_rank"] != full_run.summary["weight_hash_per_rank"]


def test_ctrl_c_saves_and_resume_gives_the_uninterrupted_weights(full_run, tmp_path):
    out = tmp_path / "interrupted"

    def interrupt_at_seven(step: int, loss: float) -> None:
        if step == 7:  # between the checkpoints at 4 and 8: the state must come from the interrupt itself
            os.kill(os.getpid(), signal.SIGINT)

    first = train(tiny(), out_dir=out, on_step=interrupt_at_seven)
    assert first.status == "interrupted" and first.step == 7 and first.model_path is None
    assert torch.load(out / "resume.pt", weights_only=True)["step"] == 7
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"

    resumed = train(tiny(), out_dir=out, resume=True)
    assert resumed.status == "completed" and resumed.summary["resumed_from"] == 7
    assert resumed.summary["weight_hash_per_rank"] == full_run.summary["weight_hash_per_rank"]
    assert resumed.summary["first_loss"] == full_run.summary["first_loss"]  # read back from metrics.jsonl
    assert (out / "resume.pt").stat().st_mode & 0o044  # readable like any file open() creates, not mkstemp's 0600
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8, 10, 12]


def test_resume_refuses_a_changed_config(full_run):
    with pytest.raises(ValueError, match=r"--resume: the config differs from the run in .*: optim.lr: 0.001 -> 0.01"):
        train(tiny("optim.lr=0.01"), out_dir=full_run.out_dir, resume=True)


def test_resume_without_state(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--resume: .*resume.pt does not exist; start without --resume"):
        train(tiny(), out_dir=tmp_path, resume=True)


def test_existing_run_is_not_overwritten(full_run):
    with pytest.raises(
        FileExistsError, match=r"already holds a run \(resume.pt or model.pt\); pass --resume or another --out"
    ):
        train(tiny(), out_dir=full_run.out_dir)


def test_multimodal_layouts_with_modality_dropout_and_slot_decoder(tmp_path):
    config = tiny(
        "model.name=biofame_small",
        "model.d_model=16",
        "model.fa_depth=1",
        "model.fusion_heads=2",
        "model.filter_heads=2",
        "model.decoder_mode=shared",
        "model.decoder_pos=slot",
        'data.datasets=["myo-bundled", "synthetic-physio"]',
        "data.synthetic_per_class=1",
        "data.synthetic_duration_s=12",
        "data.sfreq=100",
        "data.window_s=2",
        "data.modality_dropout=0.5",
        "data.max_windows=0",
        "optim.max_steps=6",
    )
    result = train(config, out_dir=tmp_path)
    assert result.status == "completed"
    _, meta = load_checkpoint(result.model_path)
    assert meta["config"]["n_chans"] == 12  # 8 Myo slots + ECG, PPG, RESP, EDA, set from the data
    assert len(meta["extra"]["layouts"]) == 2
    assert set(InputScaling.from_checkpoint(meta).scales) == {"emg", "ecg", "ppg", "resp", "eda"}


def test_too_few_model_slots_is_an_error():
    config = tiny("model.name=biofame_small", "model.n_chans=4")
    data = build_pretrain_data(config.data, progress=False)
    with pytest.raises(ValueError, match=r"model.n_chans=4 but the data has 8 channel slots"):
        resolve_model_overrides(config, data)


def test_window_must_be_a_multiple_of_the_patch():
    config = tiny("data.window_s=0.99")
    data = build_pretrain_data(config.data, progress=False)
    with pytest.raises(ValueError, match=r"a window of 198 samples .* is not a multiple of the model's patch_len=20"):
        resolve_model_overrides(config, data)


def test_long_windows_raise_the_default_decoder_positions_but_not_an_explicit_value():
    config = tiny("data.window_s=7", "data.hop_s=7")  # 1400 samples = 70 patches; biofame_tiny knows 64
    data = build_pretrain_data(config.data, progress=False)
    assert resolve_model_overrides(config, data)["max_patches"] == 70
    with pytest.raises(ValueError, match=r"model.max_patches=64 but a window holds 70 patches"):
        resolve_model_overrides(tiny("data.window_s=7", "data.hop_s=7", "model.max_patches=64"), data)


def test_conflicting_model_rate_is_an_error():
    config = tiny("model.sfreq=100")
    data = build_pretrain_data(config.data, progress=False)
    with pytest.raises(ValueError, match=r"model.sfreq=100.0 Hz but data.sfreq=200.0 Hz; set only data.sfreq"):
        resolve_model_overrides(config, data)


def test_learning_rate_schedules():
    cosine = tiny("optim.schedule=cosine", "optim.warmup_steps=2", "optim.min_lr=1e-4")
    assert [lr_at(s, cosine, 12) for s in (0, 1)] == [5e-4, 1e-3]
    assert lr_at(2, cosine, 12) == pytest.approx(1e-3)
    assert lr_at(7, cosine, 12) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    assert lr_at(12, cosine, 12) == pytest.approx(1e-4)
    assert lr_at(100, tiny(), 12) == 1e-3
