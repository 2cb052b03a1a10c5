"""The synthetic wristband: both profiles pass the contract, deterministic, labelled, paced."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from biosig.signals.pose import HAND_JOINTS
from biosig.synth.hand import GESTURE_NAMES
from firmware_bridge.synthetic import SyntheticBridge, SyntheticSignal

from .contract import check_bridge


def _run(**kw):
    with SyntheticBridge(speed=math.inf, **kw) as bridge:
        chunks = list(bridge.chunks())
    return bridge, chunks


def test_emg2pose_profile_passes_the_contract():
    chunks = check_bridge(lambda: SyntheticBridge("emg2pose", speed=math.inf, block_s=2.0), min_samples=5000,
                          labelled=True, n_channels=16, sfreq=2000.0)  # fmt: skip
    assert all(c.raw.dtype == np.int16 for c in chunks)
    assert chunks[0].n_samples == 40  # 20 ms at 2 kHz


def test_myo_profile_is_8_channels_of_int8_at_200_hz_in_myo_units():
    bridge, chunks = _run(profile="myo", duration_s=12.0, block_s=5.0)
    assert bridge.info.n_channels == 8 and bridge.info.sfreq == 200.0 and set(bridge.info.units) == {"a.u."}
    assert (bridge.wire.dtype, bridge.wire.scale) == ("int8", 1 / 128)
    raw = np.concatenate([c.raw for c in chunks], axis=1)
    assert raw.shape == (8, 2400)  # three blocks, joined without a gap
    assert 5 < raw.astype(float).std() < 60  # counts of a band at 2 µV/count
    labels = np.concatenate([c.labels for c in chunks])
    assert len(set(labels.tolist()) - {0}) >= 3  # gestures were performed (0 = rest)


def test_same_seed_same_stream_other_seed_other_stream():
    _, a = _run(profile="myo", duration_s=3.0, seed=7, block_s=2.0)
    _, b = _run(profile="myo", duration_s=3.0, seed=7, block_s=2.0)
    _, c = _run(profile="myo", duration_s=3.0, seed=8, block_s=2.0)
    cat = lambda chunks: np.concatenate([x.raw for x in chunks], axis=1)  # noqa: E731
    np.testing.assert_array_equal(cat(a), cat(b))
    assert not np.array_equal(cat(a), cat(c))


def test_block_k_depends_only_on_seed_and_k():
    signal = SyntheticSignal("myo", seed=3, block_s=2.0)
    np.testing.assert_array_equal(signal.block(4)[0], SyntheticSignal("myo", seed=3, block_s=2.0).block(4)[0])


def test_pose_channels_follow_the_emg_in_float32():
    bridge, chunks = _run(profile="emg2pose", include_pose=True, duration_s=0.5)
    assert bridge.info.ch_names[16:] == tuple(HAND_JOINTS)
    assert bridge.info.ch_types.count("pose") == 23 and bridge.wire.dtype == "float32"
    assert all(c.raw is None for c in chunks)
    assert bridge.label_names[1] == GESTURE_NAMES[1]


def test_real_time_pacing_does_not_run_ahead_of_the_clock():
    with SyntheticBridge("myo", speed=1.0, duration_s=0.3) as bridge:
        t0 = time.monotonic()
        n = sum(c.n_samples for c in bridge.chunks())
        elapsed = time.monotonic() - t0
    assert n == 60
    assert elapsed >= 0.28  # 0.3 s of signal cannot arrive sooner than 0.3 s after start


def test_bad_arguments_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match=r"synthetic profile must be one of \['emg2pose', 'myo'\], got 'cyton'"):
        SyntheticBridge("cyton")
    with pytest.raises(ValueError, match="include_pose needs the emg2pose profile"):
        SyntheticBridge("myo", include_pose=True)
    with pytest.raises(ValueError, match=r"chunk_s must be in \(0, 1\] seconds, got 0"):
        SyntheticBridge(chunk_s=0)
    with pytest.raises(ValueError, match="unknown gesture"):
        SyntheticBridge(gestures=["fist", "moonwalk"])
