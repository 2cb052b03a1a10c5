"""CPEP training data: paired EMG + pose windows from a synthetic emg2pose corpus, and Myo pseudo-pairs.

**Paired sessions** (:func:`load_corpus_sessions`). Each emg2pose-schema file of a corpus written by
:func:`biosig.synth.hand.write_corpus` gives one :class:`PairedSession`: the EMG (file microvolts -> volts),
resampled to ``sfreq`` (polyphase, anti-aliased), and the 23-angle pose (the file's 20 joint angles and the
sidecar's 3 wrist DOFs, HAND_JOINTS order) on a frame grid at ``frame_rate``: frame ``k`` is the mean of the
2 kHz samples ``[k r, (k + 1) r)`` with ``r = 2000 / frame_rate``, *valid* only if none of them is an IK
failure, and labelled with the sidecar gesture of its middle sample. Both rates must divide 2000 Hz and
``sfreq`` must be a multiple of ``frame_rate``, so that EMG sample ``k * sfreq / frame_rate`` starts frame
``k`` exactly.

**Windows** (:class:`PairedWindows`) lie on the frame grid: window ``i`` covers frames ``[s_i, s_i + F)`` and
EMG samples ``[s_i q, (s_i + F) q)`` (``q = sfreq / frame_rate``), with ``F = window_s * frame_rate`` and starts
every ``hop_s``. A window whose frames are not all valid has no pose target and is left out (counted). A
window's label is the gesture that covers at least ``min_label_fraction`` of its frames (else -1).

**Myo pseudo-pairs** (:class:`MyoPairs`). The Myo recordings have no pose. Each labelled window of class ``c``
is paired with the canonical pose of that class (:data:`biosig.zeroshot.MYO_GESTURES`: the synthetic
library's authored target, wrist DOFs and, for the fist, finger flexion), held over the window, at a random
intensity ``s ~ U(intensity)`` of its deviation from the rest pose plus per-DOF Gaussian jitter, drawn afresh
for every batch (:func:`pseudo_poses`), so that the pose side is not 8 fixed points.

**Input scaling.** EMG windows are divided by the robust scale (:class:`~biosig.training.scaling.InputScaling`)
of the training recordings, stored in the checkpoint and applied again by :mod:`biosig.runtime`. Unlike the
bioFAME pipeline, recordings are not median-centred: the synthetic EMG is high-pass filtered and the Myo's DC
is negligible, and the runtime, which only divides, then sees exactly what training saw. Poses stay in radians.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from biosig.errors import BiosigError
from biosig.io.emg2pose import EMG_TO_VOLTS, Emg2PoseSession, read_metadata, select_sessions, session_paths
from biosig.signals.info import SignalInfo
from biosig.signals.pose import N_HAND_JOINTS
from biosig.signals.recording import UNLABELLED, Recording
from biosig.signals.resample import resample
from biosig.training.config import ConfigError, _positive
from biosig.training.scaling import InputScaling

__all__ = [
    "CORPUS_RATE",
    "SOURCES",
    "CPEPDataConfig",
    "CorpusError",
    "MyoPairs",
    "PairedSession",
    "PairedWindows",
    "circular_shift",
    "load_corpus_sessions",
    "load_myo_pairs",
    "pseudo_poses",
    "read_corpus_info",
]

log = logging.getLogger(__name__)

#: Sampling rate of emg2pose (and of the synthetic corpus): EMG and joint angles share it.
CORPUS_RATE = 2000.0
#: Where the EMG side of the pairs comes from.
SOURCES = ("emg2pose", "myo", "myo-bundled")


class CorpusError(BiosigError, ValueError):
    """A corpus folder that lacks the files or the sidecars CPEP training needs."""


@dataclass(frozen=True)
class CPEPDataConfig:
    """What CPEP trains on.

    ``source``: ``emg2pose`` (paired windows of the synthetic corpus at ``corpus``), ``myo`` (Myo pseudo-pairs
    from the data folder; the pose encoder still pretrains on the corpus' poses) or ``myo-bundled`` (the Myo
    session shipped in the package, for smoke runs). ``corpus``: a folder written by ``biosig data synth emg-pose``.
    ``data_dir``: the data folder holding ``myo-readings-dataset`` (None: ``$BIOSIG_DATA`` then ``../shared/data``).
    EMG at ``sfreq`` Hz (emg2pose is resampled; Myo stays at its 200 Hz), windows of ``window_s`` every ``hop_s``
    seconds, poses at ``frame_rate`` Hz.
    ``users``: corpus users to train on (empty: every ``train``-split user). ``exclude_gestures``: gestures left
    out of the contrastive stage (Myo: the held-out classes, as synthetic-library names; emg2pose: the corpus'
    unseen gestures are never in its train split anyway). ``participants``: Myo participants (empty: the
    pretraining participants of the evaluation split with ``split_seed``; evaluation participants are refused).
    ``min_label_fraction``: share of a window its class must cover (Myo windows below it are dropped from the
    contrastive stage). ``channel_shift``: training windows' channels are circularly shifted by a random
    ``-s..s`` (a band worn rotated; 0 = off). ``pose_intensity`` / ``pose_jitter_rad``: Myo pseudo-pose draws.
    ``balance_align``: Myo only; the contrastive stage keeps at most as many windows of a class as the mean count of
    the other classes (Myo's rest fills half the data, and all its windows pair with one rest pose).
    ``max_windows``: a seeded random subset of each stage's windows (0 = all), for smoke runs.
    """

    source: str = "emg2pose"
    corpus: str | None = None
    data_dir: str | None = None
    sfreq: float = 500.0
    window_s: float = 1.0
    hop_s: float = 0.2
    frame_rate: float = 50.0
    users: tuple[str, ...] = ()
    exclude_gestures: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()
    split_seed: int = 0
    min_label_fraction: float = 0.8
    channel_shift: int = 1
    pose_intensity: tuple[float, float] = (0.7, 1.0)
    pose_jitter_rad: float = 0.03
    balance_align: bool = False
    max_windows: int = 0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"data.source must be one of {list(SOURCES)}, got {self.source!r}")
        for name in ("sfreq", "window_s", "hop_s", "frame_rate"):
            _positive(f"data.{name}", getattr(self, name))
        if not 0.0 <= self.min_label_fraction <= 1.0:
            raise ConfigError(f"data.min_label_fraction must be in [0, 1], got {self.min_label_fraction!r}")
        if self.channel_shift < 0:
            raise ConfigError(f"data.channel_shift must be >= 0, got {self.channel_shift!r}")
        lo, hi = self.pose_intensity
        if not 0.0 < lo <= hi <= 2.0:
            raise ConfigError(f"data.pose_intensity must be (low, high) with 0 < low <= high <= 2, got {(lo, hi)}")
        if self.pose_jitter_rad < 0:
            raise ConfigError(f"data.pose_jitter_rad must be >= 0, got {self.pose_jitter_rad!r}")
        if self.max_windows < 0:
            raise ConfigError(f"data.max_windows must be >= 0, got {self.max_windows!r}")
        frames = self.window_s * self.frame_rate
        if abs(frames - round(frames)) > 1e-9 or round(frames) < 2:
            raise ConfigError(
                f"data.window_s={self.window_s} s at data.frame_rate={self.frame_rate} Hz must be a whole number "
                f"(>= 2) of frames, got {frames:g}"
            )
        hop = self.hop_s * self.frame_rate
        if abs(hop - round(hop)) > 1e-9 or round(hop) < 1:
            raise ConfigError(f"data.hop_s={self.hop_s} s must be a whole number of frames at {self.frame_rate} Hz")
        if self.source == "emg2pose":
            q = self.sfreq / self.frame_rate
            if abs(q - round(q)) > 1e-9:
                raise ConfigError(f"data.sfreq={self.sfreq} Hz must be a multiple of data.frame_rate={self.frame_rate}")
        r = CORPUS_RATE / self.frame_rate
        if abs(r - round(r)) > 1e-9:
            raise ConfigError(f"data.frame_rate={self.frame_rate} Hz must divide the corpus rate {CORPUS_RATE:g} Hz")

    @property
    def n_frames(self) -> int:
        return int(round(self.window_s * self.frame_rate))

    @property
    def hop_frames(self) -> int:
        return int(round(self.hop_s * self.frame_rate))

    @property
    def emg_rate(self) -> float:
        """The EMG rate the model sees: ``sfreq`` for the corpus, the Myo's own 200 Hz for Myo sources."""
        return 200.0 if self.source.startswith("myo") else float(self.sfreq)

    @property
    def n_times(self) -> int:
        return int(round(self.window_s * self.emg_rate))


# ---------------------------------------------------------------------------------------------------------------------
# Corpus sessions


def read_corpus_info(corpus: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(metadata table, gestures.json content)`` of a synthetic corpus; :class:`CorpusError` names what is missing."""
    root = Path(corpus)
    meta_path, gestures_path = root / "metadata.csv", root / "gestures.json"
    if not meta_path.is_file() or not gestures_path.is_file():
        raise CorpusError(
            f"{root} is not a synthetic emg2pose corpus: it needs metadata.csv and gestures.json "
            "(write one with `biosig data synth emg-pose --out DIR`)"
        )
    info = json.loads(gestures_path.read_text())
    if "vocabulary" not in info or "files" not in info:
        raise CorpusError(f"{gestures_path}: no 'vocabulary'/'files' entries; was it written by biosig data synth?")
    return read_metadata(meta_path), info


@dataclass(eq=False)
class PairedSession:
    """One corpus file on the frame grid.

    ``emg`` ``(16, n_times)`` float32 volts at ``sfreq``; ``pose`` ``(23, n_frames)`` float32 radians at
    ``frame_rate``; ``valid`` ``(n_frames,)`` bool; ``labels`` ``(n_frames,)`` int64 into ``vocabulary``.
    """

    filename: str
    user: str
    stage: str
    side: str
    emg: np.ndarray
    pose: np.ndarray
    valid: np.ndarray
    labels: np.ndarray
    sfreq: float
    frame_rate: float
    vocabulary: tuple[str, ...]

    @property
    def n_frames(self) -> int:
        return int(self.pose.shape[1])


def _frames(values: np.ndarray, ratio: int) -> np.ndarray:
    """``(T, k)`` samples -> ``(T // ratio, k)`` block means."""
    n = values.shape[0] // ratio
    return values[: n * ratio].reshape(n, ratio, -1).mean(axis=1)


def load_corpus_sessions(
    corpus: str | Path,
    rows: Any,
    sfreq: float,
    frame_rate: float,
    *,
    progress: bool = True,
) -> list[PairedSession]:
    """The files of ``rows`` (a slice of the corpus' metadata table) as :class:`PairedSession` (module docstring)."""
    root = Path(corpus)
    _, info = read_corpus_info(root)
    vocabulary = tuple(info["vocabulary"])
    ratio = int(round(CORPUS_RATE / frame_rate))
    out = []
    paths = session_paths(rows, root)
    for path, filename in tqdm(
        list(zip(paths, rows["filename"])), desc="corpus files", unit="file", disable=not progress
    ):
        sidecar = root / "labels" / f"{filename}.npz"
        if not path.is_file() or not sidecar.is_file():
            raise CorpusError(f"{root}: {path.name} or its sidecar labels/{sidecar.name} is missing")
        with Emg2PoseSession(path) as session:
            if session.sample_rate != CORPUS_RATE:
                raise CorpusError(f"{path}: sample_rate {session.sample_rate} Hz, expected {CORPUS_RATE:g} Hz")
            emg = session.emg.astype(np.float64).T * EMG_TO_VOLTS  # (16, T) volts
            angles = np.asarray(session.joint_angles, dtype=np.float64)  # (T, 20)
            attrs = session.attrs
        with np.load(sidecar, allow_pickle=False) as archive:
            wrist = archive["wrist"].astype(np.float64)  # (T, 3)
            valid = archive["pose_valid"].astype(bool)  # (T,)
            labels = archive["labels"].astype(np.int64)  # (T,)
        n = angles.shape[0]
        if wrist.shape != (n, 3) or valid.shape != (n,) or labels.shape != (n,):
            raise CorpusError(f"{sidecar}: sidecar arrays do not match the {n} samples of {path.name}")
        n_frames = n // ratio
        pose = _frames(np.concatenate([angles, wrist], axis=1), ratio).T.astype(np.float32)  # (23, F)
        frame_valid = valid[: n_frames * ratio].reshape(n_frames, ratio).all(axis=1)
        frame_labels = labels[ratio // 2 : n_frames * ratio : ratio][:n_frames]
        emg = resample(emg.astype(np.float32), CORPUS_RATE, sfreq)  # (16, T')
        q = int(round(sfreq / frame_rate))
        emg = emg[:, : n_frames * q]
        out.append(
            PairedSession(
                filename=str(filename),
                user=str(attrs["user"]),
                stage=str(attrs["stage"]),
                side=str(attrs["side"]),
                emg=np.ascontiguousarray(emg, dtype=np.float32),
                pose=pose,
                valid=frame_valid,
                labels=frame_labels,
                sfreq=float(sfreq),
                frame_rate=float(frame_rate),
                vocabulary=vocabulary,
            )
        )
    return out


def corpus_rows(corpus: str | Path, split: str | None = None, **filters: Any) -> Any:
    """Rows of the corpus' metadata table (see :func:`biosig.io.emg2pose.select_sessions`); none matching raises."""
    metadata, _ = read_corpus_info(corpus)
    rows = select_sessions(metadata, split=split, **filters)
    if len(rows) == 0:
        raise CorpusError(f"{corpus}: no session file matches split={split!r} {filters}")
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# Windows


@dataclass(eq=False)
class PairedWindows:
    """Windows of ``n_frames`` frames over paired sessions (module docstring); arrays are per window.

    ``session`` ``(n,)`` index into ``sessions``; ``start`` ``(n,)`` first frame; ``label`` ``(n,)`` gesture index
    into the sessions' vocabulary (-1 without a majority); ``dropped`` counts windows left out and why.
    """

    sessions: list[PairedSession]
    n_frames: int
    session: np.ndarray
    start: np.ndarray
    label: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        sessions: Sequence[PairedSession],
        n_frames: int,
        hop_frames: int,
        *,
        min_label_fraction: float = 0.8,
        labelled_only: bool = False,
        gestures: Sequence[str] | None = None,
    ) -> PairedWindows:
        """Every window with a fully valid pose; ``labelled_only`` keeps those with a label, ``gestures`` (names)
        keeps those labelled with one of them."""
        sessions = list(sessions)
        if not sessions:
            raise ValueError("no session to cut windows from")
        parts: dict[str, list[np.ndarray]] = {"session": [], "start": [], "label": []}
        dropped = {"invalid_pose": 0, "unlabelled": 0, "other_gesture": 0}
        for i, s in enumerate(sessions):
            if s.n_frames < n_frames:
                log.warning(
                    "%s: %d frames, shorter than one %d-frame window; skipped", s.filename, s.n_frames, n_frames
                )
                continue
            starts = np.arange(0, s.n_frames - n_frames + 1, hop_frames, dtype=np.int64)
            prefix = np.concatenate([[0], np.cumsum(~s.valid)])
            ok = (prefix[starts + n_frames] - prefix[starts]) == 0
            dropped["invalid_pose"] += int((~ok).sum())
            labels = _majority(s.labels, starts, n_frames, min_label_fraction)
            if labelled_only:
                dropped["unlabelled"] += int((ok & (labels < 0)).sum())
                ok &= labels >= 0
            if gestures is not None:
                wanted = [s.vocabulary.index(g) for g in gestures if g in s.vocabulary]
                keep = np.isin(labels, wanted)
                dropped["other_gesture"] += int((ok & ~keep).sum())
                ok &= keep
            parts["session"].append(np.full(int(ok.sum()), i, dtype=np.int64))
            parts["start"].append(starts[ok])
            parts["label"].append(labels[ok])
        out = cls(
            sessions,
            n_frames,
            *(np.concatenate(parts[k]) if parts[k] else np.zeros(0, dtype=np.int64) for k in parts),
            dropped=dropped,
        )
        if any(dropped.values()):
            log.info("windows: kept %d; dropped %s", len(out), dropped)
        return out

    def __len__(self) -> int:
        return int(len(self.start))

    @property
    def samples_per_frame(self) -> int:
        s = self.sessions[0]
        return int(round(s.sfreq / s.frame_rate))

    @property
    def n_times(self) -> int:
        return self.n_frames * self.samples_per_frame

    @property
    def vocabulary(self) -> tuple[str, ...]:
        return self.sessions[0].vocabulary

    @property
    def users(self) -> np.ndarray:
        """``(n,)`` user of each window."""
        return np.array([self.sessions[i].user for i in self.session])

    @property
    def label_names(self) -> np.ndarray:
        """``(n,)`` gesture name of each window ('' without a label)."""
        vocab = np.array(list(self.vocabulary) + [""])
        return vocab[np.where(self.label >= 0, self.label, len(self.vocabulary))]

    def subset(self, index: np.ndarray) -> PairedWindows:
        index = np.asarray(index, dtype=np.int64)
        return PairedWindows(self.sessions, self.n_frames, self.session[index], self.start[index], self.label[index])

    def emg(self, index: np.ndarray) -> np.ndarray:
        """``(b, 16, n_times)`` float32 volts of windows ``index``."""
        q, n = self.samples_per_frame, self.n_times
        out = np.empty((len(index), self.sessions[0].emg.shape[0], n), dtype=np.float32)
        for row, w in enumerate(np.asarray(index)):
            a = int(self.start[w]) * q
            out[row] = self.sessions[int(self.session[w])].emg[:, a : a + n]
        return out

    def pose(self, index: np.ndarray) -> np.ndarray:
        """``(b, 23, n_frames)`` float32 radians of windows ``index``."""
        out = np.empty((len(index), N_HAND_JOINTS, self.n_frames), dtype=np.float32)
        for row, w in enumerate(np.asarray(index)):
            a = int(self.start[w])
            out[row] = self.sessions[int(self.session[w])].pose[:, a : a + self.n_frames]
        return out


def _majority(labels: np.ndarray, starts: np.ndarray, n: int, min_fraction: float) -> np.ndarray:
    """Per window, the label covering at least ``min_fraction`` of its ``n`` frames (else -1)."""
    out = np.full(len(starts), UNLABELLED, dtype=np.int64)
    if len(starts) == 0:
        return out
    for c in np.unique(labels[labels >= 0]):
        prefix = np.concatenate([[0], np.cumsum(labels == c)])
        count = prefix[starts + n] - prefix[starts]
        # Strictly more than half, so two classes can never both qualify at min_fraction <= 0.5.
        out[(count >= min_fraction * n - 1e-9) & (2 * count > n)] = c
    return out


def emg_scaling(sessions: Sequence[PairedSession] | Sequence[Recording]) -> InputScaling:
    """Robust EMG scale of the training recordings (``InputScaling.estimate``; units volts or a.u.)."""
    recs = []
    for s in sessions:
        if isinstance(s, Recording):
            recs.append(s)
        else:
            info = SignalInfo.uniform(s.emg.shape[0], s.sfreq, "emg", prefix="emg")
            recs.append(Recording(s.emg, info))
    return InputScaling.estimate(recs)


def circular_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """``(b, c, t)`` windows with each window's channels rolled by a random integer in ``[-max_shift, max_shift]``.

    Channel ``k`` of the result is channel ``(k - s) mod c`` of the input: the band turned by ``s`` electrodes.
    """
    if max_shift == 0:
        return x
    b, c, _ = x.shape
    shifts = rng.integers(-max_shift, max_shift + 1, size=b)
    index = (np.arange(c)[None, :] - shifts[:, None]) % c  # (b, c)
    return np.take_along_axis(x, index[:, :, None], axis=1)


# ---------------------------------------------------------------------------------------------------------------------
# Myo pseudo-pairs


def balanced_subset(labels: np.ndarray, index: np.ndarray, seed: int) -> np.ndarray:
    """``index`` with each class capped at the mean count of the other classes (seeded random choice), sorted."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels[index], return_counts=True)
    if len(classes) < 2:
        return index
    keep = []
    rng = np.random.default_rng([seed, 3])
    for c, n in zip(classes, counts):
        cap = int(round((counts.sum() - n) / (len(classes) - 1)))
        rows = index[labels[index] == c]
        keep.append(rows if n <= cap else rng.choice(rows, size=cap, replace=False))
    return np.sort(np.concatenate(keep))


def pseudo_poses(
    labels: np.ndarray,
    targets: np.ndarray,
    rest: np.ndarray,
    n_frames: int,
    rng: np.random.Generator,
    intensity: tuple[float, float] = (0.7, 1.0),
    jitter_rad: float = 0.03,
) -> np.ndarray:
    """``(b, 23, n_frames)`` static poses for class ``labels`` ``(b,)``: ``rest + s (targets[label] - rest) + e``.

    ``targets`` ``(n_classes, 23)`` canonical poses (radians), ``rest`` ``(23,)``; ``s ~ U(intensity)`` per window
    and ``e ~ N(0, jitter_rad^2)`` per window and DOF, the same in every frame (a held gesture).
    """
    labels = np.asarray(labels, dtype=np.int64)
    s = rng.uniform(intensity[0], intensity[1], size=(len(labels), 1))
    pose = rest[None, :] + s * (targets[labels] - rest[None, :])
    pose = pose + rng.normal(0.0, jitter_rad, size=pose.shape) if jitter_rad > 0 else pose
    return np.repeat(pose.astype(np.float32)[:, :, None], n_frames, axis=2)


@dataclass(eq=False)
class MyoPairs:
    """Myo windows with their class and participant, and the canonical pose of every class.

    ``windows`` cuts the recordings (windows are copied out by :meth:`emg`, never all held in memory);
    ``label`` ``(n,)`` Myo class (-1: a transition window, kept for the EMG masked autoencoder only);
    ``participant`` ``(n,)``; ``targets`` ``(8, 23)`` canonical poses in radians, ``rest`` ``(23,)``;
    ``class_gestures`` the synthetic-library name of each class.
    """

    windows: Any
    label: np.ndarray
    participant: np.ndarray
    targets: np.ndarray
    rest: np.ndarray
    class_gestures: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(len(self.label))

    @property
    def recordings(self) -> list[Recording]:
        return self.windows.recordings

    @property
    def n_times(self) -> int:
        return int(self.windows.n_window)

    def emg(self, index: np.ndarray) -> np.ndarray:
        """``(b, 8, n_times)`` float32 windows ``index`` (Myo a.u.)."""
        w = self.windows
        out = np.empty((len(index), w.recordings[0].n_channels, w.n_window), dtype=np.float32)
        for row, i in enumerate(np.asarray(index)):
            start = int(w.starts[i])
            out[row] = w.recordings[int(w.recording_index[i])].data[:, start : start + w.n_window]
        return out


def _myo_targets() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    from biosig.synth.hand import GESTURES, REST_POSE
    from biosig.zeroshot import MYO_GESTURES

    names = tuple(MYO_GESTURES[c] for c in sorted(MYO_GESTURES))
    return np.stack([GESTURES[n].target for n in names]), np.asarray(REST_POSE, dtype=np.float64), names


def load_myo_pairs(cfg: CPEPDataConfig, data_dir: str | Path | None = None, progress: bool = True) -> MyoPairs:
    """Myo windows (``window_s`` every ``hop_s``) of the pretraining participants, or of the bundled session.

    Windows whose label covers less than ``min_label_fraction`` get label -1 (kept for the EMG masked
    autoencoder, left out of the contrastive stage).
    """
    from biosig.datasets.catalog import bundled_myo_session, find_data_dir, get_dataset
    from biosig.datasets.windows import RecordingWindows
    from biosig.evaluation.protocols import MyoSplitConfig, myo_participants, myo_pretraining_participants
    from biosig.io.myo import read_myo_dataset, read_myo_session

    notes = []
    if cfg.source == "myo-bundled":
        recordings = list(read_myo_session(bundled_myo_session()))
        notes.append("Myo: the session bundled with biosig (participant 12345, session 1)")
    else:
        root = find_data_dir(data_dir if data_dir is not None else cfg.data_dir)
        if root is None or not get_dataset("myo").files(root):
            raise FileNotFoundError(
                f"no Myo data found (data directory {root}); pass --data-dir with a myo-readings-dataset folder"
            )
        everyone = myo_participants(root)
        allowed = myo_pretraining_participants(everyone, MyoSplitConfig(split_seed=cfg.split_seed))
        chosen = list(cfg.participants) or list(allowed)
        leaked = sorted(set(chosen) - set(allowed))
        if leaked:
            raise ConfigError(
                f"data.participants {leaked} are evaluation participants (split_seed={cfg.split_seed}); CPEP may "
                f"train only on the pretraining participants {list(allowed)}"
            )
        recordings, _ = read_myo_dataset(root / get_dataset("myo").folder, participants=chosen, progress=progress)
        notes.append(f"Myo participants ({len(chosen)}, split_seed={cfg.split_seed}): {', '.join(chosen)}")
    windows = RecordingWindows(recordings, cfg.window_s, cfg.hop_s, min_label_fraction=cfg.min_label_fraction)
    participant = np.array([str(recordings[r].metadata["participant"]) for r in windows.recording_index])
    targets, rest, names = _myo_targets()
    counts = np.bincount(windows.labels[windows.labels >= 0], minlength=len(names))
    notes.append(
        f"Myo windows: {len(windows)} of {windows.n_window} samples; {int((windows.labels < 0).sum())} transition "
        f"windows (MAE only); class counts {counts.tolist()}"
    )
    return MyoPairs(windows, windows.labels.astype(np.int64), participant, targets, rest, names, notes)
