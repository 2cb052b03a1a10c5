"""The firmware framing over UART (and BLE): COBS-framed packets with a CRC32, a sequence counter, int16 samples.

Specified in docs/protocol.md, section "Serial firmware framing". In short: every packet is COBS-encoded and
followed by one ``0x00`` delimiter, so the receiver finds packet boundaries by the zeros alone and
resynchronises after any corruption at the next delimiter. Inside, little-endian:

``DATA`` (type 0x01), 14-byte header, payload, CRC32::

    u8 type=1 | u8 flags=0 | u16 seq | u32 first_sample | u32 device_time_us | u8 n_channels | u8 n_samples
    | int16 x n_channels x n_samples (sample-major) | u32 crc32

``INFO`` (type 0x02), sent at start and about once a second::

    u8 type=2 | u8 version=1 | u8 n_channels | u8 reserved | f32 sfreq | f32 scale | char[4] ch_type
    | char[4] unit | char[16] name | u32 crc32

``seq`` counts DATA packets (wrapping at 2^16), ``first_sample`` the device's samples (wrapping at 2^32)
and ``device_time_us`` its microsecond clock (wrapping at 2^32, ~71.6 min). :class:`SampleClock` unwraps them
to 64 bits; a jump of ``seq`` is a dropped packet and the jump of ``first_sample`` says exactly how many
samples were lost: a gap, reported and never filled.
"""

from __future__ import annotations

import logging
import math
import struct
import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from firmware_bridge.errors import PacketError

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_HEADER",
    "INFO",
    "PACKET_DATA",
    "PACKET_INFO",
    "DataPacket",
    "InfoPacket",
    "PacketDecoder",
    "SampleClock",
    "cobs_decode",
    "cobs_encode",
    "decode_packet",
    "encode_packet",
    "frame_packet",
]

PACKET_DATA = 0x01
PACKET_INFO = 0x02
INFO_VERSION = 1
DATA_HEADER = struct.Struct("<BBHIIBB")  # 14 bytes
INFO = struct.Struct("<BBBBff4s4s16s")  # 36 bytes
CRC = struct.Struct("<I")
#: Longest COBS frame the decoder accepts by default: a DATA packet of 255 channels x 255 samples.
MAX_FRAME = 1 + DATA_HEADER.size + 255 * 255 * 2 + CRC.size + (DATA_HEADER.size + 255 * 255 * 2 + 4) // 254 + 1


# -- COBS (Consistent Overhead Byte Stuffing, Cheshire & Baker 1999) ------------------------------------------


def cobs_encode(data: bytes | bytearray | memoryview) -> bytes:
    """COBS-encode ``data`` (canonical form): no zero byte in the result, at most ``len // 254 + 1`` bytes more."""
    data = bytes(data)
    out = bytearray()
    i, n = 0, len(data)
    while True:
        j = data.find(b"\x00", i, min(i + 254, n))
        if j >= 0:  # the block ends at a zero, which its code implies
            out.append(j - i + 1)
            out += data[i:j]
            i = j + 1
            continue
        j = min(i + 254, n)
        out.append(j - i + 1)
        out += data[i:j]
        if j - i < 254:  # the last block
            return bytes(out)
        i = j  # a full block (code 0xFF) implies no zero
        if i == n:
            return bytes(out)


def cobs_decode(encoded: bytes | bytearray | memoryview) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`PacketError` (code ``cobs``) on an invalid encoding."""
    enc = bytes(encoded)
    n = len(enc)
    if n == 0:
        raise PacketError("cobs", "empty COBS frame")
    out = bytearray()
    i = 0
    while i < n:
        code = enc[i]
        if code == 0:
            raise PacketError("cobs", f"zero byte at offset {i} inside a COBS frame")
        j = i + code
        if j > n:
            raise PacketError("cobs", f"COBS code {code} at offset {i} runs past the end of the {n}-byte frame")
        block = enc[i + 1 : j]
        if 0 in block:
            raise PacketError("cobs", f"zero byte inside the COBS block at offset {i}")
        out += block
        i = j
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# -- packets ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DataPacket:
    """``samples``: ``(n_channels, n_samples)`` int16 ADC counts; counters as sent (wrapped)."""

    seq: int
    first_sample: int
    device_time_us: int
    samples: np.ndarray
    flags: int = 0

    @property
    def n_channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])


@dataclass(frozen=True)
class InfoPacket:
    """What the firmware streams: channel count, rate (Hz), volts (or unit) per count, channel type, name."""

    n_channels: int
    sfreq: float
    scale: float
    ch_type: str = "emg"
    unit: str = "V"
    name: str = ""


def encode_packet(packet: DataPacket | InfoPacket) -> bytes:
    """The packet's bytes with its CRC32 (before COBS framing)."""
    if isinstance(packet, DataPacket):
        samples = np.asarray(packet.samples)
        if samples.ndim != 2 or not (1 <= samples.shape[0] <= 255 and 1 <= samples.shape[1] <= 255):
            raise ValueError(f"a DATA packet holds 1-255 channels x 1-255 samples, got shape {samples.shape}")
        body = (
            DATA_HEADER.pack(
                PACKET_DATA,
                packet.flags,
                packet.seq & 0xFFFF,
                packet.first_sample & 0xFFFFFFFF,
                packet.device_time_us & 0xFFFFFFFF,
                samples.shape[0],
                samples.shape[1],
            )
            + np.ascontiguousarray(samples.T, dtype="<i2").tobytes()
        )
    else:
        for what, text, size in (("ch_type", packet.ch_type, 4), ("unit", packet.unit, 4), ("name", packet.name, 16)):
            if len(text.encode()) > size:
                raise ValueError(f"INFO {what} holds at most {size} bytes of UTF-8, got {text!r}")
        body = INFO.pack(
            PACKET_INFO,
            INFO_VERSION,
            packet.n_channels,
            0,
            packet.sfreq,
            packet.scale,
            packet.ch_type.encode(),
            packet.unit.encode(),
            packet.name.encode(),
        )
    return body + CRC.pack(zlib.crc32(body))


def frame_packet(packet: DataPacket | InfoPacket) -> bytes:
    """What goes on the UART: COBS(packet) followed by the 0x00 delimiter."""
    return cobs_encode(encode_packet(packet)) + b"\x00"


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace")


def decode_packet(data: bytes | bytearray | memoryview) -> DataPacket | InfoPacket:
    """Parse one packet (after COBS decoding); raises :class:`PacketError` and nothing else.

    Codes: ``too_short``, ``bad_crc``, ``bad_type``, ``bad_shape``, ``length_mismatch``, ``bad_info``.
    """
    buf = bytes(data)
    n = len(buf)
    if n < 1 + CRC.size:
        raise PacketError("too_short", f"packet is {n} bytes; the shortest (INFO) has {INFO.size + CRC.size}")
    (crc,) = CRC.unpack_from(buf, n - CRC.size)
    actual = zlib.crc32(buf[: n - CRC.size])
    if crc != actual:
        raise PacketError("bad_crc", f"packet CRC32 is {crc:#010x} but its {n} bytes give {actual:#010x} (corrupted)")
    kind = buf[0]
    if kind == PACKET_DATA:
        if n < DATA_HEADER.size + CRC.size:
            raise PacketError("too_short", f"DATA packet is {n} bytes; its header alone is {DATA_HEADER.size + 4}")
        _, flags, seq, first, dev_us, n_ch, n_samp = DATA_HEADER.unpack_from(buf)
        if n_ch < 1 or n_samp < 1:
            raise PacketError(
                "bad_shape", f"DATA packet declares {n_ch} channels x {n_samp} samples; both must be >= 1"
            )
        want = DATA_HEADER.size + 2 * n_ch * n_samp + CRC.size
        if n != want:
            raise PacketError(
                "length_mismatch",
                f"DATA packet is {n} bytes but its header ({n_ch} ch x {n_samp} samples) implies {want}",
            )
        samples = np.frombuffer(buf, dtype="<i2", count=n_ch * n_samp, offset=DATA_HEADER.size)
        return DataPacket(seq, first, dev_us, samples.reshape(n_samp, n_ch).T.astype(np.int16), flags)
    if kind == PACKET_INFO:
        if n != INFO.size + CRC.size:
            raise PacketError("length_mismatch", f"INFO packet is {n} bytes; expected {INFO.size + CRC.size}")
        _, version, n_ch, _, sfreq, scale, ch_type, unit, name = INFO.unpack_from(buf)
        if version != INFO_VERSION:
            raise PacketError("bad_info", f"INFO packet has version {version}; this host reads {INFO_VERSION}")
        if n_ch < 1 or not (math.isfinite(sfreq) and sfreq > 0) or not (math.isfinite(scale) and scale != 0):
            raise PacketError(
                "bad_info",
                f"INFO packet declares {n_ch} channels, {sfreq!r} Hz, scale {scale!r}; expected "
                ">= 1 channel, a positive rate and a finite non-zero scale",
            )
        return InfoPacket(n_ch, float(sfreq), float(scale), _text(ch_type), _text(unit), _text(name))
    raise PacketError("bad_type", f"packet type is {kind:#04x}; expected 0x01 (DATA) or 0x02 (INFO)")


class PacketDecoder:
    """Packets out of a UART byte stream: split at 0x00, COBS-decode, check; never raises on bad bytes.

    The bytes before the first delimiter may be the tail of a packet sent before the port was opened: if they
    do not decode they are counted in ``sync_bytes``, not as corruption. After that every frame that fails is
    counted in ``corrupted`` by :class:`PacketError` code (``oversize`` for a run longer than ``max_frame``
    bytes without a delimiter), and the decoder goes on at the next delimiter.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._synced = False
        self._discarding = False  # inside an oversize run: drop bytes until the next delimiter
        self.packets = 0
        self.sync_bytes = 0
        self.corrupted: Counter[str] = Counter()

    @property
    def n_corrupted(self) -> int:
        return sum(self.corrupted.values())

    def feed(self, data: bytes | bytearray | memoryview) -> list[DataPacket | InfoPacket]:
        out: list[DataPacket | InfoPacket] = []
        view = bytes(data)
        start = 0
        while True:
            z = view.find(b"\x00", start)
            if z < 0:
                self._buf += view[start:]
                if len(self._buf) > self.max_frame:
                    if self._synced and not self._discarding:
                        self.corrupted["oversize"] += 1
                    elif not self._synced:
                        self.sync_bytes += len(self._buf)
                    self._discarding = True
                    self._buf.clear()
                return out
            frame = bytes(self._buf) + view[start:z] if self._buf else view[start:z]
            self._buf.clear()
            start = z + 1
            if self._discarding:
                self._discarding = False
                self._synced = True
                continue
            if not frame:  # idle delimiters
                self._synced = True
                continue
            try:
                packet = decode_packet(cobs_decode(frame))
            except PacketError as exc:
                if self._synced:
                    self.corrupted[exc.code] += 1
                    logger.debug("corrupted packet (%s): %s", exc.code, exc)
                else:
                    self.sync_bytes += len(frame) + 1
                self._synced = True
                continue
            self._synced = True
            self.packets += 1
            out.append(packet)


class SampleClock:
    """Unwraps DATA packets' 16-bit seq and 32-bit sample/time counters to the 64-bit clocks of a stream.

    :meth:`place` returns ``(first_sample, device_time_us, dropped_packets)`` on the unwrapped clocks, or None
    for a duplicate packet (same ``seq`` and ``first_sample`` again). A sample counter that runs backwards
    means the device restarted: the stream continues where it was (no gap can be known) and
    ``restarts`` is counted.
    """

    def __init__(self) -> None:
        self.next_sample: int | None = None
        self._seq: int | None = None
        self._time: int | None = None
        self._time_low = 0
        self.restarts = 0
        self.duplicates = 0

    def place(self, packet: DataPacket) -> tuple[int, int, int] | None:
        if self.next_sample is None or self._seq is None or self._time is None:
            first, t, dropped = packet.first_sample, packet.device_time_us, 0
        else:
            d_seq = (packet.seq - self._seq) & 0xFFFF
            d_samp = (packet.first_sample - self.next_sample) & 0xFFFFFFFF
            if d_seq == 0 and (packet.first_sample + packet.n_samples - self.next_sample) & 0xFFFFFFFF == 0:
                self.duplicates += 1
                return None
            if d_samp >= 1 << 31:  # the counter went backwards
                self.restarts += 1
                logger.warning(
                    "device sample counter went back (expected %d, got %d): device restarted; continuing the clock",
                    self.next_sample & 0xFFFFFFFF, packet.first_sample,
                )  # fmt: skip
                first, dropped = self.next_sample, 0
                t = self._time + 1
            else:
                first = self.next_sample + d_samp
                dropped = max(0, d_seq - 1)
                d_t = (packet.device_time_us - self._time_low) & 0xFFFFFFFF
                t = self._time + d_t if d_t < 1 << 31 else self._time
        self._seq = packet.seq
        self._time_low = packet.device_time_us & 0xFFFFFFFF
        self._time = t
        self.next_sample = first + packet.n_samples
        return first, t, dropped
