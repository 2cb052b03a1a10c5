"""Per-stream causal featurizer: filter -> resample -> ring buffer -> one window every hop, with explicit gaps.

A :class:`StreamFeaturizer` turns the chunks of one live stream into the fixed-length windows an encoder eats.
Every chunk comes with the index of its first sample in the device's own sample clock (``first_sample``), so
the featurizer knows exactly where each chunk belongs:

* **contiguous** (``first_sample`` equals the next expected index): the samples go through a stateful
  :class:`~biosig.signals.filters.CausalFilter` at the input rate, a
  :class:`~biosig.signals.resample.StreamingResampler` to the model's rate, and into a
  :class:`~biosig.stream.ring.SampleRing` addressed by the absolute output clock;
* **gap** (``first_sample`` jumps forward): the samples in between never arrived. Their absence is never
  papered over: the current segment is finished (the resampler's tail is flushed, as if the signal stopped),
  a :class:`Gap` is reported with its extent and the number of windows it costs, the filter and resampler
  restart on the new segment, and no window ever spans the hole;
* **overlap** (``first_sample`` lies before the expected index, e.g. a frame resent by a bridge): samples
  already consumed are counted in :attr:`PushResult.n_duplicate` and skipped (``on_overlap="trim"``) or the
  chunk is refused (``"raise"``).

Windows sit on a fixed grid of the absolute output clock: a window ends at every multiple of ``hop`` output
samples, so the windows of a stream do not depend on how it was chunked, nor on where gaps fell. A window is
emitted only when all of its samples belong to one segment. Within a segment, output sample ``A`` is the
segment's causally filtered signal resampled to ``A / sfreq`` seconds (the segment is aligned to the grid by
starting the resampler on zeros, which is exactly the "zeros outside the signal" convention of
:func:`~biosig.signals.resample.resample`), so :func:`offline_windows` reproduces the stream from the whole
recording at once. The price of causality is :attr:`StreamFeaturizer.delay_s`: a window ending at ``t`` is
ready once the input up to ``t + delay_s`` has arrived.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from biosig.errors import SignalError
from biosig.signals._validate import _check_n_channels, _check_sfreq, _chunk_array
from biosig.signals.filters import CausalFilter, causal_filter, design_filter
from biosig.signals.info import CHANNEL_TYPES, DEFAULT_UNITS
from biosig.signals.resample import StreamingResampler, rational_ratio, resample
from biosig.stream.ring import SampleRing

logger = logging.getLogger(__name__)

__all__ = ["FeaturizerConfig", "Gap", "PushResult", "StreamFeaturizer", "Window", "offline_windows", "samples_for"]

OVERLAP_MODES = ("trim", "raise")


def samples_for(name: str, seconds: float, sfreq: float) -> int:
    """``seconds * sfreq`` as a whole number of samples, or a :class:`SignalError` saying why it is not one."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise SignalError(f"{name} must be a positive number of seconds, got {seconds!r}")
    exact = seconds * sfreq
    n = round(exact)
    if n < 1 or abs(n - exact) > 1e-6 * max(1.0, exact):
        raise SignalError(
            f"{name}={seconds:g} s is {exact:g} samples at {sfreq:g} Hz; it must be a positive whole number of "
            f"samples (e.g. {max(1, n) / sfreq:g} s)"
        )
    return int(n)


@dataclass(frozen=True)
class FeaturizerConfig:
    """How one stream becomes windows.

    Parameters
    ----------
    sfreq_in
        Rate of the incoming samples (Hz).
    n_channels
        Rows of every chunk.
    sfreq
        Rate of the emitted windows (Hz): the model's rate.
    window
        Samples per window at ``sfreq``.
    hop
        Output samples between window ends at ``sfreq`` (a window ends at every multiple of ``hop``).
    highpass, lowpass, notch
        Causal filter cascade applied at ``sfreq_in`` before resampling (see
        :func:`~biosig.signals.filters.design_filter`); all ``None`` means no filter.
    ch_types, units
        One per channel (defaults: all ``"emg"`` in the type's default unit); the runtime uses them to apply the
        checkpoint's input scaling.
    on_overlap
        ``"trim"`` skips samples that were already consumed (resent frames), ``"raise"`` refuses the chunk.
    """

    sfreq_in: float
    n_channels: int
    sfreq: float
    window: int
    hop: int
    highpass: float | None = None
    lowpass: float | None = None
    notch: float | None = None
    filter_order: int = 4
    notch_quality: float = 30.0
    notch_harmonics: int = 1
    ch_types: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    on_overlap: str = "trim"
    max_denominator: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "sfreq_in", _check_sfreq(self.sfreq_in, "sfreq_in"))
        object.__setattr__(self, "sfreq", _check_sfreq(self.sfreq, "sfreq"))
        object.__setattr__(self, "n_channels", _check_n_channels(self.n_channels))
        for name in ("window", "hop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SignalError(f"{name} must be a positive integer number of samples at sfreq, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.on_overlap not in OVERLAP_MODES:
            raise SignalError(f"on_overlap must be one of {OVERLAP_MODES}, got {self.on_overlap!r}")
        rational_ratio(self.sfreq_in, self.sfreq, self.max_denominator)  # raises when no exact ratio exists
        if self.has_filter:
            self.design()  # raises on cutoffs above Nyquist etc., before any sample arrives
        ch_types = tuple(self.ch_types) or ("emg",) * self.n_channels
        if len(ch_types) != self.n_channels:
            raise SignalError(f"ch_types has {len(ch_types)} entries but n_channels={self.n_channels}")
        unknown = sorted(set(ch_types) - CHANNEL_TYPES)
        if unknown:
            raise SignalError(f"unknown channel type(s) {unknown}; allowed: {', '.join(sorted(CHANNEL_TYPES))}")
        units = tuple(self.units) or tuple(DEFAULT_UNITS[t] for t in ch_types)
        if len(units) != self.n_channels:
            raise SignalError(f"units has {len(units)} entries but n_channels={self.n_channels}")
        object.__setattr__(self, "ch_types", ch_types)
        object.__setattr__(self, "units", units)

    @classmethod
    def for_model(
        cls,
        sfreq: float,
        n_times: int,
        *,
        sfreq_in: float,
        n_channels: int,
        hop_s: float = 0.05,
        highpass: float | None = None,
        lowpass: float | None = None,
        notch: float | None = None,
        ch_types: Sequence[str] = (),
        units: Sequence[str] = (),
        on_overlap: str = "trim",
    ) -> FeaturizerConfig:
        """A config producing ``n_times``-sample windows at ``sfreq`` (a model's signal spec) every ``hop_s`` s."""
        sfreq = _check_sfreq(sfreq, "sfreq")
        hop = samples_for("hop_s", hop_s, sfreq)
        return cls(
            sfreq_in=sfreq_in,
            n_channels=n_channels,
            sfreq=sfreq,
            window=n_times,
            hop=hop,
            highpass=highpass,
            lowpass=lowpass,
            notch=notch,
            ch_types=tuple(ch_types),
            units=tuple(units),
            on_overlap=on_overlap,
        )

    @property
    def has_filter(self) -> bool:
        return self.highpass is not None or self.lowpass is not None or self.notch is not None

    def design(self) -> np.ndarray:
        """The ``(n_sections, 6)`` SOS cascade at ``sfreq_in``."""
        return design_filter(
            self.sfreq_in,
            self.highpass,
            self.lowpass,
            self.notch,
            self.filter_order,
            self.notch_quality,
            self.notch_harmonics,
        )

    @property
    def window_s(self) -> float:
        return self.window / self.sfreq

    @property
    def hop_s(self) -> float:
        return self.hop / self.sfreq


@dataclass(frozen=True, eq=False)
class Window:
    """One window of a stream: ``data`` ``(n_channels, window)`` float32 at ``sfreq``, ending at sample ``end``.

    ``end`` is an index of the stream's absolute output clock (samples at ``sfreq`` since the device's sample
    0), so ``end / sfreq`` is the time of the window's end in seconds since that origin.
    """

    stream_id: str
    end: int
    data: np.ndarray
    sfreq: float

    @property
    def start(self) -> int:
        return self.end - self.data.shape[1]

    @property
    def start_s(self) -> float:
        return self.start / self.sfreq

    @property
    def end_s(self) -> float:
        return self.end / self.sfreq


@dataclass(frozen=True)
class Gap:
    """Input samples ``start .. stop - 1`` (device clock at ``sfreq_in``) never arrived.

    ``skipped_windows`` counts the windows of the hop grid that are not emitted because they would span the
    gap (or the restart of the filter and resampler after it).
    """

    stream_id: str
    start: int
    stop: int
    sfreq_in: float
    skipped_windows: int

    @property
    def n_missing(self) -> int:
        return self.stop - self.start

    @property
    def duration_s(self) -> float:
        return self.n_missing / self.sfreq_in


@dataclass(frozen=True)
class PushResult:
    """What one :meth:`StreamFeaturizer.push` produced: due windows, gaps found, and resent samples skipped."""

    windows: list[Window] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    n_duplicate: int = 0


class StreamFeaturizer:
    """Causal featurizer of one stream (see the module docstring for the exact semantics).

    Examples
    --------
    ::

        config = FeaturizerConfig.for_model(200.0, 200, sfreq_in=2000.0, n_channels=16, hop_s=0.05, highpass=20.0)
        feat = StreamFeaturizer(config, stream_id="armband-1")
        result = feat.push(first_sample=0, chunk=samples)   # samples: (16, n) at 2 kHz
        for w in result.windows: ...                        # w.data: (16, 200) float32 at 200 Hz
        for g in result.gaps: log.warning("lost %.3f s", g.duration_s)
    """

    def __init__(self, config: FeaturizerConfig, stream_id: str = "stream") -> None:
        if not isinstance(config, FeaturizerConfig):
            raise TypeError(f"config must be a FeaturizerConfig, got {type(config).__name__}")
        if not isinstance(stream_id, str) or not stream_id:
            raise SignalError(f"stream_id must be a non-empty string, got {stream_id!r}")
        self.config = config
        self.stream_id = stream_id
        c = config.n_channels
        self._sos = config.design() if config.has_filter else None
        self._filter = CausalFilter(self._sos, c) if self._sos is not None else None
        up, down = rational_ratio(config.sfreq_in, config.sfreq, config.max_denominator)
        self._resampler = StreamingResampler(config.sfreq_in, config.sfreq, c, config.max_denominator)
        self._up, self._down = self._resampler.up, self._resampler.down
        assert (self._up, self._down) == (up, down)
        self._passthrough = self._up == self._down
        self._reset_state()

    def _reset_state(self) -> None:
        c = self.config
        # Pieces written to the ring never exceed one hop, so window + hop samples always hold the next window.
        self._ring = SampleRing(c.n_channels, c.window + c.hop)
        if self._filter is not None:
            self._filter.reset()
        self._resampler.reset()
        self.n_windows = 0
        self.n_gaps = 0
        self.n_missing = 0
        self.n_duplicate = 0
        self.n_samples = 0
        self._closed = False
        self._next_in: int | None = None  # next expected input index; None before the first sample
        self._valid_from = 0  # first output index of the current segment that is real data
        self._out_cursor = 0  # output index of the next sample the resampler will produce

    # -- clock -------------------------------------------------------------------------------------------------

    @property
    def delay_s(self) -> float:
        """Seconds of input needed past a window's end before it can be emitted (resampler lag)."""
        return 0.0 if self._passthrough else self._resampler.delay_s

    @property
    def next_sample(self) -> int | None:
        """Input index the next contiguous chunk must start at (None before the first sample)."""
        return self._next_in

    def _ceil_out(self, n_in: int) -> int:
        """First output index at or after input index ``n_in`` (``ceil(n_in * up / down)``)."""
        return -(-n_in * self._up // self._down)

    # -- segments ----------------------------------------------------------------------------------------------

    def _start_segment(self, s0: int, windows: list[Window]) -> None:
        self._next_in = s0
        if self._filter is not None:
            self._filter.reset()
        self._valid_from = self._ceil_out(s0)
        if self._passthrough:
            self._out_cursor = s0
            return
        self._resampler.reset()
        # Start the resampler at the last input index on the output grid (a multiple of `down`) and feed zeros
        # up to s0: outputs then land on whole output indices, and zeros before the signal are what offline
        # resampling assumes anyway. Outputs before the segment's first sample are dropped by _write.
        aligned = (s0 // self._down) * self._down
        self._out_cursor = aligned // self._down * self._up - self._resampler.delay
        if s0 > aligned:
            self._write(self._resampler.process(np.zeros((self.config.n_channels, s0 - aligned))), windows)

    def _end_segment(self, windows: list[Window]) -> None:
        """Emit what the current segment still owes (resampler tail), as if the signal stopped here."""
        if self._passthrough or self._next_in is None:
            return
        tail = self._resampler.flush(dtype=np.float64)
        # Only outputs at times before the segment's end are data; the flush ends exactly there.
        keep = max(0, self._ceil_out(self._next_in) - self._out_cursor)
        self._write(tail[:, :keep], windows)

    # -- data path ---------------------------------------------------------------------------------------------

    def _write(self, y: np.ndarray, windows: list[Window]) -> None:
        """Put resampled samples ``(c, k)`` at the output cursor; emit every grid window they complete."""
        a = self._out_cursor
        k = y.shape[1]
        self._out_cursor = a + k
        skip = min(k, max(0, self._valid_from - a))  # outputs before the segment's first input sample
        a += skip
        k -= skip
        hop, win = self.config.hop, self.config.window
        pos = 0
        while pos < k:
            here = a + pos
            stop = min(k, (here // hop + 1) * hop - a)  # up to the next grid point, at most one hop
            self._ring.write(here, y[:, skip + pos : skip + stop])
            pos = stop
            end = a + pos
            if end % hop == 0 and end - win >= self._valid_from:
                assert self._ring.valid(end - win, end).all(), "window inside one segment must be gap-free"
                windows.append(Window(self.stream_id, end, self._ring.read(end - win, end), self.config.sfreq))
                self.n_windows += 1

    def push(self, first_sample: int, chunk: np.ndarray) -> PushResult:
        """Feed ``chunk`` ``(n_channels, n)`` whose first sample has input index ``first_sample``.

        Returns the windows completed by this chunk (oldest first), the gaps found before it, and the number of
        resent samples skipped. Raises :class:`~biosig.errors.SignalError` for a malformed chunk (wrong shape,
        NaN/inf), a negative index, an overlap when ``on_overlap="raise"``, or a closed stream; the stream's
        state is untouched in those cases.
        """
        if self._closed:
            raise SignalError(f"stream {self.stream_id!r} was closed; call reset() to start it again")
        if isinstance(first_sample, bool) or not isinstance(first_sample, (int, np.integer)) or first_sample < 0:
            raise SignalError(f"first_sample must be a non-negative integer sample index, got {first_sample!r}")
        first = int(first_sample)
        x = _chunk_array(chunk, self.config.n_channels)
        windows: list[Window] = []
        gaps: list[Gap] = []
        n_dup = 0
        if x.shape[1] == 0:
            return PushResult()
        if self._next_in is not None and first < self._next_in:
            n_dup = min(x.shape[1], self._next_in - first)
            if self.config.on_overlap == "raise":
                raise SignalError(
                    f"stream {self.stream_id!r}: chunk starts at sample {first} but samples up to "
                    f"{self._next_in - 1} were already consumed (on_overlap='raise')"
                )
            logger.debug("stream %s: skipping %d resent sample(s) from %d", self.stream_id, n_dup, first)
            self.n_duplicate += n_dup
            x = x[:, n_dup:]
            first += n_dup
            if x.shape[1] == 0:
                return PushResult(n_duplicate=n_dup)
        if self._next_in is None:
            self._start_segment(first, windows)
        elif first > self._next_in:
            gaps.append(self._gap(first, windows))
        self._consume(x, windows)
        self._next_in = first + x.shape[1]
        return PushResult(windows, gaps, n_dup)

    def _gap(self, first: int, windows: list[Window]) -> Gap:
        assert self._next_in is not None
        start = self._next_in
        self._end_segment(windows)
        # Grid ends E up to `done` were emitted, or were counted by the previous gap (or precede the stream's
        # first full window); ends from there to the new segment's first full window are lost to this gap.
        done = max(self._ceil_out(start), self._valid_from + self.config.window - 1)
        self._start_segment(first, windows)
        hop = self.config.hop
        skipped = max(0, (self._valid_from + self.config.window - 1) // hop - done // hop)
        gap = Gap(self.stream_id, start, first, self.config.sfreq_in, skipped)
        self.n_gaps += 1
        self.n_missing += gap.n_missing
        logger.info(
            "stream %s: gap of %d sample(s) (%.3f s) at input %d; %d window(s) skipped, filters restarted",
            self.stream_id,
            gap.n_missing,
            gap.duration_s,
            start,
            skipped,
        )
        return gap

    def _consume(self, x: np.ndarray, windows: list[Window]) -> None:
        # float64 through the filter and resampler; the ring stores float32 (one rounding, whatever the chunking).
        y = x.astype(np.float64, copy=False)
        if self._filter is not None:
            y = self._filter.process(y)
        if not self._passthrough:
            y = self._resampler.process(y)
        self._write(y, windows)
        self.n_samples += x.shape[1]

    def close(self) -> list[Window]:
        """End the stream: flush the resampler tail and return the windows it completes. Further pushes raise."""
        windows: list[Window] = []
        if not self._closed:
            self._end_segment(windows)
            self._closed = True
        return windows

    def reset(self) -> None:
        """Forget the stream entirely (clock, filter, resampler, ring, counters); the next push starts afresh."""
        self._reset_state()

    def __repr__(self) -> str:
        c = self.config
        return (
            f"StreamFeaturizer({self.stream_id!r}, {c.n_channels} ch, {c.sfreq_in:g} -> {c.sfreq:g} Hz, "
            f"window={c.window}, hop={c.hop}, next_sample={self._next_in})"
        )


def offline_windows(data: np.ndarray, config: FeaturizerConfig, first_sample: int = 0) -> list[tuple[int, np.ndarray]]:
    """The windows a :class:`StreamFeaturizer` emits for one gap-free recording, computed in one pass.

    ``data`` ``(n_channels, n_times)`` is the whole segment, starting at input index ``first_sample``; the result
    is ``(end, window)`` pairs including the windows that :meth:`StreamFeaturizer.close` flushes. This is the
    offline reference the streaming path is tested against (and a convenient batch featurizer).
    """
    x = _chunk_array(data, config.n_channels, "data").astype(np.float64)
    if isinstance(first_sample, bool) or not isinstance(first_sample, (int, np.integer)) or first_sample < 0:
        raise SignalError(f"first_sample must be a non-negative integer sample index, got {first_sample!r}")
    s0 = int(first_sample)
    if x.shape[1] == 0:
        return []
    if config.has_filter:
        x = causal_filter(x, config.design())
    up, down = rational_ratio(config.sfreq_in, config.sfreq, config.max_denominator)
    if up == down:
        y, origin = x, s0
    else:
        aligned = (s0 // down) * down
        y = resample(np.concatenate([np.zeros((x.shape[0], s0 - aligned)), x], axis=1), config.sfreq_in, config.sfreq)
        origin = aligned // down * up
    valid_from = -(-s0 * up // down)
    valid_end = -(-(s0 + x.shape[1]) * up // down)
    out = []
    first_end = -(-(valid_from + config.window) // config.hop) * config.hop
    for end in range(first_end, valid_end + 1, config.hop):
        out.append((end, y[:, end - config.window - origin : end - origin].astype(np.float32)))
    return out
