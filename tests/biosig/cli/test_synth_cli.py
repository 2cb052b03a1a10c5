from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biosig.cli.main import main
from biosig.io import read
from biosig.io.emg2pose import read_session


def test_synth_emg_pose_writes_a_readable_corpus(tmp_path: Path, capsys) -> None:
    out = tmp_path / "corpus"
    argv = ["data", "synth", "emg-pose", "--out", str(out), "--users", "2", "--held-out-users", "1"]
    argv += ["--stages", "3", "--sides", "right", "--duration", "2", "--seed", "3"]
    assert main(argv) == 0
    assert "wrote 6 emg2pose-schema files" in capsys.readouterr().out
    meta = pd.read_csv(out / "metadata.csv")
    assert set(meta["user"]) == {"user000", "user001"}
    assert meta.loc[meta["user"] == "user001", "held_out_user"].all()
    assert set(meta.loc[~meta["seen"], "stage"]) == {"Signs"}
    first = out / f"{meta['filename'][0]}.hdf5"
    with read_session(first) as session:
        assert session.emg.shape == (4000, 16)
    (recording,) = read(first)
    assert recording.sfreq == 2000.0 and recording.n_channels == 36


def test_synth_emg_pose_is_deterministic(tmp_path: Path, capsys) -> None:
    args = ["--users", "2", "--held-out-users", "0", "--stages", "1", "--sides", "left", "--duration", "1"]
    for name in ("a", "b"):
        assert main(["data", "synth", "emg-pose", "--out", str(tmp_path / name), *args]) == 0
    files = sorted(p.name for p in (tmp_path / "a").glob("*.hdf5"))
    for name in files:
        with read_session(tmp_path / "a" / name) as a, read_session(tmp_path / "b" / name) as b:
            np.testing.assert_array_equal(a.emg, b.emg)
            np.testing.assert_array_equal(a.joint_angles, b.joint_angles)


def test_synth_emg_pose_rejects_holding_out_every_user(tmp_path: Path, capsys) -> None:
    code = main(["data", "synth", "emg-pose", "--out", str(tmp_path), "--users", "2", "--held-out-users", "2"])
    assert code == 1
    assert "--held-out-users must leave at least one training user: got 2 of 2 users" in capsys.readouterr().err


def test_synth_rejects_non_positive_duration(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["data", "synth", "emg-pose", "--out", str(tmp_path), "--duration", "0"])
    assert "expected a positive number, got 0" in capsys.readouterr().err


def test_synth_physio_writes_labelled_recordings(tmp_path: Path, capsys) -> None:
    out = tmp_path / "physio"
    assert main(["data", "synth", "physio", "--out", str(out), "--n-per-class", "1", "--duration", "4"]) == 0
    index = pd.read_csv(out / "index.csv")
    assert list(index["condition"]) == ["rest", "exercise"]
    (rest,) = read(out / index["file"][0])
    assert rest.info.ch_types == ("ecg", "ppg", "resp", "eda")
    assert rest.label_counts() == {"rest": 400}
    code = main(["data", "synth", "physio", "--out", str(out), "--n-per-class", "1", "--duration", "4"])
    assert code == 1 and "index.csv exists; pass --overwrite" in capsys.readouterr().err
