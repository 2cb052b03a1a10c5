"""``biosig train biofame``: a tiny run end to end, errors, and two processes under torchrun ending identical."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from biosig.cli.main import main
from biosig.models import load_checkpoint
from biosig.training.distributed import state_hash


def test_tiny_run_from_the_command_line(tmp_path, capsys):
    argv = ["train", "biofame", "--config", "tiny", "--out", str(tmp_path), "--set", "optim.max_steps=4"]
    code = main(argv)
    assert code == 0
    assert f"done: 4 steps; model checkpoint {tmp_path / 'model.pt'}" in capsys.readouterr().out
    _, meta = load_checkpoint(tmp_path / "model.pt")
    assert meta["training"]["command"] == shlex.join(["biosig", *argv])  # as given to main, not the runner's argv
    assert json.loads((tmp_path / "config.json").read_text())["optim"]["max_steps"] == 4


def test_print_config_shows_the_overrides(capsys):
    argv = ["train", "biofame", "--config", "biofame_myo", "--set", "data.include=[]", "--set", "data.exclude=[12345]"]
    assert main([*argv, "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["data"]["exclude"] == ["12345"] and printed["model"]["name"] == "biofame_small"


def test_missing_config_file(tmp_path, capsys):
    assert main(["train", "biofame", "--config", str(tmp_path / "absent.toml")]) == 1
    assert (
        "absent.toml does not exist (bundled configs by name: biofame_multimodal, biofame_myo, cpep_emg2pose, cpep_emg2pose_biofame, cpep_myo, cpep_tiny, nots_multimodal, nots_myo, tiny)"
        in capsys.readouterr().err
    )


def test_bad_override(capsys):
    assert main(["train", "biofame", "--config", "tiny", "--set", "optim.learning_rate=1"]) == 1
    assert "unknown field(s) ['learning_rate'] in [optim]; valid fields: lr," in capsys.readouterr().err


def test_no_data_found_names_the_dataset_and_the_folder(tmp_path, capsys):
    code = main(
        ["train", "biofame", "--config", "biofame_myo", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert (
        f"dataset 'myo': no files matching ['_readings_right_hand/*/*.txt', '_readings_right_hand/*/*.txt.gz'] under {tmp_path / 'myo-readings-dataset'}"
        in err
    )


@pytest.mark.slow
def test_torchrun_two_processes_end_with_identical_weights(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "biosig.cli.main", "train", "biofame", "--config", "tiny", "--out", str(tmp_path),
        "--set", "optim.max_steps=6",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["step"] == 6
    hashes = summary["weight_hash_per_rank"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    model, meta = load_checkpoint(tmp_path / "model.pt")
    assert state_hash(model.state_dict()) == hashes[0]
    assert meta["training"]["world_size"] == 2
    # 96 windows / (16 per batch x 2 ranks) = 3 steps per epoch: the ranks saw different batches.
    assert summary["steps_per_epoch"] == 3
    assert done.stdout.count("done: 6 steps") == 1  # only rank 0 reports


def test_train_nots_runs_the_nots_family(tmp_path, capsys) -> None:
    from biosig.cli.main import main
    from biosig.models.checkpoint import load_checkpoint

    out = tmp_path / "nots"
    argv = ["train", "nots", "--config", "tiny", "--set", 'model.name="nots_tiny"', "--set", "optim.epochs=1"]
    code = main([*argv, "--set", "run.progress=false", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    model, meta = load_checkpoint(out / "model.pt")
    assert meta["arch"] == "nots_tiny"


def test_train_family_must_match_the_model(capsys) -> None:
    from biosig.cli.main import main

    code = main(["train", "nots", "--config", "tiny", "--print-config"])
    assert code == 1
    assert "`biosig train nots` trains nots models; model.name is 'biofame_tiny'" in capsys.readouterr().err


def test_bundled_myo_configs_pretrain_only_the_pretraining_participants() -> None:
    from biosig.evaluation.protocols import myo_pretraining_participants
    from biosig.training.config import load_config

    # The 28 participants of the shared Myo data; the split ranks ids by a hash, so the ids alone decide it.
    held_out = {"12378", "14478", "19999", "45612", "45678", "46666", "51425", "56912", "64917", "65842", "77777"}
    held_out |= {"78549", "95462", "99998"}
    for name in ("biofame_myo", "nots_myo"):
        include = set(load_config(name).data.include)
        assert len(include) == 14 and not include & held_out, name
        assert tuple(sorted(include)) == myo_pretraining_participants(sorted(include | held_out)), name
