"""The UART framing: COBS, packets with CRC32, a decoder that resynchronises and never raises, counter unwrapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import PacketError
from firmware_bridge.uart import (
    DataPacket,
    InfoPacket,
    PacketDecoder,
    SampleClock,
    cobs_decode,
    cobs_encode,
    decode_packet,
    encode_packet,
    frame_packet,
)


def _packet(seq=0, first=0, n_ch=4, n=5, t=0):
    samples = (np.arange(n_ch * n, dtype=np.int16).reshape(n_ch, n) - 7) * 1000
    return DataPacket(seq, first, t, samples)


@pytest.mark.parametrize(
    "data, encoded",
    [  # the examples of Cheshire & Baker / Wikipedia
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
        (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_matches_the_reference_examples(data, encoded):
    assert cobs_encode(data) == encoded
    assert cobs_decode(encoded) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_cobs_round_trips_and_never_emits_zero(data):
    encoded = cobs_encode(data)
    assert 0 not in encoded and len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(encoded) == data


def test_packet_layout_is_the_documented_one():
    body = encode_packet(_packet(seq=0x1234, first=0x01020304, n_ch=2, n=3, t=0x0A0B0C0D))
    assert body[:14] == bytes([1, 0, 0x34, 0x12, 4, 3, 2, 1, 0x0D, 0x0C, 0x0B, 0x0A, 2, 3])
    assert len(body) == 14 + 2 * 2 * 3 + 4
    info = encode_packet(InfoPacket(16, 2000.0, 1e-7, "emg", "V", "band"))
    assert len(info) == 40 and info[:3] == bytes([2, 1, 16])


def test_packets_round_trip():
    p = _packet(seq=65535, first=2**32 - 1, t=123)
    back = decode_packet(encode_packet(p))
    assert (back.seq, back.first_sample, back.device_time_us) == (65535, 2**32 - 1, 123)
    np.testing.assert_array_equal(back.samples, p.samples)
    info = decode_packet(encode_packet(InfoPacket(8, 200.0, 0.5, "emg", "a.u.", "myo-like")))
    assert info == InfoPacket(8, 200.0, 0.5, "emg", "a.u.", "myo-like")


def test_bad_packets_get_a_code_and_a_message():
    body = bytearray(encode_packet(_packet()))
    body[20] ^= 0xFF
    with pytest.raises(PacketError, match=r"packet CRC32 is 0x[0-9a-f]{8} but its 58 bytes give") as e:
        decode_packet(bytes(body))
    assert e.value.code == "bad_crc"
    with pytest.raises(PacketError, match="zero byte at offset 0 inside a COBS frame"):
        cobs_decode(b"\x00\x01")
    with pytest.raises(PacketError, match="zero byte inside the COBS block at offset 0"):
        cobs_decode(b"\x02\x00")
    with pytest.raises(ValueError, match="INFO name holds at most 16 bytes of UTF-8"):
        encode_packet(InfoPacket(1, 1.0, 1.0, name="a-very-long-device-name"))
    with pytest.raises(PacketError, match="runs past the end of the 2-byte frame"):
        cobs_decode(b"\x05\x11")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_the_decoder_never_raises_on_arbitrary_bytes(noise):
    decoder = PacketDecoder()
    good = frame_packet(_packet(seq=1))
    out = decoder.feed(noise + b"\x00" + good)
    assert out and out[-1].seq == 1  # the packet after any noise still arrives


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 200), min_size=1, max_size=30))
def test_any_split_of_the_stream_gives_the_same_packets(cuts):
    stream = b"\x00" + b"".join(frame_packet(_packet(seq=i, first=5 * i)) for i in range(6))
    decoder = PacketDecoder()
    out, pos = [], 0
    for c in cuts + [len(stream)]:
        out += decoder.feed(stream[pos : pos + c])
        pos += c
    assert [p.seq for p in out] == list(range(6))
    assert decoder.n_corrupted == 0 and decoder.sync_bytes == 0


def test_corruption_is_counted_and_the_rest_delivered():
    frames = [frame_packet(_packet(seq=i, first=5 * i)) for i in range(5)]
    broken = bytearray(frames[2])
    broken[10] = broken[10] % 255 + 1  # a different non-zero byte
    decoder = PacketDecoder()
    out = decoder.feed(b"half-a-packet\x00" + frames[0] + frames[1] + bytes(broken) + frames[3][:-1] + b"" + frames[4])
    assert [p.seq for p in out] == [0, 1]  # 3 lost its delimiter: it and 4 are one bad frame
    assert decoder.sync_bytes == len(b"half-a-packet") + 1
    assert decoder.n_corrupted == 2


def test_oversize_runs_are_dropped_until_the_next_delimiter():
    decoder = PacketDecoder(max_frame=100)
    assert decoder.feed(b"\x00" + b"\x01" * 300) == []
    out = decoder.feed(b"\x00" + frame_packet(InfoPacket(1, 1.0, 1.0)))
    assert len(out) == 1 and decoder.corrupted == {"oversize": 1}


def test_sample_clock_unwraps_counters_and_finds_dropped_packets():
    clock = SampleClock()
    p = lambda seq, first, t: DataPacket(seq & 0xFFFF, first & 0xFFFFFFFF, t & 0xFFFFFFFF, np.zeros((1, 10), np.int16))  # noqa: E731
    start = 2**32 - 20
    assert clock.place(p(65534, start, 2**32 - 5000)) == (start, 2**32 - 5000, 0)
    assert clock.place(p(65535, start + 10, 2**32 - 2)) == (start + 10, 2**32 - 2, 0)
    assert clock.place(p(2, start + 40, 2**32 + 15000)) == (start + 40, 2**32 + 15000, 2)  # 0 and 1 lost
    assert clock.place(p(2, start + 40, 2**32 + 15000)) is None and clock.duplicates == 1
    assert clock.place(p(3, 5, 0))[0] == start + 50 and clock.restarts == 1  # counter went back: device restarted
