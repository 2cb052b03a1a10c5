"""EDF / EDF+ / BDF files through MNE (``mne.io.read_raw_edf`` / ``read_raw_bdf``).

What the reader does, and why:

* **Validation first.** The fixed 256-byte header is checked (magic ``"0       "`` for EDF, ``"\\xffBIOSEMI"``
  for BDF) and the file size is compared with what the header declares *before* MNE sees the file: MNE only
  warns on a truncated file and silently shortens it, which would hide a broken download.
* **Units.** MNE returns voltages in V (it scales ``uV``/``µV``/``mV`` channels); channels with any other
  physical dimension keep it as their unit, unscaled (``"a.u."`` when blank; a blank EEG/ECG/EMG/EOG channel
  is taken as volts, like MNE does). ``metadata["source_units"]`` keeps the header's.
* **Channel names and types** from the EDF convention ``"<TYPE> <name>"``: ``"EEG Fp1"`` -> eeg ``Fp1``,
  ``"ECG ECG"`` -> ecg ``ECG``, ``"EEG A2-A1"`` -> eeg ``A2-A1``. Names without a known prefix keep MNE's
  type (``stim`` for a BDF Status channel, EEG by default, except ``misc`` when the unit is not a voltage)
  and their full name.
* **MNE's warnings** on dubious headers are logged and kept in ``metadata["mne_warnings"]``.
* **Sampling rate.** MNE upsamples channels recorded at a lower rate to the highest one; when that happens
  ``metadata["native_sfreq"]`` lists each channel's native rate.
* **Annotations** (EDF+ TAL) become :class:`Annotations` (seconds from the first sample); ``meas_date``
  becomes ``info.start_time`` (UTC, as MNE gives it).
* **PhysioNet eegmat** files ``SubjectNN_1.edf`` (rest) / ``SubjectNN_2.edf`` (mental arithmetic) get
  per-sample ``labels`` (0 rest, 1 arithmetic) and ``metadata`` ``subject``/``condition``.
"""

from __future__ import annotations

import logging
import re
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biosig.errors import ReaderError
from biosig.io.registry import register_reader
from biosig.signals.info import CHANNEL_TYPES, SignalInfo
from biosig.signals.recording import Annotations, Recording

logger = logging.getLogger(__name__)

EDF_MAGIC = b"0       "
BDF_MAGIC = b"\xffBIOSEMI"
HEADER_BYTES = 256
SIGNAL_HEADER_BYTES = 256  # per signal: 16+80+8+8+8+8+8+80+8+32

#: EDF label prefixes (first word of the label, case-insensitive) -> channel type.
PREFIX_TYPES: dict[str, str] = {
    "eeg": "eeg",
    "ecg": "ecg",
    "ekg": "ecg",
    "emg": "emg",
    "eog": "eog",
    "resp": "resp",
    "ppg": "ppg",
    "pleth": "ppg",
    "eda": "eda",
    "gsr": "eda",
    "spo2": "spo2",
    "sao2": "spo2",
    "temp": "temp",
}
EEGMAT_LABELS: dict[int, str] = {0: "rest", 1: "arithmetic"}
_EEGMAT_RE = re.compile(r"^Subject(\d+)_([12])$")
#: Physical dimensions that MNE converts to volts (exactly these spellings; MNE leaves e.g. "nV" unscaled).
MNE_VOLT_UNITS = frozenset({"V", "mV", "uV", "\u00b5V", "\u03bcV"})


def split_channel_name(label: str, mne_type: str) -> tuple[str, str]:
    """``(name, type)`` of an EDF label: ``"EEG Fp1"`` -> ``("Fp1", "eeg")``, ``"ECG ECG"`` -> ``("ECG", "ecg")``."""
    label = label.strip()
    prefix, _, rest = label.partition(" ")
    ch_type = PREFIX_TYPES.get(prefix.lower())
    if ch_type is not None and rest.strip():
        return rest.strip(), ch_type
    if ch_type is not None:  # the label is just a type word, e.g. "ECG"
        return label, ch_type
    return label, mne_type if mne_type in CHANNEL_TYPES else "misc"


def _field(header: bytes, start: int, size: int) -> str:
    return header[start : start + size].decode("ascii", errors="replace").strip()


def check_edf_header(path: Path) -> dict[str, Any]:
    """Validate the fixed header and the file size; return ``{"kind", "n_records", "record_bytes", ...}``."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(HEADER_BYTES)
        if head[:8] == EDF_MAGIC:
            kind, sample_bytes = "edf", 2
        elif head[:8] == BDF_MAGIC:
            kind, sample_bytes = "bdf", 3
        else:
            raise ReaderError(
                path,
                "not an EDF/BDF file",
                expected='a header starting with "0       " (EDF) or "\\xffBIOSEMI" (BDF)',
                got=repr(head[:8]),
            )
        if len(head) < HEADER_BYTES:
            raise ReaderError(path, "truncated header", expected=f"at least {HEADER_BYTES} bytes", got=f"{size} bytes")
        try:
            header_bytes = int(_field(head, 184, 8))
            n_records = int(_field(head, 236, 8))
            record_length = float(_field(head, 244, 8))
            n_signals = int(_field(head, 252, 4))
        except ValueError as exc:
            raise ReaderError(
                path, f"malformed fixed header field ({exc})", expected="ASCII numbers in the EDF header"
            ) from exc
        if n_signals < 1 or header_bytes != HEADER_BYTES * (n_signals + 1):
            raise ReaderError(
                path,
                "inconsistent header size",
                expected=f"256 * (n_signals + 1) = {HEADER_BYTES * (n_signals + 1)} bytes for {n_signals} signals",
                got=str(header_bytes),
            )
        signal_header = fh.read(SIGNAL_HEADER_BYTES * n_signals)
    if len(signal_header) < SIGNAL_HEADER_BYTES * n_signals:
        raise ReaderError(
            path, "truncated signal header", expected=f"{header_bytes} header bytes", got=f"{size} bytes in the file"
        )
    samples_at = (16 + 80 + 8 * 5 + 80) * n_signals
    try:
        n_samps = [int(_field(signal_header, samples_at + 8 * i, 8)) for i in range(n_signals)]
    except ValueError as exc:
        raise ReaderError(path, f"malformed samples-per-record field ({exc})", expected="ASCII integers") from exc
    labels = [_field(signal_header, 16 * i, 16) for i in range(n_signals)]
    dim_at = (16 + 80) * n_signals
    units = [signal_header[dim_at + 8 * i : dim_at + 8 * i + 8].decode("latin-1").strip() for i in range(n_signals)]
    record_bytes = sum(n_samps) * sample_bytes
    if n_records > 0:  # -1 means "unknown" (recording not closed); MNE then infers from the file size
        expected_size = header_bytes + n_records * record_bytes
        if size < expected_size:
            raise ReaderError(
                path,
                "truncated file",
                expected=f"{expected_size} bytes ({header_bytes} header + {n_records} records x {record_bytes} bytes)",
                got=f"{size} bytes",
            )
        if size > expected_size:
            logger.warning("%s: %d bytes after the last declared record are ignored", path, size - expected_size)
    return {
        "kind": kind,
        "n_records": n_records,
        "record_length": record_length,
        "labels": labels,
        "units": units,
        "n_samps": n_samps,
    }


def read_edf(path: str | PathLike[str]) -> Recording:
    """Read an EDF/EDF+/BDF file.

    Returns
    -------
    Recording
        ``(n_channels, n_times)`` float32, voltages in V; ``annotations`` from EDF+; for PhysioNet eegmat files
        per-sample ``labels`` (0 rest, 1 arithmetic) and ``metadata["subject"]``/``["condition"]``.

    Raises
    ------
    ReaderError
        Missing file, wrong magic, truncated header or data, or anything MNE rejects (its message is kept).
    """
    import mne  # imported here: mne takes seconds to import and most users of biosig.io never need it

    path = Path(path)
    if not path.is_file():
        raise ReaderError(path, "no such file", expected="an EDF or BDF file")
    header = check_edf_header(path)
    reader = mne.io.read_raw_bdf if header["kind"] == "bdf" else mne.io.read_raw_edf
    with warnings.catch_warnings(record=True) as caught:
        # MNE warns (rather than fails) on dubious headers; keep what it said with the recording.
        warnings.simplefilter("always")
        try:
            raw = reader(path, preload=True, verbose=False)
        except Exception as exc:  # MNE raises ValueError/RuntimeError/IndexError/bare Exception for bad files
            raise ReaderError(
                path,
                f"MNE cannot read the file ({type(exc).__name__}: {exc})",
                expected=f"a valid {header['kind'].upper()} file",
            ) from exc
    mne_warnings = [str(w.message) for w in caught]
    for message in mne_warnings:
        logger.warning("%s: MNE: %s", path, message)

    # Units from our own header parse (MNE's orig_units is not public API): MNE scaled exactly these to volts.
    header_units = dict(zip((label.strip() for label in header["labels"]), header["units"]))
    mne_types = raw.get_channel_types()
    names, types, units = [], [], []
    for label, mne_type in zip(raw.ch_names, mne_types):
        name, ch_type = split_channel_name(label, mne_type)
        if name in names:  # e.g. "EEG ECG" and "ECG ECG": keep the full label of the second
            name = label
        unit = header_units.get(label, "")
        is_volt = unit in MNE_VOLT_UNITS
        if ch_type == "eeg" and name == label and unit and not is_volt:
            ch_type = "misc"  # MNE's default type for any unprefixed label; a degC or % channel is not EEG
        names.append(name)
        types.append(ch_type)
        units.append("V" if is_volt or (not unit and ch_type in ("eeg", "ecg", "emg", "eog")) else unit or "a.u.")
    data = raw.get_data()
    start_time = raw.info["meas_date"]
    ann = raw.annotations
    annotations = Annotations(
        np.asarray(ann.onset, dtype=np.float64) - raw.first_time,
        np.asarray(ann.duration, dtype=np.float64),
        tuple(ann.description),
    )

    metadata: dict[str, Any] = {
        "format": header["kind"],
        "path": str(path),
        "source_labels": list(raw.ch_names),
        "source_units": {n: header_units.get(label, "") for n, label in zip(names, raw.ch_names)},
        "mne_warnings": mne_warnings,
    }
    native = {
        label.strip(): n / header["record_length"]
        for label, n in zip(header["labels"], header["n_samps"])
        if label.strip() in raw.ch_names and header["record_length"] > 0
    }
    if native and len(set(native.values())) > 1:
        metadata["native_sfreq"] = native
        logger.warning("%s: channels of different rates were resampled by MNE to %g Hz", path, raw.info["sfreq"])

    labels = None
    label_names: dict[int, str] = {}
    match = _EEGMAT_RE.match(path.stem)
    if match:
        label = int(match.group(2)) - 1
        labels = np.full(data.shape[1], label, dtype=np.int64)
        label_names = EEGMAT_LABELS
        metadata.update(dataset="eegmat", subject=match.group(1), condition=EEGMAT_LABELS[label])

    info = SignalInfo(sfreq=raw.info["sfreq"], ch_names=names, ch_types=types, units=units, start_time=start_time)
    return Recording(
        data.astype(np.float32),
        info,
        labels=labels,
        label_names=label_names,
        annotations=annotations,
        metadata=metadata,
    )


def _sniff(path: Path) -> bool:
    if not path.is_file():
        return False
    if path.suffix.lower() in (".edf", ".bdf", ".rec"):
        return True  # read() explains what is wrong if the content is not EDF
    with path.open("rb") as fh:
        head = fh.read(8)
    return head in (EDF_MAGIC, BDF_MAGIC)


@register_reader("edf", "European Data Format EDF/EDF+/BDF (.edf, .bdf) via MNE", _sniff)
def read(path: Path) -> list[Recording]:
    """Registry entry: one recording per file."""
    return [read_edf(path)]
