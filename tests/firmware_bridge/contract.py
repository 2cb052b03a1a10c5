"""The contract every bridge passes, in the spirit of tests/biosig/io/reader_contract.py.

``check_bridge(make, min_samples=...)`` takes a factory of a fresh (closed) bridge and checks the whole
lifecycle: state errors before open/start and after close, the info and wire format, chunks (shape, dtype,
finite values, raw counts consistent with the values, labels, a sample clock that only moves forward with
gaps reported in ``Chunk.gap``, device and host timestamps), the counters, that the chunks survive the wire
protocol's framing, and that ``close`` is idempotent. It returns the chunks read, for bridge-specific checks.

(This module is not a test file, so pytest does not rewrite its asserts: each carries its own message.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from biosig.protocol import DataFrame, decode_frame, encode_frame, quantize
from biosig.signals.info import SignalInfo
from firmware_bridge.base import Bridge, Chunk, WireFormat
from firmware_bridge.errors import BridgeStateError, EndOfStream


def check_bridge(
    make: Callable[[], Bridge],
    *,
    min_samples: int,
    timeout_s: float = 20.0,
    labelled: bool | None = None,
    n_channels: int | None = None,
    sfreq: float | None = None,
    allow_gaps: bool = False,
) -> list[Chunk]:
    """Run a bridge through its lifecycle and check every chunk until ``min_samples`` have arrived."""
    bridge = make()
    assert isinstance(bridge, Bridge), f"expected a Bridge, got {type(bridge).__name__}"
    assert bridge.state == "closed"
    with pytest.raises(BridgeStateError, match="known after open"):
        _ = bridge.info
    with pytest.raises(BridgeStateError, match="cannot read from"):
        bridge.read(0.01)
    bridge.close()  # closing a closed bridge is a no-op

    chunks: list[Chunk] = []
    with bridge as opened:
        assert opened is bridge, "__enter__ must return the bridge"
        assert bridge.state == "open"
        info, wire = bridge.info, bridge.wire
        assert isinstance(info, SignalInfo) and isinstance(wire, WireFormat)
        if n_channels is not None:
            assert info.n_channels == n_channels, f"n_channels: got {info.n_channels}, expected {n_channels}"
        if sfreq is not None:
            assert info.sfreq == pytest.approx(sfreq), f"sfreq: got {info.sfreq}, expected {sfreq}"
        with pytest.raises(BridgeStateError, match="cannot open"):
            bridge.open()
        with pytest.raises(BridgeStateError, match="cannot read from"):
            bridge.read(0.01)
        assert isinstance(bridge.describe(), dict) and bridge.describe().get("kind") == bridge.kind

        bridge.start()
        assert bridge.state == "streaming"
        with pytest.raises(BridgeStateError, match="cannot start"):
            bridge.start()
        deadline = time.monotonic() + timeout_s
        total = 0
        ended = False
        while total < min_samples:
            assert time.monotonic() < deadline, f"only {total} of {min_samples} samples within {timeout_s} s"
            try:
                chunk = bridge.read(timeout=0.5)
            except EndOfStream:
                ended = True
                break
            if chunk is None:
                continue
            _check_chunk(chunk, bridge, chunks[-1] if chunks else None, allow_gaps, labelled)
            chunks.append(chunk)
            total += chunk.n_samples
        assert chunks, "the bridge delivered no chunk"
        if not ended:
            assert total >= min_samples

        stats = bridge.stats
        assert stats.chunks == len(chunks), f"stats.chunks {stats.chunks} != {len(chunks)} chunks read"
        assert stats.samples == total, f"stats.samples {stats.samples} != {total}"
        assert stats.gaps == sum(1 for c in chunks if c.gap), "stats.gaps must count the chunks with a gap"
        assert stats.missing_samples == sum(c.gap for c in chunks)
        assert isinstance(stats.as_dict(), dict)

        # What the uplink does with a chunk: frame it and decode it again.
        c = chunks[-1]
        raw = c.raw if c.raw is not None else quantize(c.data, wire.dtype, wire.scale)
        back = decode_frame(encode_frame(DataFrame(1, 0, c.first_sample, c.device_time_us, raw, wire.scale)))
        np.testing.assert_allclose(back.samples, c.data, rtol=1e-6, atol=abs(wire.scale) * 0.5 + 1e-12)

        bridge.stop()
        assert bridge.state == "open"
        bridge.stop()  # stopping a stopped bridge is a no-op
    assert bridge.state == "closed"
    with pytest.raises(BridgeStateError, match="cannot read from"):
        bridge.read(0.01)
    bridge.close()
    return chunks


def _check_chunk(chunk: Chunk, bridge: Bridge, previous: Chunk | None, allow_gaps: bool, labelled: bool | None) -> None:
    info, wire = bridge.info, bridge.wire
    assert isinstance(chunk, Chunk)
    assert chunk.data.dtype == np.float32, f"data must be float32, got {chunk.data.dtype}"
    assert chunk.data.shape == (info.n_channels, chunk.n_samples), f"data shape {chunk.data.shape}"
    assert chunk.n_samples >= 1
    assert np.isfinite(chunk.data).all(), "chunk data holds NaN/inf"
    if chunk.raw is not None:
        assert chunk.raw.dtype == wire.numpy_dtype, f"raw dtype {chunk.raw.dtype} != wire {wire.dtype}"
        np.testing.assert_allclose(chunk.raw.astype(np.float64) * wire.scale, chunk.data, rtol=1e-6, atol=1e-12)
    if labelled is not None:
        assert (chunk.labels is not None) == labelled, f"labels present: {chunk.labels is not None}, want {labelled}"
    if chunk.labels is not None:
        assert chunk.labels.shape == (chunk.n_samples,)
        names = set(bridge.label_names)
        assert set(np.unique(chunk.labels).tolist()) <= names | {-1}, "labels without names"
    assert abs(chunk.host_time - time.time()) < 60, "host_time must be time.time() at receipt"
    if previous is None:
        assert chunk.gap == 0
        return
    assert chunk.first_sample >= previous.next_sample, (
        f"sample clock went back: {chunk.first_sample} < {previous.next_sample}"
    )
    assert chunk.gap == chunk.first_sample - previous.next_sample, "Chunk.gap must equal the jump of the clock"
    if not allow_gaps:
        assert chunk.gap == 0, f"unexpected gap of {chunk.gap} samples"
    assert chunk.device_time_us >= previous.device_time_us, "device time went back"
