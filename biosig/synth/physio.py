"""Seeded synthetic physiological recordings from NeuroKit2's simulators, with labels.

Each function turns one NeuroKit2 simulator into a :class:`~biosig.signals.Recording` in the library's units,
with events as annotations (seconds from the first sample):

=========  ===================  =====  =====================================================================
function   NeuroKit2            unit   annotations / labels
=========  ===================  =====  =====================================================================
ECG        ``ecg_simulate``     V      ``"R"`` at R peaks (``nk.ecg_peaks`` on the cleaned signal)
PPG        ``ppg_simulate``     a.u.   ``"systolic_peak"`` (``nk.ppg_findpeaks`` on the cleaned signal)
RSP        ``rsp_simulate``     a.u.   ``"breath_peak"`` (end of inhalation), ``"breath_trough"`` (end of
                                       exhalation), found with a rate-aware ``scipy.signal.find_peaks``
EDA        ``eda_simulate``     S      ``"scr_peak"`` (``nk.eda_peaks`` on the phasic component)
EMG        ``emg_simulate``     V      per-sample labels 0 = ``"rest"``, 1 = ``"burst"``; ``"burst"`` events
=========  ===================  =====  =====================================================================

Units: NeuroKit2's ECG is in millivolts (R peak about 1 mV) and is scaled by 1e-3 to volts. Its EMG has no
physical unit (bursts of uniform noise of amplitude 1 on a 0.08 offset); we read it as millivolts too, which
gives surface-EMG-like amplitudes of about 1 mV, and scale by 1e-3. EDA is in microsiemens and is scaled by
1e-6 to siemens. PPG and respiration have no physical unit in NeuroKit2 and stay ``"a.u."``.

Everything is a function of ``seed``: the same seed gives bit-identical arrays, different seeds differ.
Simulation cost is dominated by ECGSYN (about 50 ms for 10 s); the others take a few milliseconds.

:func:`simulate_physio_dataset` generates a class-balanced set of multimodal recordings whose class is a
physiological state (``"rest"`` vs ``"exercise"`` by default) that changes heart rate, respiratory rate,
skin-conductance responses and PPG motion artefact, so a classifier has a real effect to learn.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import find_peaks

from biosig.errors import SignalError
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Annotations, Recording

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_STATES",
    "EXERCISE",
    "REST",
    "PhysioState",
    "simulate_ecg",
    "simulate_eda",
    "simulate_emg",
    "simulate_physio",
    "simulate_physio_dataset",
    "simulate_ppg",
    "simulate_rsp",
]

MV_TO_V = 1e-3
US_TO_S = 1e-6


def _nk() -> Any:
    # neurokit2 pulls in pandas/matplotlib-sized imports; load it when a simulator is first used.
    import neurokit2 as nk

    return nk


# -- validation ----------------------------------------------------------------------------------------------


def _n_times(duration: float, sfreq: float) -> int:
    for name, value in (("duration", duration), ("sfreq", sfreq)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise SignalError(f"{name} must be a positive finite number, got {value!r}")
    n = duration * sfreq
    if abs(n - round(n)) > 1e-6:
        raise SignalError(
            f"duration * sfreq must be a whole number of samples, got {duration:g} s * {sfreq:g} Hz = {n:g}"
        )
    if round(n) < 2:
        raise SignalError(f"duration * sfreq must give at least 2 samples, got {round(n)}")
    if not float(sfreq).is_integer():
        # NeuroKit2 builds some templates with `9 * sampling_rate` samples and fails on fractional rates.
        raise SignalError(f"sfreq must be a whole number of Hz for the NeuroKit2 simulators, got {sfreq:g}")
    return int(round(n))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SignalError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_positive(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise SignalError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _child_seeds(seed: int, n: int) -> list[int]:
    """Independent 32-bit seeds for ``n`` simulators, all derived from ``seed``."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def _events(sfreq: float, detector: Callable[[], dict[str, np.ndarray]], what: str, warnings: list[str]) -> Annotations:
    """Annotations from ``detector() -> {description: sample indices}``; a failing detector leaves a note.

    NeuroKit2's detectors can raise on very short signals; the recording is still valid without its events,
    so the failure is logged and recorded in ``metadata["annotation_warnings"]`` instead of aborting.
    """
    try:
        found = detector()
    except Exception as exc:  # noqa: BLE001 - third-party detectors raise anything (IndexError, ValueError...)
        message = f"{what} detection failed ({type(exc).__name__}: {exc}); no {what} annotations"
        logger.warning(message)
        warnings.append(message)
        return Annotations()
    onsets, descriptions = [], []
    for description, samples in found.items():
        samples = np.asarray(samples, dtype=np.int64)
        onsets.extend((samples / sfreq).tolist())
        descriptions.extend([description] * len(samples))
    order = np.argsort(onsets, kind="stable")
    return Annotations(np.asarray(onsets)[order], np.zeros(len(onsets)), tuple(descriptions[i] for i in order))


def _merge(annotations: Sequence[Annotations]) -> Annotations:
    onset = np.concatenate([a.onset for a in annotations])
    duration = np.concatenate([a.duration for a in annotations])
    description = [d for a in annotations for d in a.description]
    order = np.argsort(onset, kind="stable")
    return Annotations(onset[order], duration[order], tuple(description[i] for i in order))


def _recording(
    data: np.ndarray, sfreq: float, name: str, ch_type: str, annotations: Annotations, metadata: dict[str, Any]
) -> Recording:
    info = SignalInfo(sfreq=sfreq, ch_names=(name,), ch_types=(ch_type,))
    return Recording(data=data[None, :].astype(np.float32), info=info, annotations=annotations, metadata=metadata)


# -- single modalities ---------------------------------------------------------------------------------------


def _ecg(
    duration: float,
    sfreq: float,
    heart_rate: float,
    heart_rate_std: float,
    noise: float,
    method: str,
    seed: int,
    warnings: list[str],
) -> tuple[np.ndarray, Annotations]:
    nk = _nk()
    n = _n_times(duration, sfreq)
    if method not in ("ecgsyn", "simple"):
        raise SignalError(f"method must be 'ecgsyn' or 'simple', got {method!r}")
    mv = nk.ecg_simulate(
        duration=duration,
        length=n,
        sampling_rate=int(sfreq),
        noise=noise,
        heart_rate=heart_rate,
        heart_rate_std=heart_rate_std,
        method=method,
        random_state=seed,
    )

    def detect() -> dict[str, np.ndarray]:
        _, info = nk.ecg_peaks(nk.ecg_clean(mv, sampling_rate=int(sfreq)), sampling_rate=int(sfreq))
        return {"R": info["ECG_R_Peaks"]}

    return np.asarray(mv) * MV_TO_V, _events(sfreq, detect, "R-peak", warnings)


def simulate_ecg(
    duration: float = 10.0,
    sfreq: float = 250.0,
    heart_rate: float = 70.0,
    heart_rate_std: float = 1.0,
    noise: float = 0.01,
    method: str = "ecgsyn",
    seed: int = 0,
) -> Recording:
    """One-lead ECG in volts with ``"R"`` annotations at the R peaks.

    Parameters
    ----------
    duration, sfreq
        Length in seconds and rate in Hz; their product must be a whole number of samples.
    heart_rate, heart_rate_std
        Mean and standard deviation of the heart rate in beats per minute.
    noise
        Amplitude of NeuroKit2's added noise, in millivolts.
    method
        ``"ecgsyn"`` (McSharry's dynamical model, with heart-rate variability) or ``"simple"`` (wavelet
        template, faster).
    """
    seed = _check_seed(seed)
    _check_positive("heart_rate", heart_rate)
    warnings: list[str] = []
    data, ann = _ecg(duration, sfreq, heart_rate, heart_rate_std, noise, method, seed, warnings)
    meta = {
        "source": "neurokit2.ecg_simulate",
        "seed": seed,
        "heart_rate": heart_rate,
        "method": method,
        "annotation_warnings": tuple(warnings),
    }
    return _recording(data, sfreq, "ECG", "ecg", ann, meta)


def _ppg(
    duration: float, sfreq: float, heart_rate: float, motion_amplitude: float, seed: int, warnings: list[str]
) -> tuple[np.ndarray, Annotations]:
    nk = _nk()
    n = _n_times(duration, sfreq)
    ppg = np.asarray(
        nk.ppg_simulate(
            duration=duration,
            sampling_rate=int(sfreq),
            heart_rate=heart_rate,
            motion_amplitude=motion_amplitude,
            random_state=seed,
        )
    )
    if len(ppg) != n:  # ppg_simulate has no `length` argument; guard against its own rounding
        raise SignalError(f"neurokit2.ppg_simulate returned {len(ppg)} samples, expected {n}")

    def detect() -> dict[str, np.ndarray]:
        cleaned = nk.ppg_clean(ppg, sampling_rate=int(sfreq))
        return {"systolic_peak": nk.ppg_findpeaks(cleaned, sampling_rate=int(sfreq))["PPG_Peaks"]}

    return ppg, _events(sfreq, detect, "systolic-peak", warnings)


def simulate_ppg(
    duration: float = 10.0,
    sfreq: float = 100.0,
    heart_rate: float = 70.0,
    motion_amplitude: float = 0.1,
    seed: int = 0,
) -> Recording:
    """Photoplethysmogram (a.u.) with ``"systolic_peak"`` annotations; ``heart_rate`` in beats per minute."""
    seed = _check_seed(seed)
    _check_positive("heart_rate", heart_rate)
    warnings: list[str] = []
    data, ann = _ppg(duration, sfreq, heart_rate, motion_amplitude, seed, warnings)
    meta = {
        "source": "neurokit2.ppg_simulate",
        "seed": seed,
        "heart_rate": heart_rate,
        "annotation_warnings": tuple(warnings),
    }
    return _recording(data, sfreq, "PPG", "ppg", ann, meta)


def _breaths(rsp: np.ndarray, sfreq: float, respiratory_rate: float) -> dict[str, np.ndarray]:
    # NeuroKit2's rsp_peaks raises IndexError on short signals; knowing the rate, scipy's find_peaks with a
    # minimum spacing of half a breath and a prominence of 30% of the signal's range is robust.
    distance = max(1.0, 0.5 * 60.0 / respiratory_rate * sfreq)
    prominence = 0.3 * float(np.percentile(rsp, 95) - np.percentile(rsp, 5))
    peaks, _ = find_peaks(rsp, distance=distance, prominence=prominence)
    troughs, _ = find_peaks(-rsp, distance=distance, prominence=prominence)
    return {"breath_peak": peaks, "breath_trough": troughs}


def _rsp(
    duration: float, sfreq: float, respiratory_rate: float, noise: float, method: str, seed: int, warnings: list[str]
) -> tuple[np.ndarray, Annotations]:
    nk = _nk()
    n = _n_times(duration, sfreq)
    if method not in ("breathmetrics", "sinusoidal"):
        raise SignalError(f"method must be 'breathmetrics' or 'sinusoidal', got {method!r}")
    # The breathmetrics model draws int(rate * duration) breaths of random length and can fall short of the
    # requested length (it then returns fewer samples); simulate 50% + 2 breaths more and crop.
    extra = int(math.ceil((0.5 * duration + 2 * 60.0 / respiratory_rate) * sfreq))
    rsp = np.asarray(
        nk.rsp_simulate(
            duration=(n + extra) / sfreq,
            length=n + extra,
            sampling_rate=int(sfreq),
            noise=noise,
            respiratory_rate=respiratory_rate,
            method=method,
            random_state=seed,
        )
    )[:n]
    if len(rsp) != n:
        raise SignalError(f"neurokit2.rsp_simulate returned {len(rsp)} samples, expected at least {n}")
    return rsp, _events(sfreq, lambda: _breaths(rsp, sfreq, respiratory_rate), "breath", warnings)


def simulate_rsp(
    duration: float = 30.0,
    sfreq: float = 100.0,
    respiratory_rate: float = 15.0,
    noise: float = 0.01,
    method: str = "breathmetrics",
    seed: int = 0,
) -> Recording:
    """Respiration (a.u.) with ``"breath_peak"``/``"breath_trough"`` annotations; rate in breaths per minute."""
    seed = _check_seed(seed)
    _check_positive("respiratory_rate", respiratory_rate)
    warnings: list[str] = []
    data, ann = _rsp(duration, sfreq, respiratory_rate, noise, method, seed, warnings)
    meta = {
        "source": "neurokit2.rsp_simulate",
        "seed": seed,
        "respiratory_rate": respiratory_rate,
        "method": method,
        "annotation_warnings": tuple(warnings),
    }
    return _recording(data, sfreq, "RESP", "resp", ann, meta)


def _eda(
    duration: float, sfreq: float, scr_number: int, drift: float, noise: float, seed: int, warnings: list[str]
) -> tuple[np.ndarray, Annotations]:
    nk = _nk()
    n = _n_times(duration, sfreq)
    if isinstance(scr_number, bool) or not isinstance(scr_number, (int, np.integer)) or scr_number < 0:
        raise SignalError(f"scr_number must be a non-negative integer, got {scr_number!r}")
    us = np.asarray(
        nk.eda_simulate(
            duration=duration,
            length=n,
            sampling_rate=int(sfreq),
            noise=noise,
            scr_number=int(scr_number),
            drift=drift,
            random_state=seed,
        )
    )

    def detect() -> dict[str, np.ndarray]:
        rate = int(sfreq)
        phasic = nk.eda_phasic(nk.eda_clean(us, sampling_rate=rate), sampling_rate=rate)["EDA_Phasic"]
        _, info = nk.eda_peaks(phasic.to_numpy(), sampling_rate=rate)
        return {"scr_peak": np.asarray(info["SCR_Peaks"])}

    ann = _events(sfreq, detect, "SCR", warnings) if scr_number > 0 else Annotations()
    return us * US_TO_S, ann


def simulate_eda(
    duration: float = 10.0,
    sfreq: float = 100.0,
    scr_number: int = 1,
    drift: float = -0.01,
    noise: float = 0.01,
    seed: int = 0,
) -> Recording:
    """Electrodermal activity in siemens with ``"scr_peak"`` annotations at skin-conductance responses."""
    seed = _check_seed(seed)
    warnings: list[str] = []
    data, ann = _eda(duration, sfreq, scr_number, drift, noise, seed, warnings)
    meta = {
        "source": "neurokit2.eda_simulate",
        "seed": seed,
        "scr_number": scr_number,
        "annotation_warnings": tuple(warnings),
    }
    return _recording(data, sfreq, "EDA", "eda", ann, meta)


def simulate_emg(
    duration: float = 10.0,
    sfreq: float = 1000.0,
    n_channels: int = 1,
    burst_number: int = 2,
    burst_duration: float = 1.0,
    noise: float = 0.01,
    seed: int = 0,
) -> Recording:
    """Surface EMG in volts with bursts of activity and per-sample labels (0 ``"rest"``, 1 ``"burst"``).

    NeuroKit2 places ``burst_number`` bursts of ``burst_duration`` seconds evenly, with equal rest periods
    before, between and after them; every channel shares that timing (one muscle contraction seen by several
    electrodes) but has its own noise and a gain in [0.5, 1.5] (electrode coupling). The simulator builds
    the signal at 1000 Hz and interpolates it to ``sfreq``, so there is no content above 500 Hz.
    """
    seed = _check_seed(seed)
    n = _n_times(duration, sfreq)
    if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
        raise SignalError(f"n_channels must be a positive integer, got {n_channels!r}")
    if isinstance(burst_number, bool) or not isinstance(burst_number, (int, np.integer)) or burst_number < 0:
        raise SignalError(f"burst_number must be a non-negative integer, got {burst_number!r}")
    _check_positive("burst_duration", burst_duration)
    if burst_number * burst_duration >= duration:
        raise SignalError(
            f"{burst_number} bursts of {burst_duration:g} s do not fit with rest between them in {duration:g} s"
        )
    nk = _nk()
    seeds = _child_seeds(seed, n_channels + 1)
    gains = np.random.default_rng(seeds[0]).uniform(0.5, 1.5, size=n_channels)
    data = (
        np.stack(
            [
                np.asarray(
                    nk.emg_simulate(
                        duration=duration,
                        length=n,
                        sampling_rate=int(sfreq),
                        noise=noise,
                        burst_number=int(burst_number),
                        burst_duration=burst_duration,
                        random_state=seeds[1 + c],
                    )
                )
                for c in range(n_channels)
            ]
        )
        * gains[:, None]
        * MV_TO_V
    )

    # Rebuild NeuroKit2's layout at its internal 1000 Hz (same integer truncations), then map it to sfreq.
    burst_len = int(1000 * burst_duration)
    quiet_len = int(1000 * (duration - burst_number * burst_duration) / (burst_number + 1))
    base = np.zeros(quiet_len * (burst_number + 1) + burst_len * burst_number, dtype=np.int64)
    onsets = [(k + 1) * quiet_len + k * burst_len for k in range(burst_number)]
    for start in onsets:
        base[start : start + burst_len] = 1
    # neurokit's signal_resample maps sample i of the 1000-Hz layout to i * n / len(base).
    labels = base[np.minimum((np.arange(n) * len(base) / n).astype(np.int64), len(base) - 1)]
    annotations = Annotations(
        np.asarray(onsets, dtype=np.float64) * n / len(base) / sfreq,
        np.full(burst_number, burst_len * n / len(base) / sfreq),
        ("burst",) * burst_number,
    )
    info = SignalInfo.uniform(n_channels, sfreq, "emg", prefix="EMG")
    meta = {
        "source": "neurokit2.emg_simulate",
        "seed": seed,
        "burst_number": burst_number,
        "burst_duration": burst_duration,
        "gains": tuple(float(g) for g in gains),
    }
    return Recording(
        data=data.astype(np.float32),
        info=info,
        labels=labels,
        label_names={0: "rest", 1: "burst"},
        annotations=annotations,
        metadata=meta,
    )


# -- multimodal recordings and the labelled dataset -----------------------------------------------------------


@dataclass(frozen=True)
class PhysioState:
    """A physiological state as ranges that each simulated recording draws its parameters from (uniformly).

    Parameters
    ----------
    name
        Class name (``"rest"``).
    heart_rate, respiratory_rate
        ``(low, high)`` in beats and breaths per minute.
    scr_per_minute
        ``(low, high)`` rate of skin-conductance responses; the count per recording is rounded.
    ppg_motion
        ``(low, high)`` amplitude of NeuroKit2's PPG motion artefact.
    """

    name: str
    heart_rate: tuple[float, float]
    respiratory_rate: tuple[float, float]
    scr_per_minute: tuple[float, float]
    ppg_motion: tuple[float, float]

    def __post_init__(self) -> None:
        if not self.name:
            raise SignalError("PhysioState name must be a non-empty string")
        for field_name in ("heart_rate", "respiratory_rate", "scr_per_minute", "ppg_motion"):
            low, high = getattr(self, field_name)
            if not (0 <= low <= high and math.isfinite(high)):
                raise SignalError(
                    f"PhysioState {field_name} must be (low, high) with 0 <= low <= high, got {(low, high)}"
                )
        if self.heart_rate[0] <= 0 or self.respiratory_rate[0] <= 0:
            raise SignalError("PhysioState heart_rate and respiratory_rate must be above 0")


REST = PhysioState("rest", heart_rate=(55, 75), respiratory_rate=(10, 15), scr_per_minute=(0, 3), ppg_motion=(0, 0.05))
EXERCISE = PhysioState(
    "exercise", heart_rate=(110, 150), respiratory_rate=(22, 32), scr_per_minute=(6, 12), ppg_motion=(0.1, 0.3)
)
DEFAULT_STATES: tuple[PhysioState, ...] = (REST, EXERCISE)


def simulate_physio(
    duration: float = 10.0,
    sfreq: float = 100.0,
    heart_rate: float = 70.0,
    respiratory_rate: float = 15.0,
    scr_number: int = 1,
    ppg_motion: float = 0.1,
    seed: int = 0,
) -> Recording:
    """A 4-channel recording (ECG in V, PPG a.u., RESP a.u., EDA in S) of one person in one state.

    ECG and PPG share ``heart_rate``; every modality's events are merged into the annotations (see the
    module docstring for their names). Each modality gets its own seed derived from ``seed``.
    """
    seed = _check_seed(seed)
    _check_positive("heart_rate", heart_rate)
    _check_positive("respiratory_rate", respiratory_rate)
    s_ecg, s_ppg, s_rsp, s_eda = _child_seeds(seed, 4)
    warnings: list[str] = []
    ecg, a_ecg = _ecg(duration, sfreq, heart_rate, 1.0, 0.01, "ecgsyn", s_ecg, warnings)
    ppg, a_ppg = _ppg(duration, sfreq, heart_rate, ppg_motion, s_ppg, warnings)
    rsp, a_rsp = _rsp(duration, sfreq, respiratory_rate, 0.01, "breathmetrics", s_rsp, warnings)
    eda, a_eda = _eda(duration, sfreq, scr_number, -0.01, 0.01, s_eda, warnings)
    info = SignalInfo(sfreq=sfreq, ch_names=("ECG", "PPG", "RESP", "EDA"), ch_types=("ecg", "ppg", "resp", "eda"))
    meta = {
        "source": "neurokit2",
        "seed": seed,
        "heart_rate": heart_rate,
        "respiratory_rate": respiratory_rate,
        "scr_number": scr_number,
        "ppg_motion": ppg_motion,
        "annotation_warnings": tuple(warnings),
    }
    return Recording(
        data=np.stack([ecg, ppg, rsp, eda]).astype(np.float32),
        info=info,
        annotations=_merge([a_ecg, a_ppg, a_rsp, a_eda]),
        metadata=meta,
    )


def simulate_physio_dataset(
    n_per_class: int = 8,
    duration: float = 10.0,
    sfreq: float = 100.0,
    seed: int = 0,
    states: Sequence[PhysioState] = DEFAULT_STATES,
) -> list[Recording]:
    """``n_per_class`` recordings of each state, labelled by state.

    Every recording carries per-sample ``labels`` equal to its state's index in ``states`` (all samples),
    ``label_names`` ``{index: name}``, and ``metadata["condition"]`` plus the drawn parameters. Recordings
    come grouped by state, in ``states`` order. About 0.1 s of simulation per 10-s recording.
    """
    seed = _check_seed(seed)
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise SignalError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    states = tuple(states)
    if not states or not all(isinstance(s, PhysioState) for s in states):
        raise SignalError(f"states must be a non-empty sequence of PhysioState, got {states!r}")
    names = [s.name for s in states]
    if len(set(names)) != len(names):
        raise SignalError(f"state names must be unique, got {names}")
    n = _n_times(duration, sfreq)
    label_names = dict(enumerate(names))
    rng = np.random.default_rng(seed)
    recordings = []
    for index, state in enumerate(states):
        for _ in range(n_per_class):
            heart_rate = float(rng.uniform(*state.heart_rate))
            respiratory_rate = float(rng.uniform(*state.respiratory_rate))
            scr_number = int(round(rng.uniform(*state.scr_per_minute) * duration / 60.0))
            ppg_motion = float(rng.uniform(*state.ppg_motion))
            rec_seed = int(rng.integers(0, 2**31 - 1))
            rec = simulate_physio(duration, sfreq, heart_rate, respiratory_rate, scr_number, ppg_motion, rec_seed)
            recordings.append(
                rec.replace(
                    labels=np.full(n, index, dtype=np.int64),
                    label_names=label_names,
                    metadata={**rec.metadata, "condition": state.name},
                )
            )
    logger.debug("simulated %d physio recordings of %g s for states %s", len(recordings), duration, names)
    return recordings
