"""The synthetic twin of a wristband: paired sEMG (+ optional hand pose) from :mod:`biosig.synth.hand`, live.

Two profiles:

``emg2pose``
    16 electrodes at 2 kHz in volts, sent as int16 ADC counts of 0.1 µV (a ±3.3 mV front end, which
    saturates like a real one: clipped samples are counted in ``stats.extra["saturated"]``). With
    ``include_pose`` the 20 finger angles and 3 wrist DOFs (radians) follow the EMG channels and the wire
    carries float32 (one frame has one scale, and volts and radians do not share one).
``myo``
    Like a Myo armband: 8 channels at 200 Hz, int8 counts, unit ``a.u.`` = counts / 128 as in biosig's Myo
    reader. Made from every other electrode of a 1 kHz session, resampled to 200 Hz with an anti-alias
    filter, at 2 µV per count (a modelling choice: the Myo's own gain was never published).

The stream is cut into independent blocks of ``block_s`` seconds: each is a new session of the same user
(same band placement, new gesture sequence) from the seeded generator; sessions start and end at rest, so
the blocks join at rest. Block ``k`` depends only on ``(seed, k)``, and the next block is generated in a
background thread while the current one plays, so real-time pacing never waits for the generator.
The device clock is the sample clock (``first_sample / sfreq``); ``clock_drift_ppm`` makes the simulated
crystal run fast or slow against the host, to exercise drift estimation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from biosig.signals.info import SignalInfo
from biosig.signals.pose import HAND_JOINTS
from biosig.signals.resample import resample
from biosig.synth.hand import GESTURE_NAMES, SynthConfig, UserProfile, generate_session
from firmware_bridge.base import Bridge, Chunk, Pacer, WireFormat
from firmware_bridge.errors import EndOfStream

logger = logging.getLogger(__name__)

__all__ = ["PROFILES", "SyntheticBridge", "SyntheticProfile", "SyntheticSignal"]


@dataclass(frozen=True)
class SyntheticProfile:
    """A device the generator imitates: its channels, rate, ADC and gain."""

    name: str
    sfreq: float
    generator_rate: float  # the synthetic session's rate (the hand model needs >= 1 kHz)
    electrodes: tuple[int, ...]  # which of the 16 simulated electrodes the device has
    wire: WireFormat  # the device's ADC counts
    unit: str
    counts_per_volt: float

    @property
    def n_channels(self) -> int:
        return len(self.electrodes)


PROFILES: dict[str, SyntheticProfile] = {
    "emg2pose": SyntheticProfile("emg2pose", 2000.0, 2000.0, tuple(range(16)), WireFormat("int16", 1e-7), "V", 1e7),
    "myo": SyntheticProfile("myo", 200.0, 1000.0, tuple(range(0, 16, 2)), WireFormat("int8", 1 / 128), "a.u.", 5e5),
}


def get_profile(name: str) -> SyntheticProfile:
    if name not in PROFILES:
        raise ValueError(f"synthetic profile must be one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]


class SyntheticSignal:
    """Deterministic blocks of a profile's signal: ``block(k)`` -> (counts, data, labels).

    ``counts`` are the ADC values ``(n_channels, n)`` (int64, already saturated to the wire dtype's range),
    ``data`` the float32 values in the profile's unit (``counts x scale``; with pose, float32 volts then
    radians), ``labels`` ``(n,)`` gesture indices into :data:`~biosig.synth.hand.GESTURE_NAMES`.
    """

    def __init__(
        self,
        profile: str | SyntheticProfile = "emg2pose",
        *,
        seed: int = 0,
        gestures: Sequence[str] | None = None,
        block_s: float = 10.0,
        difficulty: float = 1.0,
        include_pose: bool = False,
        user: str = "synthetic",
    ) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not (isinstance(block_s, int | float) and 2.0 <= block_s <= 600.0):
            raise ValueError(f"block_s must be between 2 and 600 seconds, got {block_s!r}")
        if include_pose and self.profile.name != "emg2pose":
            raise ValueError(f"include_pose needs the emg2pose profile (a {self.profile.name} has no pose channels)")
        self.seed = seed
        self.gestures = tuple(gestures) if gestures is not None else GESTURE_NAMES
        self.block_s = float(block_s)
        self.config = SynthConfig.at_difficulty(difficulty)
        self.include_pose = include_pose
        self.user = UserProfile.sample(user, "right", seed=seed)
        self.block_len = int(round(self.block_s * self.profile.sfreq))
        # Fail on a bad gesture name now, not in the background thread.
        from biosig.synth.hand.gestures import check_gesture_names

        check_gesture_names(self.gestures)

    @property
    def wire(self) -> WireFormat:
        return WireFormat("float32", 1.0) if self.include_pose else self.profile.wire

    def info(self) -> SignalInfo:
        p = self.profile
        names = [f"emg{i}" for i in range(p.n_channels)]
        types = ["emg"] * p.n_channels
        units = [p.unit] * p.n_channels
        if self.include_pose:
            names += list(HAND_JOINTS)
            types += ["pose"] * len(HAND_JOINTS)
            units += ["rad"] * len(HAND_JOINTS)
        return SignalInfo(p.sfreq, tuple(names), tuple(types), tuple(units))

    def block(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.profile
        seq = np.random.SeedSequence([self.seed, k])
        session = generate_session(
            self.user, self.gestures, self.block_s, seq, config=self.config, sample_rate=p.generator_rate
        )
        volts = session.emg.T[list(p.electrodes)].astype(np.float64)  # (n_ch, n_gen)
        labels = session.labels
        pose = session.pose.T if self.include_pose else None
        if p.generator_rate != p.sfreq:
            volts = resample(volts, p.generator_rate, p.sfreq)
            step = int(round(p.generator_rate / p.sfreq))
            labels = labels[::step]
        n = min(self.block_len, volts.shape[1], len(labels))
        volts, labels = volts[:, :n], labels[:n]
        wire = p.wire.numpy_dtype
        lo, hi = np.iinfo(wire).min, np.iinfo(wire).max
        counts = np.rint(volts * p.counts_per_volt)
        counts = np.clip(counts, lo, hi).astype(np.int64)
        data = (counts * p.wire.scale).astype(np.float32)
        if pose is not None:
            data = np.concatenate([data, pose[:, :n].astype(np.float32)], axis=0)
        return counts, data, labels.astype(np.int64)

    def saturated(self, counts: np.ndarray) -> int:
        info = np.iinfo(self.profile.wire.numpy_dtype)
        return int(np.count_nonzero((counts == info.min) | (counts == info.max)))


class SyntheticBridge(Bridge):
    """Live synthetic sEMG (+ pose) with true gesture labels, paced in real time (see the module docstring).

    Parameters
    ----------
    profile
        ``"emg2pose"`` (16 ch, 2 kHz, volts) or ``"myo"`` (8 ch, 200 Hz, a.u.).
    seed
        Everything (user, gestures, noise) follows from it.
    gestures
        Gesture names to prompt (default: the whole vocabulary).
    chunk_s
        Seconds per chunk (a device's transfer size); the last chunk of a bounded run may be shorter.
    speed
        1 = real time, 10 = ten times faster, ``inf`` = as fast as the generator runs.
    duration_s
        Stop after this many seconds of signal (:class:`EndOfStream`); None runs until closed.
    include_pose
        Add the 23 pose channels (emg2pose profile only).
    clock_drift_ppm
        The simulated device crystal runs this many ppm fast (negative: slow) against the host.
    """

    kind = "synthetic"

    def __init__(
        self,
        profile: str = "emg2pose",
        *,
        seed: int = 0,
        gestures: Sequence[str] | None = None,
        chunk_s: float = 0.02,
        speed: float = 1.0,
        duration_s: float | None = None,
        include_pose: bool = False,
        block_s: float = 10.0,
        difficulty: float = 1.0,
        clock_drift_ppm: float = 0.0,
    ) -> None:
        super().__init__()
        self.signal = SyntheticSignal(
            profile, seed=seed, gestures=gestures, block_s=block_s, difficulty=difficulty, include_pose=include_pose
        )
        sfreq = self.signal.profile.sfreq
        if not (isinstance(chunk_s, int | float) and 0 < chunk_s <= 1.0):
            raise ValueError(f"chunk_s must be in (0, 1] seconds, got {chunk_s!r}")
        self.chunk_len = max(1, int(round(chunk_s * sfreq)))
        if duration_s is not None and not (isinstance(duration_s, int | float) and duration_s > 0):
            raise ValueError(f"duration_s must be a positive number of seconds or None, got {duration_s!r}")
        self.n_total = None if duration_s is None else max(1, int(round(duration_s * sfreq)))
        if not (isinstance(clock_drift_ppm, int | float) and abs(clock_drift_ppm) < 1e5):
            raise ValueError(f"clock_drift_ppm must be a number of ppm below 1e5 in size, got {clock_drift_ppm!r}")
        self.clock_drift_ppm = float(clock_drift_ppm)
        self.pacer = Pacer(sfreq * (1 + self.clock_drift_ppm * 1e-6), speed)
        self.label_names = dict(enumerate(GESTURE_NAMES))
        self._pool: ThreadPoolExecutor | None = None
        self._blocks: dict[int, Future[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._next = 0

    def describe(self) -> dict[str, str]:
        return {"kind": "synthetic", "name": f"biosig.synth.hand/{self.signal.profile.name}",
                "serial": f"seed-{self.signal.seed}"}  # fmt: skip

    def _open(self) -> tuple[SignalInfo, WireFormat]:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth")
        self._prefetch(0)
        return self.signal.info(), self.signal.wire

    def _prefetch(self, k: int) -> None:
        assert self._pool is not None
        if k not in self._blocks:
            self._blocks[k] = self._pool.submit(self.signal.block, k)

    def _start(self) -> None:
        self.pacer.start()

    def _read(self, timeout: float | None) -> Chunk | None:
        first = self._next
        if self.n_total is not None and first >= self.n_total:
            raise EndOfStream(f"synthetic run of {self.n_total} samples is complete")
        n = self.chunk_len if self.n_total is None else min(self.chunk_len, self.n_total - first)
        if not self.pacer.wait_for(first + n, timeout):
            return None
        counts, data, labels = [], [], []
        pos, end = first, first + n
        while pos < end:  # a chunk may straddle two blocks
            k, offset = divmod(pos, self.signal.block_len)
            self._prefetch(k)
            c, d, lab = self._blocks[k].result()
            self._prefetch(k + 1)
            for old in [b for b in self._blocks if b < k]:
                del self._blocks[old]
            take = min(end - pos, self.signal.block_len - offset)
            counts.append(c[:, offset : offset + take])
            data.append(d[:, offset : offset + take])
            labels.append(lab[offset : offset + take])
            pos += take
        raw_counts = np.concatenate(counts, axis=1)
        saturated = self.signal.saturated(raw_counts)
        if saturated:
            self.stats.count("saturated", saturated)
        self._next = end
        raw = None if self.signal.include_pose else raw_counts.astype(self.wire.numpy_dtype)
        return Chunk(
            first_sample=first,
            data=np.concatenate(data, axis=1),
            device_time_us=int(round(first * 1e6 / self.info.sfreq)),
            host_time=time.time(),
            raw=raw,
            labels=np.concatenate(labels),
        )

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._blocks.clear()
        self._next = 0
