"""Participant splits (disjoint, deterministic) and the task windows and folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosig.evaluation.protocols import (
    MyoSplitConfig,
    ParticipantSplit,
    load_myo_tasks,
    myo_heldout_participants,
    myo_participant_split,
    myo_participants,
    myo_pretraining_participants,
)
from tests.biosig.evaluation._tiny import TINY_GESTURES, TINY_PARTICIPANTS

#: The 28 participants of the shared Myo folder.
SHARED_IDS = (
    "10101 12345 12378 12548 14478 19999 21547 26082 32185 40052 41924 45612 45677 45678 "
    "45744 46666 48584 51425 56912 64917 65842 69069 77777 78454 78549 95142 95462 99998"
).split()


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_split_is_disjoint_and_covers_everyone(seed: int) -> None:
    split = myo_participant_split(SHARED_IDS, seed)
    sets = [set(split.pretrain), set(split.probe_train), set(split.test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(SHARED_IDS)
    assert (len(split.pretrain), len(split.probe_train), len(split.test)) == (14, 7, 7)


def test_split_is_deterministic_and_pretraining_is_the_same_for_every_seed() -> None:
    splits = [myo_participant_split(SHARED_IDS, s) for s in range(5)]
    assert myo_participant_split(list(reversed(SHARED_IDS)), 3) == splits[3]  # input order does not matter
    assert all(s.pretrain == splits[0].pretrain for s in splits)
    assert len({s.test for s in splits}) > 1  # the seed changes who is tested
    for s in splits:
        assert not set(s.test) & set(myo_pretraining_participants(SHARED_IDS))


def test_heldout_pool_of_the_shared_participants_is_pinned() -> None:
    # The training pipeline excludes exactly these from pretraining; changing the split function breaks that.
    assert myo_heldout_participants(SHARED_IDS) == tuple(
        "12378 14478 19999 45612 45678 46666 51425 56912 64917 65842 77777 78549 95462 99998".split()
    )


def test_split_seed_changes_the_pool() -> None:
    assert myo_heldout_participants(SHARED_IDS, MyoSplitConfig(split_seed=1)) != myo_heldout_participants(SHARED_IDS)


def test_split_accepts_integer_ids() -> None:
    assert myo_participant_split([1, 2, 3, 4], 0) == myo_participant_split(["1", "2", "3", "4"], 0)


def test_split_needs_two_heldout_participants() -> None:
    with pytest.raises(
        ValueError, match=r"need at least 2 held-out participants .* 2 participants at heldout_fraction=0.5 hold out 1"
    ):
        myo_participant_split(["a", "b"], 0)


def test_split_rejects_duplicate_ids() -> None:
    with pytest.raises(ValueError, match=r"participants must be unique, got duplicates \['a'\]"):
        myo_participant_split(["a", "a", "b", "c"], 0)


def test_split_config_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError, match="heldout_fraction must be a number in \\(0, 1\\), got 1.0"):
        MyoSplitConfig(heldout_fraction=1.0)


def test_participant_split_refuses_overlap() -> None:
    with pytest.raises(ValueError, match=r"not disjoint: \['b'\] in both pretrain and test"):
        ParticipantSplit(("a", "b"), ("c",), ("b",))


def test_myo_participants_lists_the_folder(tiny_data: Path) -> None:
    assert myo_participants(tiny_data) == list(TINY_PARTICIPANTS)


def test_myo_tasks_windows_and_folds(tiny_data: Path) -> None:
    cp, cs = load_myo_tasks(tiny_data, hop_s=1.0)
    pool = myo_heldout_participants(TINY_PARTICIPANTS)
    assert set(cp.participant.tolist()) == set(pool)  # only held-out participants are read
    assert cp.x.shape[1:] == (8, 200)
    assert cp.x.dtype == np.float32
    assert set(np.unique(cp.y).tolist()) == set(TINY_GESTURES)
    (fold,) = cp.folds(0)
    split = cp.split(0)
    assert set(cp.participant[fold.train]) == set(split.probe_train)
    assert set(cp.participant[fold.test]) == set(split.test)
    assert not set(fold.train) & set(fold.test)
    folds = cs.folds(0)
    assert len(folds) == len(pool)
    for f in folds:
        assert set(cs.session[f.train]) == {"1"} and set(cs.session[f.test]) == {"2"}
        assert len(set(cs.participant[np.concatenate([f.train, f.test])])) == 1


def test_model_input_resamples_crops_and_centres(tiny_data: Path) -> None:
    (task,) = load_myo_tasks(tiny_data, hop_s=1.0, tasks=("myo-cross-session",))
    assert task.model_input(200.0) is task.x  # same rate, same length: no copy
    x100 = task.model_input(100.0, multiple_of=30)
    assert x100.shape == (len(task.x), 8, 90)  # 100 samples cut to a multiple of 30
    # Resampling a whole recording then cutting equals cutting near the same time: compare the mean level.
    np.testing.assert_allclose(x100.mean(axis=(1, 2)), task.x[:, :, :180].mean(axis=(1, 2)), atol=0.02)
    centred = task.model_input(200.0, centre=True)
    rec = task.windows.recordings[0]
    median = np.median(rec.data, axis=1)
    first = np.flatnonzero(task.windows.recording_index == 0)[0]
    np.testing.assert_allclose(centred[first], task.x[first] - median[:, None], atol=1e-6)


def test_model_input_rejects_a_window_shorter_than_a_patch(tiny_data: Path) -> None:
    (task,) = load_myo_tasks(tiny_data, hop_s=1.0, tasks=("myo-cross-session",))
    with pytest.raises(ValueError, match=r"a 1 s window is 200 samples at 200 Hz, shorter than one patch of 400"):
        task.model_input(200.0, multiple_of=400)


def test_load_myo_tasks_rejects_unknown_participants(tiny_data: Path) -> None:
    with pytest.raises(ValueError, match=r"participants \['99'\] are not in"):
        load_myo_tasks(tiny_data, participants=["11111", "99"])


def test_eegmat_task_leave_one_subject_out(shared_data: Path) -> None:
    from biosig.evaluation.protocols import EEGMAT_CHANNELS, load_eegmat_task

    task = load_eegmat_task(shared_data)
    assert task.x.shape[1:] == (len(EEGMAT_CHANNELS), 2000)
    assert task.ch_names == EEGMAT_CHANNELS
    folds = task.folds(0)
    assert [f.name for f in folds] == ["test subject 00", "test subject 01"]
    for f in folds:
        assert not set(task.participant[f.train]) & set(task.participant[f.test])
    assert np.bincount(task.y).tolist() == [180, 60]  # 182 s rest and 62 s arithmetic per subject, 4 s every 2 s
