"""IIR filter design and application: offline zero-phase and causal, chunk-invariant streaming.

Every filter is a Butterworth or notch design stored as second-order sections (SOS, shape ``(n_sections, 6)``),
which stay numerically stable where a transfer-function ``(b, a)`` of the same order would not (low cutoffs
relative to ``sfreq``, high orders). Filters of different kinds chain by concatenating their sections.

Signals are ``(n_channels, n_times)`` or ``(batch, n_channels, n_times)`` arrays filtered along the last axis.
Computation runs in float64; float32 input gives float32 output, float64 stays float64, and anything else
(integers) comes back as float64.

Two ways to apply a design:

* :func:`filtfilt` runs the filter forwards and backwards (zero phase, squared magnitude response); it needs
  the whole signal and therefore suits offline work only.
* :class:`CausalFilter` keeps the filter state between chunks, so that filtering a stream chunk by chunk gives
  the same samples as :func:`causal_filter` on the whole signal at once, whatever the chunk sizes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from scipy import signal

from biosig.errors import SignalError
from biosig.signals._validate import (
    _check_n_channels,
    _check_sfreq,
    _chunk_array,
    _out_dtype,
    _signal_array,
)
from biosig.signals.recording import Recording

logger = logging.getLogger(__name__)

__all__ = [
    "CausalFilter",
    "causal_filter",
    "chain_sos",
    "design_bandpass",
    "design_filter",
    "design_highpass",
    "design_lowpass",
    "design_notch",
    "filter_recording",
    "filtfilt",
    "min_filtfilt_length",
]


# -- design --------------------------------------------------------------------------------------------------


def _check_cutoff(kind: str, freq: float, sfreq: float) -> float:
    try:
        value = float(freq)
    except (TypeError, ValueError):
        raise SignalError(f"{kind} cutoff must be a positive number of Hz, got {freq!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SignalError(f"{kind} cutoff must be a positive finite number of Hz, got {freq!r}")
    nyquist = sfreq / 2
    if value >= nyquist:
        raise SignalError(f"{kind} cutoff {value:g} Hz must be below Nyquist {nyquist:g} Hz for sfreq={sfreq:g} Hz")
    return value


def _check_order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= 16:
        raise SignalError(f"filter order must be an integer in [1, 16], got {order!r}")
    return int(order)


def design_highpass(cutoff: float, sfreq: float, order: int = 4) -> np.ndarray:
    """Butterworth high-pass of ``order`` at ``cutoff`` Hz (-3 dB) as ``(n_sections, 6)`` SOS."""
    sfreq = _check_sfreq(sfreq)
    cutoff = _check_cutoff("highpass", cutoff, sfreq)
    return signal.butter(_check_order(order), cutoff, btype="highpass", output="sos", fs=sfreq)


def design_lowpass(cutoff: float, sfreq: float, order: int = 4) -> np.ndarray:
    """Butterworth low-pass of ``order`` at ``cutoff`` Hz (-3 dB) as ``(n_sections, 6)`` SOS."""
    sfreq = _check_sfreq(sfreq)
    cutoff = _check_cutoff("lowpass", cutoff, sfreq)
    return signal.butter(_check_order(order), cutoff, btype="lowpass", output="sos", fs=sfreq)


def design_bandpass(low: float, high: float, sfreq: float, order: int = 4) -> np.ndarray:
    """Butterworth band-pass between ``low`` and ``high`` Hz as SOS.

    As with :func:`scipy.signal.butter`, a band-pass of ``order`` N has 2N poles (N sections).
    """
    sfreq = _check_sfreq(sfreq)
    low = _check_cutoff("bandpass low", low, sfreq)
    high = _check_cutoff("bandpass high", high, sfreq)
    if low >= high:
        raise SignalError(f"bandpass low cutoff {low:g} Hz must be below the high cutoff {high:g} Hz")
    return signal.butter(_check_order(order), [low, high], btype="bandpass", output="sos", fs=sfreq)


def design_notch(freq: float, sfreq: float, quality: float = 30.0, harmonics: int = 1) -> np.ndarray:
    """Second-order IIR notch at ``freq`` Hz and its first ``harmonics`` multiples, as SOS.

    Parameters
    ----------
    freq
        Mains frequency to remove (50 or 60 Hz), in Hz.
    quality
        Quality factor ``freq / bandwidth``; 30 removes about 2 Hz around 60 Hz.
    harmonics
        Number of notches: ``freq * 1 .. freq * harmonics``. Every one must lie below Nyquist.

    Returns
    -------
    ``(harmonics, 6)`` second-order sections, one per notch.
    """
    sfreq = _check_sfreq(sfreq)
    freq = _check_cutoff("notch", freq, sfreq)
    if not isinstance(quality, (int, float, np.number)) or not math.isfinite(quality) or quality <= 0:
        raise SignalError(f"notch quality must be a positive finite number, got {quality!r}")
    if isinstance(harmonics, bool) or not isinstance(harmonics, (int, np.integer)) or harmonics < 1:
        raise SignalError(f"notch harmonics must be a positive integer, got {harmonics!r}")
    highest = freq * harmonics
    if highest >= sfreq / 2:
        raise SignalError(
            f"notch harmonic {int(harmonics)} of {freq:g} Hz is at {highest:g} Hz, not below Nyquist "
            f"{sfreq / 2:g} Hz for sfreq={sfreq:g} Hz; lower harmonics"
        )
    sections = []
    for k in range(1, int(harmonics) + 1):
        b, a = signal.iirnotch(freq * k, float(quality), fs=sfreq)
        sections.append(signal.tf2sos(b, a))
    return np.concatenate(sections, axis=0)


def chain_sos(*sos: np.ndarray) -> np.ndarray:
    """One SOS cascade applying each design in turn (e.g. ``chain_sos(highpass, notch)``)."""
    if not sos:
        raise SignalError("chain_sos needs at least one SOS array, got none")
    checked = [_check_sos(s, f"sos[{i}]") for i, s in enumerate(sos)]
    return np.concatenate(checked, axis=0)


def design_filter(
    sfreq: float,
    highpass: float | None = None,
    lowpass: float | None = None,
    notch: float | None = None,
    order: int = 4,
    notch_quality: float = 30.0,
    notch_harmonics: int = 1,
) -> np.ndarray:
    """The usual preprocessing cascade in one SOS: high-pass and/or low-pass (band-pass when both), then notch.

    Parameters
    ----------
    highpass, lowpass
        -3 dB edges in Hz; ``None`` skips that edge.
    notch
        Mains frequency in Hz (with ``notch_harmonics`` multiples), or ``None``.
    """
    if highpass is None and lowpass is None and notch is None:
        raise SignalError("design_filter needs at least one of highpass, lowpass or notch, got none")
    parts: list[np.ndarray] = []
    if highpass is not None and lowpass is not None:
        parts.append(design_bandpass(highpass, lowpass, sfreq, order))
    elif highpass is not None:
        parts.append(design_highpass(highpass, sfreq, order))
    elif lowpass is not None:
        parts.append(design_lowpass(lowpass, sfreq, order))
    if notch is not None:
        parts.append(design_notch(notch, sfreq, notch_quality, notch_harmonics))
    return np.concatenate(parts, axis=0)


def _check_sos(sos: object, name: str = "sos") -> np.ndarray:
    array = np.asarray(sos, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 6 or array.shape[0] < 1:
        raise SignalError(f"{name} must be second-order sections of shape (n_sections, 6), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SignalError(f"{name} contains NaN or infinite coefficients")
    if np.any(array[:, 3] == 0):
        raise SignalError(f"{name} has a section whose a0 coefficient is 0")
    return array


# -- offline application -------------------------------------------------------------------------------------


def min_filtfilt_length(sos: np.ndarray) -> int:
    """Smallest number of samples :func:`filtfilt` accepts for ``sos`` (scipy's default edge padding + 1)."""
    sos = _check_sos(sos)
    # Mirrors scipy.signal.sosfiltfilt: 3 * (2 * n_sections + 1), less sections that are really first order.
    n_taps = 2 * sos.shape[0] + 1
    n_taps -= min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * n_taps + 1


def filtfilt(data: np.ndarray, sos: np.ndarray, sfreq: float | None = None) -> np.ndarray:
    """Zero-phase (forward-backward) filtering along the last axis.

    Parameters
    ----------
    data
        ``(n_channels, n_times)`` or ``(batch, n_channels, n_times)`` samples.
    sos
        ``(n_sections, 6)`` design, e.g. from :func:`design_filter`.
    sfreq
        Only used to express the minimum length in seconds in the error message.

    Raises
    ------
    SignalError
        When ``n_times`` is not longer than the odd-extension padding that scipy applies at each edge.
    """
    array = _signal_array(data)
    sos = _check_sos(sos)
    needed = min_filtfilt_length(sos)
    n_times = array.shape[-1]
    if n_times < needed:
        seconds = f" ({needed / sfreq:.3f} s at {sfreq:g} Hz)" if sfreq else ""
        raise SignalError(
            f"signal of {n_times} samples is too short for zero-phase filtering with {sos.shape[0]} sections: "
            f"it pads {needed - 1} samples at each edge and needs at least {needed} samples{seconds}; "
            f"use a longer signal or CausalFilter"
        )
    out = signal.sosfiltfilt(sos, array.astype(np.float64, copy=False), axis=-1)
    return out.astype(_out_dtype(array), copy=False)


def causal_filter(data: np.ndarray, sos: np.ndarray, steady_state: bool = True) -> np.ndarray:
    """Causal (forward-only) filtering along the last axis, in one call.

    With ``steady_state`` the filter starts as if each channel had held its first sample forever
    (:func:`scipy.signal.sosfilt_zi` scaled by that sample), so a DC offset does not ring at the start;
    without it the state starts at zero, exactly like :func:`scipy.signal.sosfilt`.
    This is the reference that :class:`CausalFilter` reproduces chunk by chunk.
    """
    array = _signal_array(data)
    sos = _check_sos(sos)
    x = array.astype(np.float64, copy=False)
    if steady_state and x.shape[-1] > 0:
        zi = _steady_state_zi(sos, x[..., 0])
        out, _ = signal.sosfilt(sos, x, axis=-1, zi=zi)
    else:
        out = signal.sosfilt(sos, x, axis=-1)
    return out.astype(_out_dtype(array), copy=False)


def _steady_state_zi(sos: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``(n_sections, *first.shape, 2)`` initial state for a signal constant at ``first``."""
    zi = signal.sosfilt_zi(sos)  # (n_sections, 2) for a unit step
    return zi.reshape(zi.shape[0], *([1] * first.ndim), 2) * first[None, ..., None]


# -- streaming -----------------------------------------------------------------------------------------------


class CausalFilter:
    """Stateful causal IIR filter for ``(n_channels, n)`` chunks of a stream.

    Concatenating the outputs of :meth:`process` over any split of a signal into chunks (including empty and
    one-sample chunks) gives :func:`causal_filter` of the whole signal, up to float64 rounding.

    Parameters
    ----------
    sos
        ``(n_sections, 6)`` design, or a sequence of designs applied in turn (e.g. ``[highpass, notch]``).
    n_channels
        Rows of every chunk.
    steady_state
        Initialise the state from the first sample of the stream (see :func:`causal_filter`); otherwise zeros.

    Examples
    --------
    ::

        f = CausalFilter([design_highpass(20, 1000), design_notch(50, 1000)], n_channels=8)
        y = f.process(chunk)  # chunk: (8, n) float32 -> (8, n) float32
    """

    def __init__(
        self,
        sos: np.ndarray | Sequence[np.ndarray],
        n_channels: int,
        steady_state: bool = True,
    ) -> None:
        if isinstance(sos, np.ndarray) and sos.ndim == 2:
            self._sos = _check_sos(sos)
        elif isinstance(sos, np.ndarray) or isinstance(sos, Sequence):
            self._sos = chain_sos(*sos)
        else:
            raise SignalError(f"sos must be an (n_sections, 6) array or a sequence of them, got {type(sos).__name__}")
        self.n_channels = _check_n_channels(n_channels)
        self.steady_state = bool(steady_state)
        self._zi: np.ndarray | None = None
        self.reset()

    @classmethod
    def from_design(
        cls,
        sfreq: float,
        n_channels: int,
        highpass: float | None = None,
        lowpass: float | None = None,
        notch: float | None = None,
        order: int = 4,
        notch_quality: float = 30.0,
        notch_harmonics: int = 1,
        steady_state: bool = True,
    ) -> CausalFilter:
        """A filter for :func:`design_filter`'s cascade (high/low/band-pass then notch)."""
        sos = design_filter(sfreq, highpass, lowpass, notch, order, notch_quality, notch_harmonics)
        return cls(sos, n_channels, steady_state=steady_state)

    @property
    def sos(self) -> np.ndarray:
        """The ``(n_sections, 6)`` cascade (a copy)."""
        return self._sos.copy()

    def reset(self) -> None:
        """Forget the stream: the next chunk is treated as the start of a new signal."""
        if self.steady_state:
            self._zi = None  # set from the first sample that arrives
        else:
            self._zi = np.zeros((self._sos.shape[0], self.n_channels, 2))

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter the next ``(n_channels, n)`` samples; returns ``(n_channels, n)`` in the chunk's float dtype."""
        array = _chunk_array(chunk, self.n_channels)
        out_dtype = _out_dtype(array)
        if array.shape[1] == 0:
            return np.zeros((self.n_channels, 0), dtype=out_dtype)
        x = array.astype(np.float64, copy=False)
        if self._zi is None:
            self._zi = _steady_state_zi(self._sos, x[:, 0])
        out, self._zi = signal.sosfilt(self._sos, x, axis=-1, zi=self._zi)
        return out.astype(out_dtype, copy=False)


# -- Recording convenience -----------------------------------------------------------------------------------


def filter_recording(
    rec: Recording,
    highpass: float | None = None,
    lowpass: float | None = None,
    notch: float | None = None,
    order: int = 4,
    notch_quality: float = 30.0,
    notch_harmonics: int = 1,
    zero_phase: bool = True,
    ch_types: Sequence[str] | None = None,
) -> Recording:
    """A new recording with :func:`design_filter`'s cascade applied to its channels.

    Parameters
    ----------
    zero_phase
        :func:`filtfilt` (offline, no delay) when True, else :func:`causal_filter` with steady-state start.
    ch_types
        Filter only channels of these types (e.g. ``("emg",)`` to leave pose channels alone); all when None.

    The applied step is appended to ``metadata["preprocessing"]`` so that the history travels with the data.
    """
    if not isinstance(rec, Recording):
        raise SignalError(f"rec must be a Recording, got {type(rec).__name__}")
    sos = design_filter(rec.sfreq, highpass, lowpass, notch, order, notch_quality, notch_harmonics)
    rows = list(range(rec.n_channels))
    if ch_types is not None:
        rows = [i for i, t in enumerate(rec.info.ch_types) if t in set(ch_types)]
        if not rows:
            raise SignalError(f"no channel of type {list(ch_types)} to filter; types are {list(rec.info.ch_types)}")
    data = np.array(rec.data, dtype=np.float32)
    subset = data[rows]
    data[rows] = filtfilt(subset, sos, rec.sfreq) if zero_phase else causal_filter(subset, sos)
    step = (
        f"filter(highpass={highpass}, lowpass={lowpass}, notch={notch}, order={order}, "
        f"notch_quality={notch_quality}, notch_harmonics={notch_harmonics}, zero_phase={zero_phase}, "
        f"channels={[rec.info.ch_names[i] for i in rows]})"
    )
    logger.debug("%s on %r", step, rec)
    history = tuple(rec.metadata.get("preprocessing", ())) + (step,)
    return rec.replace(data=data, metadata={**rec.metadata, "preprocessing": history})
