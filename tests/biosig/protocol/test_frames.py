"""Binary data frames: exact round trips, the documented byte layout, and a decoder that only ever raises FrameError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biosig.protocol import (
    FLAG_RESENT,
    HEADER_SIZE,
    MAGIC,
    OVERHEAD,
    DataFrame,
    FrameError,
    decode_frame,
    encode_frame,
    frame_size,
    quantize,
)


def _frame(n_ch=8, n_samp=10, dtype="int16", seq=3, first=1000, scale=1e-6, rng=None):
    rng = rng or np.random.default_rng(0)
    info = np.iinfo(dtype) if dtype != "float32" else None
    if info is None:
        raw = rng.standard_normal((n_ch, n_samp)).astype(np.float32)
    else:
        raw = rng.integers(info.min, info.max, size=(n_ch, n_samp), endpoint=True).astype(dtype)
    return DataFrame(stream_id=7, seq=seq, first_sample=first, device_time_us=-5, raw=raw, scale=scale)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32"])
def test_round_trip_is_exact_for_every_wire_dtype(dtype):
    frame = _frame(dtype=dtype)
    data = encode_frame(frame)
    assert len(data) == frame_size(8, 10, dtype) == OVERHEAD + 8 * 10 * np.dtype(dtype).itemsize
    back = decode_frame(data)
    assert (back.stream_id, back.seq, back.first_sample, back.device_time_us) == (7, 3, 1000, -5)
    assert back.raw.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.raw, frame.raw)
    assert back.scale == np.float32(1e-6)
    assert back.next_sample == 1010
    np.testing.assert_allclose(back.samples, frame.raw.astype(np.float64) * np.float32(1e-6), rtol=1e-6)


def test_byte_layout_matches_the_spec():
    """docs/protocol.md: 48-byte little-endian header, sample-major payload, CRC32 of everything before it."""
    raw = np.array([[1, 2, 3], [-1, -2, -3]], dtype=np.int16)  # 2 channels x 3 samples
    data = encode_frame(DataFrame(258, 1, 2, 3, raw, 0.5, flags=FLAG_RESENT))
    assert data[:4] == MAGIC == b"BSIG"
    assert data[4] == 1 and data[5] == 2 and data[6] == FLAG_RESENT and data[7] == 0  # version, int16, flags
    assert struct.unpack_from("<I", data, 8) == (258,)
    assert struct.unpack_from("<QQq", data, 12) == (1, 2, 3)
    assert struct.unpack_from("<HHIf", data, 36) == (2, 0, 3, 0.5)
    assert struct.unpack_from("<6h", data, HEADER_SIZE) == (1, -1, 2, -2, 3, -3)  # scan after scan
    assert struct.unpack_from("<I", data, len(data) - 4) == (zlib.crc32(data[:-4]),)
    assert decode_frame(data).flags == FLAG_RESENT


def _with(data: bytes, offset: int, fmt: str, value) -> bytes:
    """Patch a header field and fix the CRC, so the check under test is the one that fires."""
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


@pytest.mark.parametrize(
    ("patch", "code", "match"),
    [
        (lambda d: d[:20], "truncated", "frame is 20 bytes; a frame has at least 52"),
        (lambda d: b"XSIG" + d[4:], "bad_magic", r"starts with b'XSIG'; expected magic b'BSIG'"),
        (lambda d: _with(d, 4, "<B", 9), "bad_version", "protocol version 9; this receiver speaks 1"),
        (lambda d: _with(d, 5, "<B", 5), "bad_dtype", r"dtype code 5; expected one of 1 \(int8\)"),
        (lambda d: _with(d, 6, "<B", 0x80), "bad_flags", "flags 0x80"),
        (lambda d: _with(d, 36, "<H", 0), "bad_shape", "declares 0 channels x 10 samples"),
        (lambda d: _with(d, 40, "<I", 11), "length_mismatch", r"header \(8 ch x 11 int16\) implies 228"),
        (lambda d: _with(d, 44, "<f", float("nan")), "bad_scale", "scale is nan"),
        (lambda d: d[:60] + bytes([d[60] ^ 1]) + d[61:], "bad_crc", "CRC32 is 0x"),
        (lambda d: d + b"\0", "length_mismatch", "frame is 213 bytes"),
    ],
)
def test_each_malformation_gets_its_code_and_message(patch, code, match):
    data = encode_frame(_frame())
    with pytest.raises(FrameError, match=match) as info:
        decode_frame(patch(data))
    assert info.value.code == code


def test_oversize_payload_is_refused_before_reading_it():
    data = encode_frame(_frame(n_ch=16, n_samp=100))
    with pytest.raises(FrameError, match="3200-byte payload .* at most 1000 bytes") as info:
        decode_frame(data, max_payload=1000)
    assert info.value.code == "too_big"


def test_float_payload_with_nan_is_refused():
    raw = np.zeros((2, 4), dtype=np.float32)
    raw[1, 2] = np.inf
    raw[0, 0] = np.nan
    with pytest.raises(FrameError, match="2 NaN or infinite") as info:
        decode_frame(encode_frame(DataFrame(0, 0, 0, 0, raw)))
    assert info.value.code == "non_finite"


def test_decode_does_not_alias_the_input_buffer():
    data = bytearray(encode_frame(_frame()))
    frame = decode_frame(data)
    before = frame.raw.copy()
    data[HEADER_SIZE : HEADER_SIZE + 8] = b"\xff" * 8
    np.testing.assert_array_equal(frame.raw, before)
    assert not frame.raw.flags.writeable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seq": -1}, r"seq must be an integer in \[0, "),
        ({"stream_id": 2**32}, "stream_id must be an integer"),
        ({"raw": np.zeros((0, 3), np.int16)}, r"shape \(n_channels, n_samples\) with both >= 1, got \(0, 3\)"),
        ({"raw": np.zeros((2, 3), np.uint16)}, "wire dtype must be one of"),
        ({"scale": 0.0}, "scale must be a finite non-zero number, got 0.0"),
        ({"flags": 2}, r"flags must be an integer in \[0, 1\]"),
    ],
)
def test_frame_construction_validates(kwargs, match):
    base = {"stream_id": 0, "seq": 0, "first_sample": 0, "device_time_us": 0, "raw": np.zeros((2, 3), np.int16)}
    with pytest.raises(ValueError, match=match):
        DataFrame(**{**base, **kwargs})


def test_quantize_rounds_and_refuses_to_clip():
    np.testing.assert_array_equal(quantize(np.array([[1e-6, -2.4e-6, 2.6e-6]]), "int16", 1e-6), [[1, -2, 3]])
    with pytest.raises(ValueError, match=r"span \[0, 200\], outside int8's range \[-128, 127\]"):
        quantize(np.array([[0.0, 200.0]]), "int8", 1.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantize(np.array([[np.nan]]), "int16", 1.0)


# -- property-based: arbitrary bytes never crash the decoder ---------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_frame_error(data):
    try:
        decode_frame(data)
    except FrameError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    n_ch=st.integers(1, 16),
    n_samp=st.integers(1, 40),
    dtype=st.sampled_from(["int8", "int16", "int32", "float32"]),
    seq=st.integers(0, 2**64 - 1),
    first=st.integers(0, 2**64 - 1),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(n_ch, n_samp, dtype, seq, first, seed):
    frame = _frame(n_ch, n_samp, dtype, seq, first, rng=np.random.default_rng(seed))
    back = decode_frame(encode_frame(frame))
    assert (back.seq, back.first_sample, back.n_channels, back.n_samples) == (seq, first, n_ch, n_samp)
    np.testing.assert_array_equal(back.raw, frame.raw)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_corruption_of_a_valid_frame_is_detected(data):
    """Changing, dropping or adding bytes anywhere gives FrameError, never a wrong frame (CRC32 catches bursts <= 32 bits)."""
    frame = encode_frame(_frame(n_ch=4, n_samp=6))
    kind = data.draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
    pos = data.draw(st.integers(0, len(frame) - 1))
    if kind == "flip":
        mask = data.draw(st.integers(1, 255))
        corrupted = frame[:pos] + bytes([frame[pos] ^ mask]) + frame[pos + 1 :]
    elif kind == "drop":
        corrupted = frame[:pos] + frame[pos + 1 :]
    elif kind == "insert":
        corrupted = frame[:pos] + bytes([data.draw(st.integers(0, 255))]) + frame[pos:]
    else:
        corrupted = frame[:pos]
    with pytest.raises(FrameError):
        decode_frame(corrupted)
