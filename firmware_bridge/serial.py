"""Serial (UART / USB CDC) bridge for microcontroller firmware speaking the framing of :mod:`firmware_bridge.uart`.

The host may send three one-byte ASCII commands (as OpenBCI-style boards take them): ``i`` asks for an INFO
packet, ``b`` begins streaming, ``s`` stops it. A firmware that streams from power-on may ignore them. The
bridge opens the port, asks for INFO (unless rate, channel count and scale are all given), sends ``b`` on
:meth:`~firmware_bridge.base.Bridge.start` and ``s`` on stop.

Every packet is checked (COBS, length, CRC32). Corrupted packets are counted by reason in
``stats.extra`` (``corrupted``, ``corrupted_bad_crc``, ...), the good ones are delivered, and samples lost with
a corrupted or dropped packet become a gap on the sample clock (``Chunk.gap``, ``stats.gaps``), because the
next good packet's sample counter says exactly where it belongs.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import numpy as np

from biosig.signals.info import CHANNEL_TYPES, DEFAULT_UNITS, SignalInfo
from firmware_bridge._deps import require
from firmware_bridge.base import Bridge, Chunk, WireFormat
from firmware_bridge.errors import DeviceError
from firmware_bridge.uart import DataPacket, InfoPacket, PacketDecoder, SampleClock

logger = logging.getLogger(__name__)

__all__ = ["CMD_BEGIN", "CMD_INFO", "CMD_STOP", "SerialBridge"]

CMD_INFO = b"i"
CMD_BEGIN = b"b"
CMD_STOP = b"s"


class SerialBridge(Bridge):
    """Samples from firmware on a serial port.

    Parameters
    ----------
    port
        Device path (``/dev/ttyACM0``, ``COM3``, a pty) or any pyserial URL (``socket://host:port``).
    baudrate
        Line rate (ignored by USB CDC and ptys).
    sfreq, n_channels, scale
        What the firmware streams; taken from its INFO packet when not given (given values must agree).
    ch_type, unit
        Channel type and unit (default: from INFO, else ``emg`` in volts).
    info_timeout
        Seconds to wait for INFO at open.
    """

    kind = "serial"

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 921_600,
        sfreq: float | None = None,
        n_channels: int | None = None,
        scale: float | None = None,
        ch_type: str | None = None,
        unit: str | None = None,
        info_timeout: float = 3.0,
    ) -> None:
        super().__init__()
        if not isinstance(port, str) or not port:
            raise ValueError(f"port must be a device path or pyserial URL, got {port!r}")
        if ch_type is not None and ch_type not in CHANNEL_TYPES:
            raise ValueError(f"ch_type must be one of {sorted(CHANNEL_TYPES)}, got {ch_type!r}")
        self.port = port
        self.baudrate = baudrate
        self._given: dict[str, Any] = {"sfreq": sfreq, "n_channels": n_channels, "scale": scale}
        self.ch_type = ch_type
        self.unit = unit
        self.info_timeout = info_timeout
        self.decoder = PacketDecoder()
        self.clock = SampleClock()
        self.device_info: InfoPacket | None = None
        self._serial: Any = None
        self._pending: deque[DataPacket] = deque()

    def describe(self) -> dict[str, str]:
        d = {"kind": "serial", "serial": self.port[-128:]}
        if self.device_info is not None and self.device_info.name:
            d["name"] = self.device_info.name
        return d

    # -- port I/O --------------------------------------------------------------------------------------------

    def _write(self, command: bytes) -> None:
        try:
            self._serial.write(command)
            self._serial.flush()
        except Exception as exc:  # pyserial raises SerialException (an OSError) or OSError itself
            raise DeviceError(f"cannot write to serial port {self.port}: {exc}") from exc

    def _pump(self, timeout: float) -> None:
        """Read what the port has (waiting up to ``timeout`` s for the first byte) and decode it."""
        try:
            self._serial.timeout = max(0.0, timeout)
            data = self._serial.read(1)
            if data:
                waiting = self._serial.in_waiting
                if waiting:
                    data += self._serial.read(waiting)
        except Exception as exc:
            raise DeviceError(f"serial port {self.port} failed while reading: {exc}") from exc
        if not data:
            return
        for packet in self.decoder.feed(data):
            if isinstance(packet, InfoPacket):
                self._on_info(packet)
            else:
                self._pending.append(packet)
        self._sync_stats()

    def _on_info(self, packet: InfoPacket) -> None:
        if self.device_info is None:
            logger.info("%s: firmware %r streams %d ch @ %g Hz, %g %s per count", self.port, packet.name,
                        packet.n_channels, packet.sfreq, packet.scale, packet.unit)  # fmt: skip
            self.device_info = packet
        elif (packet.n_channels, packet.sfreq, packet.scale) != (
            self.device_info.n_channels, self.device_info.sfreq, self.device_info.scale,
        ):  # fmt: skip
            raise DeviceError(
                f"firmware on {self.port} changed its configuration mid-stream: was {self.device_info}, now {packet}; "
                "reopen the bridge"
            )

    def _sync_stats(self) -> None:
        extra = self.stats.extra
        extra["corrupted"] = self.decoder.n_corrupted
        for code, n in self.decoder.corrupted.items():
            extra[f"corrupted_{code}"] = n
        extra["sync_bytes"] = self.decoder.sync_bytes
        extra["duplicates"] = self.clock.duplicates
        extra["restarts"] = self.clock.restarts

    # -- lifecycle -------------------------------------------------------------------------------------------

    def _open(self) -> tuple[SignalInfo, WireFormat]:
        serial = require("serial")
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"cannot open serial port {self.port!r}: {exc}") from exc
        try:
            return self._configure()
        except BaseException:
            self._serial.close()
            self._serial = None
            raise

    def _configure(self) -> tuple[SignalInfo, WireFormat]:
        given = self._given
        if any(v is None for v in given.values()) or self.ch_type is None:
            self._write(CMD_INFO)
            deadline = time.monotonic() + self.info_timeout
            while self.device_info is None and time.monotonic() < deadline:
                self._pump(min(0.1, deadline - time.monotonic()))
        dev = self.device_info
        if dev is None and any(v is None for v in given.values()):
            missing = [k for k, v in given.items() if v is None]
            raise DeviceError(
                f"no INFO packet from the firmware on {self.port} within {self.info_timeout:g} s; give "
                f"{', '.join(missing)} explicitly, or check the port, baud rate and firmware"
            )
        values: dict[str, Any] = {}
        for key in ("sfreq", "n_channels", "scale"):
            mine = given[key]
            theirs = None if dev is None else getattr(dev, key)
            if mine is not None and theirs is not None and not np.isclose(float(mine), float(theirs), rtol=1e-6):
                raise DeviceError(f"{key}={mine} was given but the firmware on {self.port} reports {theirs}")
            values[key] = mine if mine is not None else theirs
        ch_type = self.ch_type or (dev.ch_type if dev is not None and dev.ch_type in CHANNEL_TYPES else "emg")
        unit = self.unit or (dev.unit if dev is not None and dev.unit else DEFAULT_UNITS[ch_type])
        info = SignalInfo.uniform(int(values["n_channels"]), float(values["sfreq"]), ch_type, unit=unit)
        return info, WireFormat("int16", float(values["scale"]))

    def _start(self) -> None:
        self._write(CMD_BEGIN)

    def _read(self, timeout: float | None) -> Chunk | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._pending:
                chunk = self._chunk_from_pending()
                if chunk is not None:
                    return chunk
                continue  # only duplicates or refused packets were pending
            remaining = 0.1 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(min(remaining, 0.1))

    def _chunk_from_pending(self) -> Chunk | None:
        """Contiguous pending packets as one chunk; packets of the wrong shape are refused and counted."""
        parts: list[np.ndarray] = []
        first = t_first = None
        while self._pending:
            packet = self._pending[0]
            if packet.n_channels != self.info.n_channels:
                self._pending.popleft()
                self.stats.count("wrong_channels")
                logger.warning("%s: packet seq %d has %d channels, the stream has %d; refused", self.port,
                               packet.seq, packet.n_channels, self.info.n_channels)  # fmt: skip
                continue
            expected = self.clock.next_sample
            if first is not None and expected is not None and (packet.first_sample - expected) & 0xFFFFFFFF:
                break  # a gap: end this chunk here, the next one starts after it
            placed = self.clock.place(packet)
            self._pending.popleft()
            if placed is None:
                continue
            start, t_us, dropped = placed
            if dropped:
                self.stats.count("dropped_packets", dropped)
            if first is None:
                first, t_first = start, t_us
            parts.append(packet.samples)
        self._sync_stats()
        if first is None or t_first is None:
            return None
        raw = np.concatenate(parts, axis=1)
        return Chunk(first, raw * np.float32(self.wire.scale), t_first, time.time(), raw=raw)

    def _stop(self) -> None:
        try:
            self._write(CMD_STOP)
        except DeviceError as exc:  # the port may be gone already; stopping must not fail on that
            logger.warning("%s", exc)

    def _close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None
        self._pending.clear()
