"""Gesture labels that biosig's synthetic corpus stores beside emg2pose-schema files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from biosig.errors import ReaderError
from biosig.io import read
from biosig.io.emg2pose import SYNTHETIC_CORPUS_FORMAT, read_sidecar_labels, write_session


@pytest.fixture()
def session_file(tmp_path: Path) -> Path:
    n = 400
    return write_session(
        tmp_path / "s_right.hdf5",
        time=1.7e9 + np.arange(n) / 2000.0,
        emg=np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32) * 50,
        joint_angles=np.full((n, 20), 0.1),
        session="s",
        stage="st",
        user="u",
        side="right",
    )


def _sidecar(path: Path, labels: np.ndarray, fmt: str = SYNTHETIC_CORPUS_FORMAT) -> None:
    (path.parent / "labels").mkdir(exist_ok=True)
    np.savez(path.parent / "labels" / f"{path.stem}.npz", labels=labels)
    (path.parent / "gestures.json").write_text(json.dumps({"format": fmt, "vocabulary": ["rest", "fist"]}))


def test_released_files_have_no_labels(session_file: Path) -> None:
    (recording,) = read(session_file)
    assert recording.labels is None


def test_sidecar_labels_are_attached(session_file: Path) -> None:
    labels = np.repeat([0, 1], 200).astype(np.int16)
    _sidecar(session_file, labels)
    (recording,) = read(session_file)
    np.testing.assert_array_equal(recording.labels, labels)
    assert recording.label_counts() == {"rest": 200, "fist": 200}


def test_foreign_vocabulary_is_ignored(session_file: Path) -> None:
    _sidecar(session_file, np.zeros(400, dtype=np.int16), fmt="someone-else/2")
    assert read_sidecar_labels(session_file, 400) == (None, {})


def test_sidecar_of_wrong_length_is_an_error(session_file: Path) -> None:
    _sidecar(session_file, np.zeros(399, dtype=np.int16))
    with pytest.raises(ReaderError, match=r"label count does not match the session; expected \(400,\), got \(399,\)"):
        read(session_file)
