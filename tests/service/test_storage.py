"""Append-only recording files: appends, recovery after a torn write, segments across gaps."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.protocol import DataFrame, encode_frame
from service.storage import RecordingWriter, iter_frames, read_segments, recover


def frames(n: int, start_seq: int = 0, first: int = 0, n_samples: int = 4) -> list[bytes]:
    rng = np.random.default_rng(start_seq)
    out = []
    for k in range(n):
        raw = rng.integers(-100, 100, size=(3, n_samples)).astype(np.int16)
        out.append(encode_frame(DataFrame(1, start_seq + k, first + k * n_samples, 0, raw, 0.5)))
    return out


def test_appended_frames_read_back_byte_for_byte(tmp_path) -> None:
    path = tmp_path / "s.bsig"
    w = RecordingWriter(path)
    data = frames(5)
    for f in data:
        w.append(f)
    w.sync()
    assert not w.dirty and w.size == sum(map(len, data))
    w.close()
    assert path.read_bytes() == b"".join(data)
    assert [f.seq for _, f in iter_frames(path)] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("cut", [1, 30, 47, 48, 60])
def test_recover_truncates_a_torn_last_frame_and_keeps_the_rest(tmp_path, cut) -> None:
    path = tmp_path / "s.bsig"
    data = frames(4)
    path.write_bytes(b"".join(data[:3]) + data[3][:cut])
    state = recover(path)
    assert (state.n_frames, state.n_samples, state.next_seq, state.next_sample) == (3, 12, 3, 12)
    assert state.truncated_bytes == cut
    assert path.read_bytes() == b"".join(data[:3])


def test_recover_drops_a_frame_whose_crc_fails(tmp_path) -> None:
    path = tmp_path / "s.bsig"
    data = frames(3)
    corrupt = bytearray(data[2])
    corrupt[50] ^= 0x01
    path.write_bytes(data[0] + data[1] + bytes(corrupt))
    state = recover(path)
    assert state.n_frames == 2 and state.truncated_bytes == len(corrupt)


def test_recover_continues_from_committed_counters(tmp_path) -> None:
    path = tmp_path / "s.bsig"
    data = frames(5)
    path.write_bytes(b"".join(data))
    head = sum(map(len, data[:2]))
    state = recover(path, start=head, n_frames=2, n_samples=8, next_seq=2, first_sample=0, next_sample=8)
    assert (state.n_frames, state.n_samples, state.next_seq, state.size) == (5, 20, 5, path.stat().st_size)


def test_recover_rescans_when_the_file_is_shorter_than_the_counters_say(tmp_path) -> None:
    path = tmp_path / "s.bsig"
    path.write_bytes(b"".join(frames(2)))
    state = recover(path, start=10_000, n_frames=99, n_samples=999, next_seq=99)
    assert (state.n_frames, state.n_samples, state.next_seq) == (2, 8, 2)


def test_segments_join_contiguous_frames_and_split_at_gaps(tmp_path) -> None:
    path = tmp_path / "s.bsig"
    data = frames(3) + frames(2, start_seq=3, first=100)
    path.write_bytes(b"".join(data))
    segments = read_segments(path, 3)
    assert [(s.first_sample, s.stop_sample) for s in segments] == [(0, 12), (100, 108)]
    expected = np.concatenate([f.samples for _, f in iter_frames(path)][:3], axis=1)
    np.testing.assert_array_equal(segments[0].data, expected)
