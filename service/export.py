"""Recordings out of the store: as a :class:`biosig.signals.Recording`, and as EDF, emg2pose HDF5 or npz files.

Gaps stay gaps. In the ``Recording`` (and so in EDF and npz) the samples of a gap are zeros with
``valid=False`` and a ``BAD_gap`` annotation over them; in emg2pose HDF5, which timestamps every sample, the
missing samples are simply absent (the time column jumps).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from biosig.io import emg2pose
from biosig.io.export import write_edf
from biosig.io.npz import write_npz
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Annotations, Recording
from service.db import StreamRow
from service.errors import BadInput, NotFound
from service.storage import read_segments

__all__ = ["FORMATS", "export_recording", "recording_file", "to_recording"]

#: format -> (file suffix, media type)
FORMATS: dict[str, tuple[str, str]] = {
    "edf": (".edf", "application/octet-stream"),
    "emg2pose": (".hdf5", "application/x-hdf5"),
    "npz": (".npz", "application/octet-stream"),
}

_TO_MICROVOLTS = {"V": 1e6, "mV": 1e3, "uV": 1.0, "µV": 1.0}


def recording_file(recordings_dir: Path, row: StreamRow) -> Path:
    return recordings_dir / row.tenant / f"{row.id}.bsig"


def to_recording(row: StreamRow, path: Path) -> Recording:
    """All persisted samples of the stream, from its first sample to its last, gaps zero-filled and marked."""
    hello = row.hello
    channels = hello["channels"]
    info = SignalInfo(
        sfreq=float(hello["sfreq"]),
        ch_names=tuple(c["name"] for c in channels),
        ch_types=tuple(c["type"] for c in channels),
        units=tuple(c["unit"] for c in channels),
        start_time=datetime.fromtimestamp(row.created, UTC),
    )
    segments = read_segments(path, len(channels)) if path.exists() else []
    if not segments:
        raise NotFound(f"recording {row.id} holds no samples yet")
    first, stop = segments[0].first_sample, segments[-1].stop_sample
    data = np.zeros((len(channels), stop - first), dtype=np.float32)
    valid = np.zeros(stop - first, dtype=bool)
    for s in segments:
        data[:, s.first_sample - first : s.stop_sample - first] = s.data
        valid[s.first_sample - first : s.stop_sample - first] = True
    onsets, durations = [], []
    for prev, nxt in zip(segments, segments[1:]):
        onsets.append((prev.stop_sample - first) / info.sfreq)
        durations.append((nxt.first_sample - prev.stop_sample) / info.sfreq)
    annotations = Annotations(np.array(onsets), np.array(durations), ("BAD_gap",) * len(onsets))
    metadata = {"stream": row.key, "stream_id": row.id, "tenant": row.tenant, "first_sample": first,
                "device": hello.get("device", {}), "source": "biosig service"}  # fmt: skip
    return Recording(data, info, valid=valid, annotations=annotations, metadata=metadata)


def _emg2pose(rec: Recording, row: StreamRow, out: Path) -> Path:
    types, units = rec.info.ch_types, rec.info.units
    if rec.info.n_channels != emg2pose.N_EMG_CHANNELS or set(types) != {"emg"}:
        raise BadInput(
            f"emg2pose HDF5 holds {emg2pose.N_EMG_CHANNELS} EMG channels; recording {row.id} has "
            f"{rec.info.n_channels} channels of type(s) {sorted(set(types))} (export it as edf or npz)"
        )
    bad = sorted({u for u in units if u not in _TO_MICROVOLTS})
    if bad:
        raise BadInput(
            f"emg2pose HDF5 stores EMG in microvolts; recording {row.id} is in {bad}, which cannot be converted "
            f"(channel units must be one of {sorted(_TO_MICROVOLTS)})"
        )
    factor = np.array([_TO_MICROVOLTS[u] for u in units], dtype=np.float64)[:, None]
    keep = rec.valid if rec.valid is not None else np.ones(rec.n_times, bool)
    idx = np.flatnonzero(keep)
    first_sample = int(rec.metadata["first_sample"])
    time = row.created + (first_sample + idx) / rec.sfreq  # unix seconds on the device's sample clock
    emg = (rec.data[:, idx].astype(np.float64) * factor).T.astype(np.float32)
    device = row.hello.get("device", {})
    side = device.get("side", "right")
    return emg2pose.write_session(
        out,
        time=time.astype(np.float64),
        emg=emg,
        joint_angles=np.zeros((len(idx), emg2pose.N_JOINTS)),  # no pose streamed: all-zero rows = pose missing
        session=f"{row.tenant}-{row.id}",
        stage=row.key.replace(":", "_"),
        user=device.get("user", row.tenant),
        side=side if side in emg2pose.SIDES else "right",
        sample_rate=rec.sfreq,
        overwrite=True,
    )


def export_recording(row: StreamRow, path: Path, fmt: str, out_dir: str | os.PathLike[str]) -> Path:
    """Write the recording as ``fmt`` into ``out_dir``; returns the file."""
    if fmt not in FORMATS:
        raise BadInput(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    rec = to_recording(row, path)
    out = Path(out_dir) / f"recording-{row.id}{FORMATS[fmt][0]}"
    if fmt == "edf":
        return write_edf(rec, out, overwrite=True)
    if fmt == "npz":
        return write_npz(rec, out)
    return _emg2pose(rec, row, out)
