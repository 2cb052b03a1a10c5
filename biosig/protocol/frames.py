"""Binary data frames of the biosig wire protocol (version 1); the byte layout is specified in docs/protocol.md.

A frame carries one chunk of samples of one stream: ``n_samples`` scans of ``n_channels`` values, interleaved
sample-major (the order an ADC produces them), little-endian, in one of four wire dtypes, with a scale that
turns a wire value into the channel's physical unit. Around the payload sit the fields a receiver needs to
place the chunk without trusting arrival order -- stream id, sequence number, the index of the first sample in
the device's sample clock, the device timestamp -- and a CRC32 over everything before it.

:func:`decode_frame` is the only way bytes become a :class:`DataFrame`. It never raises anything but
:class:`FrameError` (whatever the bytes), and every error names the field, what was expected and what arrived,
so a service can answer a bad frame with a precise message and carry on with the stream.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from biosig.errors import BiosigError

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "FLAG_RESENT",
    "HEADER",
    "HEADER_SIZE",
    "MAGIC",
    "OVERHEAD",
    "VERSION",
    "WIRE_DTYPES",
    "DataFrame",
    "FrameError",
    "decode_frame",
    "encode_frame",
    "frame_size",
    "quantize",
]

#: First four bytes of every frame.
MAGIC = b"BSIG"
#: The layout version this module writes and reads.
VERSION = 1

#: Flag bits. ``FLAG_RESENT``: the sender sent this frame before and sends it again (after a reconnect); the
#: receiver treats it exactly like any other frame, the bit only helps logs and counters. Other bits are
#: reserved and must be 0.
FLAG_RESENT = 0x01
KNOWN_FLAGS = FLAG_RESENT

#: ``<``: little-endian, no padding. magic, version, dtype code, flags, reserved, stream id, sequence number,
#: first sample index, device timestamp (µs), channel count, reserved, sample count, scale.
HEADER = struct.Struct("<4sBBBBIQQqHHIf")
HEADER_SIZE = HEADER.size  # 48
CRC_SIZE = 4
#: Bytes of a frame that are not payload.
OVERHEAD = HEADER_SIZE + CRC_SIZE  # 52

#: Wire dtype code -> numpy dtype (little-endian).
WIRE_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f4"),
}
_CODE_BY_NAME = {dt.name: code for code, dt in WIRE_DTYPES.items()}  # "int8" -> 1, ...

#: Default largest payload a decoder accepts: 1 MiB is ~2 s of 16 channels at 2 kHz in float32, far more than
#: one frame should hold (frames are meant to be tens of milliseconds).
DEFAULT_MAX_PAYLOAD = 1 << 20

_MAX_CHANNELS = 1024


class FrameError(BiosigError, ValueError):
    """Bytes that are not a valid frame; ``code`` is a stable machine-readable reason (see docs/protocol.md).

    Codes: ``truncated``, ``bad_magic``, ``bad_version``, ``bad_dtype``, ``bad_flags``, ``bad_shape``,
    ``length_mismatch``, ``too_big``, ``bad_crc``, ``bad_scale``, ``non_finite``.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def dtype_code(dtype: str | np.dtype) -> int:
    """Wire code of a dtype name (``int8``, ``int16``, ``int32``, ``float32``)."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _CODE_BY_NAME:
        raise ValueError(f"wire dtype must be one of {sorted(_CODE_BY_NAME)}, got {dtype!r}")
    return _CODE_BY_NAME[name]


@dataclass(frozen=True, eq=False)
class DataFrame:
    """One decoded (or to-be-encoded) data frame.

    Parameters
    ----------
    stream_id
        The numeric stream id the service assigned in its ``ready`` message (u32).
    seq
        Sequence number within the stream session: 0 for the first frame, +1 for each next frame (u64).
    first_sample
        Index of the frame's first sample in the device's sample clock (u64). Contiguous frames have
        ``first_sample == previous.first_sample + previous.n_samples``; a jump is a gap the device reports.
    device_time_us
        Device clock at the first sample, microseconds since the device's own epoch (i64).
    raw
        ``(n_channels, n_samples)`` wire values in their wire dtype (int8, int16, int32 or float32).
    scale
        Multiplier from a wire value to the channel's physical unit (finite, non-zero).
    flags
        Flag bits (:data:`FLAG_RESENT`).
    """

    stream_id: int
    seq: int
    first_sample: int
    device_time_us: int
    raw: np.ndarray
    scale: float = 1.0
    flags: int = 0

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("stream_id", 0, 2**32 - 1),
            ("seq", 0, 2**64 - 1),
            ("first_sample", 0, 2**64 - 1),
            ("device_time_us", -(2**63), 2**63 - 1),
            ("flags", 0, KNOWN_FLAGS),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
            object.__setattr__(self, name, int(value))
        raw = np.asarray(self.raw)
        if raw.ndim != 2 or raw.shape[0] < 1 or raw.shape[1] < 1:
            raise ValueError(f"raw must have shape (n_channels, n_samples) with both >= 1, got {raw.shape}")
        if raw.shape[0] > _MAX_CHANNELS:
            raise ValueError(f"a frame holds at most {_MAX_CHANNELS} channels, got {raw.shape[0]}")
        dtype_code(raw.dtype)  # validates
        scale = float(self.scale)
        if not math.isfinite(scale) or scale == 0.0:
            raise ValueError(f"scale must be a finite non-zero number, got {self.scale!r}")
        object.__setattr__(self, "scale", scale)
        raw = raw.copy()
        raw.setflags(write=False)
        object.__setattr__(self, "raw", raw)

    @property
    def n_channels(self) -> int:
        return int(self.raw.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.raw.shape[1])

    @property
    def dtype(self) -> str:
        return self.raw.dtype.name

    @property
    def next_sample(self) -> int:
        """Index the next contiguous frame starts at."""
        return self.first_sample + self.n_samples

    @property
    def samples(self) -> np.ndarray:
        """``(n_channels, n_samples)`` float32 in the channels' physical unit (``raw * scale``)."""
        return (self.raw.astype(np.float64) * self.scale).astype(np.float32)

    def __repr__(self) -> str:
        return (
            f"DataFrame(stream_id={self.stream_id}, seq={self.seq}, first_sample={self.first_sample}, "
            f"{self.n_channels} ch x {self.n_samples} {self.dtype}, scale={self.scale:g})"
        )


def frame_size(n_channels: int, n_samples: int, dtype: str = "int16") -> int:
    """Bytes on the wire of one frame of that shape."""
    return OVERHEAD + n_channels * n_samples * WIRE_DTYPES[dtype_code(dtype)].itemsize


def quantize(samples: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    """Physical values -> wire values: ``round(samples / scale)`` in ``dtype``.

    Raises ``ValueError`` when a value does not fit the dtype (saturating silently would hide clipping), or
    when samples hold NaN/inf.
    """
    x = np.asarray(samples, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinite values; they cannot be sent")
    wire = WIRE_DTYPES[dtype_code(dtype)]
    if wire.kind == "f":
        return (x / scale).astype(wire)
    q = np.rint(x / scale)
    info = np.iinfo(wire)
    if q.size and (q.min() < info.min or q.max() > info.max):
        raise ValueError(
            f"samples / scale span [{q.min():g}, {q.max():g}], outside {wire.name}'s range "
            f"[{info.min}, {info.max}]; choose a larger scale or a wider dtype"
        )
    return q.astype(wire)


def encode_frame(frame: DataFrame) -> bytes:
    """The frame's bytes: header, sample-major payload, CRC32 of both."""
    header = HEADER.pack(
        MAGIC,
        VERSION,
        dtype_code(frame.raw.dtype),
        frame.flags,
        0,
        frame.stream_id,
        frame.seq,
        frame.first_sample,
        frame.device_time_us,
        frame.n_channels,
        0,
        frame.n_samples,
        frame.scale,
    )
    # (n_channels, n_samples) -> sample-major: scan after scan, each holding every channel.
    payload = np.ascontiguousarray(frame.raw.T, dtype=frame.raw.dtype.newbyteorder("<")).tobytes()
    body = header + payload
    return body + struct.pack("<I", zlib.crc32(body))


def decode_frame(data: bytes | bytearray | memoryview, *, max_payload: int = DEFAULT_MAX_PAYLOAD) -> DataFrame:
    """Parse exactly one frame; raises :class:`FrameError` (and nothing else) when ``data`` is not one.

    The checks run from cheap to expensive and each names what was expected: length, magic, version, dtype,
    shape, the payload length those imply, the size limit, then the CRC, then the scale and (float32 only)
    finite values.
    """
    try:
        buf = memoryview(data).cast("B")
    except TypeError as exc:
        raise FrameError("truncated", f"frame must be bytes, got {type(data).__name__}") from exc
    n = len(buf)
    if n < OVERHEAD:
        raise FrameError("truncated", f"frame is {n} bytes; a frame has at least {OVERHEAD} (48-byte header + CRC)")
    (magic, version, code, flags, _, stream_id, seq, first, dev_us, n_ch, _, n_samp, scale) = HEADER.unpack_from(buf)
    if magic != MAGIC:
        raise FrameError("bad_magic", f"frame starts with {bytes(magic)!r}; expected magic {MAGIC!r}")
    if version != VERSION:
        raise FrameError("bad_version", f"frame has protocol version {version}; this receiver speaks {VERSION}")
    if flags & ~KNOWN_FLAGS:
        raise FrameError("bad_flags", f"frame has flags {flags:#04x}; only {KNOWN_FLAGS:#04x} (resent) is defined")
    if code not in WIRE_DTYPES:
        raise FrameError(
            "bad_dtype",
            f"frame has dtype code {code}; expected one of "
            + ", ".join(f"{c} ({dt.name})" for c, dt in WIRE_DTYPES.items()),
        )
    if n_ch < 1 or n_ch > _MAX_CHANNELS or n_samp < 1:
        raise FrameError(
            "bad_shape", f"frame declares {n_ch} channels x {n_samp} samples; expected 1-{_MAX_CHANNELS} x >= 1"
        )
    wire = WIRE_DTYPES[code]
    payload_len = n_ch * n_samp * wire.itemsize
    if payload_len > max_payload:
        raise FrameError(
            "too_big",
            f"frame declares a {payload_len}-byte payload ({n_ch} ch x {n_samp} {wire.name}); "
            f"this receiver accepts at most {max_payload} bytes",
        )
    if n != OVERHEAD + payload_len:
        raise FrameError(
            "length_mismatch",
            f"frame is {n} bytes but its header ({n_ch} ch x {n_samp} {wire.name}) implies {OVERHEAD + payload_len}",
        )
    (crc,) = struct.unpack_from("<I", buf, n - CRC_SIZE)
    actual = zlib.crc32(buf[: n - CRC_SIZE])
    if crc != actual:
        raise FrameError("bad_crc", f"frame CRC32 is {crc:#010x} but its bytes give {actual:#010x} (corrupted)")
    if not math.isfinite(scale) or scale == 0.0:
        raise FrameError("bad_scale", f"frame scale is {scale!r}; expected a finite non-zero number")
    raw = np.frombuffer(buf, dtype=wire, count=n_ch * n_samp, offset=HEADER_SIZE).reshape(n_samp, n_ch).T
    if wire.kind == "f" and not np.all(np.isfinite(raw)):
        bad = int(np.count_nonzero(~np.isfinite(raw)))
        raise FrameError("non_finite", f"frame holds {bad} NaN or infinite sample value(s); samples must be finite")
    return DataFrame(stream_id, seq, first, dev_us, raw.astype(wire.newbyteorder("=")), scale, flags)
