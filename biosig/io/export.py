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


#: biosig channel type -> the EDF+ label prefix that names it (EDF has no type field; the EDF+ convention is a
#: label "<type> <name>", which :func:`biosig.io.edf.split_channel_name` reads back).
_EDF_PREFIX = {"emg": "EMG", "ecg": "ECG", "eeg": "EEG", "eog": "EOG", "resp": "Resp", "ppg": "PPG", "eda": "EDA",
               "spo2": "SpO2", "temp": "Temp"}  # fmt: skip
_EDF_LABEL_CHARS = 16


def edf_label(name: str, ch_type: str) -> str:
    """The EDF signal label of a channel: ``"EMG emg0"``; unchanged when it already carries its type or when
    the prefixed label would not fit EDF's 16 characters."""
    from biosig.io.edf import PREFIX_TYPES

    prefix = _EDF_PREFIX.get(ch_type)
    if prefix is None or PREFIX_TYPES.get(name.partition(" ")[0].lower()) == ch_type:
        return name
    label = f"{prefix} {name}"
    return label if len(label) <= _EDF_LABEL_CHARS else name


def write_edf(recording: Recording, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write ``recording`` as EDF through ``mne.export.export_raw`` (16-bit, physical range per channel).

    Signal labels follow the EDF+ convention ``"<type> <name>"`` (:func:`edf_label`), so biosig's EDF reader
    (and other EDF tools) recover each channel's type and name.
    """
    import mne

    path = Path(path)
    if path.suffix.lower() != ".edf":
        raise SignalError(f"EDF output needs a .edf file name, got {path.name!r}")
    raw = to_mne_raw(recording)
    labels = {n: edf_label(n, t) for n, t in zip(recording.info.ch_names, recording.info.ch_types)}
    if len(set(labels.values())) == len(labels):
        raw.rename_channels(labels)
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
