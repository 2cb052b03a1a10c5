"""Fixed-length windows over any list of :class:`~biosig.signals.Recording`, as a ``torch`` Dataset.

Windows are given in seconds and converted with the recordings' common sampling rate
(``n = round(seconds * sfreq)``). Window ``k`` of a recording starts at sample ``k * hop`` and is kept while
``start + n_window <= n_times``; a tail shorter than a window is not used.

**Label of a window.** Among the window's samples that are labelled (``label != -1``) and valid, count each
class. The class with the most samples is the window's label if its count is at least
``min_label_fraction * n_window`` (a fraction of the *whole* window, so a window that is mostly unlabelled or
invalid does not inherit the label of a few samples). A tie for the most samples has no majority and gives
-1 (:data:`~biosig.signals.recording.UNLABELLED`), as does a window with no labelled valid sample or a
recording without labels. ``drop_unlabelled=True`` removes windows whose label is -1.

**Invalid samples** (``Recording.valid`` False on the recording or on its target, e.g. gaps or IK failures):
``invalid="drop"`` removes every window that holds one; ``invalid="mask"`` keeps them and adds a per-sample
``mask`` to each item. Every item reports its ``valid_fraction``. Counts of dropped windows are kept in
:attr:`RecordingWindows.dropped` and logged, so nothing disappears unannounced.

**Gaps.** Readers that drop malformed rows record where the hole is (``metadata["gaps"]``: the index of the
first sample after each hole), because a dropped row leaves no sample to mark invalid. A window that spans such a
hole would silently join samples that were not contiguous in time, so ``gaps="drop"`` (the default) removes
it; ``gaps="keep"`` keeps it and :meth:`RecordingWindows.index_table` flags it in ``crosses_gap``.

**Paired targets.** ``targets[i]`` (e.g. the pose of an emg2pose session) is cut at the same samples as
``recordings[i]`` and returned as ``y``; it must have the same length and sampling rate.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from biosig.signals.recording import UNLABELLED, Recording

logger = logging.getLogger(__name__)

Transform = Callable[[torch.Tensor], torch.Tensor]
GroupBy = str | Callable[[Recording], Hashable] | None
INVALID_MODES = ("drop", "mask")
GAP_MODES = ("drop", "keep")


def _window_samples(name: str, seconds: float, sfreq: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {seconds!r}")
    n = int(round(seconds * sfreq))
    if n < 1:
        raise ValueError(f"{name}={seconds!r} s is {seconds * sfreq:.3g} samples at {sfreq:g} Hz; need >= 1 sample")
    return n


def _window_sums(values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Sum of ``values`` over ``[start, start + length)`` for each start (prefix sums, O(n_times))."""
    prefix = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return prefix[starts + length] - prefix[starts]


def _crosses_gap(rec: Recording, starts: np.ndarray, length: int) -> np.ndarray:
    """``(n_windows,)`` bool: the window holds both sides of a hole listed in ``rec.metadata["gaps"]``.

    A gap entry ``(g, n_dropped)`` means rows were lost between samples ``g - 1`` and ``g``.
    """
    gap_starts = np.array([int(g) for g, *_ in rec.metadata.get("gaps", ())], dtype=np.int64)
    if gap_starts.size == 0:
        return np.zeros(len(starts), dtype=bool)
    # The first gap index strictly after each window's first sample; the window crosses it if it is inside.
    after = np.searchsorted(np.sort(gap_starts), starts, side="right")
    padded = np.append(np.sort(gap_starts), np.iinfo(np.int64).max)
    return padded[after] < starts + length


def window_labels(
    labels: np.ndarray | None,
    usable: np.ndarray,
    starts: np.ndarray,
    n_window: int,
    min_label_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(label, label_fraction)`` per window by the majority rule of the module docstring.

    ``labels`` is ``(n_times,)`` int with -1 for unlabelled (None: no labels), ``usable`` the ``(n_times,)``
    valid mask; ``label_fraction`` is the majority class's share of the whole window (0 without one).
    """
    n = len(starts)
    if labels is None:
        return np.full(n, UNLABELLED, dtype=np.int64), np.zeros(n)
    counted = (labels != UNLABELLED) & usable
    classes = np.unique(labels[counted])
    if len(classes) == 0 or n == 0:
        return np.full(n, UNLABELLED, dtype=np.int64), np.zeros(n)
    counts = np.stack([_window_sums(counted & (labels == c), starts, n_window) for c in classes], axis=1)
    best = counts.max(axis=1)
    tie = (counts == best[:, None]).sum(axis=1) > 1
    fraction = best / n_window
    # The small tolerance keeps e.g. 0.3 * 10 == 3 samples from failing on float rounding.
    accepted = (best > 0) & ~tie & (fraction >= min_label_fraction - 1e-12)
    label = np.where(accepted, classes[counts.argmax(axis=1)], UNLABELLED).astype(np.int64)
    return label, fraction


class RecordingWindows(Dataset):
    """Windows of ``window_s`` seconds every ``hop_s`` seconds over ``recordings``.

    Parameters
    ----------
    recordings
        Recordings from any reader, all at the same sampling rate.
    window_s, hop_s
        Window length and hop in seconds; ``hop_s`` None = ``window_s`` (no overlap).
    targets
        Optional recordings aligned sample by sample with ``recordings`` (same length and rate), returned as ``y``.
    invalid
        ``"drop"`` windows holding an invalid sample, or ``"mask"``: keep them and return ``mask``.
    min_label_fraction
        Share of the window the majority class must cover to give the window its label, in ``[0, 1]``.
    drop_unlabelled
        Remove windows whose label is -1.
    gaps
        ``"drop"`` windows that span a hole recorded in ``metadata["gaps"]`` (rows a reader had to skip), or
        ``"keep"`` them (flagged in :meth:`index_table`).
    group_by
        Per-recording group for splits: a metadata key (``"subject"``, ``"session"``), a function of the
        recording, or None for the recording's index.
    transform, target_transform
        Applied to ``x`` and ``y`` of each item.

    Items are dicts: ``x`` float32 ``(n_channels, n_window)``; ``label`` int64 scalar; ``valid_fraction``
    float32 scalar; ``recording_index`` and ``start`` (sample) ints; ``index`` the window's row in
    :meth:`index_table`; plus ``mask`` bool ``(n_window,)`` when ``invalid="mask"`` and ``y`` float32
    ``(n_target_channels, n_window)`` with targets. The default collate batches them when every recording has
    the same channel count.
    """

    def __init__(
        self,
        recordings: Sequence[Recording],
        window_s: float,
        hop_s: float | None = None,
        *,
        targets: Sequence[Recording] | None = None,
        invalid: Literal["drop", "mask"] = "drop",
        min_label_fraction: float = 0.5,
        drop_unlabelled: bool = False,
        gaps: Literal["drop", "keep"] = "drop",
        group_by: GroupBy = None,
        transform: Transform | None = None,
        target_transform: Transform | None = None,
    ) -> None:
        self.recordings = list(recordings)
        if not self.recordings:
            raise ValueError("recordings must hold at least one Recording, got none")
        for i, rec in enumerate(self.recordings):
            if not isinstance(rec, Recording):
                raise TypeError(f"recordings[{i}] must be a Recording, got {type(rec).__name__}")
        rates = sorted({rec.sfreq for rec in self.recordings})
        if len(rates) > 1:
            raise ValueError(f"all recordings must share one sampling rate (resample first), got {rates} Hz")
        self.sfreq = rates[0]
        self.n_window = _window_samples("window_s", window_s, self.sfreq)
        self.n_hop = self.n_window if hop_s is None else _window_samples("hop_s", hop_s, self.sfreq)
        if invalid not in INVALID_MODES:
            raise ValueError(f"invalid must be one of {list(INVALID_MODES)}, got {invalid!r}")
        self.invalid = invalid
        if gaps not in GAP_MODES:
            raise ValueError(f"gaps must be one of {list(GAP_MODES)}, got {gaps!r}")
        self.gap_mode = gaps
        if isinstance(min_label_fraction, bool) or not 0.0 <= float(min_label_fraction) <= 1.0:
            raise ValueError(f"min_label_fraction must be in [0, 1], got {min_label_fraction!r}")
        self.min_label_fraction = float(min_label_fraction)
        self.targets = None if targets is None else self._check_targets(targets)
        self.transform = transform
        self.target_transform = target_transform
        self.recording_groups: list[Hashable] = [self._group(i, rec, group_by) for i, rec in enumerate(self.recordings)]
        self._valid_masks = [self._valid(i) for i in range(len(self.recordings))]
        self._build(drop_unlabelled)

    # -- construction ----------------------------------------------------------------------------------------

    def _check_targets(self, targets: Sequence[Recording]) -> list[Recording]:
        targets = list(targets)
        if len(targets) != len(self.recordings):
            raise ValueError(f"targets must pair one-to-one with {len(self.recordings)} recordings, got {len(targets)}")
        for i, (rec, target) in enumerate(zip(self.recordings, targets)):
            if not isinstance(target, Recording):
                raise TypeError(f"targets[{i}] must be a Recording, got {type(target).__name__}")
            if target.n_times != rec.n_times or target.sfreq != rec.sfreq:
                raise ValueError(
                    f"targets[{i}] must align sample by sample with recordings[{i}] ({rec.n_times} samples at "
                    f"{rec.sfreq:g} Hz), got {target.n_times} samples at {target.sfreq:g} Hz"
                )
        return targets

    @staticmethod
    def _group(index: int, rec: Recording, group_by: GroupBy) -> Hashable:
        if group_by is None:
            return index
        if callable(group_by):
            return group_by(rec)
        if group_by not in rec.metadata:
            raise KeyError(
                f"recordings[{index}] has no metadata key {group_by!r} for group_by; keys are {sorted(rec.metadata)}"
            )
        return rec.metadata[group_by]

    def _valid(self, i: int) -> np.ndarray:
        """``(n_times,)`` bool: valid on the recording and on its target."""
        rec = self.recordings[i]
        valid = np.ones(rec.n_times, dtype=bool) if rec.valid is None else rec.valid.copy()
        if self.targets is not None and self.targets[i].valid is not None:
            valid &= self.targets[i].valid
        return valid

    def _build(self, drop_unlabelled: bool) -> None:
        columns: dict[str, list[np.ndarray]] = {k: [] for k in ("rec", "start", "label", "frac", "valid", "gap")}
        dropped = {"invalid": 0, "gap": 0, "unlabelled": 0}
        for i, rec in enumerate(self.recordings):
            if rec.n_times < self.n_window:
                raise ValueError(
                    f"window of {self.n_window} samples ({self.n_window / self.sfreq:g} s) is longer than "
                    f"recordings[{i}] ({rec.n_times} samples, {rec.duration:g} s)"
                )
            starts = np.arange(0, rec.n_times - self.n_window + 1, self.n_hop, dtype=np.int64)
            valid = self._valid_masks[i]
            valid_fraction = _window_sums(valid, starts, self.n_window) / self.n_window
            label, fraction = window_labels(rec.labels, valid, starts, self.n_window, self.min_label_fraction)
            keep = np.ones(len(starts), dtype=bool)
            if self.invalid == "drop":
                keep &= valid_fraction == 1.0
                dropped["invalid"] += int((~keep).sum())
            crosses_gap = _crosses_gap(rec, starts, self.n_window)
            if self.gap_mode == "drop":
                dropped["gap"] += int((keep & crosses_gap).sum())
                keep &= ~crosses_gap
            if drop_unlabelled:
                unlabelled = keep & (label == UNLABELLED)
                dropped["unlabelled"] += int(unlabelled.sum())
                keep &= ~unlabelled
            per_window = (np.full(len(starts), i), starts, label, fraction, valid_fraction, crosses_gap)
            for key, values in zip(columns, per_window):
                columns[key].append(values[keep])
        self.recording_index = np.concatenate(columns["rec"]).astype(np.int64)
        self.starts = np.concatenate(columns["start"]).astype(np.int64)
        self.labels = np.concatenate(columns["label"]).astype(np.int64)
        self.label_fraction = np.concatenate(columns["frac"]).astype(np.float64)
        self.valid_fraction = np.concatenate(columns["valid"]).astype(np.float64)
        self.crosses_gap = np.concatenate(columns["gap"]).astype(bool)
        self.dropped = dropped
        if any(dropped.values()):
            logger.info(
                "dropped %d window(s) with invalid samples, %d across gaps and %d unlabelled", *dropped.values()
            )
        if len(self.starts) == 0:
            raise ValueError(
                f"no window left out of {sum(dropped.values())} (dropped {dropped['invalid']} with invalid samples "
                f"under invalid='drop', {dropped['gap']} across gaps under gaps='drop', {dropped['unlabelled']} "
                "unlabelled under drop_unlabelled=True)"
            )

    # -- the index table, for splits -------------------------------------------------------------------------

    @property
    def groups(self) -> np.ndarray:
        """``(n_windows,)`` object array: each window's recording group (for GroupKFold and the like)."""
        per_recording = np.empty(len(self.recording_groups), dtype=object)
        per_recording[:] = self.recording_groups
        return per_recording[self.recording_index]

    def index_table(self) -> pd.DataFrame:
        """One row per window: recording, start, stop (samples), start_s, label, label_fraction, valid_fraction, group."""
        return pd.DataFrame(
            {
                "recording": self.recording_index,
                "start": self.starts,
                "stop": self.starts + self.n_window,
                "start_s": self.starts / self.sfreq,
                "label": self.labels,
                "label_fraction": self.label_fraction,
                "valid_fraction": self.valid_fraction,
                "crosses_gap": self.crosses_gap,
                "group": self.groups,
            }
        )

    def indices_for_groups(self, groups: Iterable[Hashable]) -> np.ndarray:
        """Window indices whose group is in ``groups`` (e.g. the training participants), for ``Subset``."""
        wanted = set(groups)
        unknown = wanted - set(self.recording_groups)
        if unknown:
            raise KeyError(
                f"unknown group(s) {sorted(map(str, unknown))}; groups are {sorted(map(str, set(self.recording_groups)))}"
            )
        chosen = [i for i, g in enumerate(self.recording_groups) if g in wanted]
        return np.flatnonzero(np.isin(self.recording_index, chosen))

    # -- items -----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"window index {index} out of range for {len(self)} windows")
        index = int(index) % len(self)
        i, start = int(self.recording_index[index]), int(self.starts[index])
        stop = start + self.n_window
        x = torch.from_numpy(self.recordings[i].data[:, start:stop].copy())  # (C, n)
        if self.transform is not None:
            x = self.transform(x)
        item: dict[str, Any] = {
            "x": x,
            "label": torch.tensor(self.labels[index], dtype=torch.int64),
            "valid_fraction": torch.tensor(self.valid_fraction[index], dtype=torch.float32),
            "recording_index": i,
            "start": start,
            "index": index,
        }
        if self.invalid == "mask":
            item["mask"] = torch.from_numpy(self._valid_masks[i][start:stop].copy())
        if self.targets is not None:
            y = torch.from_numpy(self.targets[i].data[:, start:stop].copy())  # (C_y, n)
            item["y"] = y if self.target_transform is None else self.target_transform(y)
        return item
