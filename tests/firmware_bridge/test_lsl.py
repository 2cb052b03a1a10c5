"""The LSL bridge against a real LSL outlet on loopback, and the result outlet read by a real inlet."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from biosig.protocol import Result
from firmware_bridge.errors import DeviceError
from firmware_bridge.lsl import LSLBridge, ResultOutlet

from .contract import check_bridge

pylsl = pytest.importorskip("pylsl", reason="pylsl is in the dev extra; it ships liblsl")


class Outlet:
    """An LSL outlet in a thread pushing a counter pattern in chunks, optionally skipping some samples."""

    def __init__(self, n_ch=4, srate=250.0, fmt="float32", skip: tuple[int, int] | None = None, unit="microvolts"):
        self.source_id = f"biosig-test-{uuid.uuid4().hex[:8]}"
        cf = {"float32": pylsl.cf_float32, "int16": pylsl.cf_int16}[fmt]
        info = pylsl.StreamInfo("biosig-test", "EMG", n_ch, srate, cf, self.source_id)
        chans = info.desc().append_child("channels")
        for i in range(n_ch):
            ch = chans.append_child("channel")
            ch.append_child_value("label", f"flexor{i}")
            ch.append_child_value("type", "EMG")
            ch.append_child_value("unit", unit)
        self.outlet = pylsl.StreamOutlet(info, chunk_size=10)
        self.n_ch, self.srate, self.skip, self.fmt = n_ch, srate, skip, fmt
        self.sent = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def values(self, k):
        return np.array([[(j * 7 + c) % 1000 for c in range(self.n_ch)] for j in k], dtype=np.float64)

    def _run(self):
        t0 = pylsl.local_clock()
        k = 0
        while not self._stop.is_set():
            due = int((pylsl.local_clock() - t0) * self.srate)
            if due > k:
                idx = np.arange(k, due)
                if self.skip is not None:
                    idx = idx[(idx < self.skip[0]) | (idx >= self.skip[1])]
                for j in idx:  # exact timestamps: sample j at t0 + j / srate
                    row = self.values([j])[0]
                    values = row.astype(int).tolist() if self.fmt == "int16" else row.tolist()
                    self.outlet.push_sample(values, t0 + j / self.srate)
                self.sent = due
                k = due
            time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(5)


def test_lsl_inlet_passes_the_contract_and_reads_the_stream_description():
    with Outlet() as out:
        bridge_holder = {}

        def make():
            bridge_holder["b"] = LSLBridge(source_id=out.source_id, resolve_timeout=5.0)
            return bridge_holder["b"]

        chunks = check_bridge(make, min_samples=250, labelled=False, n_channels=4, sfreq=250.0)
    info = bridge_holder["b"].info
    assert info.ch_names == ("flexor0", "flexor1", "flexor2", "flexor3")
    assert info.ch_types == ("emg",) * 4 and info.units == ("V",) * 4  # microvolts -> volts
    data = np.concatenate([c.data for c in chunks], axis=1)
    # the values pushed, in µV, arrive in V and in order (the first sample read is wherever the inlet started)
    counts = np.rint(data * 1e6)
    assert set(((counts[1] - counts[0]) % 1000).tolist()) == {1.0}  # channel c holds (7 j + c) mod 1000
    steps = np.diff(np.rint(data[0] * 1e6)) % 1000
    assert set(steps.tolist()) <= {7.0}


def test_samples_missing_in_the_timestamps_are_reported_as_a_gap():
    with Outlet(n_ch=2, srate=200.0, skip=(100, 150)) as out:
        with LSLBridge(source_id=out.source_id) as bridge:
            bridge.start()
            chunks, deadline = [], time.monotonic() + 20
            while not chunks or chunks[-1].next_sample < 300:
                assert time.monotonic() < deadline
                c = bridge.read(0.5)
                if c is not None:
                    chunks.append(c)
    assert bridge.stats.gaps == 1 and bridge.stats.missing_samples == 50
    gap_chunk = next(c for c in chunks if c.gap)
    assert gap_chunk.gap == 50
    assert abs(gap_chunk.device_time_us - chunks[0].device_time_us - gap_chunk.first_sample * 5000) < 1000


def test_integer_streams_keep_their_counts():
    with Outlet(n_ch=2, fmt="int16", unit="") as out:
        with LSLBridge(source_id=out.source_id, scale=0.5) as bridge:
            assert (bridge.wire.dtype, bridge.wire.scale) == ("int16", 0.5)
            bridge.start()
            chunk, deadline = None, time.monotonic() + 20
            while chunk is None and time.monotonic() < deadline:
                chunk = bridge.read(1.0)
    assert chunk.raw.dtype == np.int16
    np.testing.assert_array_equal(chunk.data, chunk.raw * np.float32(0.5))


def test_a_stream_that_is_not_there_is_named_with_the_visible_ones():
    with pytest.raises(
        DeviceError, match=r"no LSL stream matches \"source_id='absent'\" within 0.5 s; visible streams"
    ):
        LSLBridge(source_id="absent", resolve_timeout=0.5).open()
    with pytest.raises(ValueError, match="give the LSL stream's name, type or source_id"):
        LSLBridge()


def test_result_outlet_publishes_labels_and_embeddings_to_lsl_tools():
    name = f"biosig-res-{uuid.uuid4().hex[:6]}"
    outlet = ResultOutlet(name)
    results = [Result(0, 200, 1.0, label=lab, score=0.9, embedding=[0.1 * k, 0.2, 0.3]) for k, lab in
               enumerate(["fist", "rest", "fist"])]  # fmt: skip
    outlet.push(results[0])  # creates the embedding outlet
    labels_in = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{name}-labels", 1, 5)[0])
    emb_in = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{name}-embeddings", 1, 5)[0])
    labels_in.open_stream(5)
    emb_in.open_stream(5)
    time.sleep(0.5)
    got_labels, got_emb = [], []
    deadline = time.monotonic() + 10
    while len(got_labels) < 2 and time.monotonic() < deadline:
        for r in results[1:]:
            outlet.push(r)
        time.sleep(0.2)
        got_labels += [s[0] for s in labels_in.pull_chunk(timeout=0.5)[0]]
        got_emb += emb_in.pull_chunk(timeout=0.5)[0]
    assert {"fist", "rest"} <= set(got_labels)
    assert got_emb and len(got_emb[0]) == 3 and got_emb[0][1] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="embedding has 2 values; this outlet publishes 3"):
        outlet.push(Result(0, 200, 1.0, embedding=[1.0, 2.0]))
    outlet.close()
