from __future__ import annotations

import numpy as np
import pytest

from biosig.errors import SignalError
from biosig.stream.ring import SampleRing


def block(start: int, n: int, c: int = 2) -> np.ndarray:
    """Samples whose value is their absolute index (channel k adds 1000 k), so reads are checkable."""
    idx = np.arange(start, start + n, dtype=np.float32)
    return np.stack([idx + 1000 * k for k in range(c)])


def test_reads_by_absolute_index_across_wraparound():
    ring = SampleRing(2, capacity=7)
    at = 0
    for n in (3, 4, 5, 2, 6):
        ring.write(at, block(at, n))
        at += n
    assert ring.end == 20
    assert ring.start == 13
    np.testing.assert_array_equal(ring.read(13, 20), block(13, 7))
    np.testing.assert_array_equal(ring.read(15, 18), block(15, 3))
    assert ring.valid(13, 20).all()


def test_jump_forward_marks_missing_samples_invalid_and_zero():
    ring = SampleRing(2, capacity=10)
    ring.write(0, block(0, 4))
    ring.write(7, block(7, 3))  # samples 4, 5, 6 never arrived
    np.testing.assert_array_equal(ring.valid(0, 10), [1, 1, 1, 1, 0, 0, 0, 1, 1, 1])
    data = ring.read(0, 10)
    np.testing.assert_array_equal(data[:, 4:7], np.zeros((2, 3)))
    np.testing.assert_array_equal(data[:, 7:], block(7, 3))


def test_gap_longer_than_capacity_leaves_only_new_samples_valid():
    ring = SampleRing(1, capacity=4)
    ring.write(0, block(0, 4, 1))
    ring.write(100, block(100, 2, 1))
    assert ring.start == 98
    np.testing.assert_array_equal(ring.valid(98, 102), [0, 0, 1, 1])


def test_block_longer_than_capacity_keeps_newest():
    ring = SampleRing(1, capacity=3)
    ring.write(0, block(0, 8, 1))
    assert (ring.start, ring.end) == (5, 8)
    np.testing.assert_array_equal(ring.read(5, 8), block(5, 3, 1))


def test_write_into_the_past_is_refused():
    ring = SampleRing(1, capacity=4)
    ring.write(0, block(0, 3, 1))
    with pytest.raises(SignalError, match="cannot write at sample 1: the ring already holds samples up to 2"):
        ring.write(1, block(1, 1, 1))


def test_read_outside_held_range_is_refused():
    ring = SampleRing(1, capacity=4)
    ring.write(0, block(0, 10, 1))
    with pytest.raises(SignalError, match=r"samples 2\.\.7 are not all held; the ring holds 6\.\.9"):
        ring.read(2, 8)


def test_wrong_block_shape_is_refused():
    ring = SampleRing(3, capacity=4)
    with pytest.raises(SignalError, match=r"block must have shape \(n_channels=3, n_times\), got shape \(2, 5\)"):
        ring.write(0, np.zeros((2, 5)))


@pytest.mark.parametrize("capacity", [0, -1, 2.5, True])
def test_bad_capacity(capacity):
    with pytest.raises(SignalError, match="capacity must be a positive integer"):
        SampleRing(1, capacity)
