"""JSON control messages of the biosig wire protocol (text WebSocket messages); semantics in docs/protocol.md.

Every message is a JSON object with a ``type``. Clients send ``hello`` (once, first), ``config`` and ``end``;
the service sends ``ready``, ``ack``, ``result``, ``gap``, ``error`` and ``closed``. :func:`parse_message`
turns text into one of the dataclasses below and raises :class:`ControlError` -- never anything else -- with a
message naming the field, what it must be and what arrived. ``to_json`` is the inverse; unknown keys are
refused so that a typo in a client (``"sfreg"``) is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

from biosig.errors import BiosigError
from biosig.protocol.frames import WIRE_DTYPES, dtype_code
from biosig.signals.info import CHANNEL_TYPES, DEFAULT_UNITS

__all__ = [
    "CLOSE_CODES",
    "PROTOCOL_VERSION",
    "Ack",
    "ChannelSpec",
    "Closed",
    "Config",
    "ControlError",
    "End",
    "Error",
    "Gap",
    "Hello",
    "Message",
    "Ready",
    "Result",
    "parse_message",
]

PROTOCOL_VERSION = 1

#: WebSocket close codes the service uses, with their meaning (docs/protocol.md has the full table).
CLOSE_CODES: dict[int, str] = {
    1000: "normal: the client sent 'end' and everything it sent is persisted",
    1001: "going away: the service is shutting down; reconnect and resume",
    1007: "invalid data: bad hello, or too many invalid frames in a row",
    1008: "policy violation: missing, unknown or revoked API key, or a stream of another tenant",
    1009: "message too big: a message exceeded the size limit the service announced",
    1011: "internal error: the service failed; reconnect and resume",
    1013: "try again later: the service is at its stream limit or the key is over its rate limit",
    4000: "hello expected: the first message was not a hello, or none came in time",
    4409: "stream busy: another connection is streaming to the same stream key",
}

_STREAM_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_MAX_CHANNELS = 1024


class ControlError(BiosigError, ValueError):
    """A control message that cannot be accepted; ``code`` is ``bad_message`` or ``bad_hello``."""

    def __init__(self, message: str, code: str = "bad_message") -> None:
        self.code = code
        super().__init__(message)


# -- small validators: each names the field, the rule and what arrived ---------------------------------------


def _fail(where: str, rule: str, got: Any, code: str) -> ControlError:
    return ControlError(f"{where} must be {rule}, got {got!r}", code)


def _int(value: Any, where: str, lo: int = 0, hi: int = 2**64 - 1, code: str = "bad_message") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(where, f"an integer in [{lo}, {hi}]", value, code)
    return value


def _number(value: Any, where: str, *, positive: bool = True, code: str = "bad_message") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, "a finite number", value, code)
    if positive and value <= 0:
        raise _fail(where, "a positive number", value, code)
    return float(value)


def _str(value: Any, where: str, code: str = "bad_message", max_len: int = 256) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _fail(where, f"a non-empty string of at most {max_len} characters", value, code)
    return value


def _bool(value: Any, where: str, code: str = "bad_message") -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value, code)
    return value


def _no_extra(obj: dict[str, Any], allowed: set[str], where: str, code: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise ControlError(f"{where} has unknown field(s) {extra}; allowed: {sorted(allowed)}", code)


def _obj(value: Any, where: str, code: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "a JSON object", value, code)
    return value


# -- messages ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of a stream: name, type (:data:`biosig.signals.info.CHANNEL_TYPES`) and physical unit."""

    name: str
    type: str
    unit: str

    @classmethod
    def parse(cls, obj: Any, where: str) -> ChannelSpec:
        code = "bad_hello"
        obj = _obj(obj, where, code)
        _no_extra(obj, {"name", "type", "unit"}, where, code)
        name = _str(obj.get("name"), f"{where}.name", code, 64)
        ch_type = obj.get("type")
        if ch_type not in CHANNEL_TYPES:
            raise _fail(f"{where}.type", f"one of {sorted(CHANNEL_TYPES)}", ch_type, code)
        unit = _str(obj.get("unit", DEFAULT_UNITS[ch_type]), f"{where}.unit", code, 16)
        return cls(name, ch_type, unit)


@dataclass(frozen=True)
class Message:
    """Base of all control messages; ``TYPE`` is the JSON ``type``."""

    TYPE: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:  # optional and unset: leave it out
                continue
            if isinstance(value, tuple) and value and isinstance(value[0], ChannelSpec):
                value = [asdict(c) for c in value]
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Hello(Message):
    """Client -> service, first message: what the stream is and how its frames are encoded.

    ``stream`` is the client's key for the stream (unique per tenant), ``resume`` asks to continue the
    stream's earlier session where the service's persisted data ends. ``dtype`` and ``scale`` are what every
    data frame of the session must carry; ``results`` chooses what the service pushes back.
    """

    TYPE: ClassVar[str] = "hello"
    stream: str
    channels: tuple[ChannelSpec, ...]
    sfreq: float
    dtype: str = "int16"
    scale: float = 1.0
    resume: bool = False
    device: dict[str, str] = field(default_factory=dict)
    labels: bool = True
    embeddings: bool = False
    protocol: int = PROTOCOL_VERSION

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Hello:
        code = "bad_hello"
        allowed = {"type", "stream", "channels", "sfreq", "dtype", "scale", "resume", "device", "labels",
                   "embeddings", "protocol"}  # fmt: skip
        _no_extra(obj, allowed, "hello", code)
        protocol = obj.get("protocol", PROTOCOL_VERSION)
        if protocol != PROTOCOL_VERSION:
            raise _fail("hello.protocol", f"{PROTOCOL_VERSION} (this service's protocol version)", protocol, code)
        stream = obj.get("stream")
        if not isinstance(stream, str) or not _STREAM_KEY.match(stream):
            raise _fail("hello.stream", "1-64 characters of letters, digits and ._:- starting with a letter or "
                        "digit", stream, code)  # fmt: skip
        channels = obj.get("channels")
        if not isinstance(channels, list) or not 1 <= len(channels) <= _MAX_CHANNELS:
            raise _fail("hello.channels", f"a list of 1-{_MAX_CHANNELS} channel objects", channels, code)
        specs = tuple(ChannelSpec.parse(c, f"hello.channels[{i}]") for i, c in enumerate(channels))
        names = [c.name for c in specs]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ControlError(f"hello.channels names must be unique, got duplicates {dup}", code)
        if "sfreq" not in obj:
            raise ControlError("hello.sfreq is required (the device's sampling rate in Hz)", code)
        sfreq = _number(obj["sfreq"], "hello.sfreq", code=code)
        dtype = obj.get("dtype", "int16")
        names_ok = sorted(dt.name for dt in WIRE_DTYPES.values())
        if dtype not in names_ok:
            raise _fail("hello.dtype", f"one of {names_ok}", dtype, code)
        scale = obj.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale == 0:
            raise _fail("hello.scale", "a finite non-zero number (wire value x scale = physical unit)", scale, code)
        device = _obj(obj.get("device", {}), "hello.device", code)
        for key, value in device.items():
            _str(value, f"hello.device.{key}", code, 128)
        return cls(
            stream=stream,
            channels=specs,
            sfreq=sfreq,
            dtype=dtype,
            scale=float(scale),
            resume=_bool(obj.get("resume", False), "hello.resume", code),
            device=dict(device),
            labels=_bool(obj.get("labels", True), "hello.labels", code),
            embeddings=_bool(obj.get("embeddings", False), "hello.embeddings", code),
            protocol=protocol,
        )

    def __post_init__(self) -> None:
        dtype_code(self.dtype)  # programmatic construction gets the same dtype check


@dataclass(frozen=True)
class Config(Message):
    """Client -> service, any time after ``ready``: change what is pushed back."""

    TYPE: ClassVar[str] = "config"
    labels: bool | None = None
    embeddings: bool | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Config:
        _no_extra(obj, {"type", "labels", "embeddings"}, "config", "bad_message")
        kw = {k: _bool(obj[k], f"config.{k}") for k in ("labels", "embeddings") if k in obj}
        return cls(**kw)


@dataclass(frozen=True)
class End(Message):
    """Client -> service: no more frames. The service persists, acks everything, sends ``closed``, closes 1000."""

    TYPE: ClassVar[str] = "end"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> End:
        _no_extra(obj, {"type"}, "end", "bad_message")
        return cls()


@dataclass(frozen=True)
class Ready(Message):
    """Service -> client, answer to ``hello``: the session is open.

    ``next_seq`` is the sequence number the service expects next (0 for a new stream; after ``resume``, one
    past the last persisted frame) and ``next_sample`` the device sample index after the last persisted one
    (None before any sample). The client must put ``stream_id`` in its frames and keep at most ``max_unacked``
    frames unacknowledged.
    """

    TYPE: ClassVar[str] = "ready"
    stream_id: int
    session: str
    stream: str
    next_seq: int
    next_sample: int | None
    resumed: bool
    max_unacked: int
    max_frame_bytes: int
    model: str | None = None
    window_s: float | None = None
    hop_s: float | None = None


@dataclass(frozen=True)
class Ack(Message):
    """Service -> client: every frame with sequence number ``<= seq`` is persisted (cumulative)."""

    TYPE: ClassVar[str] = "ack"
    seq: int
    samples: int  # samples persisted in this stream, all sessions together


@dataclass(frozen=True)
class Result(Message):
    """Service -> client: what the models say about the window ending at device sample ``end_sample``."""

    TYPE: ClassVar[str] = "result"
    start_sample: int
    end_sample: int  # exclusive, device sample clock
    end_s: float  # window end in seconds on the device's sample clock
    label: str | None = None
    score: float | None = None
    scores: dict[str, float] | None = None
    unknown: bool | None = None
    embedding: list[float] | None = None
    latency_ms: float | None = None  # from receipt of the frame that completed the window to this message


@dataclass(frozen=True)
class Gap(Message):
    """Service -> client: device samples ``[start_sample, stop_sample)`` never arrived (reported, not filled)."""

    TYPE: ClassVar[str] = "gap"
    start_sample: int
    stop_sample: int
    seq: int  # the frame whose first sample revealed the gap


@dataclass(frozen=True)
class Error(Message):
    """Service -> client: something was refused. ``fatal`` errors are followed by a close with ``close_code``."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    seq: int | None = None
    fatal: bool = False
    close_code: int | None = None


@dataclass(frozen=True)
class Closed(Message):
    """Service -> client, after ``end``: the session's totals; the socket closes with 1000 next."""

    TYPE: ClassVar[str] = "closed"
    frames: int
    samples: int
    results: int
    gaps: int
    rejected: int


_CLIENT_MESSAGES: dict[str, type[Message]] = {"hello": Hello, "config": Config, "end": End}
_SERVICE_MESSAGES: dict[str, type[Message]] = {
    m.TYPE: m for m in (Ready, Ack, Result, Gap, Error, Closed)
}  # fmt: skip


def _from_fields(cls: type[Message], obj: dict[str, Any]) -> Message:
    """Service messages are parsed by clients: same strictness on names, trusting the service's types."""
    names = {f.name for f in fields(cls)}
    _no_extra(obj, names | {"type"}, cls.TYPE, "bad_message")
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in obj]
    if missing:
        raise ControlError(f"{cls.TYPE} lacks field(s) {missing}")
    return cls(**{k: v for k, v in obj.items() if k != "type"})


def parse_message(text: str | bytes, *, sender: str = "client", max_len: int = 1 << 16) -> Message:
    """Parse one control message sent by ``sender`` (``"client"`` or ``"service"``).

    Raises :class:`ControlError` for anything that is not a valid message of that sender: not UTF-8, not
    JSON, not an object, an unknown ``type``, unknown or invalid fields (``hello`` errors have code
    ``bad_hello``).
    """
    if sender not in ("client", "service"):
        raise ValueError(f"sender must be 'client' or 'service', got {sender!r}")
    if len(text) > max_len:
        raise ControlError(f"control message is {len(text)} bytes; at most {max_len} are accepted")
    try:
        obj = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlError(f"control message is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ControlError(f"control message must be a JSON object with a 'type', got {type(obj).__name__}")
    table = _CLIENT_MESSAGES if sender == "client" else _SERVICE_MESSAGES
    kind = obj.get("type")
    if kind not in table:
        raise ControlError(f"control message type must be one of {sorted(table)}, got {kind!r}")
    cls = table[kind]
    if sender == "client":
        return cls.parse(obj)  # type: ignore[attr-defined]
    return _from_fields(cls, obj)
