"""The BrainFlow bridge with BrainFlow's own synthetic board, and its gap detection on package counters."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.brainflow import BrainFlowBridge
from firmware_bridge.errors import DeviceError

from .contract import check_bridge

pytest.importorskip("brainflow", reason="brainflow is in the dev extra")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # brainflow imports pkg_resources


def test_synthetic_board_passes_the_contract_in_volts():
    holder = {}

    def make():
        holder["b"] = BrainFlowBridge(-1, channels="emg")
        return holder["b"]

    chunks = check_bridge(make, min_samples=250, labelled=False, n_channels=16, sfreq=250.0)
    bridge = holder["b"]
    assert bridge.info.units == ("V",) * 16 and bridge.info.ch_names[0] == "Fz"  # BrainFlow's names
    data = np.concatenate([c.data for c in chunks], axis=1)
    assert 1e-7 < np.abs(data).max() < 1e-2  # the synthetic board's microvolts, now volts
    assert bridge.describe()["name"] == "Synthetic"


def test_board_by_name_and_other_channel_kinds():
    with BrainFlowBridge("SYNTHETIC_BOARD", channels="eeg") as bridge:
        assert bridge.info.ch_types[0] == "eeg"


def test_package_counter_jumps_become_gaps_and_cut_chunks():
    bridge = BrainFlowBridge(-1)
    bridge._rows, bridge._ts_row, bridge._pkg_row, bridge._factor = [1, 2], 3, 0, 1e-6  # as open() sets them
    bridge._split(np.vstack([np.arange(245, 250.0), np.zeros((3, 5))]))  # a clean first read: the counter counts
    bridge._pending.clear()
    pkg = np.array([250, 251, 252, 253, 254, 255, 0, 1, 5, 6, 7], dtype=float)  # 2, 3, 4 lost (wrapping at 256)
    data = np.vstack([pkg, np.arange(11), np.arange(11) * 2, 1000.0 + np.arange(11) / 250])
    bridge._split(data)
    chunks = [(c.first_sample - 5, c) for c in bridge._pending]
    assert [(f, c.n_samples) for f, c in chunks] == [(0, 8), (11, 3)]
    chunks = [c for _, c in chunks]
    np.testing.assert_allclose(chunks[1].data[0], [8e-6, 9e-6, 10e-6])
    assert chunks[1].device_time_us == int(round((1000.0 + 8 / 250) * 1e6))
    bridge._pending.clear()
    bridge._split(np.vstack([[9, 10.0], [0, 0], [0, 0], [0, 0]]))  # 8 lost across reads
    assert list(bridge._pending)[0].first_sample == 5 + 15


def test_a_counter_that_does_not_count_samples_is_not_trusted():
    bridge = BrainFlowBridge(-1)
    bridge._rows, bridge._ts_row, bridge._pkg_row = [1], 2, 0
    bridge._split(np.vstack([[0, 0, 3, 3, 6.0], np.arange(5), np.zeros(5)]))  # one count per 2-3 samples
    assert [(c.first_sample, c.n_samples) for c in bridge._pending] == [(0, 5)]


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match=r"unknown BrainFlow parameter 'serial'; allowed: \[.*'serial_port'"):
        BrainFlowBridge(-1, params={"serial": "/dev/ttyUSB0"}).open()
    with pytest.raises(ValueError, match="unknown BrainFlow board 'NO_SUCH_BOARD'"):
        BrainFlowBridge("NO_SUCH_BOARD").open()
    with pytest.raises(ValueError, match="channels must be one of"):
        BrainFlowBridge(-1, channels="spikes")


def test_a_board_that_cannot_be_prepared_is_a_device_error():
    with pytest.raises(DeviceError, match="BrainFlow could not prepare board 0"):  # Cyton on a missing port
        BrainFlowBridge(0, params={"serial_port": "/dev/no-such-port"}, channels="eeg").open()
