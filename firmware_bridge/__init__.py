"""Device bridges and the uplink to the service (see docs/bridges.md).

A bridge reads a device -- the synthetic wristband, a replayed file, firmware on a serial port, an LSL stream,
a BrainFlow board, a BLE device -- with one lifecycle (open, start, read chunks with timestamps, stop, close).
The :class:`~firmware_bridge.uplink.Uplink` frames chunks in the wire protocol (:mod:`biosig.protocol`) and
sends them to the service's ``/v1/stream`` WebSocket without losing or duplicating a sample across
reconnects. ``biosig bridge`` runs both from the command line.
"""

from firmware_bridge.base import Bridge, BridgeStats, Chunk, WireFormat
from firmware_bridge.errors import (
    BridgeError,
    BridgeStateError,
    BufferFullError,
    DeviceError,
    EndOfStream,
    MissingDependencyError,
    PacketError,
    UplinkError,
)
from firmware_bridge.registry import SOURCES, make_bridge

__all__ = [
    "SOURCES",
    "Bridge",
    "BridgeError",
    "BridgeStateError",
    "BridgeStats",
    "BufferFullError",
    "Chunk",
    "DeviceError",
    "EndOfStream",
    "MissingDependencyError",
    "PacketError",
    "UplinkError",
    "WireFormat",
    "make_bridge",
]
