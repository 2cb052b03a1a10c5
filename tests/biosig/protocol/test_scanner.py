"""FrameScanner: frames out of an unframed byte stream, in any split, resynchronising after corruption."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from biosig.protocol import DataFrame, FrameScanner, encode_frame


def _frames(n=6, n_ch=3):
    rng = np.random.default_rng(1)
    out, first = [], 0
    for seq in range(n):
        n_samp = int(rng.integers(1, 12))
        raw = rng.integers(-500, 500, size=(n_ch, n_samp)).astype(np.int16)
        out.append(DataFrame(1, seq, first, seq * 1000, raw, 1e-6))
        first += n_samp
    return out


def _feed_in_pieces(scanner, data, cuts):
    got, prev = [], 0
    for cut in sorted(cuts) + [len(data)]:
        got += scanner.feed(data[prev:cut])
        prev = cut
    return got


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 400), max_size=30))
def test_any_split_of_the_stream_gives_the_same_frames(cuts):
    frames = _frames()
    data = b"".join(encode_frame(f) for f in frames)
    scanner = FrameScanner()
    got = _feed_in_pieces(scanner, data, [c for c in cuts if c < len(data)])
    assert [f.seq for f in got] == list(range(len(frames)))
    for a, b in zip(got, frames):
        np.testing.assert_array_equal(a.raw, b.raw)
    assert scanner.skipped_bytes == 0 and not scanner.rejected and scanner.pending_bytes == 0


def test_garbage_and_a_corrupted_frame_are_skipped_and_counted():
    frames = _frames()
    blobs = [encode_frame(f) for f in frames]
    bad = bytearray(blobs[2])
    bad[-10] ^= 0x40  # payload corruption: CRC fails
    stream = b"noise" + blobs[0] + b"BSI" + blobs[1] + bytes(bad) + blobs[3] + b"\x00BSIG\x09" + blobs[4] + blobs[5]
    scanner = FrameScanner()
    got = scanner.feed(stream)
    assert [f.seq for f in got] == [0, 1, 3, 4, 5]
    assert scanner.rejected["bad_crc"] == 1
    # Everything that was not a delivered frame was counted as skipped, byte for byte.
    delivered = sum(len(blobs[i]) for i in (0, 1, 3, 4, 5))
    assert scanner.skipped_bytes == len(stream) - delivered
    assert scanner.close() == 0


def test_incomplete_tail_is_reported_at_close():
    blob = encode_frame(_frames(1)[0])
    scanner = FrameScanner()
    assert scanner.feed(blob[:-3]) == []
    assert scanner.pending_bytes == len(blob) - 3
    assert scanner.close() == len(blob) - 3
    assert scanner.rejected["truncated"] == 1


def test_a_magic_split_across_feeds_is_kept():
    blob = encode_frame(_frames(1)[0])
    scanner = FrameScanner()
    assert scanner.feed(b"xx" + blob[:2]) == []
    assert scanner.skipped_bytes == 2
    assert [f.seq for f in scanner.feed(blob[2:])] == [0]


def test_oversize_declaration_does_not_stall_the_scanner():
    big = encode_frame(DataFrame(0, 0, 0, 0, np.zeros((16, 100), np.int16)))
    small = encode_frame(_frames(1)[0])
    scanner = FrameScanner(max_payload=1000)
    got = scanner.feed(big + small)
    assert [f.n_channels for f in got] == [3]
    assert scanner.rejected["too_big"] >= 1
