"""Lab Streaming Layer: an inlet bridge for any LSL stream, and an outlet that publishes results to LSL tools.

:class:`LSLBridge` resolves a stream by name, type or source id (any LSL outlet: OpenBCI GUI, a Myo or
Delsys app, LabRecorder playback), reads its channel labels, types and units from the stream's XML
description when present, and reads chunks with the **sender's** timestamps as the device clock (no LSL
clock correction is applied; the uplink's clock estimator measures offset and drift itself). LSL carries no
sample counter: the sample clock counts received samples, and a jump of the timestamps between chunks by
more than 1.5 sample periods (e.g. the inlet's buffer overflowed) is reported as a gap of the samples missed.

:class:`ResultOutlet` publishes the service's results: a marker stream ``<name>-labels`` (type ``Markers``, one
string per result: the label, or a JSON object with ``json_markers``) and, once results carry embeddings, a
``<name>-embeddings`` stream (float32, one sample per result).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np

from biosig.protocol import Result
from biosig.signals.info import CHANNEL_TYPES, DEFAULT_UNITS, SignalInfo
from firmware_bridge._deps import require
from firmware_bridge.base import Bridge, Chunk, WireFormat
from firmware_bridge.errors import DeviceError

logger = logging.getLogger(__name__)

__all__ = ["LSLBridge", "ResultOutlet"]


def _channel_type(text: str, default: str) -> str:
    t = (text or "").strip().lower()
    return t if t in CHANNEL_TYPES else default


def _unit(text: str, ch_type: str) -> tuple[str, float]:
    """LSL unit text -> (our unit, factor to it): microvolts become volts."""
    u = (text or "").strip()
    factors = {"microvolts": 1e-6, "uv": 1e-6, "µv": 1e-6, "millivolts": 1e-3, "mv": 1e-3, "volts": 1.0, "v": 1.0}
    if u.lower() in factors:
        return "V", factors[u.lower()]
    return (u[:16] if u else DEFAULT_UNITS[ch_type]), 1.0


class LSLBridge(Bridge):
    """Read an LSL stream.

    Parameters
    ----------
    name, type, source_id
        Match the stream by any of these (at least one); ``predicate`` takes a full LSL XPath predicate.
    resolve_timeout
        Seconds to look for the stream.
    ch_type
        Channel type when the stream does not say (default: from the stream's type, else ``misc``).
    scale
        Units per count for integer streams (float streams are sent as float32).
    max_buflen
        Seconds the inlet buffers while the bridge is not reading.
    """

    kind = "lsl"

    def __init__(
        self,
        *,
        name: str | None = None,
        type: str | None = None,
        source_id: str | None = None,
        predicate: str | None = None,
        resolve_timeout: float = 5.0,
        ch_type: str | None = None,
        scale: float = 1.0,
        max_buflen: int = 360,
    ) -> None:
        super().__init__()
        parts = [f"{k}='{v}'" for k, v in (("name", name), ("type", type), ("source_id", source_id)) if v]
        for v in (name, type, source_id):
            if v is not None and "'" in v:
                raise ValueError(f"LSL name/type/source_id must not contain quotes, got {v!r}")
        if predicate is None and not parts:
            raise ValueError("give the LSL stream's name, type or source_id (or a predicate) to find it")
        self.predicate = predicate or " and ".join(parts)
        if ch_type is not None and ch_type not in CHANNEL_TYPES:
            raise ValueError(f"ch_type must be one of {sorted(CHANNEL_TYPES)}, got {ch_type!r}")
        self.ch_type = ch_type
        self.resolve_timeout = resolve_timeout
        self.scale = scale
        self.max_buflen = max_buflen
        self._inlet: Any = None
        self._factor = 1.0
        self._next = 0
        self._last_ts: float | None = None
        self._source = ""

    def describe(self) -> dict[str, str]:
        return {"kind": "lsl", "name": self._source[:128] or self.predicate[:128]}

    def _open(self) -> tuple[SignalInfo, WireFormat]:
        pylsl = require("pylsl")
        found = pylsl.resolve_bypred(self.predicate, 1, self.resolve_timeout)
        if not found:
            visible = [f"{s.name()} ({s.type()}, {s.source_id()})" for s in pylsl.resolve_streams(1.0)]
            raise DeviceError(
                f"no LSL stream matches {self.predicate!r} within {self.resolve_timeout:g} s; visible streams: "
                f"{visible or 'none'}"
            )
        stream = found[0]
        if stream.nominal_srate() <= 0:
            raise DeviceError(f"LSL stream {stream.name()!r} has an irregular rate; a bridge needs a regular one")
        fmt = stream.channel_format()
        formats = {pylsl.cf_int8: "int8", pylsl.cf_int16: "int16", pylsl.cf_int32: "int32",
                   pylsl.cf_float32: "float32", pylsl.cf_double64: "float32"}  # fmt: skip
        if fmt not in formats:
            raise DeviceError(
                f"LSL stream {stream.name()!r} has channel format {fmt}; expected a numeric one (int8/16/32, float32, "
                "double64)"
            )
        self._inlet = pylsl.StreamInlet(stream, max_buflen=self.max_buflen, recover=True)
        full = self._inlet.info(timeout=self.resolve_timeout)
        n = full.channel_count()
        default_type = self.ch_type or _channel_type(full.type(), "misc")
        names, types, units = [], [], []
        ch = full.desc().child("channels").child("channel")
        factors = []
        for i in range(n):
            label = ch.child_value("label") if not ch.empty() else ""
            ctype = self.ch_type or _channel_type(ch.child_value("type") if not ch.empty() else "", default_type)
            unit, factor = _unit(ch.child_value("unit") if not ch.empty() else "", ctype)
            names.append(label or f"{ctype}{i}")
            types.append(ctype)
            units.append(unit)
            factors.append(factor)
            ch = ch.next_sibling() if not ch.empty() else ch
        if len(set(names)) != n:
            names = [f"{t}{i}" for i, t in enumerate(types)]
        wire_dtype = formats[fmt]
        if len(set(factors)) > 1:
            raise DeviceError(f"LSL stream {full.name()!r} mixes units {sorted(set(units))}; pick one kind of channel")
        self._factor = factors[0] if factors else 1.0
        if self._factor != 1.0 and wire_dtype != "float32":  # integer counts in µV: keep counts, fold the factor in
            scale = self.scale * self._factor
        else:
            scale = 1.0 if wire_dtype == "float32" else self.scale
        self._int = wire_dtype != "float32"
        self._source = f"{full.name()} ({full.source_id()})"
        logger.info("LSL stream %s: %d ch @ %g Hz, %s", self._source, n, full.nominal_srate(), wire_dtype)
        return SignalInfo(full.nominal_srate(), tuple(names), tuple(types), tuple(units)), WireFormat(wire_dtype, scale)

    def _start(self) -> None:
        try:
            self._inlet.open_stream(timeout=self.resolve_timeout)
        except Exception as exc:
            raise DeviceError(f"cannot open LSL stream {self._source}: {exc}") from exc

    def _read(self, timeout: float | None) -> Chunk | None:
        try:
            samples, stamps = self._inlet.pull_chunk(timeout=0.0 if timeout is None else timeout, max_samples=4096)
        except Exception as exc:  # pylsl raises LostError when the outlet is gone for good
            raise DeviceError(f"LSL stream {self._source} failed: {exc}") from exc
        if not stamps:
            return None
        host = time.time()
        x = np.asarray(samples, dtype=np.float64).T  # (n_ch, n)
        sfreq = self.info.sfreq
        if self._last_ts is not None:
            jump = (stamps[0] - self._last_ts) * sfreq
            if jump > 1.5:
                self._next += int(round(jump)) - 1
        self._last_ts = float(stamps[-1])
        first = self._next
        self._next += x.shape[1]
        if self._int:
            raw = x.astype(self.wire.numpy_dtype)
            data = raw * np.float32(self.wire.scale)
        else:
            raw = None
            data = (x * self._factor).astype(np.float32)
        if not np.all(np.isfinite(data)):
            bad = int(np.count_nonzero(~np.isfinite(data)))
            raise DeviceError(f"LSL stream {self._source} delivered {bad} NaN/inf value(s); they cannot be sent")
        return Chunk(first, data, int(round(stamps[0] * 1e6)), host, raw=raw)

    def _stop(self) -> None:
        if self._inlet is not None:
            self._inlet.close_stream()

    def _close(self) -> None:
        self._inlet = None
        self._next, self._last_ts = 0, None


class ResultOutlet:
    """Publish :class:`~biosig.protocol.Result` messages as LSL streams (see the module docstring)."""

    def __init__(self, name: str = "biosig", source_id: str | None = None, json_markers: bool = False) -> None:
        self._pylsl = require("pylsl")
        self.name = name
        self.source_id = source_id or f"biosig-{name}"
        self.json_markers = json_markers
        pylsl = self._pylsl
        info = pylsl.StreamInfo(f"{name}-labels", "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                f"{self.source_id}-labels")  # fmt: skip
        self.labels = pylsl.StreamOutlet(info)
        self.embeddings: Any = None
        self._dim: int | None = None
        self.pushed = 0

    def push(self, result: Result) -> None:
        pylsl = self._pylsl
        stamp = pylsl.local_clock()
        if result.label is not None:
            if self.json_markers:
                marker = json.dumps({"label": result.label, "score": result.score, "end_sample": result.end_sample,
                                     "unknown": result.unknown}, allow_nan=False)  # fmt: skip
            else:
                marker = result.label
            self.labels.push_sample([marker], stamp)
        if result.embedding is not None:
            dim = len(result.embedding)
            if self._dim is None:
                info = pylsl.StreamInfo(f"{self.name}-embeddings", "Embeddings", dim, pylsl.IRREGULAR_RATE,
                                        pylsl.cf_float32, f"{self.source_id}-embeddings")  # fmt: skip
                self.embeddings = pylsl.StreamOutlet(info)
                self._dim = dim
            elif dim != self._dim:
                raise ValueError(f"embedding has {dim} values; this outlet publishes {self._dim}")
            self.embeddings.push_sample([float(v) for v in result.embedding], stamp)
        self.pushed += 1

    def close(self) -> None:
        self.labels = None
        self.embeddings = None
