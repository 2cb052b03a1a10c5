"""Synthetic series of the NoTS feature-regression benchmark and their targets.

Generators (NoTS §5, Appendix B.1 not available; every unpublished choice is listed in docs/nots.md):

* :func:`fbm` fractional Brownian motion with a known Hurst index, exact by the Cholesky method: the ``(t, t)``
  covariance of fractional Gaussian noise (fBm's increments) is factorised once per Hurst value and cached, and a
  path is the cumulative sum of ``L @ N(0, I)``. Hurst values are snapped to a grid (``HURST_STEP``) so the cache
  stays small.
* :func:`autocorrelated_sinusoids` sums of ``B`` sinusoids whose frequencies form an autocorrelated sequence drawn
  from an AR(B/2) process, amplitudes ``1/f``, phases U(0, 2 pi], plus ``0.05 N(0, 1)`` noise.

Targets: :func:`slope_sign_changes` (SSC) and :func:`willison_amplitude` (WAMP) per window with *global* thresholds
(one threshold for the whole data set, so the target is a discontinuous function of the signal),
:func:`band_power` (log10 power in equal-width bands of each window: 32 windows x 3 bands = the paper's 96-D), and the Hurst index. :func:`make_regression_data` builds
the two benchmark sets. :func:`estimate_hurst` is a classical estimator (variance of increments across lags).

Series are ``(n_series, n_times)`` float32 arrays, z-scored per series (the paper's units are not given; z-scoring
puts fBm of every H on one scale, and the targets are computed on exactly the arrays the models see).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "HURST_STEP",
    "SINUSOID_ORDERS",
    "RegressionData",
    "autocorrelated_sinusoids",
    "band_power",
    "estimate_hurst",
    "fbm",
    "fgn_cholesky",
    "make_regression_data",
    "slope_sign_changes",
    "willison_amplitude",
]

log = logging.getLogger(__name__)

#: Grid of Hurst values with a cached Cholesky factor.
HURST_STEP = 0.01
#: Numbers of sinusoids B of the paper's five AR(B/2) frequency processes.
SINUSOID_ORDERS = (20, 16, 10, 8, 4)


def _check_count(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=-1, keepdims=True)
    return ((x - x.mean(axis=-1, keepdims=True)) / np.where(std > 0, std, 1.0)).astype(np.float32)


@functools.lru_cache(maxsize=128)
def fgn_cholesky(hurst: float, n_times: int) -> np.ndarray:
    """Lower Cholesky factor ``(n_times, n_times)`` of unit-variance fractional Gaussian noise's covariance.

    ``gamma(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2``. Cached per ``(hurst, n_times)``; the result is read-only.
    """
    if not 0.0 < hurst < 1.0:
        raise ValueError(f"hurst must be in (0, 1), got {hurst!r}")
    n_times = _check_count(n_times, "n_times", 2)
    k = np.arange(n_times, dtype=np.float64)
    h2 = 2.0 * hurst
    gamma = 0.5 * (np.abs(k + 1) ** h2 - 2.0 * k**h2 + np.abs(k - 1) ** h2)
    cov = gamma[np.abs(k[:, None] - k[None, :]).astype(np.int64)]  # Toeplitz (t, t)
    factor = np.linalg.cholesky(cov)
    factor.setflags(write=False)
    return factor


def fbm(hurst: np.ndarray | float, n_times: int, rng: np.random.Generator, n_series: int = 1) -> np.ndarray:
    """Fractional Brownian motion paths ``(n_series, n_times)`` (float64, unit-variance increments, not z-scored).

    ``hurst`` is one value or ``(n_series,)`` values in (0, 1); each is snapped to the ``HURST_STEP`` grid (read
    back the grid values with ``np.round(hurst / HURST_STEP) * HURST_STEP``). The path starts at the first
    increment (B(0) = 0 is not included).
    """
    n_times = _check_count(n_times, "n_times", 2)
    h = np.broadcast_to(np.asarray(hurst, dtype=np.float64), (_check_count(n_series, "n_series"),))
    if not np.all((h > 0) & (h < 1)):
        raise ValueError(f"hurst values must be in (0, 1), got range [{h.min()}, {h.max()}]")
    grid = np.round(h / HURST_STEP).astype(np.int64)
    out = np.empty((len(h), n_times))
    for g in np.unique(grid):
        rows = np.flatnonzero(grid == g)
        factor = fgn_cholesky(round(float(g * HURST_STEP), 10), n_times)
        noise = rng.standard_normal((n_times, len(rows)))
        out[rows] = np.cumsum(factor @ noise, axis=0).T  # increments -> path
    return out


def _ar_coefficients(order: int, rng: np.random.Generator) -> np.ndarray:
    """Coefficients of a random stable AR(order) process: poles drawn inside the disc of radius 0.95."""
    n_pairs, single = divmod(order, 2)
    radius = rng.uniform(0.3, 0.95, n_pairs)
    angle = rng.uniform(0.0, np.pi, n_pairs)
    poles = np.concatenate([radius * np.exp(1j * angle), radius * np.exp(-1j * angle), rng.uniform(-0.9, 0.9, single)])
    return -np.real(np.poly(poles))[1:]  # x_t = sum_j a_j x_{t-j} + e_t


def autocorrelated_sinusoids(
    n_series: int,
    n_times: int,
    n_sinusoids: int,
    rng: np.random.Generator,
    noise: float = 0.05,
    f_min: float | None = None,
    f_max: float = 0.25,
) -> np.ndarray:
    """Sums of ``n_sinusoids`` sinusoids ``(n_series, n_times)`` (float64, not z-scored).

    The ``B = n_sinusoids`` frequencies of a series are an AR(B/2) sequence (one random stable process per call,
    so a call is one of the paper's five processes), mapped into ``[f_min, f_max]`` cycles/sample through a
    logistic function; ``f_min`` defaults to 2 cycles per window. Amplitudes are ``1/f`` (f in cycles per window),
    phases U(0, 2 pi], and ``noise * N(0, 1)`` is added.
    """
    n_series = _check_count(n_series, "n_series")
    n_times = _check_count(n_times, "n_times", 2)
    n_sin = _check_count(n_sinusoids, "n_sinusoids", 2)
    f_lo = 2.0 / n_times if f_min is None else f_min
    if not 0.0 < f_lo < f_max <= 0.5:
        raise ValueError(f"need 0 < f_min < f_max <= 0.5 cycles/sample, got f_min={f_lo}, f_max={f_max}")
    coef = _ar_coefficients(n_sin // 2, rng)
    p = len(coef)
    burn = 50
    z = np.zeros((n_series, burn + n_sin))
    eps = rng.standard_normal((n_series, burn + n_sin))
    for i in range(burn + n_sin):
        past = z[:, max(0, i - p) : i][:, ::-1]  # (n, <=p), most recent first
        z[:, i] = past @ coef[: past.shape[1]] + eps[:, i]
    z = z[:, burn:]  # (n, B): autocorrelated along the sequence of sinusoids
    z = (z - z.mean()) / z.std()
    freqs = f_lo + (f_max - f_lo) / (1.0 + np.exp(-z))  # (n, B) cycles/sample
    phases = rng.uniform(0.0, 2.0 * np.pi, (n_series, n_sin))
    amps = 1.0 / (freqs * n_times)  # 1/f, f in cycles per window
    t = np.arange(n_times)
    x = np.einsum("nb,nbt->nt", amps, np.sin(2.0 * np.pi * freqs[..., None] * t + phases[..., None]))
    return x + noise * rng.standard_normal((n_series, n_times))


# ---------------------------------------------------------------------------------------------------------------------
# Targets


def _windows(x: np.ndarray, n_windows: int) -> np.ndarray:
    """``(n, t)`` -> ``(n, n_windows, t / n_windows)``; ``t`` must divide evenly."""
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n_series, n_times), got {x.shape}")
    n_windows = _check_count(n_windows, "n_windows")
    if x.shape[1] % n_windows or x.shape[1] // n_windows < 3:
        raise ValueError(
            f"n_times={x.shape[1]} must split into n_windows={n_windows} windows of at least 3 samples each"
        )
    return x.reshape(x.shape[0], n_windows, -1)


def slope_sign_changes(x: np.ndarray, n_windows: int, threshold: float) -> np.ndarray:
    """SSC per window ``(n, n_windows)``: count of samples ``i`` with ``(x_i - x_{i-1}) (x_i - x_{i+1}) >= threshold``.

    Only samples with both neighbours inside the window count (``t / n_windows - 2`` candidates per window).
    """
    w = _windows(x, n_windows)
    prod = (w[..., 1:-1] - w[..., :-2]) * (w[..., 1:-1] - w[..., 2:])
    return (prod >= threshold).sum(axis=-1).astype(np.float32)


def willison_amplitude(x: np.ndarray, n_windows: int, threshold: float) -> np.ndarray:
    """WAMP per window ``(n, n_windows)``: count of ``|x_{i+1} - x_i| >= threshold`` for pairs inside the window."""
    w = _windows(x, n_windows)
    return (np.abs(np.diff(w, axis=-1)) >= threshold).sum(axis=-1).astype(np.float32)


def band_power(x: np.ndarray, n_bands: int, n_windows: int = 1) -> np.ndarray:
    """``(n, n_windows * n_bands)`` log10 mean periodogram power per window in ``n_bands`` equal-width bands.

    Each window's periodogram (mean removed, rfft bins 1..w/2: DC excluded) is split into ``n_bands`` contiguous
    groups of (nearly) equal size, at least one bin each; the output is window-major (window 0's bands first).
    """
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n_series, n_times), got {x.shape}")
    n_bands = _check_count(n_bands, "n_bands")
    w = _windows(x, n_windows)  # (n, W, s)
    spec = np.abs(np.fft.rfft(w - w.mean(axis=-1, keepdims=True), axis=-1)[..., 1:]) ** 2 / w.shape[-1]
    if spec.shape[-1] < n_bands:
        raise ValueError(
            f"windows of {w.shape[-1]} samples give {spec.shape[-1]} frequency bins, fewer than n_bands={n_bands}"
        )
    edges = np.linspace(0, spec.shape[-1], n_bands + 1).round().astype(np.int64)
    power = np.add.reduceat(spec, edges[:-1], axis=-1) / np.diff(edges)  # (n, W, n_bands)
    return np.log10(power + 1e-12).reshape(len(x), -1).astype(np.float32)


def estimate_hurst(x: np.ndarray, lags: tuple[int, ...] = (1, 2, 4, 8, 16)) -> np.ndarray:
    """Classical Hurst estimate ``(n,)`` of fBm paths ``(n, t)``: ``Var(x_{i+m} - x_i) ~ m^{2H}``, fitted in log-log.

    Scale-free (z-scoring a path does not change it). Used to validate :func:`fbm` and as a reference row.
    """
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n_series, n_times), got {x.shape}")
    if max(lags) >= x.shape[1]:
        raise ValueError(f"largest lag {max(lags)} must be below n_times={x.shape[1]}")
    logv = np.stack([np.log((x[:, m:] - x[:, :-m]).var(axis=1)) for m in lags], axis=1)  # (n, lags)
    logm = np.log(np.asarray(lags, dtype=np.float64))
    slope = ((logv - logv.mean(1, keepdims=True)) * (logm - logm.mean())).sum(1) / ((logm - logm.mean()) ** 2).sum()
    return slope / 2.0


# ---------------------------------------------------------------------------------------------------------------------
# The benchmark data


@dataclass(frozen=True)
class RegressionData:
    """One synthetic family: ``x`` ``(n, t)`` float32 z-scored series and ``targets`` name -> ``(n, q)`` float32.

    ``thresholds`` holds the global SSC/WAMP thresholds used (in z-score units); ``kind`` is 'fbm' or 'sinusoid'.
    """

    kind: str
    x: np.ndarray
    targets: dict[str, np.ndarray]
    thresholds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, y in self.targets.items():
            if y.ndim != 2 or y.shape[0] != self.x.shape[0]:
                raise ValueError(f"target {name!r} has shape {y.shape}; expected ({self.x.shape[0]}, q)")


def _global_thresholds(x: np.ndarray) -> dict[str, float]:
    """SSC and WAMP thresholds for a data set: medians of the pooled statistics (half the candidates pass)."""
    d = np.diff(x, axis=1)
    prod = -d[:, 1:] * d[:, :-1]  # (x_i - x_{i-1}) (x_i - x_{i+1}) for every interior sample
    return {"ssc": float(np.median(prod[prod > 0])), "wamp": float(np.median(np.abs(d)))}


def make_regression_data(
    n_fbm: int,
    n_sinusoid: int,
    n_times: int,
    seed: int = 0,
    *,
    n_windows: int = 32,
    n_bands: int = 3,
    hurst_range: tuple[float, float] = (0.05, 0.95),
) -> tuple[RegressionData, RegressionData]:
    """The two families of NoTS Table 1: fBm (targets hurst, ssc, wamp) and sinusoids (ssc, wamp, band_power).

    ``n_sinusoid`` series are split evenly across the five AR processes (:data:`SINUSOID_ORDERS`); series are
    shuffled within a family. SSC/WAMP thresholds are set per family from the data (see ``_global_thresholds``)
    and are the same for every series of that family.
    """
    n_fbm = _check_count(n_fbm, "n_fbm")
    n_sinusoid = _check_count(n_sinusoid, "n_sinusoid", len(SINUSOID_ORDERS))
    rng = np.random.default_rng(seed)
    lo, hi = hurst_range
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"hurst_range must satisfy 0 < low < high < 1, got {hurst_range}")
    hurst = np.round(rng.uniform(lo, hi, n_fbm) / HURST_STEP) * HURST_STEP
    xf = _zscore(fbm(hurst, n_times, rng, n_fbm))
    thr_f = _global_thresholds(xf)
    fbm_data = RegressionData(
        "fbm",
        xf,
        {
            "hurst": hurst[:, None].astype(np.float32),
            "ssc": slope_sign_changes(xf, n_windows, thr_f["ssc"]),
            "wamp": willison_amplitude(xf, n_windows, thr_f["wamp"]),
        },
        thr_f,
    )
    per = np.diff(np.linspace(0, n_sinusoid, len(SINUSOID_ORDERS) + 1).round().astype(int))
    xs = np.concatenate([autocorrelated_sinusoids(k, n_times, b, rng) for k, b in zip(per, SINUSOID_ORDERS)])
    xs = _zscore(xs[rng.permutation(len(xs))])
    thr_s = _global_thresholds(xs)
    sin_data = RegressionData(
        "sinusoid",
        xs,
        {
            "ssc": slope_sign_changes(xs, n_windows, thr_s["ssc"]),
            "wamp": willison_amplitude(xs, n_windows, thr_s["wamp"]),
            "band_power": band_power(xs, n_bands, n_windows),
        },
        thr_s,
    )
    log.info("regression data: %d fBm + %d sinusoid series of %d samples", n_fbm, n_sinusoid, n_times)
    return fbm_data, sin_data
