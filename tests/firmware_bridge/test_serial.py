"""The serial bridge against the firmware emulator process through a pseudo-terminal pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from firmware_bridge.emulator import EmulatorConfig, damage, make_packets
from firmware_bridge.errors import DeviceError
from firmware_bridge.serial import SerialBridge

from .contract import check_bridge


class Emulator:
    """``python -m firmware_bridge.emulator`` as a child process; ``path`` is its pty."""

    def __init__(self, tmp_path, *args: str) -> None:
        self.log = tmp_path / f"emulator-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen([sys.executable, "-m", "firmware_bridge.emulator", "--log", str(self.log), *args],
                                     stdout=subprocess.PIPE, text=True)  # fmt: skip
        line = self.proc.stdout.readline()
        assert line.startswith("pty "), line
        self.path = line.split()[1]

    def fates(self, timeout=30.0) -> dict:
        deadline = time.monotonic() + timeout
        while not self.log.exists():
            assert time.monotonic() < deadline, "the emulator did not finish"
            time.sleep(0.05)
        return json.loads(self.log.read_text())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


@pytest.fixture()
def emulator(tmp_path):
    started = []

    def start(*args):
        emu = Emulator(tmp_path, *args)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def _read_until(bridge, last_sample, timeout=30.0):
    chunks, deadline = [], time.monotonic() + timeout
    while not chunks or chunks[-1].next_sample < last_sample:
        assert time.monotonic() < deadline, f"stopped at {chunks[-1].next_sample if chunks else 0} < {last_sample}"
        chunk = bridge.read(timeout=0.5)
        if chunk is not None:
            chunks.append(chunk)
    return chunks


def test_serial_bridge_passes_the_contract_against_the_emulator(emulator):
    emu = emulator("--profile", "myo", "--speed", "20", "--samples-per-packet", "10")
    chunks = check_bridge(lambda: SerialBridge(emu.path), min_samples=600, labelled=False, n_channels=8, sfreq=200.0)
    assert chunks[0].raw.dtype == np.int16


def test_every_clean_packet_arrives_exactly(emulator):
    emu = emulator("--packets", "200", "--speed", "inf", "--garbage", "33")
    with SerialBridge(emu.path) as bridge:
        assert bridge.info.n_channels == 16 and bridge.info.sfreq == 2000.0 and bridge.info.units[0] == "V"
        assert bridge.wire.dtype == "int16" and bridge.device_info.name == "emu-emg2pose"
        bridge.start()
        chunks = _read_until(bridge, 200 * 20)
    raw = np.concatenate([c.raw for c in chunks], axis=1)
    expected = np.concatenate([p.samples for p in make_packets(EmulatorConfig(packets=200))], axis=1)
    np.testing.assert_array_equal(raw, expected)
    assert bridge.stats.gaps == 0 and bridge.stats.extra["corrupted"] == 0
    assert bridge.stats.extra["sync_bytes"] == 34  # the line noise before the first delimiter, and that delimiter


def test_corrupted_and_dropped_bytes_are_detected_counted_and_become_gaps(emulator):
    """The issue's serial demonstration: damaged packets are counted, the rest delivered, losses reported."""
    n_packets, n = 400, 20
    emu = emulator("--packets", str(n_packets), "--speed", "inf", "--corrupt", "0.05", "--drop-bytes", "0.04",
                   "--drop-packets", "0.03", "--seed", "5")  # fmt: skip
    with SerialBridge(emu.path) as bridge:
        bridge.start()
        chunks = []
        deadline = time.monotonic() + 60
        while not emu.log.exists():  # read while the emulator writes (the pty is only so big)
            assert time.monotonic() < deadline, "the emulator did not finish"
            chunk = bridge.read(timeout=0.1)
            if chunk is not None:
                chunks.append(chunk)
        fates = emu.fates()
        packets = fates["packets"]
        last_ok = max(p["seq"] for p in packets if p["fate"] == "ok")
        if not chunks or chunks[-1].next_sample < (last_ok + 1) * n:
            chunks += _read_until(bridge, (last_ok + 1) * n)
        counts = fates["counts"]
        # Damaged packets after the last good one are only counted once the reader has taken their bytes off
        # the pty, which may lag the last delivered chunk: give it until a deadline, then compare exactly.
        damaged = counts["corrupt"] + counts["drop_byte"]
        deadline = time.monotonic() + 10
        while bridge.stats.extra["corrupted"] < damaged and time.monotonic() < deadline:
            chunk = bridge.read(timeout=0.1)
            if chunk is not None:
                chunks.append(chunk)
    assert counts["corrupt"] > 5 and counts["drop_byte"] > 5 and counts["dropped"] > 3  # the run did damage
    stats = bridge.stats.extra
    # Every damaged packet was detected and counted; none slipped through.
    assert stats["corrupted"] == damaged
    # The good packets arrived, sample for sample, at their place on the sample clock.
    expected = {p.first_sample: p.samples for p in make_packets(EmulatorConfig(seed=5, packets=n_packets))}
    got = {}
    for c in chunks:
        for k in range(0, c.n_samples, n):
            got[c.first_sample + k] = c.raw[:, k : k + n]
    ok = [p["first_sample"] for p in packets if p["fate"] == "ok"]
    assert sorted(got) == ok
    for first in ok:
        np.testing.assert_array_equal(got[first], expected[first])
    # Each run of lost packets (before the last good one) is one reported gap of exactly its samples.
    lost = [p for p in packets if p["fate"] != "ok" and p["seq"] < last_ok]
    runs = sum(1 for i, p in enumerate(lost) if i == 0 or lost[i - 1]["seq"] != p["seq"] - 1)
    assert bridge.stats.gaps == runs
    assert bridge.stats.missing_samples == n * len(lost)
    assert stats["dropped_packets"] == len(lost)


def test_emulator_damage_never_creates_a_delimiter():
    frame = bytes(range(1, 256)) * 2
    for where in range(0, 4000, 7):
        for fate in ("corrupt", "drop_byte"):
            out = damage(frame, fate, where)
            assert 0 not in out and out != frame


def test_given_settings_must_agree_with_the_firmware(emulator):
    emu = emulator("--profile", "myo")
    with pytest.raises(DeviceError, match="sfreq=1000 was given but the firmware on .* reports 200.0"):
        SerialBridge(emu.path, sfreq=1000).open()


def test_a_silent_port_fails_with_what_to_give():
    master, slave = os.openpty()
    try:
        with pytest.raises(
            DeviceError, match=r"no INFO packet from the firmware on .* within 0.3 s; give sfreq, n_channels, scale"
        ):
            SerialBridge(os.ttyname(slave), info_timeout=0.3).open()
    finally:
        os.close(master)
        os.close(slave)


def test_a_missing_port_is_a_device_error():
    with pytest.raises(DeviceError, match="cannot open serial port '/dev/no-such-tty'"):
        SerialBridge("/dev/no-such-tty").open()


def test_emulator_refuses_bad_probabilities():
    with pytest.raises(ValueError, match=r"--corrupt must be a probability in \[0, 1\], got 2"):
        EmulatorConfig(corrupt=2)
