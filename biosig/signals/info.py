"""The immutable description that travels with every signal array."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from biosig.errors import SignalError

#: Channel types the library knows. ``pose`` channels hold joint angles in radians, ``stim`` holds event or
#: trigger lines (e.g. a photosensor), ``misc`` anything else.
CHANNEL_TYPES: frozenset[str] = frozenset(
    {"emg", "ecg", "eeg", "eog", "ppg", "resp", "eda", "imu", "pose", "abp", "spo2", "temp", "stim", "misc"}
)

#: The SI unit each channel type is stored in when the source gives a physical scale. Sources without a
#: physical calibration (the Myo armband streams unitless int8) keep ``"a.u."`` and say so in their reader.
DEFAULT_UNITS: dict[str, str] = {
    "emg": "V",
    "ecg": "V",
    "eeg": "V",
    "eog": "V",
    "ppg": "a.u.",
    "resp": "a.u.",
    "eda": "S",
    "imu": "a.u.",
    "pose": "rad",
    "abp": "mmHg",
    "spo2": "%",
    "temp": "K",
    "stim": "a.u.",
    "misc": "a.u.",
}


@dataclass(frozen=True)
class SignalInfo:
    """What a ``(n_channels, n_times)`` array holds.

    Parameters
    ----------
    sfreq
        Sampling rate in Hz (> 0, finite).
    ch_names
        One unique name per channel, in array row order.
    ch_types
        One of :data:`CHANNEL_TYPES` per channel.
    units
        One unit string per channel; defaults to :data:`DEFAULT_UNITS` for each type.
    start_time
        Wall-clock time of the first sample, when the source records it (timezone-aware preferred).
    """

    sfreq: float
    ch_names: tuple[str, ...]
    ch_types: tuple[str, ...]
    units: tuple[str, ...] = field(default=())
    start_time: datetime | None = None

    def __post_init__(self) -> None:
        # Accept any sequence from callers but store tuples, so the object is hashable and truly immutable.
        object.__setattr__(self, "ch_names", tuple(str(n) for n in self.ch_names))
        object.__setattr__(self, "ch_types", tuple(str(t) for t in self.ch_types))
        try:
            sfreq = float(self.sfreq)
        except (TypeError, ValueError):
            raise SignalError(f"sfreq must be a positive number of Hz, got {self.sfreq!r}") from None
        if not math.isfinite(sfreq) or sfreq <= 0:
            raise SignalError(f"sfreq must be a positive finite number of Hz, got {self.sfreq!r}")
        object.__setattr__(self, "sfreq", sfreq)

        n = len(self.ch_names)
        if n == 0:
            raise SignalError("a signal needs at least one channel, got ch_names=()")
        if len(self.ch_types) != n:
            raise SignalError(f"ch_types has {len(self.ch_types)} entries but there are {n} channel names")
        unknown = sorted({t for t in self.ch_types if t not in CHANNEL_TYPES})
        if unknown:
            raise SignalError(f"unknown channel type(s) {unknown}; allowed: {', '.join(sorted(CHANNEL_TYPES))}")
        duplicates = sorted({name for name in self.ch_names if self.ch_names.count(name) > 1})
        if duplicates:
            raise SignalError(f"channel names must be unique, got duplicates {duplicates}")
        units = tuple(str(u) for u in self.units) if self.units else tuple(DEFAULT_UNITS[t] for t in self.ch_types)
        if len(units) != n:
            raise SignalError(f"units has {len(units)} entries but there are {n} channels")
        object.__setattr__(self, "units", units)

    @classmethod
    def uniform(
        cls,
        n_channels: int,
        sfreq: float,
        ch_type: str,
        prefix: str | None = None,
        unit: str | None = None,
        start_time: datetime | None = None,
    ) -> SignalInfo:
        """Info for ``n_channels`` channels of one type named ``<prefix>0 .. <prefix>{n-1}``."""
        if n_channels < 1:
            raise SignalError(f"n_channels must be >= 1, got {n_channels}")
        prefix = ch_type if prefix is None else prefix
        units = (unit,) * n_channels if unit is not None else ()
        return cls(
            sfreq=sfreq,
            ch_names=tuple(f"{prefix}{i}" for i in range(n_channels)),
            ch_types=(ch_type,) * n_channels,
            units=units,
            start_time=start_time,
        )

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)

    def index(self, name: str) -> int:
        """Row of channel ``name``; raises with the list of names when it is absent."""
        try:
            return self.ch_names.index(name)
        except ValueError:
            raise SignalError(f"no channel named {name!r}; channels are {list(self.ch_names)}") from None

    def pick(self, picks: Sequence[str | int]) -> tuple[SignalInfo, list[int]]:
        """Info restricted to ``picks`` (names or row indices), and the row indices picked, in that order."""
        rows: list[int] = []
        for p in picks:
            if isinstance(p, str):
                rows.append(self.index(p))
            elif isinstance(p, int) and -self.n_channels <= p < self.n_channels:
                rows.append(p % self.n_channels)
            else:
                raise SignalError(f"channel pick {p!r} is neither a name nor an index in [0, {self.n_channels})")
        info = replace(
            self,
            ch_names=tuple(self.ch_names[r] for r in rows),
            ch_types=tuple(self.ch_types[r] for r in rows),
            units=tuple(self.units[r] for r in rows),
        )
        return info, rows

    def with_sfreq(self, sfreq: float) -> SignalInfo:
        return replace(self, sfreq=sfreq)
