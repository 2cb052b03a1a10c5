"""Replay of recordings: the bundled real Myo session, exactly, with its labels; gaps for missing samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import biosig.io
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Recording
from firmware_bridge.replay import ReplayBridge

from .contract import check_bridge

MYO = Path(__file__).resolve().parents[2] / "biosig" / "assets" / "myo" / "12345-1"


@pytest.fixture(scope="module")
def myo_recordings():
    return biosig.io.read(MYO)


def test_replay_of_the_bundled_myo_session_passes_the_contract():
    chunks = check_bridge(lambda: ReplayBridge(MYO, index=2, speed=math.inf), min_samples=2000, labelled=True,
                          n_channels=8, sfreq=200.0)  # fmt: skip
    assert chunks[0].n_samples == 10


def test_the_whole_session_is_replayed_back_to_back_exactly_with_true_labels(myo_recordings):
    with ReplayBridge(MYO, speed=math.inf, chunk_s=1.0) as bridge:
        chunks = list(bridge.chunks())
        assert (bridge.wire.dtype, bridge.wire.scale) == ("int8", 1 / 128)
        assert bridge.label_names[7] == "fist"
    raw = np.concatenate([c.raw for c in chunks], axis=1)
    expected = np.concatenate([r.data for r in myo_recordings], axis=1)
    assert raw.dtype == np.int8 and raw.shape == expected.shape == (8, 95470)
    np.testing.assert_array_equal(raw.astype(np.float32) / 128, expected)  # the original int8 counts, exactly
    labels = np.concatenate([c.labels for c in chunks])
    np.testing.assert_array_equal(labels, np.concatenate([r.labels for r in myo_recordings]))
    assert [c.first_sample for c in chunks[:3]] == [0, 200, 400]
    assert chunks[-1].next_sample == 95470


def test_missing_samples_become_gaps_not_values():
    data = np.arange(2 * 50, dtype=np.float32).reshape(2, 50)
    data[:, 20:25] = np.nan
    rec = Recording(data=data, info=SignalInfo.uniform(2, 10.0, "ecg"))
    with ReplayBridge(recordings=[rec], speed=math.inf, chunk_s=1.0) as bridge:
        chunks = list(bridge.chunks())
        assert bridge.wire.dtype == "float32"
    assert [(c.first_sample, c.n_samples, c.gap) for c in chunks] == [(0, 10, 0), (10, 10, 0), (25, 10, 5),
                                                                      (35, 10, 0), (45, 5, 0)]  # fmt: skip
    np.testing.assert_array_equal(chunks[2].data, data[:, 25:35])
    assert bridge.stats.missing_samples == 5


def test_loop_keeps_the_clock_running():
    rec = Recording(data=np.ones((1, 30), dtype=np.float32), info=SignalInfo.uniform(1, 10.0, "emg"))
    with ReplayBridge(recordings=[rec], speed=math.inf, chunk_s=1.0, loop=True) as bridge:
        bridge.start()
        firsts = [bridge.read().first_sample for _ in range(7)]
    assert firsts == [0, 10, 20, 30, 40, 50, 60]


def test_recordings_that_do_not_match_cannot_be_played_together(myo_recordings):
    other = Recording(data=np.zeros((8, 10), dtype=np.float32), info=SignalInfo.uniform(8, 100.0, "emg"))
    with pytest.raises(ValueError, match=r"recording 1 has sfreq 100.0, recording 0 has 200.0.*index=\.\.\."):
        ReplayBridge(recordings=[myo_recordings[0], other]).open()
    with pytest.raises(ValueError, match=r"index must be in \[0, 8\) for 8 recording\(s\), got 9"):
        ReplayBridge(MYO, index=9).open()
    with pytest.raises(ValueError, match="give exactly one of path= or recordings="):
        ReplayBridge()
