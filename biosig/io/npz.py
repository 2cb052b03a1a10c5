"""biosig's own lossless file format (``.npz``), and SciPy's electrocardiogram file (also an npz archive).

The native format keeps everything a :class:`~biosig.signals.Recording` holds: data, info, labels, the valid
mask, annotations and JSON-serialisable metadata. ``biosig data convert`` writes it; any reader's output
round-trips through it exactly.
"""

from __future__ import annotations

import json
import os
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from biosig.errors import ReaderError
from biosig.io.registry import register_reader
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Annotations, Recording

FORMAT_TAG = "biosig-recording/1"


def _is_npz(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def _npz_keys(path: Path) -> set[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return {name.removesuffix(".npy") for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError):
        return set()


def _jsonable(value: Any) -> Any:
    """Metadata values made JSON-safe (numpy scalars and arrays to lists, paths to strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_npz(recording: Recording, path: str | os.PathLike[str]) -> Path:
    """Write ``recording`` to ``path`` (``.npz``) losslessly; returns the path."""
    path = Path(path)
    header = {
        "format": FORMAT_TAG,
        "sfreq": recording.info.sfreq,
        "ch_names": list(recording.info.ch_names),
        "ch_types": list(recording.info.ch_types),
        "units": list(recording.info.units),
        "start_time": None if recording.info.start_time is None else recording.info.start_time.isoformat(),
        "label_names": {str(k): v for k, v in recording.label_names.items()},
        "annotation_descriptions": list(recording.annotations.description),
        "metadata": _jsonable(dict(recording.metadata)),
    }
    arrays: dict[str, np.ndarray] = {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        "data": recording.data,
        "annotation_onset": recording.annotations.onset,
        "annotation_duration": recording.annotations.duration,
    }
    if recording.labels is not None:
        arrays["labels"] = recording.labels
    if recording.valid is not None:
        arrays["valid"] = recording.valid
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    os.replace(tmp, path)
    return path


def _sniff_native(path: Path) -> bool:
    return _is_npz(path) and {"header", "data"} <= _npz_keys(path)


@register_reader("biosig-npz", "biosig's lossless .npz recording", _sniff_native)
def read_npz(path: Path) -> list[Recording]:
    """Read a recording written by :func:`write_npz`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ReaderError(
            path, f"cannot open as an npz archive ({exc})", expected="a file written by write_npz"
        ) from exc
    missing = {"header", "data", "annotation_onset", "annotation_duration"} - arrays.keys()
    if missing:
        raise ReaderError(path, f"missing arrays {sorted(missing)}", expected="a biosig recording archive")
    try:
        header = json.loads(arrays["header"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReaderError(path, "the header is not valid JSON", expected=FORMAT_TAG) from exc
    if header.get("format") != FORMAT_TAG:
        raise ReaderError(path, "unsupported format tag", expected=FORMAT_TAG, got=repr(header.get("format")))
    start = header.get("start_time")
    info = SignalInfo(
        sfreq=header["sfreq"],
        ch_names=header["ch_names"],
        ch_types=header["ch_types"],
        units=header["units"],
        start_time=None if start is None else datetime.fromisoformat(start),
    )
    annotations = Annotations(
        arrays["annotation_onset"], arrays["annotation_duration"], tuple(header["annotation_descriptions"])
    )
    recording = Recording(
        data=arrays["data"],
        info=info,
        labels=arrays.get("labels"),
        label_names={int(k): v for k, v in header["label_names"].items()},
        valid=arrays.get("valid"),
        annotations=annotations,
        metadata=header["metadata"],
    )
    return [recording]


# -- SciPy's electrocardiogram ------------------------------------------------------------------------------

SCIPY_ECG_SFREQ = 360.0
# scipy.datasets.electrocardiogram: millivolts = (raw - 1024) / 200, i.e. 11-bit ADC at 200 counts per mV.
SCIPY_ECG_OFFSET = 1024
SCIPY_ECG_VOLTS_PER_COUNT = 1e-3 / 200


def _sniff_scipy_ecg(path: Path) -> bool:
    return _is_npz(path) and _npz_keys(path) == {"ecg"}


@register_reader("scipy-ecg", "SciPy's electrocardiogram file (npz with key 'ecg')", _sniff_scipy_ecg)
def read_scipy_ecg(path: Path) -> list[Recording]:
    """Read SciPy's ``ecg.dat`` (MIT-BIH record 208 excerpt, lead MLII, 360 Hz) in volts."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            counts = archive["ecg"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ReaderError(path, f"cannot read the 'ecg' array ({exc})", expected="scipy's ecg.dat") from exc
    if counts.ndim != 1 or counts.dtype != np.uint16:
        raise ReaderError(path, "unexpected 'ecg' array", expected="1-D uint16", got=f"{counts.ndim}-D {counts.dtype}")
    info = SignalInfo(sfreq=SCIPY_ECG_SFREQ, ch_names=("MLII",), ch_types=("ecg",), units=("V",))
    recording = Recording.from_adc(
        counts[np.newaxis, :],
        info,
        scale=SCIPY_ECG_VOLTS_PER_COUNT,
        offset=SCIPY_ECG_OFFSET,
        metadata={"source": str(path), "record": "MIT-BIH 208 excerpt (19:35-24:35)"},
    )
    return [recording]
