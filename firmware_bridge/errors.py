"""Exception hierarchy of the device bridges and the uplink.

Every error names what was wrong, what was expected and what arrived, like the library's own errors.
"""

from __future__ import annotations

from biosig.errors import BiosigError


class BridgeError(BiosigError):
    """Base class of every error raised on purpose by ``firmware_bridge``."""


class BridgeStateError(BridgeError, RuntimeError):
    """A lifecycle call in the wrong state (``read`` before ``start``, ``start`` on a closed bridge)."""


class EndOfStream(BridgeError):
    """A finite source (a replayed file, a bounded synthetic run) has delivered every sample."""


class DeviceError(BridgeError, OSError):
    """The device or its link failed (port vanished, board session lost, BLE disconnected)."""


class MissingDependencyError(BridgeError, ImportError):
    """An optional device SDK is not installed; the message says which package to install."""


class PacketError(BridgeError, ValueError):
    """Bytes from the firmware that are not a valid packet; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class UplinkError(BridgeError):
    """The uplink cannot go on: the service refused the key or the stream, or the protocol was violated."""


class BufferFullError(UplinkError):
    """Memory and spill file are both full; the frame was not accepted (nothing already accepted is lost)."""
