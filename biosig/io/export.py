"""Writers for converting recordings to other formats: EDF (through mne), CSV, and biosig's npz.

emg2pose HDF5 has its own writer in :mod:`biosig.io.emg2pose` because its schema is fixed (16 EMG channels at
2 kHz with 20 joint angles) and most recordings do not fit it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from biosig.errors import SignalError
from biosig.io.npz import write_npz
from biosig.signals.recording import Recording

# biosig channel types -> MNE channel types (MNE has no ppg/eda/pose; "bio"/"misc" keep their data intact).
_MNE_TYPES = {
    "emg": "emg",
    "ecg": "ecg",
    "eeg": "eeg",
    "eog": "eog",
    "resp": "resp",
    "stim": "stim",
    "ppg": "bio",
    "eda": "bio",
    "abp": "bio",
    "spo2": "bio",
    "temp": "bio",
    "imu": "misc",
    "pose": "misc",
    "misc": "misc",
}


def to_mne_raw(recording: Recording):  # -> mne.io.RawArray (mne imported lazily: it is slow to import)
    """The recording as an ``mne.io.RawArray`` (data in the recording's units) with its annotations."""
    import mne

    info = mne.create_info(
        list(recording.info.ch_names),
        recording.sfreq,
        [_MNE_TYPES[t] for t in recording.info.ch_types],
    )
    raw = mne.io.RawArray(recording.data.astype(np.float64), info, verbose=False)
    if recording.info.start_time is not None:
        raw.set_meas_date(recording.info.start_time)
    if len(recording.annotations):
        raw.set_annotations(
            mne.Annotations(
                recording.annotations.onset, recording.annotations.duration, list(recording.annotations.description)
            )
        )
    return raw


def write_edf(recording: Recording, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``recording`` as EDF through ``mne.export.export_raw`` (16-bit, physical range per channel)."""
    import mne

    path = Path(path)
    if path.suffix.lower() != ".edf":
        raise SignalError(f"EDF output needs a .edf file name, got {path.name!r}")
    raw = to_mne_raw(recording)
    mne.export.export_raw(path, raw, fmt="edf", overwrite=overwrite, verbose=False)
    return path


def write_csv(recording: Recording, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``time_s, <channels...>[, label]`` rows with a header naming channels and units."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or --overwrite) to replace it")
    header = ["time_s"] + [f"{n} [{u}]" for n, u in zip(recording.info.ch_names, recording.info.units)]
    columns = [recording.times[:, None], recording.data.T.astype(np.float64)]
    if recording.labels is not None:
        header.append("label")
        columns.append(recording.labels[:, None].astype(np.float64))
    table = np.hstack(columns)
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerow(header)
        np.savetxt(handle, table, delimiter=",", fmt="%.9g")
    return path


def _write_npz(recording: Recording, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    if Path(path).exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or --overwrite) to replace it")
    return write_npz(recording, path)


#: Output formats of ``biosig data convert``: name -> (file suffix, writer).
WRITERS: dict[str, tuple[str, Callable[..., Path]]] = {
    "npz": (".npz", _write_npz),
    "edf": (".edf", write_edf),
    "csv": (".csv", write_csv),
}
