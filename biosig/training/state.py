"""A run's folder and its resumable state: file names, atomic writes, config comparison, Ctrl-C handling.

``resume.pt`` holds plain containers and tensors only (``torch.load(weights_only=True)`` reads it): the format tag,
the config as a dict, the model and optimiser state dicts, the step and epoch reached, and the world size. It holds
no RNG state because the loop re-seeds every generator from ``(seed, rank, step)`` (see :mod:`biosig.training.loop`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MODEL_FILE",
    "RESUME_FILE",
    "RESUME_FREE",
    "STATE_FORMAT",
    "StopRequest",
    "atomic_torch_save",
    "config_differences",
    "load_state",
    "trim_metrics",
]

log = logging.getLogger(__name__)

RESUME_FILE = "resume.pt"
MODEL_FILE = "model.pt"
STATE_FORMAT = "biosig-train-state"
#: Config fields that do not change what is computed, so a resumed run may change them.
RESUME_FREE = {("run", "progress"), ("run", "out_dir"), ("run", "threads"), ("run", "checkpoint_every"),
               ("run", "log_every"), ("data", "num_workers"), ("data", "data_dir")}  # fmt: skip


def atomic_torch_save(payload: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never leaves a partial file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_state(path: Path) -> dict[str, Any]:
    """The resumable state saved at ``path``; ``ValueError`` when the file is something else."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: not a biosig training state (format {STATE_FORMAT!r})")
    return state


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``section.field: old -> new`` for every field that differs, except the free ones of :data:`RESUME_FREE`."""
    diffs = []
    for section in sorted(set(saved) | set(current)):
        a, b = saved.get(section, {}), current.get(section, {})
        for key in sorted(set(a) | set(b)):
            if (section, key) not in RESUME_FREE and a.get(key) != b.get(key):
                diffs.append(f"{section}.{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return diffs


def trim_metrics(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop metric lines past ``step`` (written after the resumable state being resumed); return those kept."""
    if not path.exists():
        return []
    kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    kept = [line for line in kept if line["step"] <= step]
    path.write_text("".join(json.dumps(line) + "\n" for line in kept), encoding="utf-8")
    return kept


class StopRequest:
    """SIGINT/SIGTERM handler that asks the loop to stop at the next step boundary and save.

    A repeat within 2 s is ignored (a terminal Ctrl-C reaches torchrun's workers directly *and* through the agent);
    a later one raises ``KeyboardInterrupt`` for users who do not want to wait.
    """

    def __init__(self) -> None:
        self.requested = False
        self._first = 0.0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if not self.requested:
            self.requested, self._first = True, now
            log.warning(
                "%s received: stopping after this step and saving a resumable checkpoint", signal.Signals(signum).name
            )
        elif now - self._first > 2.0:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
