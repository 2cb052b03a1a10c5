"""The lifecycle, chunks, wire formats, pacing and the optional-SDK hint."""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import pytest

from biosig.signals.info import SignalInfo
from firmware_bridge import SOURCES, make_bridge
from firmware_bridge._deps import require
from firmware_bridge.base import Bridge, Chunk, Pacer, WireFormat
from firmware_bridge.errors import BridgeStateError, EndOfStream, MissingDependencyError
from firmware_bridge.uplink import Uplink

from .contract import check_bridge


class CountingBridge(Bridge):
    """A minimal bridge: 2 channels of a counter, a gap after sample 9, 30 samples in all."""

    kind = "counting"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def _open(self):
        self.calls.append("open")
        self._pos = 0
        return SignalInfo.uniform(2, 100.0, "emg"), WireFormat("int16", 0.5)

    def _start(self):
        self.calls.append("start")

    def _read(self, timeout):
        if self._pos >= 30:
            raise EndOfStream("done")
        first = self._pos + (5 if self._pos == 10 else 0)  # samples 10..14 never arrive
        raw = np.tile(np.arange(first, first + 5, dtype=np.int16), (2, 1))
        self._pos = first + 5
        return Chunk(first, raw * np.float32(0.5), first * 10_000, time.time(), raw=raw)

    def _stop(self):
        self.calls.append("stop")

    def _close(self):
        self.calls.append("close")


def test_a_minimal_bridge_passes_the_contract_and_reports_its_gap():
    chunks = check_bridge(CountingBridge, min_samples=100, allow_gaps=True, labelled=False)
    assert [c.first_sample for c in chunks] == [0, 5, 15, 20, 25]
    assert [c.gap for c in chunks] == [0, 0, 5, 0, 0]


def test_lifecycle_hooks_run_in_order_and_close_stops_first():
    bridge = CountingBridge()
    with bridge:
        bridge.start()
        bridge.read()
    assert bridge.calls == ["open", "start", "stop", "close"]
    assert list(CountingBridge().open().chunks())[-1].next_sample == 30


def test_a_gap_is_counted_once():
    with CountingBridge() as bridge:
        chunks = list(bridge.chunks())
    assert bridge.stats.gaps == 1 and bridge.stats.missing_samples == 5
    assert sum(c.n_samples for c in chunks) == bridge.stats.samples == 25


def test_chunk_validates_its_arrays():
    with pytest.raises(ValueError, match=r"chunk data must be \(n_channels, n\) with n >= 1, got shape \(3,\)"):
        Chunk(0, np.zeros(3), 0, 0.0)
    with pytest.raises(ValueError, match="first_sample must be >= 0, got -1"):
        Chunk(-1, np.zeros((1, 3)), 0, 0.0)
    with pytest.raises(ValueError, match=r"chunk raw has shape \(1, 2\), data has \(1, 3\)"):
        Chunk(0, np.zeros((1, 3)), 0, 0.0, raw=np.zeros((1, 2), dtype=np.int16))
    with pytest.raises(ValueError, match=r"chunk labels must have shape \(3,\), got \(2,\)"):
        Chunk(0, np.zeros((1, 3)), 0, 0.0, labels=[1, 2])
    assert Chunk(4, np.zeros((2, 3)), 0, 0.0).next_sample == 7


def test_wire_format_validates_and_keeps_the_float32_scale_the_header_carries():
    with pytest.raises(ValueError, match="wire dtype must be one of"):
        WireFormat("int64", 1.0)
    with pytest.raises(ValueError, match="scale must be a finite non-zero number, got 0"):
        WireFormat("int16", 0)
    assert WireFormat("int16", 1e-7).scale == float(np.float32(1e-7))


def test_pacer_releases_samples_in_real_time_and_unpaced_at_once():
    pacer = Pacer(100.0, speed=1.0)
    pacer.start()
    t0 = time.monotonic()
    assert pacer.wait_for(10, timeout=1.0)  # sample 10 is due 0.1 s after start
    assert time.monotonic() - t0 >= 0.09
    assert not pacer.wait_for(1000, timeout=0.01)  # 10 s away: not waited for
    unpaced = Pacer(100.0, speed=math.inf)
    assert unpaced.wait_for(10**9, timeout=0.0) and unpaced.due() == math.inf
    with pytest.raises(ValueError, match="speed must be a positive number"):
        Pacer(100.0, speed=0)


def test_missing_sdk_names_the_package_to_install():
    with pytest.raises(MissingDependencyError, match=r"pip install \"biosig\[bridges\]\""):
        require("no_such_sdk_module")


def test_registry_builds_bridges_by_name_and_refuses_unknown_sources():
    assert set(SOURCES) == {"synthetic", "replay", "serial", "lsl", "brainflow", "ble"}
    assert make_bridge("synthetic", "myo").kind == "synthetic"
    with pytest.raises(
        ValueError,
        match=r"source must be one of \['ble', 'brainflow', 'lsl', 'replay', 'serial', 'synthetic'\], got 'usb'",
    ):
        make_bridge("usb")


def test_state_errors_name_the_state():
    bridge = CountingBridge()
    with pytest.raises(BridgeStateError, match="cannot start a counting bridge that is closed; it must be open"):
        bridge.start()


@pytest.mark.parametrize(
    "module, make, package",
    [
        ("serial", lambda: make_bridge("serial", "/dev/ttyACM0").open(), "pyserial"),
        ("pylsl", lambda: make_bridge("lsl", type="EMG").open(), "pylsl"),
        ("brainflow", lambda: make_bridge("brainflow", -1).open(), "brainflow"),
        ("bleak", lambda: make_bridge("ble", "AA:BB").open(), "bleak"),
        (
            "websockets",
            lambda: Uplink("ws://x", stream="s", info=SignalInfo.uniform(1, 1.0, "emg"), wire=WireFormat()),
            "websockets",
        ),
    ],
)
def test_each_sdk_is_imported_by_its_bridge_only_and_missing_ones_say_what_to_install(
    module, make, package, monkeypatch
):
    for name in [m for m in list(sys.modules) if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(MissingDependencyError, match=rf"needs the '{package}' package.*pip install {package}"):
        make()
