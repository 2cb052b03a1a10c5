"""Windows over an emg2pose session with the semantics of emg2pose's ``WindowedEmgDataset``.

What "equivalent" means here. For a session of ``T`` samples, window length ``W``, stride ``S`` (default
``W``) and padding ``(L, R)``:

1. **Blocks.** Without ``skip_ik_failures`` there is one block ``[0, T)``. With it, every maximal run
   ``[a, e)`` of samples without IK failure that holds at least ``W`` samples is a block.
2. **Windows.** Block ``[s, e)`` holds ``max(0, (e - s - W) // S + 1)`` windows starting at ``s + k * S``;
   windows are numbered block after block. :attr:`Emg2PoseWindows.windows` is the ``(n, 2)`` table of
   ``(offset, block_end)``, as emg2pose's ``self.windows``.
3. **Jitter** (training): with ``leftover = block_end - (offset + W) > 0`` the offset moves right by a random
   integer in ``[0, min(S, leftover))``; the window never leaves its block.
4. **Padding**: the samples read are ``[max(offset - L, 0), min(offset + W + R, T))``, so windows at the
   session's edges are shorter (emg2pose truncates the same way). Padding may reach into IK failures; the
   returned ``no_ik_failure`` mask covers the padded span. ``pad_edges=True`` (not in emg2pose) instead fills
   the context missing at the edges with zeros marked False in ``no_ik_failure``, so every item has
   ``L + W + R`` samples and the default DataLoader collate can batch them.

Deviations, all deliberate:

- emg2pose turns each run's inclusive last index ``b`` into a block ending at ``b - 1`` (exclusive) and keeps
  runs with ``b - a >= W``, so the last two valid samples of every run are never used and a run of exactly
  ``W`` valid samples yields no window. We use the run's true end. ``emg2pose_compatible=True`` reproduces
  emg2pose's window table exactly, e.g. to compare with its published baselines.
- A session shorter than ``W`` gives no window (with a logged warning) where emg2pose computes a negative
  length and fails.
- Jitter draws from a per-process ``numpy.random.Generator`` seeded from ``seed`` (and, in DataLoader workers,
  torch's per-epoch worker seed) instead of the global numpy state, so runs are reproducible and workers and
  epochs do not repeat each other.
- ``emg`` comes back in volts (float32), not the file's microvolts; ``joint_angles`` as float32 radians.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from biosig.io.emg2pose import EMG, EMG_TO_VOLTS, JOINT_ANGLES, Emg2PoseSession

logger = logging.getLogger(__name__)


def valid_runs(valid: np.ndarray) -> np.ndarray:
    """``(n_runs, 2)`` half-open ``[start, stop)`` of each maximal run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], np.asarray(valid, dtype=np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


def window_blocks(
    n_samples: int,
    window_length: int,
    no_ik_failure: np.ndarray | None = None,
    emg2pose_compatible: bool = False,
) -> np.ndarray:
    """``(n_blocks, 2)`` half-open sample ranges that windows are cut from (rule 1 of the module docstring).

    ``no_ik_failure`` None means every sample is usable (``skip_ik_failures=False``).
    """
    if no_ik_failure is None:
        return np.array([[0, n_samples]], dtype=np.int64)
    runs = valid_runs(no_ik_failure)
    if emg2pose_compatible:
        # emg2pose: inclusive last index b = stop - 1; keep b - start >= W; block ends (exclusively) at b - 1.
        keep = (runs[:, 1] - 1 - runs[:, 0]) >= window_length
        return np.stack([runs[keep, 0], runs[keep, 1] - 2], axis=1).astype(np.int64)
    keep = (runs[:, 1] - runs[:, 0]) >= window_length
    return runs[keep].astype(np.int64)


def window_table(blocks: np.ndarray, window_length: int, stride: int) -> np.ndarray:
    """``(n_windows, 2)`` int64 ``(offset, block_end)`` for every window of every block, in order."""
    rows = []
    for start, end in blocks:
        count = max(0, (int(end) - int(start) - window_length) // stride + 1)
        offsets = start + stride * np.arange(count, dtype=np.int64)
        rows.append(np.stack([offsets, np.full(count, end, dtype=np.int64)], axis=1))
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, 2), dtype=np.int64)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Emg2PoseWindows(Dataset):
    """A ``torch`` Dataset of windows over one emg2pose session file (see the module docstring for semantics).

    Parameters
    ----------
    path
        The session file.
    window_length
        Samples per window (before padding); None = the whole session as one window.
    stride
        Samples between window starts; None = ``window_length`` (no overlap).
    padding
        ``(left, right)`` context samples added around each window, truncated at the session's edges.
    jitter
        Shift each window by a random offset within its stride (for training).
    skip_ik_failures
        Only cut windows from runs without IK failures (requires ``window_length``).
    emg2pose_compatible
        Reproduce emg2pose's block ends exactly, off-by-one included.
    seed
        Seed of the jitter generator (None: fresh entropy).
    pad_edges
        Zero-fill padding that falls outside the session (and mask it) instead of truncating the window.

    Items are dicts: ``emg`` float32 ``(16, n)`` volts, ``joint_angles`` float32 ``(20, n)`` radians,
    ``no_ik_failure`` bool ``(n,)``, and ints ``window_start_idx``/``window_end_idx`` (the padded span read
    from the file), ``offset`` (the window's first sample without padding), and ``pad_left``/``pad_right``
    (zero samples added by ``pad_edges``, else 0).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        window_length: int | None = 10_000,
        stride: int | None = None,
        padding: tuple[int, int] = (0, 0),
        jitter: bool = False,
        skip_ik_failures: bool = False,
        emg2pose_compatible: bool = False,
        seed: int | None = None,
        pad_edges: bool = False,
    ) -> None:
        self.path = Path(path)
        with Emg2PoseSession(self.path) as session:
            self.session_length = len(session)
            # The mask is T bools: keep it in memory so items never re-read all joint angles.
            self.no_ik_failure = session.no_ik_failure.copy()
        if window_length is None:
            if skip_ik_failures:
                raise ValueError("skip_ik_failures=True requires window_length to be given, got None")
            window_length = self.session_length
        self.window_length = _check_int("window_length", window_length, 1)
        self.stride = self.window_length if stride is None else _check_int("stride", stride, 1)
        if not isinstance(padding, (tuple, list)) or len(padding) != 2:
            raise ValueError(f"padding must be a (left, right) pair of sample counts, got {padding!r}")
        self.left_padding = _check_int("padding[0]", padding[0], 0)
        self.right_padding = _check_int("padding[1]", padding[1], 0)
        self.jitter = bool(jitter)
        self.skip_ik_failures = bool(skip_ik_failures)
        self.seed = seed
        self.pad_edges = bool(pad_edges)

        mask = self.no_ik_failure if self.skip_ik_failures else None
        self.blocks = window_blocks(self.session_length, self.window_length, mask, emg2pose_compatible)
        self.windows = window_table(self.blocks, self.window_length, self.stride)
        if len(self.windows) == 0:
            logger.warning(
                "%s: no window of %d samples fits (%d samples, skip_ik_failures=%s)",
                self.path,
                self.window_length,
                self.session_length,
                self.skip_ik_failures,
            )
        self._handle: tuple[int, h5py.Dataset, h5py.File] | None = None
        self._rng: tuple[int, np.random.Generator] | None = None

    def __len__(self) -> int:
        return len(self.windows)

    # h5py handles must not cross a fork, and each DataLoader worker needs its own jitter stream: both are
    # created lazily and keyed on the process id.
    def _records(self) -> h5py.Dataset:
        pid = os.getpid()
        if self._handle is None or self._handle[0] != pid:
            file = h5py.File(self.path, "r")
            self._handle = (pid, file["emg2pose/timeseries"], file)
        return self._handle[1]

    def _generator(self) -> np.random.Generator:
        pid = os.getpid()
        if self._rng is None or self._rng[0] != pid:
            info = torch.utils.data.get_worker_info()
            if info is None:
                entropy = self.seed
            else:
                # torch draws each worker's seed afresh every epoch (from its own seeded generator), so mixing it
                # in gives new jitter per epoch even when non-persistent workers restart from a pickled copy.
                entropy = [info.seed] if self.seed is None else [self.seed, info.seed]
            self._rng = (pid, np.random.default_rng(np.random.SeedSequence(entropy)))
        return self._rng[1]

    def close(self) -> None:
        """Close the file handle held for reading items (reopened on demand)."""
        if self._handle is not None:
            self._handle[2].close()
            self._handle = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None  # open HDF5 handles cannot be pickled to spawned workers
        return state

    def span(self, index: int, jitter_offset: int = 0) -> tuple[int, int, int]:
        """``(offset, window_start, window_end)`` of window ``index`` shifted right by ``jitter_offset``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"window index {index} out of range for {len(self)} windows")
        offset, block_end = (int(v) for v in self.windows[index])
        offset += jitter_offset
        start = max(offset - self.left_padding, 0)
        end = min(offset + self.window_length + self.right_padding, self.session_length)
        assert offset + self.window_length <= block_end, "jitter moved a window out of its block"
        return offset, start, end

    def __getitem__(self, index: int) -> dict[str, Any]:
        offset, block_end = (int(v) for v in self.windows[index])
        shift = 0
        leftover = block_end - (offset + self.window_length)
        if self.jitter and leftover > 0:
            shift = int(self._generator().integers(0, min(self.stride, leftover)))
        offset, start, end = self.span(index, shift)
        records = self._records()[start:end]
        emg = (records[EMG].astype(np.float64) * EMG_TO_VOLTS).astype(np.float32).T  # (C, n)
        angles = records[JOINT_ANGLES].astype(np.float32).T  # (20, n)
        valid = self.no_ik_failure[start:end]
        pad_left = pad_right = 0
        if self.pad_edges:
            pad_left = start - (offset - self.left_padding)
            pad_right = offset + self.window_length + self.right_padding - end
            widths = ((0, 0), (pad_left, pad_right))
            emg, angles = np.pad(emg, widths), np.pad(angles, widths)
            valid = np.pad(valid, (pad_left, pad_right), constant_values=False)
        return {
            "emg": torch.from_numpy(np.ascontiguousarray(emg)),
            "joint_angles": torch.from_numpy(np.ascontiguousarray(angles)),
            "no_ik_failure": torch.from_numpy(valid.copy()),  # (n,)
            "window_start_idx": start,
            "window_end_idx": end,
            "offset": offset,
            "pad_left": pad_left,
            "pad_right": pad_right,
        }
