"""Test-time modality dropout and substitution: conditions, the synthetic task, the benchmark and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biosig.cli.main import main
from biosig.evaluation.benchmark import random_encoder
from biosig.evaluation.modality import (
    ModalityCondition,
    load_synthetic_physio_task,
    modality_conditions,
    run_modality_benchmark,
)


def test_cli_task_choices_match_the_library() -> None:
    from biosig.cli.evaluate import MODALITY_TASK_CHOICES
    from biosig.evaluation.modality import MODALITY_TASKS

    assert MODALITY_TASK_CHOICES == MODALITY_TASKS


def test_conditions_for_eeg_and_ecg() -> None:
    conds = modality_conditions(["eeg", "eeg", "ecg"])
    assert [c.name for c in conds] == ["all", "drop eeg at test", "eeg absent", "drop ecg at test", "ecg absent"]
    assert conds[1] == ModalityCondition("drop eeg at test", "dropout", ("eeg", "ecg"), ("ecg",))
    assert conds[2] == ModalityCondition("eeg absent", "absent", ("ecg",), ("ecg",))


def test_substitution_fits_without_the_stand_in_and_tests_with_it() -> None:
    conds = {c.name: c for c in modality_conditions(["ecg", "ppg", "resp", "eda"])}
    sub = conds["ecg -> ppg at test"]
    assert sub.kind == "substitution"
    assert sub.train == ("ecg", "resp", "eda") and sub.test == ("ppg", "resp", "eda")
    assert conds["ppg -> ecg at test"].test == ("ecg", "resp", "eda")
    assert [c.name for c in modality_conditions(["emg"] * 8)] == ["all"]  # one modality: nothing to drop
    with pytest.raises(ValueError, match="ch_types is empty"):
        modality_conditions([])


@pytest.fixture(scope="module")
def synth_task():
    return load_synthetic_physio_task(n_per_class=4, duration_s=20.0)


def test_synthetic_task_folds_hold_out_whole_recordings(synth_task) -> None:
    task = synth_task
    assert task.ch_types == ("ecg", "ppg", "resp", "eda") and task.x.shape[1:] == (4, 400)
    assert set(np.unique(task.y)) == {0, 1} and task.label_names == {0: "calm", 1: "aroused"}
    folds = task.folds(0)
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(task.y)))  # every window tested exactly once
    for f in folds:
        assert not set(task.participant[f.train]) & set(task.participant[f.test])
        assert set(task.y[f.test]) == {0, 1}  # class-balanced: one recording of each state per fold
    assert [f.test.tolist() for f in task.folds(1)] != [f.test.tolist() for f in folds]  # the seed reshuffles


def test_modality_benchmark_rows(synth_task) -> None:
    enc = random_encoder("biofame_tiny", sfreq=100.0)
    results, notes = run_modality_benchmark([synth_task], [0, 1], [enc], probe_c=0.1)
    by_task = {r.task: r for r in results}
    assert len(results) == 1 + 2 * 4 + 2  # all, drop/absent per modality, two substitutions
    sub = by_task["synthetic-physio: ecg -> ppg at test"]
    assert sub.column == "probe, random-init control" and [r["seed"] for r in sub.runs] == [0, 1]
    assert sub.notes[0] == "fitted on ecg+resp+eda, tested on ppg+resp+eda"
    assert "probe regularisation: C=0.1 (fixed) in all 8 fits" in sub.notes  # 2 seeds x 4 folds
    for r in results:
        assert 0.0 <= r.summary["balanced_accuracy"].mean <= 1.0
    assert any("NeuroKit2 recordings (4 calm, 4 aroused)" in n for n in notes)


def test_modality_benchmark_needs_an_encoder(synth_task) -> None:
    with pytest.raises(ValueError, match="needs at least one encoder"):
        run_modality_benchmark([synth_task], [0], [])


def test_eval_modality_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "mod.md"
    argv = ["eval", "modality", "--model", "biofame_tiny", "--random-init", "--task", "synthetic-physio"]
    argv += ["--synthetic-per-class", "4", "--seeds", "0", "--probe-c", "0.1", "--out", str(out)]
    assert main(argv) == 0
    md = capsys.readouterr().out
    assert md == out.read_text()
    assert "| synthetic-physio: drop ecg at test | 50.0 |" in md
    assert "- **command**: `biosig eval modality --batch-size 256 --device cpu --model biofame_tiny" in md
    rows = json.loads(out.with_suffix(".json").read_text())["results"]
    assert {r["task"] for r in rows} >= {"synthetic-physio: all", "synthetic-physio: ppg -> ecg at test"}


def test_eval_modality_cli_errors(capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "modality", "--task", "synthetic-physio"]) == 1
    assert "needs --checkpoint PATH [PATH ...] or --model NAME --random-init" in capsys.readouterr().err
    argv = ["eval", "modality", "--model", "biofame_tiny", "--random-init", "--synthetic-per-class", "1"]
    assert main(argv) == 1
    assert "--synthetic-per-class must be >= 2" in capsys.readouterr().err


def test_eval_modality_checkpoint_scaling_and_input_scale_override(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A checkpoint whose scaling lacks a task's unit fails before any embedding; --input-scale fills the gap."""
    from tests.biosig.evaluation._tiny import make_tiny_checkpoint

    scales = {"ecg": {"V": 1e-4}, "ppg": {"a.u.": 0.2}, "resp": {"a.u.": 0.2}, "eda": {"a.u.": 0.7}}
    ckpt = make_tiny_checkpoint(tmp_path / "mm.pt", sfreq=100.0, input_scaling={"method": "robust", "scales": scales})
    argv = ["eval", "modality", "--checkpoint", str(ckpt), "--task", "synthetic-physio", "--synthetic-per-class", "4"]
    argv += ["--seeds", "0", "--probe-c", "0.1"]
    assert main(argv) == 1
    assert "no scale for a 'eda' channel in 'S' (it knows ecg in V, ppg in a.u., resp in a.u., eda in a.u.)" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--input-scale", "eda=1.3e6"]) == 0
    md = capsys.readouterr().out
    assert "| synthetic-physio: ecg -> ppg at test | 50.0 |" in md and "multiply by eda: 1.3e+06" in md
