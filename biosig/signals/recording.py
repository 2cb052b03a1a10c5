"""A recording: a ``(n_channels, n_times)`` float32 array in SI units with its info, labels and annotations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from biosig.errors import SignalError
from biosig.signals.info import SignalInfo

#: Per-sample label value for "no label here" (gaps, unannotated stretches).
UNLABELLED = -1

#: ADC sample types that :meth:`Recording.from_adc` accepts, with their value range.
ADC_DTYPES = (np.int8, np.int16, np.int32, np.uint8, np.uint16)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Annotations:
    """Events on a recording's time axis (seconds from its first sample), like MNE's ``Annotations``.

    ``onset`` and ``duration`` are float64 seconds; ``description`` is one string per event (a beat symbol,
    a condition name, an alarm).
    """

    onset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    duration: np.ndarray = field(default_factory=lambda: np.zeros(0))
    description: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        onset = np.asarray(self.onset, dtype=np.float64).reshape(-1)
        duration = np.asarray(self.duration, dtype=np.float64).reshape(-1)
        description = tuple(str(d) for d in self.description)
        if not (len(onset) == len(duration) == len(description)):
            raise SignalError(
                f"annotations need as many onsets, durations and descriptions, got "
                f"{len(onset)}, {len(duration)} and {len(description)}"
            )
        if len(onset) and (not np.all(np.isfinite(onset)) or np.any(duration < 0)):
            raise SignalError("annotation onsets must be finite and durations non-negative")
        object.__setattr__(self, "onset", _readonly(onset.copy()))
        object.__setattr__(self, "duration", _readonly(duration.copy()))
        object.__setattr__(self, "description", description)

    def __len__(self) -> int:
        return len(self.description)

    def counts(self) -> dict[str, int]:
        """Number of events per description, most frequent first."""
        values, counts = np.unique(np.asarray(self.description, dtype=object).astype(str), return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return {str(values[i]): int(counts[i]) for i in order}

    def crop(self, tmin: float, tmax: float) -> Annotations:
        """Events whose onset lies in ``[tmin, tmax)``, with onsets shifted so that ``tmin`` becomes 0."""
        keep = (self.onset >= tmin) & (self.onset < tmax)
        return Annotations(
            self.onset[keep] - tmin,
            self.duration[keep],
            tuple(d for d, k in zip(self.description, keep) if k),
        )


@dataclass(frozen=True, eq=False)
class Recording:
    """A multichannel signal with everything a reader learnt about it.

    Parameters
    ----------
    data
        ``(n_channels, n_times)`` samples, stored as a read-only float32 array in the units of ``info``.
    info
        Sampling rate, channel names, types and units, start time.
    labels
        Optional ``(n_times,)`` integer class per sample; :data:`UNLABELLED` (-1) where there is none.
    label_names
        Class index -> name for ``labels``.
    valid
        Optional ``(n_times,)`` bool mask; False marks samples that must not be used (gaps, inverse-kinematics
        failures). Absent means every sample is valid.
    annotations
        Timed events (beats, conditions, alarms).
    metadata
        Free-form facts from the source: file path, subject, session, recording-level labels, skip reports.
    """

    data: np.ndarray
    info: SignalInfo
    labels: np.ndarray | None = None
    label_names: Mapping[int, str] = field(default_factory=dict)
    valid: np.ndarray | None = None
    annotations: Annotations = field(default_factory=Annotations)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 2:
            raise SignalError(f"data must be 2-D (n_channels, n_times), got shape {data.shape}")
        if data.shape[0] != self.info.n_channels:
            raise SignalError(
                f"data has {data.shape[0]} rows but info describes {self.info.n_channels} channels "
                f"{list(self.info.ch_names)}"
            )
        if not np.issubdtype(data.dtype, np.floating):
            raise SignalError(
                f"data must hold floating-point values in physical units, got dtype {data.dtype}; "
                "use Recording.from_adc for integer ADC counts"
            )
        data = np.ascontiguousarray(data, dtype=np.float32)
        if data is self.data or np.shares_memory(data, np.asarray(self.data)):
            data = data.copy()
        object.__setattr__(self, "data", _readonly(data))
        n_times = data.shape[1]

        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (n_times,) or not np.issubdtype(labels.dtype, np.integer):
                raise SignalError(
                    f"labels must be an integer array of shape ({n_times},), got {labels.dtype} {labels.shape}"
                )
            object.__setattr__(self, "labels", _readonly(labels.astype(np.int64)))
        if self.valid is not None:
            valid = np.asarray(self.valid)
            if valid.shape != (n_times,) or valid.dtype != np.bool_:
                raise SignalError(f"valid must be a bool array of shape ({n_times},), got {valid.dtype} {valid.shape}")
            object.__setattr__(self, "valid", _readonly(valid.copy()))
        object.__setattr__(self, "label_names", MappingProxyType({int(k): str(v) for k, v in self.label_names.items()}))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    # -- construction -------------------------------------------------------------------------------------

    @classmethod
    def from_adc(
        cls,
        counts: ArrayLike,
        info: SignalInfo,
        scale: float | Sequence[float],
        offset: float | Sequence[float] = 0.0,
        **kwargs: Any,
    ) -> Recording:
        """Convert integer ADC counts to physical units: ``value = (counts - offset) * scale``.

        Parameters
        ----------
        counts
            ``(n_channels, n_times)`` int8/int16/int32/uint8/uint16 samples.
        scale
            Units per count (e.g. volts per LSB), one number or one per channel.
        offset
            The count that means zero (e.g. 1024 for a 11-bit unsigned ADC centred at mid-scale).
        """
        counts = np.asarray(counts)
        if counts.dtype.type not in ADC_DTYPES:
            allowed = ", ".join(np.dtype(t).name for t in ADC_DTYPES)
            raise SignalError(f"ADC counts must have an integer dtype ({allowed}), got {counts.dtype}")
        if counts.ndim != 2:
            raise SignalError(f"ADC counts must be 2-D (n_channels, n_times), got shape {counts.shape}")
        n = counts.shape[0]
        scale_arr = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,)).reshape(n, 1)
        offset_arr = np.broadcast_to(np.asarray(offset, dtype=np.float64), (n,)).reshape(n, 1)
        if not np.all(np.isfinite(scale_arr)) or np.any(scale_arr == 0):
            raise SignalError(f"scale must be finite and non-zero, got {scale!r}")
        data = ((counts.astype(np.float64) - offset_arr) * scale_arr).astype(np.float32)
        return cls(data=data, info=info, **kwargs)

    # -- geometry -----------------------------------------------------------------------------------------

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_times(self) -> int:
        return int(self.data.shape[1])

    @property
    def sfreq(self) -> float:
        return self.info.sfreq

    @property
    def duration(self) -> float:
        """Length in seconds (``n_times / sfreq``)."""
        return self.n_times / self.info.sfreq

    @property
    def times(self) -> np.ndarray:
        """``(n_times,)`` seconds since the first sample."""
        return np.arange(self.n_times) / self.info.sfreq

    # -- derived recordings (always new objects; the original is never modified) ---------------------------

    def replace(self, **changes: Any) -> Recording:
        """A copy with some fields changed (validated like a new recording)."""
        return replace(self, **changes)

    def pick(self, picks: Sequence[str | int]) -> Recording:
        """Only the channels in ``picks`` (names or indices), in that order."""
        info, rows = self.info.pick(picks)
        return replace(self, data=self.data[rows], info=info)

    def pick_types(self, *ch_types: str) -> Recording:
        """Only the channels whose type is one of ``ch_types``."""
        rows = [i for i, t in enumerate(self.info.ch_types) if t in ch_types]
        if not rows:
            raise SignalError(f"no channel of type {list(ch_types)}; types are {list(self.info.ch_types)}")
        return self.pick(rows)

    def crop(self, tmin: float = 0.0, tmax: float | None = None) -> Recording:
        """The samples in ``[tmin, tmax)`` seconds; labels, mask and annotations are cropped with them."""
        start = int(round(tmin * self.sfreq))
        stop = self.n_times if tmax is None else int(round(tmax * self.sfreq))
        if not 0 <= start < stop <= self.n_times:
            raise SignalError(
                f"crop window [{tmin}, {tmax}) s is outside the recording of {self.duration:.3f} s or empty"
            )
        return replace(
            self,
            data=self.data[:, start:stop],
            labels=None if self.labels is None else self.labels[start:stop],
            valid=None if self.valid is None else self.valid[start:stop],
            annotations=self.annotations.crop(start / self.sfreq, stop / self.sfreq),
        )

    def label_counts(self) -> dict[str, int]:
        """Samples per label name (unlabelled samples under ``"unlabelled"``); empty without labels."""
        if self.labels is None:
            return {}
        values, counts = np.unique(self.labels, return_counts=True)
        return {
            ("unlabelled" if v == UNLABELLED else self.label_names.get(int(v), str(int(v)))): int(c)
            for v, c in zip(values, counts)
        }

    def __repr__(self) -> str:
        types = sorted(set(self.info.ch_types))
        return (
            f"<Recording | {self.n_channels} ch ({', '.join(types)}), {self.n_times} samples "
            f"@ {self.sfreq:g} Hz = {self.duration:.2f} s>"
        )
