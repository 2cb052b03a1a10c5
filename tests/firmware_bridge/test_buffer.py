"""The frame buffer: memory first, a spill file when full, order kept, bounded, readable by FrameScanner."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.protocol import DataFrame, FrameScanner, encode_frame
from firmware_bridge.buffer import FrameBuffer
from firmware_bridge.errors import BufferFullError, UplinkError


def _frames(n, n_samples=10):
    return [encode_frame(DataFrame(0, i, i * n_samples, 0, np.full((2, n_samples), i % 100, np.int16), 1.0))
            for i in range(n)]  # fmt: skip


def test_memory_only_until_full_then_spill_in_order(tmp_path):
    frames = _frames(50)
    size = len(frames[0])
    buf = FrameBuffer(memory_bytes=10 * size, spill_dir=tmp_path)
    for i, f in enumerate(frames):
        assert buf.append(f) == i
    assert (buf.in_memory, buf.spilled, len(buf), buf.end) == (10, 40, 50, 50)
    assert buf.spill_path is not None and buf.spill_path.parent == tmp_path
    assert buf.get(9) == frames[9]
    with pytest.raises(IndexError, match=r"frame 10 is not in memory \(memory holds 0..9\)"):
        buf.get(10)
    assert buf.release(24) == 25  # the ack pulls frames back from the file
    assert buf.first == 25 and buf.in_memory == 10 and buf.get(25) == frames[25]
    assert list(buf.pending()) == frames[25:]
    assert buf.release(49) == 25 and len(buf) == 0
    assert buf.spill_bytes == 0 and buf.spill_path.stat().st_size == 0  # drained: truncated
    buf.append(frames[0])
    assert buf.in_memory == 1 and buf.spilled == 0
    path = buf.spill_path
    buf.close()
    assert not path.exists()


def test_full_buffer_refuses_new_frames_and_keeps_the_old(tmp_path):
    frames = _frames(10)
    size = len(frames[0])
    buf = FrameBuffer(memory_bytes=2 * size, spill_dir=tmp_path, max_spill_bytes=3 * size)
    for f in frames[:5]:
        buf.append(f)
    with pytest.raises(BufferFullError, match=r"frame buffer is full: 2 frames .* 3 frames .* spilled"):
        buf.append(frames[5])
    assert list(buf.pending()) == frames[:5]
    no_spill = FrameBuffer(memory_bytes=size, max_spill_bytes=0)
    no_spill.append(frames[0])
    with pytest.raises(BufferFullError):
        no_spill.append(frames[1])


def test_dump_writes_a_file_the_scanner_reads(tmp_path):
    frames = _frames(20)
    buf = FrameBuffer(memory_bytes=5 * len(frames[0]), spill_dir=tmp_path)
    for f in frames:
        buf.append(f)
    buf.release(3)
    assert buf.dump(tmp_path / "pending.bsig") == 16
    scanner = FrameScanner()
    back = scanner.feed((tmp_path / "pending.bsig").read_bytes())
    assert [f.seq for f in back] == list(range(4, 20)) and scanner.skipped_bytes == 0
    # the spill file itself is frames too
    spilled = FrameScanner().feed(buf.spill_path.read_bytes())
    assert [f.seq for f in spilled][-1] == 19


def test_a_corrupted_spill_file_is_an_error_not_silent_loss(tmp_path):
    frames = _frames(6)
    buf = FrameBuffer(memory_bytes=len(frames[0]), spill_dir=tmp_path)
    for f in frames:
        buf.append(f)
    with open(buf.spill_path, "r+b") as f:
        f.seek(60)
        f.write(b"\xff\xff")
    with pytest.raises(UplinkError, match=r"spill file .* is corrupted at byte 0: frame CRC32"):
        buf.release(0)


def test_bounds_are_validated():
    with pytest.raises(ValueError, match=r"memory_bytes must hold at least one frame \(52 bytes\), got 10"):
        FrameBuffer(memory_bytes=10)


def test_the_front_frame_is_always_in_memory_even_when_larger_than_the_bound(tmp_path):
    big, small = _frames(1, n_samples=500)[0], _frames(3)
    buf = FrameBuffer(memory_bytes=len(small[0]) * 2, spill_dir=tmp_path)
    assert buf.append(big) == 0 and buf.in_memory == 1  # too big for the bound, but memory was empty
    for f in small:
        buf.append(f)
    assert buf.spilled == 3
    buf.release(0)
    assert buf.in_memory == 2 and buf.get(1) == small[0]
