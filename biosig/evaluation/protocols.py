"""The evaluation tasks: which windows, which labels, and which train/test splits.

Three tasks, each scored next to its classical baseline (see :mod:`biosig.evaluation.baselines`):

``myo-cross-participant``
    Myo gestures (8 classes, 0 = rest). Participants fall into three disjoint sets (:func:`myo_participant_split`):
    *pretraining* (the only Myo participants a checkpoint may pretrain on), *probe-train* (the probe and the
    baseline are fitted on their windows) and *test* (scored only). Test participants are never seen in
    pretraining or probing.
``myo-cross-session``
    Myo gestures within each participant: fit on every session but the last, test on the last, per participant;
    the metrics are averaged over participants. It uses the held-out participants too, so no test session was
    seen in pretraining.
``eegmat``
    PhysioNet eegmat rest (``_1`` files) vs. mental arithmetic (``_2``), leave-one-subject-out, metrics
    averaged over the folds. The shared data folder holds only subjects 00 and 01, so this is two folds of one
    training subject each: a small, noisy estimate. Rest and arithmetic are separate recordings, so a classifier
    may also pick up recording-level differences (electrode drift, impedance) besides the mental state.

**Participant split.** Participants are ranked by ``sha256("<salt>:<seed>:<participant id>")``, which depends
only on the seed and each id (not on numpy's generator, nor on which other participants exist):

* the *held-out pool* is the first ``round(heldout_fraction * n)`` participants under salt ``"heldout"`` and
  ``split_seed`` (default 0); everyone else is the pretraining set, **fixed** for a given ``split_seed``;
* for evaluation seed ``seed``, the pool is ranked again under salt ``"test"`` and the first
  ``round(test_fraction * n_pool)`` are the test participants, the rest probe-train.

So the evaluation seed changes which held-out participants are tested, while the pretraining set stays the same:
a checkpoint pretrained on :func:`myo_pretraining_participants` never saw any test participant of any seed. The
training pipeline should call that function (with the same ``split_seed``) to choose its Myo participants.

**Windows.** Myo: 1.0 s every 0.25 s at 200 Hz; a window's label is the majority class if it covers at least
``min_label_fraction`` (default 0.8) of the window, otherwise the window (a transition) is dropped and counted.
eegmat: 4 s every 2 s at 500 Hz, of the 19 scalp EEG channels (the ``A2-A1`` reference and the ECG are left
out). The baselines see the windows at the native rate; the encoder sees the same spans resampled to its rate
(:meth:`TaskData.model_input`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biosig.datasets.catalog import get_dataset
from biosig.datasets.windows import RecordingWindows
from biosig.evaluation.features import band_powers, td_features
from biosig.signals.recording import Recording
from biosig.signals.resample import resample

__all__ = [
    "EEGMAT_CHANNELS",
    "TASKS",
    "Fold",
    "MyoSplitConfig",
    "ParticipantSplit",
    "TaskData",
    "load_eegmat_task",
    "load_myo_tasks",
    "myo_heldout_participants",
    "myo_participant_split",
    "myo_participants",
    "myo_pretraining_participants",
]

log = logging.getLogger(__name__)

TASKS = ("myo-cross-participant", "myo-cross-session", "eegmat")

MYO_WINDOW_S, MYO_HOP_S = 1.0, 0.25
#: ZC/SSC amplitude threshold for Myo data: two int8 counts (the reader scales counts by 1/128).
MYO_TD_THRESHOLD = 2.0 / 128.0
EEGMAT_WINDOW_S, EEGMAT_HOP_S = 4.0, 2.0
#: Folds of the ``group_kfold`` kind (whole recordings per fold).
GROUP_FOLDS = 4
#: The 19 scalp electrodes of eegmat (10-20 system), as the EDF reader names them.
EEGMAT_CHANNELS = (
    "Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4",
    "T5", "T6", "P3", "P4", "O1", "O2", "Fz", "Cz", "Pz",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Participant splits


def _ranked(items: Iterable[str], salt: str, seed: int) -> list[str]:
    return sorted(items, key=lambda p: hashlib.sha256(f"{salt}:{seed}:{p}".encode()).hexdigest())


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def _unique_ids(participants: Iterable[str | int]) -> list[str]:
    ids = [str(p) for p in participants]
    if len(set(ids)) != len(ids):
        dupes = sorted({p for p in ids if ids.count(p) > 1})
        raise ValueError(f"participants must be unique, got duplicates {dupes}")
    return sorted(ids)


@dataclass(frozen=True)
class MyoSplitConfig:
    """Parameters of the cross-participant split (see the module docstring)."""

    heldout_fraction: float = 0.5
    test_fraction: float = 0.5
    split_seed: int = 0

    def __post_init__(self) -> None:
        _check_fraction("heldout_fraction", self.heldout_fraction)
        _check_fraction("test_fraction", self.test_fraction)
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, int):
            raise ValueError(f"split_seed must be an int, got {self.split_seed!r}")


@dataclass(frozen=True)
class ParticipantSplit:
    """Disjoint participant sets: ``pretrain`` (for the encoder), ``probe_train`` (for probes and baselines), ``test``."""

    pretrain: tuple[str, ...]
    probe_train: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        sets = {"pretrain": set(self.pretrain), "probe_train": set(self.probe_train), "test": set(self.test)}
        names = list(sets)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                common = sets[a] & sets[b]
                if common:
                    raise ValueError(f"participant split is not disjoint: {sorted(common)} in both {a} and {b}")

    def to_dict(self) -> dict[str, list[str]]:
        return {"pretrain": list(self.pretrain), "probe_train": list(self.probe_train), "test": list(self.test)}


def myo_heldout_participants(
    participants: Iterable[str | int], config: MyoSplitConfig = MyoSplitConfig()
) -> tuple[str, ...]:
    """The participants kept out of pretraining (probe-train and test participants of every seed), sorted."""
    ids = _unique_ids(participants)
    n_pool = int(round(config.heldout_fraction * len(ids)))
    if n_pool < 2:
        raise ValueError(
            f"need at least 2 held-out participants (one to fit, one to test); {len(ids)} participants at "
            f"heldout_fraction={config.heldout_fraction} hold out {n_pool}"
        )
    return tuple(sorted(_ranked(ids, "heldout", config.split_seed)[:n_pool]))


def myo_pretraining_participants(
    participants: Iterable[str | int], config: MyoSplitConfig = MyoSplitConfig()
) -> tuple[str, ...]:
    """The participants a checkpoint may pretrain on: everyone not held out, sorted (same for every eval seed)."""
    ids = _unique_ids(participants)
    pool = set(myo_heldout_participants(ids, config))
    return tuple(p for p in ids if p not in pool)


def myo_participant_split(
    participants: Iterable[str | int], seed: int, config: MyoSplitConfig = MyoSplitConfig()
) -> ParticipantSplit:
    """Pretraining / probe-train / test participants for evaluation seed ``seed`` (deterministic, see module doc)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    ids = _unique_ids(participants)
    pool = myo_heldout_participants(ids, config)
    n_test = min(max(1, int(round(config.test_fraction * len(pool)))), len(pool) - 1)
    ranked = _ranked(pool, "test", seed)
    return ParticipantSplit(
        pretrain=myo_pretraining_participants(ids, config),
        probe_train=tuple(sorted(ranked[n_test:])),
        test=tuple(sorted(ranked[:n_test])),
    )


def myo_participants(data_dir: str | Path) -> list[str]:
    """Participant ids of the Myo dataset under ``data_dir`` (its ``myo-readings-dataset`` folder), sorted."""
    from biosig.io.myo import list_myo_sessions

    root = Path(data_dir) / get_dataset("myo").folder
    return sorted({s.name.split("-")[0] for s in list_myo_sessions(root)})


# ---------------------------------------------------------------------------------------------------------------------
# Task data and folds


@dataclass(frozen=True)
class Fold:
    """One train/test split: window indices, and a group per training window for validation splits."""

    name: str
    train: np.ndarray
    test: np.ndarray
    train_groups: np.ndarray


@dataclass(eq=False)
class TaskData:
    """The labelled windows of one task at the native rate, and how to split them.

    ``x`` is ``(n_windows, n_channels, n_times)`` float32 at ``sfreq``; ``y`` ``(n_windows,)`` int labels;
    ``participant`` and ``session`` ``(n_windows,)`` str per window. ``kind`` selects the folds:
    ``"cross_participant"``, ``"cross_session"``, ``"leave_one_subject_out"`` or ``"group_kfold"`` (whole groups,
    e.g. synthetic recordings, dealt class-balanced over :data:`GROUP_FOLDS` folds by the seed).
    """

    name: str
    kind: str
    baseline: str
    windows: RecordingWindows
    x: np.ndarray
    y: np.ndarray
    participant: np.ndarray
    session: np.ndarray
    label_names: dict[int, str]
    all_participants: tuple[str, ...] = ()
    split_config: MyoSplitConfig = field(default_factory=MyoSplitConfig)
    td_threshold: float = MYO_TD_THRESHOLD
    notes: list[str] = field(default_factory=list)
    _features: np.ndarray | None = field(default=None, repr=False)
    _model_inputs: dict[tuple[float, int, bool], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def sfreq(self) -> float:
        return self.windows.sfreq

    @property
    def ch_types(self) -> tuple[str, ...]:
        return self.windows.recordings[0].info.ch_types

    @property
    def ch_names(self) -> tuple[str, ...]:
        return self.windows.recordings[0].info.ch_names

    @property
    def units(self) -> tuple[str, ...]:
        return self.windows.recordings[0].info.units

    @property
    def n_channels(self) -> int:
        return self.x.shape[1]

    # -- splits -------------------------------------------------------------------------------------------------

    def split(self, seed: int) -> ParticipantSplit:
        """The participant split of ``seed`` (cross-participant task only)."""
        if self.kind != "cross_participant":
            raise ValueError(f"task {self.name!r} has no participant split (kind {self.kind!r})")
        return myo_participant_split(self.all_participants, seed, self.split_config)

    def folds(self, seed: int) -> list[Fold]:
        """The train/test folds of evaluation seed ``seed``; metrics are averaged over them."""
        if self.kind == "cross_participant":
            split = self.split(seed)
            train = np.flatnonzero(np.isin(self.participant, split.probe_train))
            test = np.flatnonzero(np.isin(self.participant, split.test))
            return [Fold(f"seed {seed}", train, test, self.participant[train])]
        if self.kind == "cross_session":
            folds = []
            for p in sorted(set(self.participant.tolist())):
                mine = self.participant == p
                sessions = sorted(set(self.session[mine].tolist()), key=int)
                if len(sessions) < 2:
                    continue  # noted when the task is built
                train = np.flatnonzero(mine & (self.session != sessions[-1]))
                test = np.flatnonzero(mine & (self.session == sessions[-1]))
                folds.append(
                    Fold(f"{p}: sessions {','.join(sessions[:-1])} -> {sessions[-1]}", train, test, self.session[train])
                )
            return folds
        if self.kind == "group_kfold":
            # Whole groups (recordings) per fold, class-balanced: each class's groups are shuffled by the seed and
            # dealt round-robin over GROUP_FOLDS folds.
            rng = np.random.default_rng(seed)
            fold_of: dict[str, int] = {}
            for label in np.unique(self.y):
                groups = sorted(set(self.participant[self.y == label].tolist()) - set(fold_of))
                for i, g in enumerate(rng.permutation(groups)):
                    fold_of[str(g)] = i % GROUP_FOLDS
            assigned = np.array([fold_of[str(g)] for g in self.participant])
            return [
                Fold(
                    f"seed {seed} fold {k}",
                    np.flatnonzero(assigned != k),
                    np.flatnonzero(assigned == k),
                    self.participant[assigned != k],
                )
                for k in range(GROUP_FOLDS)
                if (assigned == k).any()
            ]
        if self.kind == "leave_one_subject_out":
            subjects = sorted(set(self.participant.tolist()))
            return [
                Fold(
                    f"test subject {s}",
                    np.flatnonzero(self.participant != s),
                    np.flatnonzero(self.participant == s),
                    self.participant[self.participant != s],
                )
                for s in subjects
            ]
        raise ValueError(f"unknown task kind {self.kind!r}")

    # -- inputs -------------------------------------------------------------------------------------------------

    def baseline_features(self) -> np.ndarray:
        """``(n_windows, n_features)`` classical features of every window (computed once)."""
        if self._features is None:
            if self.baseline == "td_lda":
                self._features = td_features(self.x, threshold=self.td_threshold)
            elif self.baseline == "bandpower_lr":
                self._features = band_powers(self.x, self.sfreq)
            else:
                raise ValueError(f"unknown baseline {self.baseline!r}")
        return self._features

    def model_input(self, sfreq: float, multiple_of: int = 1, *, centre: bool = False) -> np.ndarray:
        """The task's windows at ``sfreq`` Hz, ``(n_windows, n_channels, n)`` float32.

        Each recording is resampled whole (no window edge effects), optionally centred on each channel's median
        (``centre``, as the pretraining pipeline does) and cut at the windows' start times. ``n`` is the window
        length at ``sfreq`` rounded down to a multiple of ``multiple_of`` (an encoder's patch length); the samples
        cut from the end are logged.
        """
        key = (float(sfreq), int(multiple_of), bool(centre))
        if key in self._model_inputs:
            return self._model_inputs[key]
        ratio = float(sfreq) / self.sfreq
        exact = int(round(self.windows.n_window * ratio))
        n = exact - exact % multiple_of
        if n < multiple_of or n < 1:
            raise ValueError(
                f"task {self.name!r}: a {self.windows.n_window / self.sfreq:g} s window is {exact} samples at "
                f"{sfreq:g} Hz, shorter than one patch of {multiple_of}"
            )
        if n != exact:
            log.warning(
                "task %s: windows are %d samples at %g Hz; using the first %d (a multiple of %d)",
                self.name, exact, sfreq, n, multiple_of,
            )  # fmt: skip
        if ratio == 1.0 and n == self.x.shape[-1] and not centre:
            out = self.x
        else:
            out = np.empty((len(self.x), self.n_channels, n), dtype=np.float32)
            for r, rec in enumerate(self.windows.recordings):
                rows = np.flatnonzero(self.windows.recording_index == r)
                if len(rows) == 0:
                    continue
                data = rec.data if ratio == 1.0 else resample(rec.data, self.sfreq, float(sfreq))
                if centre:
                    data = data - np.median(data, axis=1, keepdims=True)
                starts = np.minimum(np.round(self.windows.starts[rows] * ratio).astype(np.int64), data.shape[1] - n)
                for row, start in zip(rows, starts):
                    out[row] = data[:, start : start + n]
        self._model_inputs[key] = out
        return out


def _cut(windows: RecordingWindows) -> np.ndarray:
    """``(n_windows, n_channels, n_window)`` float32 copies of every window."""
    out = np.empty((len(windows), windows.recordings[0].n_channels, windows.n_window), dtype=np.float32)
    for i, (r, s) in enumerate(zip(windows.recording_index, windows.starts)):
        out[i] = windows.recordings[r].data[:, s : s + windows.n_window]
    return out


def _label_note(windows: RecordingWindows, what: str) -> str:
    counts = np.bincount(windows.labels[windows.labels >= 0])
    dropped = ", ".join(f"{n} {reason}" for reason, n in windows.dropped.items())
    return f"{what}: {len(windows)} windows; dropped {dropped}; class counts {counts.tolist()}"


# ---------------------------------------------------------------------------------------------------------------------
# Loaders


def load_myo_tasks(
    data_dir: str | Path,
    *,
    participants: Sequence[str] | None = None,
    split_config: MyoSplitConfig = MyoSplitConfig(),
    window_s: float = MYO_WINDOW_S,
    hop_s: float = MYO_HOP_S,
    min_label_fraction: float = 0.8,
    td_threshold: float = MYO_TD_THRESHOLD,
    tasks: Sequence[str] = ("myo-cross-participant", "myo-cross-session"),
) -> list[TaskData]:
    """Both Myo tasks over the held-out participants of ``data_dir``'s Myo dataset (read once, shared).

    ``participants`` restricts the dataset (e.g. for a quick run) *before* the split is drawn; by default every
    participant in the folder takes part in the split.
    """
    from biosig.io.myo import read_myo_dataset

    unknown = sorted(set(tasks) - {"myo-cross-participant", "myo-cross-session"})
    if unknown:
        raise ValueError(f"unknown Myo task(s) {unknown}; Myo tasks are myo-cross-participant, myo-cross-session")
    root = Path(data_dir) / get_dataset("myo").folder
    everyone = myo_participants(data_dir)
    if participants is not None:
        missing = sorted(set(map(str, participants)) - set(everyone))
        if missing:
            raise ValueError(f"participants {missing} are not in {root}; available: {everyone}")
        everyone = sorted(set(map(str, participants)))
    pool = myo_heldout_participants(everyone, split_config)
    recordings, summary = read_myo_dataset(root, participants=pool, progress=False)
    windows = RecordingWindows(
        recordings,
        window_s,
        hop_s,
        min_label_fraction=min_label_fraction,
        drop_unlabelled=True,
        group_by="participant",
    )
    x = _cut(windows)
    participant = np.array([str(recordings[r].metadata["participant"]) for r in windows.recording_index])
    session = np.array([str(recordings[r].metadata["session"]) for r in windows.recording_index])
    notes = [
        f"Myo held-out pool ({len(pool)} of {len(everyone)} participants, split_seed={split_config.split_seed}): "
        f"{', '.join(pool)}",
        _label_note(windows, f"Myo {window_s:g} s windows every {hop_s:g} s, min_label_fraction={min_label_fraction}"),
    ]
    if summary.n_skipped:
        notes.append(f"Myo reader skipped {summary.n_skipped} malformed line(s): {summary.skipped}")
    out = []
    common = dict(
        _model_inputs={},  # one cache for both tasks: they hold the same windows
        windows=windows,
        x=x,
        y=windows.labels,
        participant=participant,
        session=session,
        label_names=dict(recordings[0].label_names),
        all_participants=tuple(everyone),
        split_config=split_config,
        td_threshold=td_threshold,
    )
    if "myo-cross-participant" in tasks:
        out.append(TaskData("myo-cross-participant", "cross_participant", "td_lda", notes=list(notes), **common))
    if "myo-cross-session" in tasks:
        single = sorted(p for p in pool if len(set(session[participant == p])) < 2)
        cs_notes = list(notes)
        if single:
            cs_notes.append(f"participants with a single session, left out of cross-session: {single}")
        out.append(TaskData("myo-cross-session", "cross_session", "td_lda", notes=cs_notes, **common))
    return out


def _eegmat_recording(path: Path, channels: Sequence[str] = EEGMAT_CHANNELS) -> Recording:
    from biosig.io import read

    recs = read(path)
    if len(recs) != 1:
        raise ValueError(f"{path}: expected one recording, got {len(recs)}")
    rec = recs[0]
    missing = [ch for ch in channels if ch not in rec.info.ch_names]
    if missing:
        raise ValueError(f"{path}: missing channel(s) {missing}; has {list(rec.info.ch_names)}")
    if rec.labels is None or "subject" not in rec.metadata:
        raise ValueError(f"{path}: not an eegmat SubjectNN_1/2.edf file (no subject/condition labels)")
    return rec.pick(list(channels))


def load_eegmat_task(
    data_dir: str | Path,
    *,
    window_s: float = EEGMAT_WINDOW_S,
    hop_s: float = EEGMAT_HOP_S,
    subjects: Sequence[str] | None = None,
    channels: Sequence[str] = EEGMAT_CHANNELS,
    name: str = "eegmat",
) -> TaskData:
    """The eegmat rest vs. arithmetic task, leave-one-subject-out over the subjects found (at least 2).

    ``channels`` are the EDF channels kept (default: the 19 scalp EEG electrodes; the modality evaluation adds
    ``"ECG"``), ``name`` the task's name in the results.
    """
    files = get_dataset("eegmat").files(Path(data_dir))
    if not files:
        raise FileNotFoundError(f"no eegmat EDF file under {Path(data_dir) / get_dataset('eegmat').folder}")
    recordings = [_eegmat_recording(f, channels) for f in files]
    if subjects is not None:
        recordings = [r for r in recordings if str(r.metadata["subject"]) in set(map(str, subjects))]
    found = sorted({str(r.metadata["subject"]) for r in recordings})
    if len(found) < 2:
        raise ValueError(f"eegmat leave-one-subject-out needs at least 2 subjects, found {found} in {data_dir}")
    windows = RecordingWindows(
        recordings, window_s, hop_s, min_label_fraction=1.0, drop_unlabelled=True, group_by="subject"
    )
    participant = np.array([str(recordings[r].metadata["subject"]) for r in windows.recording_index])
    notes = [
        f"eegmat: {len(found)} subjects ({', '.join(found)}), leave-one-subject-out"
        + (" (only 2 subjects in this data folder: two folds, each trained on one subject)" if len(found) == 2 else ""),
        _label_note(windows, f"eegmat {window_s:g} s windows every {hop_s:g} s of {len(channels)} channels"),
    ]
    return TaskData(
        name,
        "leave_one_subject_out",
        "bandpower_lr",
        windows=windows,
        x=_cut(windows),
        y=windows.labels,
        participant=participant,
        session=np.array(["1"] * len(windows)),
        label_names=dict(recordings[0].label_names),
        notes=notes,
    )
