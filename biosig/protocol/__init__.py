"""The biosig wire protocol: binary data frames and JSON control messages (spec: docs/protocol.md).

One module shared by the device bridges (``firmware_bridge``) and the service (``service``); it lives in
``biosig`` because both may import ``biosig`` and neither may import the other.
"""

from biosig.protocol.control import (
    CLOSE_CODES,
    PROTOCOL_VERSION,
    Ack,
    ChannelSpec,
    Closed,
    Config,
    ControlError,
    End,
    Error,
    Gap,
    Hello,
    Message,
    Ready,
    Result,
    parse_message,
)
from biosig.protocol.frames import (
    DEFAULT_MAX_PAYLOAD,
    FLAG_RESENT,
    HEADER_SIZE,
    MAGIC,
    OVERHEAD,
    VERSION,
    DataFrame,
    FrameError,
    decode_frame,
    encode_frame,
    frame_size,
    quantize,
)
from biosig.protocol.scanner import FrameScanner

__all__ = [
    "CLOSE_CODES",
    "DEFAULT_MAX_PAYLOAD",
    "FLAG_RESENT",
    "HEADER_SIZE",
    "MAGIC",
    "OVERHEAD",
    "PROTOCOL_VERSION",
    "VERSION",
    "Ack",
    "ChannelSpec",
    "Closed",
    "Config",
    "ControlError",
    "DataFrame",
    "End",
    "Error",
    "FrameError",
    "FrameScanner",
    "Gap",
    "Hello",
    "Message",
    "Ready",
    "Result",
    "decode_frame",
    "encode_frame",
    "frame_size",
    "parse_message",
    "quantize",
]
