"""``biosig train cpep``: the three stages, what they write, exact resume, config errors, the CLI."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from biosig.cli.main import main
from biosig.models import load_checkpoint
from biosig.training.config import ConfigError
from biosig.training.cpep import train_cpep
from biosig.training.cpep_config import load_cpep_config


def tiny(corpus, *extra):
    return load_cpep_config("cpep_tiny", [f"data.corpus={corpus}", *extra])


@pytest.fixture(scope="module")
def full_run(cpep_corpus, tmp_path_factory):
    return train_cpep(tiny(cpep_corpus), out_dir=tmp_path_factory.mktemp("cpep-full") / "run", command="test")


def test_run_writes_every_stage_and_the_aligned_model(full_run):
    out = full_run.out_dir
    assert full_run.status == "completed"
    for stage in ("pose_mae", "emg_mae"):
        assert (out / stage / "model.pt").is_file() and (out / stage / "metrics.jsonl").is_file()
        assert not (out / stage / "resume.pt").exists()  # a finished stage keeps only its model
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert [summary["stages"][s]["step"] for s in ("pose_mae", "emg_mae", "align")] == [4, 4, 6]
    lines = [json.loads(x) for x in (out / "align" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4, 6] and {"temperature", "accuracy", "loss"} <= set(lines[0])


def test_aligned_checkpoint_describes_both_sides(full_run, cpep_corpus):
    model, meta = load_checkpoint(full_run.model_path)
    assert meta["arch"] == "cpep" and meta["signal_spec"].sfreq == 500.0 and meta["signal_spec"].n_times == 500
    assert meta["signal_spec"].ch_types == ("emg",) * 16
    extra = meta["extra"]
    assert extra["pose_spec"] == {**extra["pose_spec"], "n_dof": 23, "n_frames": 50, "frame_rate": 50.0}
    assert extra["input_scaling"]["method"] == "robust" and extra["temperature"] > 0
    assert extra["vocabulary"]["gestures"] == ["rest", "fist", "open_hand"]
    assert extra["vocabulary"]["unseen_gestures"] == ["ok", "peace", "point", "thumbs_up"]
    corpus = meta["training"]["data"]["corpus"]
    assert corpus["users"] == ["user000", "user001"] and corpus["stages"] == ["HandOpenClose"]
    # The pose encoder was frozen during alignment: it is exactly the stage-1 pose encoder.
    pose, _ = load_checkpoint(full_run.out_dir / "pose_mae" / "model.pt")
    for name, value in pose.state_dict().items():
        assert torch.equal(model.pose_encoder.state_dict()[name], value), name
    # Joint angles are standardised per DOF by the training poses' statistics (floored at 0.1 rad).
    assert float(model.pose_encoder.pose_std.min()) >= 0.1 and float(model.pose_encoder.pose_std.max()) > 0.2
    assert 0.1 < float(model.pose_encoder.pose_mean[6]) < 1.0  # INDEX_PIP_FE, flexed at rest
    emg, _ = load_checkpoint(full_run.out_dir / "emg_mae" / "model.pt")
    assert not torch.equal(model.emg_encoder.raw_embed.weight, emg.raw_embed.weight)  # the EMG side trained


def test_ctrl_c_in_a_stage_and_resume_give_the_uninterrupted_weights(full_run, cpep_corpus, tmp_path):
    out = tmp_path / "run"

    def interrupt(stage: str, step: int, loss: float) -> None:
        if (stage, step) == ("align", 3):  # between the checkpoints at 2 and 4
            os.kill(os.getpid(), signal.SIGINT)

    first = train_cpep(tiny(cpep_corpus), out_dir=out, on_step=interrupt, command="test")
    assert first.status == "interrupted" and first.stage == "align" and first.model_path is None
    assert torch.load(out / "align" / "resume.pt", weights_only=True)["step"] == 3
    resumed = train_cpep(tiny(cpep_corpus), out_dir=out, resume=True, command="test")
    assert resumed.status == "completed"
    assert resumed.summary["stages"]["pose_mae"]["status"] == "completed earlier"
    assert resumed.summary["stages"]["align"]["resumed_from"] == 3
    assert resumed.summary["weight_hash"] == full_run.summary["weight_hash"]
    steps = [json.loads(x)["step"] for x in (out / "align" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_resume_refuses_a_changed_config_and_a_fresh_run_an_existing_folder(full_run, cpep_corpus):
    with pytest.raises(ValueError, match=r"--resume: the config differs from the run in .*align.lr: 0.0003 -> 0.001"):
        train_cpep(tiny(cpep_corpus, "align.lr=1e-3"), out_dir=full_run.out_dir, resume=True)
    with pytest.raises(FileExistsError, match=r"already holds a CPEP run \(config.json\); pass --resume"):
        train_cpep(tiny(cpep_corpus), out_dir=full_run.out_dir)


def test_pose_stage_can_start_from_a_checkpoint(full_run, cpep_corpus, tmp_path):
    init = full_run.out_dir / "pose_mae" / "model.pt"
    result = train_cpep(tiny(cpep_corpus, f"pose_mae.init={init}"), out_dir=tmp_path / "run", command="test")
    assert result.summary["stages"]["pose_mae"] == {"status": "from checkpoint", "init": str(init)}
    assert not (tmp_path / "run" / "pose_mae").exists()
    with pytest.raises(
        ValueError, match=r"emg_mae.init: .* holds a 'cpep_pose' model, expected 'cpep_emg_transformer'"
    ):
        train_cpep(tiny(cpep_corpus, f"emg_mae.init={init}"), out_dir=tmp_path / "other")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["emgs.d_model=8"], r"unknown section 'emgs'; valid sections: emg, pose, cpep, data"),
        (["emg.d_modle=8"], r"unknown field\(s\) \['d_modle'\] in \[emg\] for 'cpep_emg_transformer'"),
        (["emg.name=biofame_small"], r"emg.name must be one of \['cpep_emg_transformer', 'cpep_emg_biofame'\]"),
        (["align.lr=-1"], r"optim.lr must be > 0, got -1"),
        (["cpep.temperature_init=0.001"], r"cpep needs 0 < min_temperature <= temperature_init < 1"),
    ],
)
def test_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_cpep_config("cpep_tiny", overrides)


def test_data_fixes_the_encoder_geometry(cpep_corpus, tmp_path):
    with pytest.raises(ValueError, match=r"emg.n_chans=8 but the data gives 16; leave it unset"):
        train_cpep(tiny(cpep_corpus, "emg.n_chans=8"), out_dir=tmp_path / "run")
    with pytest.raises(ValueError, match=r"data.corpus must name a synthetic emg2pose corpus"):
        train_cpep(load_cpep_config("cpep_tiny"), out_dir=tmp_path / "run2")


def test_cli_trains_and_prints_the_config(cpep_corpus, tmp_path, capsys):
    assert (
        main(["train", "cpep", "--config", "cpep_tiny", "--set", f"data.corpus={cpep_corpus}", "--print-config"]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["align"]["max_steps"] == 6 and printed["emg"]["name"] == "cpep_emg_transformer"
    out = tmp_path / "cli"
    code = main(["train", "cpep", "--config", "cpep_tiny", "--set", f"data.corpus={cpep_corpus}", "--out", str(out)])
    assert code == 0 and "done: aligned model" in capsys.readouterr().out
    _, meta = load_checkpoint(out / "model.pt")
    assert meta["training"]["command"].startswith("biosig train cpep --config cpep_tiny")
    assert main(["train", "cpep", "--config", "cpep_tiny", "--set", "emg.depht=2"]) == 1
    assert "unknown field(s) ['depht'] in [emg]" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["cpep_emg2pose", "cpep_emg2pose_biofame", "cpep_myo", "cpep_tiny"])
def test_every_bundled_cpep_config_builds_its_encoders(name):
    from biosig.models import create_model

    config = load_cpep_config(name)
    # The data fix the geometry at training time; here a 16-channel (8 for Myo) one-second window stands in.
    n_chans, sfreq = (8, 200.0) if config.data.source == "myo" else (16, 500.0)
    geometry = {"n_chans": n_chans, "sfreq": sfreq}
    if config.emg.name == "cpep_emg_transformer":  # the bioFAME backbone takes any length
        geometry["n_times"] = int(sfreq)
    emg = create_model(config.emg.name, **geometry, **config.emg.overrides)
    z = emg(torch.zeros(2, n_chans, int(sfreq)))
    assert z.shape[0] == 2 and torch.isfinite(z).all()
    assert config.emg.name == ("cpep_emg_biofame" if name.endswith("biofame") else "cpep_emg_transformer")
