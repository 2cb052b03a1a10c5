"""The BLE bridge without a radio: notification parsers, and the bridge driving an injected fake bleak client."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from firmware_bridge.ble import (
    INFO_CHAR,
    MYO_COMMAND_CHAR,
    MYO_EMG_CHARS,
    MYO_NEVER_SLEEP,
    MYO_SET_MODE,
    PACKET_CHAR,
    BLEBridge,
    MyoEmgParser,
    PacketParser,
)
from firmware_bridge.errors import DeviceError
from firmware_bridge.uart import DataPacket, InfoPacket, encode_packet

from .contract import check_bridge


def _data(seq, n_ch=4, n=5):
    samples = (np.arange(n_ch * n, dtype=np.int16).reshape(n_ch, n) + 100 * seq).astype(np.int16)
    return encode_packet(DataPacket(seq, seq * n, seq * n * 1000, samples))


class FakeClient:
    """bleak.BleakClient's interface: notifications come from a list, one every ``period`` seconds."""

    def __init__(self, notifications, info=None, period=0.002, disconnect_after=None):
        self.notifications, self.info, self.period = list(notifications), info, period
        self.disconnect_after = disconnect_after
        self.writes, self.subscribed, self.connected = [], [], False
        self.tasks = []
        self.on_disconnect = None

    async def connect(self):
        self.connected = True

    async def disconnect(self):
        self.connected = False
        for t in self.tasks:
            t.cancel()

    async def write_gatt_char(self, char, data, response=True):
        self.writes.append((char, bytes(data)))

    async def read_gatt_char(self, char):
        if char != INFO_CHAR or self.info is None:
            raise RuntimeError(f"characteristic {char} not found")
        return bytearray(self.info)

    async def start_notify(self, char, callback):
        self.subscribed.append(char)
        mine = [
            n
            for i, n in enumerate(self.notifications)
            if i % len(self.subscribed_all) == self.subscribed_all.index(char)
        ]
        self.tasks.append(asyncio.get_running_loop().create_task(self._feed(char, callback, mine)))

    async def _feed(self, char, callback, items):
        for i, data in enumerate(items):
            await asyncio.sleep(self.period)
            callback(char, bytearray(data))
            if self.disconnect_after is not None and i + 1 >= self.disconnect_after and self.on_disconnect:
                self.on_disconnect(self)
                return

    async def stop_notify(self, char):
        self.subscribed.remove(char)


def _packet_client(n=300, **kw):
    client = FakeClient([_data(i) for i in range(n)], info=encode_packet(InfoPacket(4, 500.0, 1e-6)), **kw)
    client.subscribed_all = [PACKET_CHAR]
    return client


def test_packet_profile_passes_the_contract_with_an_injected_client():
    chunks = check_bridge(lambda: BLEBridge("AA:BB", client_factory=lambda a: _packet_client()), min_samples=500,
                          labelled=False, n_channels=4, sfreq=500.0)  # fmt: skip
    assert chunks[0].raw[0].tolist() == [0, 1, 2, 3, 4]


def test_packet_parser_counts_corruption_and_turns_losses_into_gaps():
    parser = PacketParser(n_channels=4, scale=0.5)
    bad = bytearray(_data(1))
    bad[16] ^= 1
    out = [parser(_data(0)), parser(bytes(bad)), parser(_data(2)), parser(b"\x01\x02"), parser(_data(3, n_ch=2))]
    assert out[1] is None and out[3] is None and out[4] is None
    assert (out[0].first_sample, out[2].first_sample) == (0, 10)  # packet 1 lost: 5 samples missing
    assert parser.corrupted == {"bad_crc": 1, "too_short": 1, "wrong_channels": 1}
    assert parser.dropped_packets == 1
    np.testing.assert_array_equal(out[2].data, out[2].raw * np.float32(0.5))


def test_the_bridge_reports_the_parser_counts_and_gaps():
    notes = [_data(i) for i in range(40)]
    notes[10] = notes[10][:-1] + bytes([notes[10][-1] ^ 0xFF])  # corrupted CRC
    del notes[20]  # lost
    client = FakeClient(notes, info=encode_packet(InfoPacket(4, 500.0, 1e-6)))
    client.subscribed_all = [PACKET_CHAR]
    with BLEBridge("AA:BB", client_factory=lambda a: client) as bridge:
        chunks = []
        bridge.start()
        while not chunks or chunks[-1].next_sample < 200:
            chunk = bridge.read(timeout=2.0)
            assert chunk is not None
            chunks.append(chunk)
    assert bridge.stats.extra["corrupted"] == 1 and bridge.stats.extra["corrupted_bad_crc"] == 1
    assert bridge.stats.gaps == 2 and bridge.stats.missing_samples == 10
    assert not client.connected and client.subscribed == []  # stopped and disconnected


def test_myo_profile_sets_the_mode_and_reads_four_emg_characteristics():
    rng = np.random.default_rng(0)
    notes = [rng.integers(-128, 128, 16, dtype=np.int8).tobytes() for _ in range(200)]
    client = FakeClient(notes)
    client.subscribed_all = list(MYO_EMG_CHARS)
    with BLEBridge("myo", profile="myo", client_factory=lambda a: client) as bridge:
        assert client.writes == [(MYO_COMMAND_CHAR, MYO_NEVER_SLEEP), (MYO_COMMAND_CHAR, MYO_SET_MODE)]
        assert bridge.info.n_channels == 8 and bridge.info.sfreq == 200.0 and bridge.wire.dtype == "int8"
        bridge.start()
        assert client.subscribed == list(MYO_EMG_CHARS)
        chunks = [bridge.read(timeout=2.0) for _ in range(100)]
    raw = np.concatenate([c.raw for c in chunks], axis=1)
    assert raw.shape == (8, 200)
    arrived = {bytes(c.raw.T.tobytes()) for c in chunks}
    assert arrived <= set(notes)  # each notification became 2 scans of 8 channels


def test_myo_parser_refuses_wrong_lengths():
    parser = MyoEmgParser()
    assert parser(b"\x00" * 15) is None and parser.corrupted == {"bad_length": 1}
    chunk = parser(bytes(range(16)))
    assert chunk.raw[:, 1].tolist() == list(range(8, 16)) and chunk.n_samples == 2


def test_a_disconnect_surfaces_in_read():
    client = _packet_client(n=50, disconnect_after=5)
    bridge = BLEBridge("AA:BB", client_factory=lambda a: client)
    client.on_disconnect = bridge._on_disconnect
    with bridge:
        bridge.start()
        with pytest.raises(DeviceError, match="BLE device AA:BB disconnected"):
            for _ in range(50):
                bridge.read(timeout=2.0)


def test_a_device_without_info_needs_the_settings():
    client = FakeClient([], info=None)
    client.subscribed_all = [PACKET_CHAR]
    with pytest.raises(DeviceError, match="has no readable INFO characteristic .*; give sfreq, n_channels and scale"):
        BLEBridge("AA:BB", client_factory=lambda a: client).open()
    with BLEBridge("AA:BB", sfreq=100, n_channels=2, scale=1.0, client_factory=lambda a: client) as bridge:
        assert bridge.info.sfreq == 100.0
    with pytest.raises(ValueError, match="profile must be 'packet' or 'myo', got 'polar'"):
        BLEBridge("AA:BB", profile="polar")


def test_the_real_bleak_client_fails_with_a_device_error_where_there_is_no_device():
    pytest.importorskip("bleak", reason="bleak is in the dev extra")
    with pytest.raises(DeviceError, match=r"cannot connect to BLE device AA:BB:CC:DD:EE:FF: .*Bluetooth adapter"):
        BLEBridge("AA:BB:CC:DD:EE:FF", connect_timeout=2.0).open()
