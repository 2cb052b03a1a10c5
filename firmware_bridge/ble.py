"""Bluetooth Low Energy bridge (bleak): GATT notifications turned into chunks.

Two notification formats (``profile``):

``packet``
    Our firmware's DATA packets (:mod:`firmware_bridge.uart`, without COBS: a notification is one packet)
    on one characteristic (:data:`PACKET_CHAR`), with its CRC32, sequence counter and sample counter, so
    corrupted notifications are counted and lost ones become gaps exactly as on the serial link. The rate,
    channel count and scale come from an INFO packet read from :data:`INFO_CHAR` at connect (or are given).
``myo``
    The Thalmic Myo armband: the bridge writes the "set mode" command (EMG on, IMU and classifier off) and the
    "never sleep" command, then subscribes to the four EMG characteristics; each notification holds two
    scans of 8 int8 samples (200 Hz in total). Myo notifications carry no counter, so losses cannot be seen.

The bleak client runs on an asyncio loop in a background thread; notifications are parsed there and queued.
Tests inject a fake client (``client_factory``), which is how everything but the radio is tested here.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from biosig.signals.info import SignalInfo
from firmware_bridge._deps import require
from firmware_bridge.base import Bridge, Chunk, WireFormat
from firmware_bridge.errors import DeviceError, MissingDependencyError, PacketError
from firmware_bridge.uart import DataPacket, InfoPacket, SampleClock, decode_packet

logger = logging.getLogger(__name__)

__all__ = ["INFO_CHAR", "MYO_COMMAND_CHAR", "MYO_EMG_CHARS", "PACKET_CHAR", "BLEBridge", "MyoEmgParser",
           "PacketParser"]  # fmt: skip

#: GATT characteristics of the biosig firmware service (notify: DATA packets; read: one INFO packet).
PACKET_CHAR = "b5160001-7a1e-4b3a-9c1d-5e0b10510001"
INFO_CHAR = "b5160002-7a1e-4b3a-9c1d-5e0b10510001"


def _myo_uuid(short: int) -> str:
    return f"d506{short:04x}-a904-deb9-4748-2c7f4a124842"


MYO_COMMAND_CHAR = _myo_uuid(0x0401)
MYO_EMG_CHARS = tuple(_myo_uuid(0x0105 + 0x100 * i) for i in range(4))
#: set mode: command 0x01, 3 payload bytes: EMG 0x02 (filtered "send_emg"), IMU off, classifier off.
MYO_SET_MODE = bytes([0x01, 0x03, 0x02, 0x00, 0x00])
#: set sleep mode: command 0x09, 1 payload byte: 1 = never sleep.
MYO_NEVER_SLEEP = bytes([0x09, 0x01, 0x01])
MYO_SFREQ = 200.0


class PacketParser:
    """Notifications holding one firmware DATA packet each -> chunks; bad ones counted in ``corrupted``."""

    def __init__(self, n_channels: int, scale: float) -> None:
        self.n_channels = n_channels
        self.scale = scale
        self.clock = SampleClock()
        self.corrupted: dict[str, int] = {}
        self.dropped_packets = 0

    def __call__(self, data: bytes | bytearray) -> Chunk | None:
        try:
            packet = decode_packet(bytes(data))
        except PacketError as exc:
            self.corrupted[exc.code] = self.corrupted.get(exc.code, 0) + 1
            return None
        if not isinstance(packet, DataPacket):
            return None
        if packet.n_channels != self.n_channels:
            self.corrupted["wrong_channels"] = self.corrupted.get("wrong_channels", 0) + 1
            return None
        placed = self.clock.place(packet)
        if placed is None:
            return None
        first, t_us, dropped = placed
        self.dropped_packets += dropped
        raw = packet.samples
        return Chunk(first, raw * np.float32(self.scale), t_us, time.time(), raw=raw)


class MyoEmgParser:
    """Myo EMG notifications (16 bytes: 2 scans x 8 int8) -> chunks of 2 samples on a counting clock."""

    def __init__(self) -> None:
        self.next = 0
        self.t0: float | None = None
        self.corrupted: dict[str, int] = {}
        self.dropped_packets = 0

    def __call__(self, data: bytes | bytearray) -> Chunk | None:
        if len(data) != 16:
            self.corrupted["bad_length"] = self.corrupted.get("bad_length", 0) + 1
            return None
        raw = np.frombuffer(bytes(data), dtype=np.int8).reshape(2, 8).T.copy()  # (8 ch, 2 samples)
        host = time.time()
        if self.t0 is None:
            self.t0 = host
        first = self.next
        self.next += 2
        t_us = int(round((self.t0 + first / MYO_SFREQ) * 1e6))  # the Myo sends no time: its nominal clock
        return Chunk(first, raw * np.float32(1 / 128), t_us, host, raw=raw)


class BLEBridge(Bridge):
    """Stream GATT notifications from a BLE device.

    Parameters
    ----------
    address
        The device's address (or, on macOS, its UUID), as bleak takes it.
    profile
        ``"packet"`` (biosig firmware) or ``"myo"``.
    sfreq, n_channels, scale
        For the ``packet`` profile when the device has no INFO characteristic.
    client_factory
        ``address -> client`` with bleak's ``BleakClient`` interface (default: ``bleak.BleakClient``).
    connect_timeout
        Seconds to connect and subscribe.
    """

    kind = "ble"

    def __init__(
        self,
        address: str,
        *,
        profile: str = "packet",
        sfreq: float | None = None,
        n_channels: int | None = None,
        scale: float | None = None,
        client_factory: Callable[[str], Any] | None = None,
        connect_timeout: float = 15.0,
    ) -> None:
        super().__init__()
        if profile not in ("packet", "myo"):
            raise ValueError(f"profile must be 'packet' or 'myo', got {profile!r}")
        if not isinstance(address, str) or not address:
            raise ValueError(f"address must be the device's BLE address, got {address!r}")
        self.address = address
        self.profile = profile
        self._given = (sfreq, n_channels, scale)
        self.client_factory = client_factory
        self.connect_timeout = connect_timeout
        self._queue: queue.Queue[Chunk | BaseException] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._parser: PacketParser | MyoEmgParser | None = None
        self._chars: tuple[str, ...] = ()

    def describe(self) -> dict[str, str]:
        return {"kind": "ble", "name": self.profile, "serial": self.address[:128]}

    # -- the loop thread -------------------------------------------------------------------------------------

    def _run(self, coro: Any, timeout: float | None = None) -> Any:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout if timeout is not None else self.connect_timeout)
        except TimeoutError as exc:
            future.cancel()
            raise DeviceError(f"BLE device {self.address}: no answer within {self.connect_timeout:g} s") from exc

    def _start_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="biosig-ble", daemon=True)
        self._thread.start()

    def _stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5.0)
            self._loop.close()
        self._loop = self._thread = None

    def _on_disconnect(self, _client: Any) -> None:
        self._queue.put(DeviceError(f"BLE device {self.address} disconnected"))

    def _on_notify(self, _char: Any, data: bytearray) -> None:
        assert self._parser is not None
        try:
            chunk = self._parser(data)
        except Exception as exc:  # a parser bug must surface in read(), not vanish in the loop thread
            self._queue.put(exc)
            return
        if chunk is not None:
            self._queue.put(chunk)

    async def _connect(self) -> tuple[SignalInfo, WireFormat]:
        if self.client_factory is not None:
            client = self.client_factory(self.address)
        else:
            bleak = require("bleak")
            client = bleak.BleakClient(self.address, disconnected_callback=self._on_disconnect,
                                       timeout=self.connect_timeout)  # fmt: skip
        self._client = client
        await client.connect()
        if self.profile == "myo":
            await client.write_gatt_char(MYO_COMMAND_CHAR, MYO_NEVER_SLEEP, response=True)
            await client.write_gatt_char(MYO_COMMAND_CHAR, MYO_SET_MODE, response=True)
            self._parser = MyoEmgParser()
            self._chars = MYO_EMG_CHARS
            info = SignalInfo.uniform(8, MYO_SFREQ, "emg", prefix="emg", unit="a.u.")
            return info, WireFormat("int8", 1 / 128)
        sfreq, n_channels, scale = self._given
        if None in self._given:
            try:
                packet = decode_packet(bytes(await client.read_gatt_char(INFO_CHAR)))
            except PacketError as exc:
                raise DeviceError(f"BLE device {self.address}: its INFO characteristic is invalid: {exc}") from exc
            except Exception as exc:
                raise DeviceError(
                    f"BLE device {self.address} has no readable INFO characteristic {INFO_CHAR} ({exc}); give sfreq, "
                    "n_channels and scale"
                ) from exc
            if not isinstance(packet, InfoPacket):
                raise DeviceError(f"BLE device {self.address}: the INFO characteristic holds a DATA packet")
            sfreq = sfreq or packet.sfreq
            n_channels = n_channels or packet.n_channels
            scale = scale or packet.scale
        assert sfreq is not None and n_channels is not None and scale is not None
        self._parser = PacketParser(int(n_channels), float(scale))
        self._chars = (PACKET_CHAR,)
        return SignalInfo.uniform(int(n_channels), float(sfreq), "emg", prefix="emg"), WireFormat("int16", scale)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def _open(self) -> tuple[SignalInfo, WireFormat]:
        self._start_loop()
        try:
            return self._run(self._connect())  # type: ignore[no-any-return]
        except BaseException as exc:
            self._close()
            if isinstance(exc, DeviceError | ValueError | MissingDependencyError):
                raise
            raise DeviceError(
                f"cannot connect to BLE device {self.address}: {exc} (is it on and in range, and does this machine "
                "have a Bluetooth adapter? On Linux bleak talks to BlueZ over the system D-Bus)"
            ) from exc

    def _start(self) -> None:
        async def subscribe() -> None:
            for char in self._chars:
                await self._client.start_notify(char, self._on_notify)

        self._run(subscribe())

    def _read(self, timeout: float | None) -> Chunk | None:
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            self._sync_stats()
        if isinstance(item, BaseException):
            raise item if isinstance(item, DeviceError) else DeviceError(f"BLE notification failed: {item!r}")
        return item

    def _sync_stats(self) -> None:
        if self._parser is None:
            return
        extra = self.stats.extra
        extra["corrupted"] = sum(self._parser.corrupted.values())
        for code, n in self._parser.corrupted.items():
            extra[f"corrupted_{code}"] = n
        extra["dropped_packets"] = self._parser.dropped_packets

    def _stop(self) -> None:
        async def unsubscribe() -> None:
            for char in self._chars:
                try:
                    await self._client.stop_notify(char)
                except Exception as exc:
                    logger.warning("BLE stop_notify(%s) failed: %s", char, exc)

        if self._client is not None and self._loop is not None:
            self._run(unsubscribe())

    def _close(self) -> None:
        if self._client is not None and self._loop is not None:
            try:
                self._run(self._client.disconnect())
            except Exception as exc:
                logger.warning("BLE disconnect failed: %s", exc)
        self._client = None
        self._stop_loop()
