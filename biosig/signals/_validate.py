"""Argument checks shared by the preprocessing modules (filters, resample, normalize, envelope).

Each raises a :class:`~biosig.errors.SignalError` naming the parameter, what is allowed and what arrived.
"""

from __future__ import annotations

import math

import numpy as np

from biosig.errors import SignalError


def _check_sfreq(sfreq: float, name: str = "sfreq") -> float:
    try:
        value = float(sfreq)
    except (TypeError, ValueError):
        raise SignalError(f"{name} must be a positive number of Hz, got {sfreq!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SignalError(f"{name} must be a positive finite number of Hz, got {sfreq!r}")
    return value


def _out_dtype(array: np.ndarray) -> np.dtype:
    """float32 stays float32 (the library's storage type); everything else is returned as float64."""
    return np.dtype(np.float32) if array.dtype == np.float32 else np.dtype(np.float64)


def _signal_array(data: object, name: str = "data", ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """``data`` as a numeric array of an allowed rank, or a :class:`SignalError` naming what arrived."""
    array = np.asarray(data)
    if array.ndim not in ndims:
        shapes = " or ".join({2: "(n_channels, n_times)", 3: "(batch, n_channels, n_times)"}[n] for n in ndims)
        raise SignalError(f"{name} must have shape {shapes}, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise SignalError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def _chunk_array(chunk: object, n_channels: int, name: str = "chunk") -> np.ndarray:
    """A streaming chunk: exactly ``(n_channels, n)`` finite numbers (``n`` may be 0)."""
    array = np.asarray(chunk)
    if array.ndim != 2 or array.shape[0] != n_channels:
        raise SignalError(f"{name} must have shape (n_channels={n_channels}, n_times), got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise SignalError(f"{name} must hold real numbers, got dtype {array.dtype}")
    # A single NaN would poison a recursive state forever, so reject it before the state is touched.
    if array.size and not np.all(np.isfinite(array)):
        raise SignalError(f"{name} contains NaN or infinite samples; streaming state would be corrupted")
    return array


def _check_n_channels(n_channels: int) -> int:
    if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
        raise SignalError(f"n_channels must be a positive integer, got {n_channels!r}")
    return int(n_channels)
