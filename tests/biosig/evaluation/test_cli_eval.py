"""``biosig eval`` end to end on a tiny checkpoint and tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biosig.cli.evaluate import parse_checkpoint_spec
from biosig.cli.main import main
from biosig.evaluation.protocols import myo_pretraining_participants
from tests.biosig.evaluation._tiny import TINY_PARTICIPANTS, make_tiny_checkpoint

SCALING = {"method": "robust", "scales": {"emg": {"a.u.": 0.05}, "eeg": {"V": 2e-5}}}


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    groups = {"myo": myo_pretraining_participants(TINY_PARTICIPANTS)}
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", groups=groups, input_scaling=SCALING)


def test_eval_table_end_to_end(tiny_data: Path, tiny_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "res" / "results.md"
    argv = ["eval", "table", "--checkpoint", str(tiny_ckpt), "--data-dir", str(tiny_data), "--myo-hop", "2.0"]
    argv += ["--task", "myo-cross-participant", "myo-cross-session", "--seeds", "0", "1", "2", "--out", str(out)]
    argv += ["--model", "biofame_tiny", "--random-init"]
    assert main(argv) == 0
    md = out.read_text()
    assert md == capsys.readouterr().out
    assert f"`{tiny_ckpt.resolve()}`" in md
    command = md.split("- **command**: `")[1].split("`")[0]
    assert command.startswith("biosig eval table --batch-size 256 --checkpoint ")
    assert "--argv" not in command  # main()'s raw argv record is not an option
    for flag in ("--checkpoint", "--myo-hop 2.0", "--out", "--seeds 0 1 2", "--random-init"):
        assert command.count(flag) == 1, (flag, command)
    columns = ("classical baseline", "baseline, rotation-aug.", "baseline, energy-aligned", "probe, learned")
    for column in (*columns, "probe, random-init control"):
        assert column in md
    assert "none of the evaluated participants was seen in pretraining" in md
    assert "divide by emg/a.u.: 0.05" in md
    data = json.loads(out.with_suffix(".json").read_text())
    rows = {(r["task"], r["column"]): r for r in data["results"]}
    assert len(rows) == 10  # 4 baselines + 2 probes cross-participant, 2 baselines + 2 probes cross-session
    probe = rows[("myo-cross-participant", "probe, learned")]
    assert [run["seed"] for run in probe["runs"]] == [0, 1, 2]
    bal = probe["summary"]["balanced_accuracy"]
    assert bal["n"] == 3 and 0.0 <= bal["mean"] <= 1.0
    # The tiny folder's sessions are copies of one session, so the same-data baseline is near perfect.
    assert rows[("myo-cross-session", "classical baseline")]["summary"]["balanced_accuracy"]["mean"] > 0.9


def test_eval_baselines_only_without_checkpoint(tiny_data: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["eval", "table", "--data-dir", str(tiny_data), "--myo-hop", "2.0", "--seeds", "0", "--no-rotation-baseline"]
    assert main(argv) == 0
    md = capsys.readouterr().out
    assert "- **checkpoint**: `none`" in md and "- **encoders**: none" in md
    assert "linear probe:" not in md and "| probe, " not in md  # no learned encoder, only baseline rows
    assert "| myo-cross-session | TD + linear probe (the embeddings' probe) |" in md
    assert "eegmat skipped: no eegmat data" in md


def test_eval_refuses_a_checkpoint_pretrained_on_test_participants(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    leaky = make_tiny_checkpoint(tmp_path / "leaky.pt", groups={"myo": list(TINY_PARTICIPANTS)})
    argv = ["eval", "probe", "--checkpoint", str(leaky), "--data-dir", str(tiny_data), "--task", "myo-cross-session"]
    assert main([*argv, "--seeds", "0"]) == 1
    assert "was pretrained on Myo participant(s) ['33333', '44444']" in capsys.readouterr().err
    assert main([*argv, "--seeds", "0", "--myo-hop", "2.0", "--allow-pretraining-overlap"]) == 0
    assert "WARNING, pretrained on participant(s)/subject(s)" in capsys.readouterr().out


def test_eval_model_needs_random_init(capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "table", "--model", "biofame_tiny"]) == 1
    assert "--model is for a random-init control row and needs --random-init" in capsys.readouterr().err


def test_eval_finetune_needs_an_encoder(tiny_data: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "finetune", "--data-dir", str(tiny_data)]) == 1
    assert "needs --checkpoint or --model NAME --random-init" in capsys.readouterr().err


def test_eval_explicit_task_without_data_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "table", "--data-dir", str(tmp_path), "--task", "eegmat"]) == 1
    assert "no eegmat EDF files under" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_table_with_finetune_on_eegmat(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "physionet-eegmat").symlink_to(shared_data / "physionet-eegmat")
    ckpt = make_tiny_checkpoint(tmp_path / "eeg.pt", groups={"eegmat": ["01"]}, input_scaling=SCALING)
    argv = ["eval", "table", "--finetune", "--checkpoint", str(ckpt), "--data-dir", str(data), "--seeds", "0"]
    assert main([*argv, "--epochs", "1", "--max-train-windows", "24"]) == 0
    md = capsys.readouterr().out
    assert "| eegmat | 50.0 |" in md  # two classes: chance 50 %
    assert "band power + LR" in md and "linear probe: biofame_tiny" in md and "fine-tune: biofame_tiny" in md
    assert "WARNING, pretrained on participant(s)/subject(s) ['01']" in md


def test_missing_input_scale_fails_before_any_fitting(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EMG-only checkpoint on an EEG task must fail at once, not after the (long) Myo fits that precede it."""
    import biosig.evaluation.benchmark as benchmark

    data = tmp_path / "data"
    data.mkdir()
    (data / "physionet-eegmat").symlink_to(shared_data / "physionet-eegmat")
    ckpt = make_tiny_checkpoint(
        tmp_path / "emg.pt", input_scaling={"method": "robust", "scales": {"emg": {"a.u.": 0.02}}}
    )

    def no_fitting(*args, **kwargs):
        raise AssertionError("a baseline was fitted before the scaling was checked")

    monkeypatch.setattr(benchmark, "_baseline_rows", no_fitting)
    assert main(["eval", "table", "--checkpoint", str(ckpt), "--data-dir", str(data), "--seeds", "0"]) == 1
    assert "input scaling has no scale for a 'eeg' channel in 'V' (it knows emg in a.u.)" in capsys.readouterr().err


def test_parse_checkpoint_spec() -> None:
    assert parse_checkpoint_spec("runs/a.pt") == ("runs/a.pt", None)
    assert parse_checkpoint_spec("myo=runs/a.pt") == ("runs/a.pt", ("myo-cross-participant", "myo-cross-session"))
    assert parse_checkpoint_spec("eegmat,myo-cross-session=b.pt") == ("b.pt", ("eegmat", "myo-cross-session"))
    assert parse_checkpoint_spec("runs/lr=1e-3/model.pt") == ("runs/lr=1e-3/model.pt", None)  # '=' in a path
    with pytest.raises(ValueError, match=r"'myo-cross' is not a task list; use TASKS=PATH with TASKS from"):
        parse_checkpoint_spec("myo-cross=a.pt")
    with pytest.raises(ValueError, match="no checkpoint path after '='"):
        parse_checkpoint_spec("eegmat=")


def test_eval_table_several_checkpoints_in_one_table(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A bioFAME and a NoTS checkpoint, one limited to a task, sit in one table, each in its own columns."""
    groups = {"myo": myo_pretraining_participants(TINY_PARTICIPANTS)}
    bio = make_tiny_checkpoint(tmp_path / "bio.pt", groups=groups, input_scaling=SCALING)
    nots = make_tiny_checkpoint(tmp_path / "nots.pt", groups=groups, input_scaling=SCALING, arch="nots_tiny")
    out = tmp_path / "both.md"
    argv = ["eval", "table", "--checkpoint", f"myo-cross-session={bio}", str(nots), "--data-dir", str(tiny_data)]
    argv += ["--myo-hop", "2.0", "--seeds", "0", "--no-rotation-baseline", "--out", str(out)]
    argv += ["--pooling", "mean", "channels", "--calibrate", "--probe-c", "0.01"]
    assert main(argv) == 0
    md = capsys.readouterr().out
    header = md.split("## All metrics")[0]
    columns = [c.strip() for c in header.split("| task | chance |")[1].split("\n")[0].strip(" |").split("|")]
    assert columns == [
        "classical baseline",
        "baseline, TD + probe",
        "baseline, per-participant std.",
        "probe, bioFAME",  # command-line order of the checkpoints, though NoTS ran first (on cross-participant)
        "probe, bioFAME (channels pooling)",
        "probe, NoTS",
        "probe, NoTS, per-participant std.",
        "probe, NoTS (channels pooling)",
        "probe, NoTS (channels pooling), per-participant std.",
    ]
    rows = {(r["task"], r["column"]) for r in json.loads(out.with_suffix(".json").read_text())["results"]}
    assert ("myo-cross-session", "probe, bioFAME") in rows
    assert ("myo-cross-participant", "probe, bioFAME") not in rows  # limited to cross-session
    assert ("myo-cross-participant", "probe, NoTS") in rows and ("myo-cross-session", "probe, NoTS") in rows
    # --calibrate: per-participant standardised rows, cross-participant only
    assert ("myo-cross-participant", "baseline, per-participant std.") in rows
    assert ("myo-cross-participant", "probe, NoTS (channels pooling), per-participant std.") in rows
    assert ("myo-cross-session", "probe, NoTS, per-participant std.") not in rows
    assert "probe regularisation: C=0.01 (fixed) in all" in md
    assert f"myo-cross-session={bio.resolve()}; {nots.resolve()}" in md
    assert "- **training command of biofame_tiny (bio.pt)**: test" in md


def test_eval_checkpoint_limited_to_tasks_that_do_not_run(
    tiny_data: Path, tiny_ckpt: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["eval", "table", "--checkpoint", f"eegmat={tiny_ckpt}", "--data-dir", str(tiny_data)]
    assert main([*argv, "--task", "myo-cross-session", "--seeds", "0"]) == 1
    assert "is limited to task(s) eegmat, none of which runs (running: myo-cross-session)" in capsys.readouterr().err


def test_eval_probe_c_must_be_a_number_or_cv(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "table", "--probe-c", "big"])
    assert exc.value.code == 2
    assert "expected a positive number or 'cv', got 'big'" in capsys.readouterr().err
