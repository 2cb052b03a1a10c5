"""Gesture timelines: when each prompted gesture starts, is held and released, and the activations it drives.

A session alternates rest and gestures. Each gesture is a minimum-jerk ramp from the resting activation to
the gesture's pattern, a hold of variable length, and a minimum-jerk release back to rest. Prompts cycle
through the stage's gestures in shuffled blocks, so every gesture appears about equally often.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal

from biosig.synth.hand.config import SynthConfig
from biosig.synth.hand.gestures import GESTURE_NAMES, check_gesture_names
from biosig.synth.hand.kinematics import minimum_jerk

#: Phase codes of :meth:`Timeline.phases`.
PHASE_REST, PHASE_ONSET, PHASE_HOLD, PHASE_RELEASE = 0, 1, 2, 3
PHASE_NAMES = {PHASE_REST: "rest", PHASE_ONSET: "onset", PHASE_HOLD: "hold", PHASE_RELEASE: "release"}

#: Spreads (at motor_variability 1) of the repetition-to-repetition variation of a gesture.
AMPLITUDE_SD = 0.08  # overall intensity of one repetition
PATTERN_SD = 0.08  # per-muscle deviation from the learnt pattern within one repetition
FLUCTUATION_SD = 0.05  # slow (< 2 Hz) multiplicative wander of every muscle's drive
FLUCTUATION_HZ = 2.0


@dataclass(frozen=True)
class GestureSegment:
    """One prompted gesture, in seconds from the session start: ``onset <= hold_onset <= hold_offset <= offset``."""

    gesture: str
    onset: float
    hold_onset: float
    hold_offset: float
    offset: float
    amplitude: float = 1.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields; floats are kept exact (JSON round-trips float64), so a timeline can be replayed."""
        return {
            "gesture": self.gesture,
            "onset": self.onset,
            "hold_onset": self.hold_onset,
            "hold_offset": self.hold_offset,
            "offset": self.offset,
            "amplitude": self.amplitude,
        }


@dataclass(frozen=True)
class Timeline:
    """The gesture segments of a session of ``duration_s`` seconds; between segments the hand rests."""

    segments: tuple[GestureSegment, ...]
    duration_s: float

    def _index(self, t: float, sample_rate: float) -> int:
        return int(round(t * sample_rate))

    def labels(self, n_times: int, sample_rate: float, vocabulary: Sequence[str] = GESTURE_NAMES) -> np.ndarray:
        """``(n_times,)`` int64 index into ``vocabulary`` of the gesture under way (onset to offset), else rest."""
        index = {name: i for i, name in enumerate(vocabulary)}
        missing = sorted({s.gesture for s in self.segments} - set(index) | ({"rest"} - set(index)))
        if missing:
            raise ValueError(f"vocabulary lacks gesture(s) {missing} of this timeline")
        labels = np.full(n_times, index["rest"], dtype=np.int64)
        for seg in self.segments:
            labels[self._index(seg.onset, sample_rate) : self._index(seg.offset, sample_rate)] = index[seg.gesture]
        return labels

    def phases(self, n_times: int, sample_rate: float) -> np.ndarray:
        """``(n_times,)`` int8 phase code per sample (:data:`PHASE_NAMES`)."""
        phases = np.full(n_times, PHASE_REST, dtype=np.int8)
        for seg in self.segments:
            a, b, c, d = (self._index(t, sample_rate) for t in (seg.onset, seg.hold_onset, seg.hold_offset, seg.offset))
            phases[a:b], phases[b:c], phases[c:d] = PHASE_ONSET, PHASE_HOLD, PHASE_RELEASE
        return phases

    def to_dict(self) -> dict[str, object]:
        return {"duration_s": self.duration_s, "segments": [s.to_dict() for s in self.segments]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        """Inverse of :meth:`to_dict` (e.g. a timeline read back from a corpus's ``gestures.json``)."""
        try:
            segments = tuple(GestureSegment(**seg) for seg in data["segments"])
            return cls(segments, float(data["duration_s"]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a timeline dict (keys duration_s, segments[gesture, onset, ...]): {error}") from None


def sample_timeline(
    gestures: Sequence[str], duration_s: float, rng: np.random.Generator, config: SynthConfig
) -> Timeline:
    """Prompt ``gestures`` in shuffled blocks, with rest between, until ``duration_s`` is filled.

    The session starts and ends at rest; a gesture that would not finish before the end is not prompted.
    """
    gestures = check_gesture_names(gestures)
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
    active = [g for g in gestures if g != "rest"]
    segments: list[GestureSegment] = []
    t = float(rng.uniform(*config.rest_s))
    block: list[str] = []
    while active:
        if not block:
            block = [active[i] for i in rng.permutation(len(active))]
        ramp_in, ramp_out = rng.uniform(*config.transition_s, size=2)
        hold = rng.uniform(*config.hold_s)
        amplitude = float(np.clip(1.0 + config.motor_variability * AMPLITUDE_SD * rng.standard_normal(), 0.6, 1.4))
        end = t + ramp_in + hold + ramp_out
        if end > duration_s - config.rest_s[0] / 2:
            break
        segments.append(GestureSegment(block.pop(), t, t + ramp_in, t + ramp_in + hold, end, amplitude))
        t = end + float(rng.uniform(*config.rest_s))
    return Timeline(tuple(segments), float(duration_s))


def activation_trajectory(
    timeline: Timeline,
    patterns: Mapping[str, np.ndarray],
    n_times: int,
    sample_rate: float,
    rng: np.random.Generator,
    config: SynthConfig,
    co_contraction: np.ndarray | None = None,
) -> np.ndarray:
    """Muscle activations over the session.

    Parameters
    ----------
    timeline
        When each gesture happens.
    patterns
        ``(n_muscles,)`` activation pattern of ``"rest"`` and of every gesture of the timeline.
    n_times, sample_rate
        Output length (samples) and rate (Hz).
    rng
        Source of the motor variability (per-repetition pattern deviations, slow fluctuations).
    co_contraction
        ``(n_muscles,)`` non-negative pattern summing to 1 along which antagonists co-activate during a
        gesture, in proportion to ``config.co_contraction`` times the gesture's total effort.

    Returns
    -------
    ``(n_times, n_muscles)`` float64 activations in [0, 1].
    """
    rest = np.asarray(patterns["rest"], dtype=np.float64)
    n_muscles = rest.shape[0]
    act = np.broadcast_to(rest, (n_times, n_muscles)).copy()
    for seg in timeline.segments:
        a = int(round(seg.onset * sample_rate))
        d = min(int(round(seg.offset * sample_rate)), n_times)
        if d <= a:
            continue
        t = np.arange(a, d) / sample_rate
        envelope = np.where(
            t < seg.hold_offset,
            minimum_jerk((t - seg.onset) / max(seg.hold_onset - seg.onset, 1e-9)),
            1.0 - minimum_jerk((t - seg.hold_offset) / max(seg.offset - seg.hold_offset, 1e-9)),
        )
        # Each repetition is the learnt pattern, scaled and slightly distorted muscle by muscle.
        deviation = np.exp(config.motor_variability * PATTERN_SD * rng.standard_normal(n_muscles))
        delta = (np.asarray(patterns[seg.gesture]) - rest) * deviation * seg.amplitude
        if co_contraction is not None and config.co_contraction > 0:
            delta = delta + config.co_contraction * np.clip(delta, 0, None).sum() * co_contraction
        act[a:d] += envelope[:, None] * delta[None, :]
    if config.motor_variability > 0:
        # Slow wander of the neural drive: low-pass Gaussian noise, multiplicative, unit-mean.
        sos = signal.butter(2, FLUCTUATION_HZ, fs=sample_rate, output="sos")
        pad = int(sample_rate / FLUCTUATION_HZ)
        noise = signal.sosfilt(sos, rng.standard_normal((n_times + pad, n_muscles)), axis=0)[pad:]
        noise /= max(float(noise.std()), 1e-12)
        act *= np.exp(config.motor_variability * FLUCTUATION_SD * noise)
    return np.clip(act, 0.0, 1.0)
