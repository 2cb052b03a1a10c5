"""One lifecycle for every device bridge: open, start, read chunks with timestamps, stop, close.

A bridge turns a device (or a file, or a generator) into :class:`Chunk` objects: ``(n_channels, n)`` samples
placed on the device's **sample clock** (``first_sample``), with the device's timestamp of the first sample,
the host time at which the chunk was received, and -- where the source knows them -- the true per-sample
labels. The uplink frames chunks for the service without knowing which device produced them.

::

    closed --open()--> open --start()--> streaming --stop()--> open --close()--> closed
             (device connected,           (acquiring;                (close() from any state stops
              info known)                  read() returns chunks)     first; it is idempotent)

``with bridge:`` opens and closes; :meth:`Bridge.chunks` starts and yields until a finite source ends.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, ClassVar, Self

import numpy as np

from biosig.protocol.frames import WIRE_DTYPES, dtype_code
from biosig.signals.info import SignalInfo
from firmware_bridge.errors import BridgeStateError, EndOfStream

logger = logging.getLogger(__name__)

__all__ = ["Bridge", "BridgeStats", "Chunk", "Pacer", "WireFormat"]


@dataclass(frozen=True)
class WireFormat:
    """How a bridge's samples go on the wire: ``dtype`` (int8, int16, int32, float32) and ``scale``.

    ``wire value x scale = value in the channel's unit``. Integer devices keep their ADC counts (lossless);
    float sources use ``float32`` with scale 1.
    """

    dtype: str = "float32"
    scale: float = 1.0

    def __post_init__(self) -> None:
        dtype_code(self.dtype)  # validates the name
        scale = float(self.scale)
        if not math.isfinite(scale) or scale == 0.0:
            raise ValueError(f"WireFormat.scale must be a finite non-zero number, got {self.scale!r}")
        # The frame header carries scale as float32: keep the value the service will see.
        object.__setattr__(self, "scale", float(np.float32(scale)))

    @property
    def numpy_dtype(self) -> np.dtype:
        return WIRE_DTYPES[dtype_code(self.dtype)]


@dataclass(frozen=True, eq=False)
class Chunk:
    """Consecutive samples from one source.

    Parameters
    ----------
    first_sample
        Index of the first sample on the device's sample clock (>= 0).
    data
        ``(n_channels, n)`` float32 in the units of the bridge's ``info``.
    device_time_us
        Device clock at the first sample, microseconds since the device's epoch.
    host_time
        Host wall clock (``time.time()``, seconds) when the chunk was received.
    raw
        ``(n_channels, n)`` wire values in the bridge's :class:`WireFormat` dtype when the device delivers
        integers (``data == raw * scale``); None for float sources (the uplink quantises ``data``).
    labels
        ``(n,)`` int64 true labels when the source knows them (replayed files, the synthetic generator).
    gap
        Samples missing right before this chunk (the device's counter jumped); 0 for contiguous data. Set by
        :meth:`Bridge.read` from the sample clock, so every bridge reports gaps the same way.
    """

    first_sample: int
    data: np.ndarray
    device_time_us: int
    host_time: float
    raw: np.ndarray | None = None
    labels: np.ndarray | None = None
    gap: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.first_sample, bool) or not isinstance(self.first_sample, int | np.integer):
            raise TypeError(f"first_sample must be an integer, got {self.first_sample!r}")
        if self.first_sample < 0:
            raise ValueError(f"first_sample must be >= 0, got {self.first_sample}")
        object.__setattr__(self, "first_sample", int(self.first_sample))
        object.__setattr__(self, "device_time_us", int(self.device_time_us))
        data = np.asarray(self.data, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] < 1:
            raise ValueError(f"chunk data must be (n_channels, n) with n >= 1, got shape {data.shape}")
        object.__setattr__(self, "data", data)
        if self.raw is not None and np.shape(self.raw) != data.shape:
            raise ValueError(f"chunk raw has shape {np.shape(self.raw)}, data has {data.shape}")
        if self.labels is not None:
            labels = np.asarray(self.labels, dtype=np.int64)
            if labels.shape != (data.shape[1],):
                raise ValueError(f"chunk labels must have shape ({data.shape[1]},), got {labels.shape}")
            object.__setattr__(self, "labels", labels)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def next_sample(self) -> int:
        """Sample index right after this chunk."""
        return self.first_sample + self.n_samples


@dataclass
class BridgeStats:
    """Counters every bridge keeps; bridges add their own under ``extra`` (corrupted packets, saturation)."""

    chunks: int = 0
    samples: int = 0
    gaps: int = 0
    missing_samples: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + n

    def as_dict(self) -> dict[str, int]:
        return {"chunks": self.chunks, "samples": self.samples, "gaps": self.gaps,
                "missing_samples": self.missing_samples, **self.extra}  # fmt: skip


class Pacer:
    """Releases samples of a ``sfreq`` stream in real time (``speed`` 1), faster, or at once (``speed=inf``).

    Sample ``k`` is due at ``t0 + k / (sfreq * speed)`` on ``time.monotonic()``.
    """

    def __init__(self, sfreq: float, speed: float = 1.0) -> None:
        if not (isinstance(speed, int | float) and speed > 0):
            raise ValueError(
                f"speed must be a positive number (1 = real time, inf = as fast as possible), got {speed!r}"
            )
        self.rate = float(sfreq) * float(speed)
        self._t0: float | None = None

    def start(self) -> None:
        self._t0 = time.monotonic()

    def due(self) -> float:
        """Samples due by now (fractional; ``inf`` when unpaced)."""
        if math.isinf(self.rate):
            return math.inf
        assert self._t0 is not None, "Pacer.start() first"
        return (time.monotonic() - self._t0) * self.rate

    def wait_for(self, k: int, timeout: float | None) -> bool:
        """Sleep until sample ``k`` is due; False if that is more than ``timeout`` seconds away (no sleep then)."""
        if math.isinf(self.rate):
            return True
        assert self._t0 is not None, "Pacer.start() first"
        delay = self._t0 + k / self.rate - time.monotonic()
        if delay <= 0:
            return True
        if timeout is not None and delay > timeout:
            time.sleep(max(0.0, timeout))
            return False
        time.sleep(delay)
        return True


class Bridge(ABC):
    """Base of every device bridge; subclasses implement ``_open``, ``_read`` and optionally the other hooks.

    Attributes
    ----------
    stats
        :class:`BridgeStats` counters.
    label_names
        Class index -> name for :attr:`Chunk.labels` (empty when the source has no labels).
    """

    kind: ClassVar[str] = "bridge"

    def __init__(self) -> None:
        self._state = "closed"
        self._info: SignalInfo | None = None
        self._wire: WireFormat | None = None
        self._expected: int | None = None
        self.stats = BridgeStats()
        self.label_names: Mapping[int, str] = {}

    # -- what subclasses implement ---------------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> tuple[SignalInfo, WireFormat]:
        """Connect to the device and learn what it streams."""

    def _start(self) -> None:  # noqa: B027 (an optional hook)
        """Begin acquisition."""

    @abstractmethod
    def _read(self, timeout: float | None) -> Chunk | None:
        """Next chunk, None when none arrived within ``timeout`` s; raise :class:`EndOfStream` when finished."""

    def _stop(self) -> None:  # noqa: B027 (an optional hook)
        """Stop acquisition (the device stays connected)."""

    def _close(self) -> None:  # noqa: B027 (an optional hook)
        """Release the device."""

    def describe(self) -> dict[str, str]:
        """What the ``hello`` message's ``device`` object says about this source (kind, name, serial)."""
        return {"kind": self.kind}

    # -- the lifecycle ---------------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``streaming``."""
        return self._state

    def _require(self, *states: str, action: str) -> None:
        if self._state not in states:
            raise BridgeStateError(
                f"cannot {action} a {self.kind} bridge that is {self._state}; it must be {' or '.join(states)}"
            )

    @property
    def info(self) -> SignalInfo:
        """Sampling rate, channel names, types and units (known once opened)."""
        if self._info is None:
            raise BridgeStateError(f"the {self.kind} bridge's info is known after open(); it is {self._state}")
        return self._info

    @property
    def wire(self) -> WireFormat:
        """Wire dtype and scale of :attr:`Chunk.raw` (known once opened)."""
        if self._wire is None:
            raise BridgeStateError(f"the {self.kind} bridge's wire format is known after open(); it is {self._state}")
        return self._wire

    def open(self) -> Self:
        self._require("closed", action="open")
        info, wire = self._open()
        self._info, self._wire = info, wire
        self._state = "open"
        logger.info("%s bridge open: %d ch @ %g Hz, wire %s x %g", self.kind, info.n_channels, info.sfreq,
                    wire.dtype, wire.scale)  # fmt: skip
        return self

    def start(self) -> None:
        self._require("open", action="start")
        self._start()
        self._state = "streaming"

    def read(self, timeout: float | None = 1.0) -> Chunk | None:
        """The next chunk, or None if nothing arrived within ``timeout`` seconds.

        Raises :class:`EndOfStream` once a finite source has delivered everything.
        """
        self._require("streaming", action="read from")
        chunk = self._read(timeout)
        if chunk is None:
            return None
        assert chunk.n_channels == self.info.n_channels, (chunk.n_channels, self.info.n_channels)
        expected = self._expected
        if expected is not None and chunk.first_sample != expected:
            assert chunk.first_sample > expected, f"{self.kind}: chunk at {chunk.first_sample} < {expected}"
            missing = chunk.first_sample - expected
            self.stats.gaps += 1
            self.stats.missing_samples += missing
            if chunk.gap != missing:
                chunk = replace(chunk, gap=missing)
        self._expected = chunk.next_sample
        self.stats.chunks += 1
        self.stats.samples += chunk.n_samples
        return chunk

    def stop(self) -> None:
        if self._state == "streaming":
            self._stop()
            self._state = "open"

    def close(self) -> None:
        """Stop (if streaming) and release the device; safe to call more than once."""
        if self._state == "closed":
            return
        try:
            self.stop()
        finally:
            self._close()
            self._state = "closed"
            self._expected = None

    def chunks(self, timeout: float | None = 1.0) -> Iterator[Chunk]:
        """Start (if needed) and yield chunks until the source ends; timeouts are skipped."""
        if self._state == "open":
            self.start()
        while True:
            try:
                chunk = self.read(timeout)
            except EndOfStream:
                return
            if chunk is not None:
                yield chunk

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        extra: Any = f" {self.info.n_channels} ch @ {self.info.sfreq:g} Hz" if self._info is not None else ""
        return f"<{type(self).__name__} {self._state}{extra}>"
