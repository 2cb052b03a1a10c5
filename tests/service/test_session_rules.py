"""The session rules table of docs/protocol.md, row by row, on SessionRules without any socket."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from biosig.protocol import DataFrame, Hello, encode_frame, parse_message
from service.session import Progress, SessionRules, Verdict

HELLO = parse_message(
    '{"type": "hello", "stream": "s", "channels": [{"name": "a", "type": "emg"}, {"name": "b", "type": "emg"}],'
    ' "sfreq": 200, "dtype": "int16", "scale": 0.5}'
)
assert isinstance(HELLO, Hello)


def frame(seq: int, first: int, n: int = 5, *, stream_id: int = 7, n_ch: int = 2, dtype=np.int16, scale=0.5) -> bytes:
    raw = (np.arange(n_ch * n).reshape(n_ch, n) % 100).astype(dtype)
    return encode_frame(DataFrame(stream_id, seq, first, 1000 * seq, raw, scale))


def rules(progress: Progress | None = None, **kw) -> SessionRules:
    kw = {"max_unacked": 8, "max_payload": 1 << 16, "max_invalid": 3, **kw}
    return SessionRules(7, HELLO, progress or Progress(), **kw)


def test_contiguous_frames_are_accepted_and_advance_the_position() -> None:
    r = rules()
    for seq in range(3):
        d = r.check(frame(seq, seq * 5))
        assert d.verdict is Verdict.ACCEPT and d.gap is None and d.error is None
    p = r.progress
    assert (p.next_seq, p.first_sample, p.next_sample, p.n_samples, p.n_frames) == (3, 0, 15, 15, 3)
    assert r.unacked == 3 and r.mark_acked() == 2 and r.unacked == 0


def test_first_frame_may_start_anywhere_on_the_device_clock() -> None:
    r = rules()
    assert r.check(frame(0, 123_456)).verdict is Verdict.ACCEPT
    assert r.progress.first_sample == 123_456 and r.progress.next_sample == 123_461


def test_resend_of_a_persisted_frame_is_a_duplicate_and_changes_nothing() -> None:
    r = rules()
    r.check(frame(0, 0))
    r.check(frame(1, 5))
    d = r.check(frame(0, 0))
    assert d.verdict is Verdict.DUPLICATE and r.n_duplicates == 1
    assert r.progress.next_seq == 2 and r.progress.n_samples == 10


def test_a_missing_frame_makes_later_ones_out_of_order_until_it_is_resent() -> None:
    r = rules()
    r.check(frame(0, 0))
    d = r.check(frame(2, 10))
    assert d.verdict is Verdict.REFUSE and d.error.code == "out_of_order" and d.close_code is None
    assert "seq 1 is expected next; resend from 1" in d.error.message
    assert r.check(frame(1, 5)).verdict is Verdict.ACCEPT
    assert r.check(frame(2, 10)).verdict is Verdict.ACCEPT
    assert r.progress.n_samples == 15


def test_a_jump_of_the_sample_clock_is_accepted_as_a_gap() -> None:
    r = rules()
    r.check(frame(0, 0))
    d = r.check(frame(1, 50))
    assert d.verdict is Verdict.ACCEPT
    assert (d.gap.start_sample, d.gap.stop_sample, d.gap.seq) == (5, 50, 1)
    assert r.progress.next_sample == 55 and r.progress.n_samples == 10


def test_a_frame_overlapping_persisted_samples_is_refused() -> None:
    r = rules()
    r.check(frame(0, 0))
    d = r.check(frame(1, 3))
    assert d.verdict is Verdict.REFUSE and d.error.code == "overlap"
    assert "samples up to 4 are persisted; the next frame must start at 5 or later" in d.error.message
    assert r.progress.next_seq == 1


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"n_ch": 3}, "frame has 3 channels; the hello declared 2"),
        ({"dtype": np.int8}, "frame has dtype int8; the hello declared int16"),
        ({"scale": 0.25}, "frame has scale 0.25; the hello declared 0.5"),
        ({"stream_id": 8}, "frame has stream id 8; this session's stream id is 7"),
    ],
)
def test_config_mismatch_names_what_differs(kwargs, expected) -> None:
    d = rules().check(frame(0, 0, **kwargs))
    assert d.verdict is Verdict.REFUSE and d.error.code == "config_mismatch" and d.error.message == expected


def test_frame_errors_keep_their_decoder_code() -> None:
    data = bytearray(frame(0, 0))
    data[-1] ^= 0xFF
    d = rules().check(bytes(data))
    assert d.error.code == "bad_crc" and d.close_code is None


def test_nan_in_a_float32_stream_is_refused() -> None:
    hello = parse_message('{"type": "hello", "stream": "f", "channels": [{"name": "a", "type": "emg"}], "sfreq": 100,'
                          ' "dtype": "float32"}')  # fmt: skip
    r = SessionRules(1, hello, Progress(), max_unacked=8, max_payload=1 << 16, max_invalid=3)
    raw = np.zeros((1, 4), np.float32)
    good = encode_frame(DataFrame(1, 0, 0, 0, raw))
    body = bytearray(good[:-4])
    struct.pack_into("<f", body, 48, float("nan"))
    d = r.check(bytes(body) + struct.pack("<I", zlib.crc32(body)))
    assert d.error.code == "non_finite" and "1 NaN or infinite" in d.error.message


def test_too_many_invalid_frames_in_a_row_is_fatal_with_1007() -> None:
    r = rules(max_invalid=3)
    decisions = [r.check(b"garbage") for _ in range(3)]
    assert [d.close_code for d in decisions] == [None, None, 1007]
    assert decisions[-1].error.fatal and decisions[-1].error.close_code == 1007
    assert decisions[-1].error.message.endswith("3 invalid frames in a row, closing the session")


def test_a_valid_frame_resets_the_invalid_count() -> None:
    r = rules(max_invalid=2)
    r.check(b"garbage")
    r.check(frame(0, 0))
    assert r.check(b"garbage").close_code is None


def test_out_of_order_frames_do_not_count_as_invalid_data() -> None:
    r = rules(max_invalid=2)
    r.check(frame(0, 0))
    assert all(r.check(frame(s, s * 5)).close_code is None for s in range(5, 10))


def test_more_than_max_unacked_frames_ahead_of_the_last_ack_is_refused() -> None:
    r = rules(max_unacked=2)
    assert r.check(frame(0, 0)).verdict is Verdict.ACCEPT
    assert r.check(frame(1, 5)).verdict is Verdict.ACCEPT
    d = r.check(frame(2, 10))
    assert d.error.code == "too_many_unacked" and "at most 2 may be unacknowledged" in d.error.message
    r.mark_acked()
    assert r.check(frame(2, 10)).verdict is Verdict.ACCEPT


def test_a_stream_id_of_another_tenant_is_fatal_with_1008() -> None:
    r = rules(foreign=lambda sid: sid == 99)
    d = r.check(frame(0, 0, stream_id=99))
    assert d.close_code == 1008 and d.error.code == "forbidden" and d.error.fatal


def test_resumed_session_continues_numbering_and_sample_clock() -> None:
    r = rules(Progress(next_seq=10, first_sample=0, next_sample=50, n_samples=50, n_frames=10))
    assert r.last_acked == 9
    assert r.check(frame(9, 45)).verdict is Verdict.DUPLICATE
    assert r.check(frame(10, 50)).verdict is Verdict.ACCEPT
    assert r.progress.n_samples == 55


def test_acks_cover_only_accepted_frames() -> None:
    r = rules()
    r.check(frame(0, 0))
    r.check(frame(1, 5))
    assert r.mark_acked(0) == 0 and r.unacked == 1
    with pytest.raises(ValueError, match="cannot ack seq 2: last ack 0, next seq 2"):
        r.mark_acked(2)
    assert r.mark_acked() == 1 and r.unacked == 0
