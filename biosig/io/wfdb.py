"""PhysioNet WFDB records (``.hea`` + signal files + annotation files) through ``wfdb``.

What the reader does, and why:

* **Units.** Physical values from ``wfdb.rdrecord``; voltages in mV/uV/nV are converted to volts (unit
  ``"V"``, the library's SI convention), ``mmHg`` is kept for ABP, and any other unit (``NU``, ``Ohm``, ...)
  is kept as written: we do not know how to convert it. ``metadata["unit_conversions"]`` says what was done
  per channel.
* **Multi-rate records** (``samps_per_frame`` differs between channels, e.g. ECG 4x and ABP 1x per frame)
  are read with ``smooth_frames=False`` and returned as **one Recording per distinct channel rate**, so no
  sample is invented or averaged away. Every recording of a record carries the same annotations (their
  onsets are seconds on the record's common time axis).
* **Missing samples** (WFDB's invalid-sample value, NaN after ``rdrecord``) become 0 in ``data`` and False in
  ``valid``; ``metadata["n_invalid"]`` counts them per channel.
* **Annotations.** Every known annotator file beside the record is read (``.atr`` reference labels;
  ``.sqrs``/``.gqrsh``/... QRS detector outputs). ``Recording.annotations`` holds the *primary* annotator
  (the reference one when present, else the first detector alphabetically) with ``onset = sample / fs``
  seconds (the annotation file's own ``fs``, else the frame rate) and ``description`` = the symbol;
  ``metadata["annotators"]`` lists all of them with their kind (``"reference"`` or ``"detector"``) and
  ``metadata["annotations_by_annotator"]`` holds each one's :class:`Annotations`. Reference beat labels also
  get ``metadata["beat_counts"]`` and the rhythm changes (``+`` with an aux note) ``metadata["rhythms"]``.
* **Header comments** go to ``metadata["comments"]``; ``key: value`` comments to
  ``metadata["header_fields"]``; age/sex (PTB ``age: 81`` or MIT-BIH ``69 M ...``) and Challenge-2015 alarm
  lines (``Asystole`` / ``False alarm``) are parsed into ``age``, ``sex``, ``alarm``, ``alarm_true``.
* **Start time** from ``base_date`` + ``base_time`` as a naive datetime: WFDB does not record a time zone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

from biosig.errors import ReaderError
from biosig.io.registry import register_reader
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Annotations, Recording

logger = logging.getLogger(__name__)

#: Annotator extensions holding human-reviewed labels.
REFERENCE_ANNOTATORS: tuple[str, ...] = ("atr", "qrsc", "blh", "alh", "bph", "apn")
#: Annotator extensions written by automatic detectors (QRS detectors, machine alarms, BP beat detectors).
DETECTOR_ANNOTATORS: tuple[str, ...] = (
    "sqrs",
    "gqrs",
    "gqrsh",
    "wqrs",
    "jqrs",
    "qrs",
    "ecg",
    "blm",
    "alm",
    "bpm",
    "wabp",
)
#: PhysioNet beat symbols (the others, like ``+`` rhythm change or ``~`` noise, are not beats).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")

_VOLT_SCALE = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "nv": 1e-9}
_ECG_LEADS = frozenset(
    {"i", "ii", "iii", "avr", "avl", "avf", "v", "v1", "v2", "v3", "v4", "v5", "v6", "vx", "vy", "vz", "x", "y", "z"}
)
_ECG_RE = re.compile(r"^(ecg|ekg|ml|mcl|lead)", re.IGNORECASE)


def channel_type(name: str) -> str:
    """Channel type of a WFDB signal name (``MLII``, ``V5``, ``aVR``, ``vx`` -> ecg; ``PLETH`` -> ppg; ...)."""
    key = re.sub(r"[\s_\-]", "", name).lower()
    if key in _ECG_LEADS or _ECG_RE.match(key):
        return "ecg"
    if key.startswith(("pleth", "ppg")):
        return "ppg"
    if key.startswith(("abp", "art")):
        return "abp"
    if key.startswith("resp"):
        return "resp"
    if key in ("spo2", "sao2", "%spo2"):
        return "spo2"
    return "misc"


def _record_base(path: str | PathLike[str]) -> Path:
    """Record path without extension; raises when its header is missing."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix == ".hea" else path
    if not base.with_name(base.name + ".hea").is_file():
        raise ReaderError(path, "no WFDB header file", expected=f"{base.name}.hea beside the signal files")
    return base


def _convert_units(signal: np.ndarray, unit: str) -> tuple[np.ndarray, str, str | None]:
    """(signal in the output unit, output unit, description of the conversion or None)."""
    scale = _VOLT_SCALE.get(unit.strip().lower())
    if scale is None:
        return signal, unit.strip() or "a.u.", None
    if scale == 1.0:
        return signal, "V", None
    return signal * scale, "V", f"{unit} -> V (x{scale:g})"


def _unique(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names):
        name = name.strip() or f"ch{i}"
        candidate, n = name, 2
        while candidate in out:
            candidate, n = f"{name}-{n}", n + 1
        out.append(candidate)
    return out


def parse_comments(comments: Sequence[str]) -> dict[str, Any]:
    """Facts from WFDB header comments: ``comments``, ``header_fields``, and ``age``/``sex``/``alarm`` when found."""
    out: dict[str, Any] = {"comments": [c.strip() for c in comments]}
    fields: dict[str, str] = {}
    for c in out["comments"]:
        key, sep, value = c.partition(":")
        if sep and key.strip() and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    out["header_fields"] = fields
    if "age" in fields:
        out["age"] = int(fields["age"]) if fields["age"].isdigit() else fields["age"]
    if "sex" in fields:
        out["sex"] = fields["sex"]
    mitbih = next((m for c in out["comments"] if (m := re.match(r"^(\d+|\?+)\s+([MF?])\b", c))), None)
    if mitbih and "age" not in out:
        out["age"] = int(mitbih.group(1)) if mitbih.group(1).isdigit() else None
        out["sex"] = {"M": "male", "F": "female"}.get(mitbih.group(2))
    verdict = [c for c in out["comments"] if c.lower() in ("true alarm", "false alarm")]
    if verdict:  # PhysioNet/CinC Challenge 2015: alarm type line, then "True alarm" / "False alarm"
        out["alarm_true"] = verdict[0].lower() == "true alarm"
        others = [c for c in out["comments"] if c and c not in verdict and ":" not in c]
        if others:
            out["alarm"] = others[0]
    return out


def annotator_kind(extension: str) -> str:
    return "reference" if extension in REFERENCE_ANNOTATORS else "detector"


def find_annotators(record: str | PathLike[str]) -> list[str]:
    """Extensions of the known annotator files beside ``record`` (reference ones first, then alphabetical)."""
    base = _record_base(record)
    found = [
        ext
        for ext in (*REFERENCE_ANNOTATORS, *sorted(DETECTOR_ANNOTATORS))
        if base.with_name(f"{base.name}.{ext}").is_file()
    ]
    return found


def read_wfdb_annotations(
    record: str | PathLike[str], extension: str, frame_rate: float | None = None
) -> tuple[Annotations, dict[str, Any]]:
    """Read annotator ``extension`` of ``record``: events in seconds and a summary.

    Returns
    -------
    annotations
        ``onset = sample / fs`` seconds (the file's own ``fs``, else ``frame_rate``/the header's frame rate),
        ``duration`` 0, ``description`` the annotation symbol.
    summary
        ``kind``, ``count``, ``symbols`` (counts), ``fs``; for reference labels also ``beat_counts`` and
        ``rhythms`` (``(onset, aux_note)`` of annotations carrying an aux note).
    """
    base = _record_base(record)
    path = base.with_name(f"{base.name}.{extension}")
    try:
        ann = wfdb.rdann(str(base), extension)
    except FileNotFoundError as exc:
        raise ReaderError(path, "no such annotation file") from exc
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on corrupt annotation files
        raise ReaderError(
            path, f"cannot parse WFDB annotation file ({type(exc).__name__}: {exc})", expected="a WFDB annotation file"
        ) from exc
    fs = float(ann.fs) if ann.fs else frame_rate
    if not fs:
        raise ReaderError(path, "annotation sampling rate unknown", expected="fs in the annotation file or the header")
    symbols = [str(s) for s in ann.symbol]
    onset = np.asarray(ann.sample, dtype=np.float64) / fs
    annotations = Annotations(onset, np.zeros(len(symbols)), tuple(symbols))
    summary: dict[str, Any] = {
        "kind": annotator_kind(extension),
        "count": len(symbols),
        "symbols": annotations.counts(),
        "fs": fs,
    }
    if summary["kind"] == "reference":
        summary["beat_counts"] = {s: c for s, c in summary["symbols"].items() if s in BEAT_SYMBOLS}
        aux = ann.aux_note or [""] * len(symbols)
        summary["rhythms"] = [(float(t), a.rstrip("\x00")) for t, a in zip(onset, aux) if a.rstrip("\x00")]
    return annotations, summary


def read_wfdb(record: str | PathLike[str], annotators: Sequence[str] | None = None) -> list[Recording]:
    """Read a WFDB record (path with or without ``.hea``) with its annotations.

    Parameters
    ----------
    record
        ``.../100`` or ``.../100.hea``.
    annotators
        Annotation extensions to read; None reads every known annotator file present (see
        :func:`find_annotators`), ``[]`` none.

    Returns
    -------
    list[Recording]
        One recording per distinct channel rate (one for ordinary records), ``(n_channels, n_times)`` float32
        in V (voltages), mmHg (ABP) or the source unit; channels in header order within each rate.
    """
    base = _record_base(record)
    header_path = base.with_name(base.name + ".hea")
    try:
        rec = wfdb.rdrecord(str(base), smooth_frames=False)
    except Exception as exc:  # wfdb raises a zoo of exceptions (ValueError, IndexError, HeaderSyntaxError...)
        raise ReaderError(
            header_path,
            f"cannot read WFDB record ({type(exc).__name__}: {exc})",
            expected="a valid header and complete signal files",
        ) from exc
    signals = rec.e_p_signal
    if not signals:
        raise ReaderError(header_path, "record has no signal", expected="at least one signal line in the header")
    spf = [int(s) for s in (rec.samps_per_frame or [1] * len(signals))]
    frame_rate = float(rec.fs)
    for i, sig in enumerate(signals):
        expected_len = rec.sig_len * spf[i]
        if sig.shape[0] != expected_len:  # wfdb can return short arrays for truncated signal files
            raise ReaderError(
                header_path,
                f"signal {rec.sig_name[i]!r} is truncated",
                expected=f"{expected_len} samples",
                got=str(sig.shape[0]),
            )

    start_time = datetime.combine(rec.base_date, rec.base_time) if rec.base_date and rec.base_time else None
    common: dict[str, Any] = {
        "format": "wfdb",
        "path": str(header_path),
        "record": rec.record_name,
        "frame_rate": frame_rate,
        **parse_comments(rec.comments or []),
    }
    if rec.base_time is not None and start_time is None:
        common["base_time"] = rec.base_time.isoformat()

    extensions = find_annotators(base) if annotators is None else list(annotators)
    by_annotator: dict[str, Annotations] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for ext in extensions:
        by_annotator[ext], summaries[ext] = read_wfdb_annotations(base, ext, frame_rate)
    primary = next((e for e in extensions if annotator_kind(e) == "reference"), None) or next(
        iter(sorted(extensions)), None
    )
    annotations = by_annotator[primary] if primary else Annotations()
    common.update(annotators=summaries, annotations_by_annotator=by_annotator, primary_annotator=primary)
    if primary and "beat_counts" in summaries[primary]:
        common["beat_counts"] = summaries[primary]["beat_counts"]
        common["rhythms"] = summaries[primary]["rhythms"]

    names = _unique(rec.sig_name)
    units_in = rec.units or ["a.u."] * len(signals)
    rates = list(dict.fromkeys(spf))  # distinct rates, in order of first channel
    recordings = []
    for group, rate in enumerate(rates):
        rows = [i for i, s in enumerate(spf) if s == rate]
        data, units, conversions, invalid = [], [], {}, {}
        for i in rows:
            converted, unit, note = _convert_units(np.asarray(signals[i], dtype=np.float64), units_in[i])
            data.append(converted)
            units.append(unit)
            if note:
                conversions[names[i]] = note
            n_nan = int(np.isnan(converted).sum())
            if n_nan:
                invalid[names[i]] = n_nan
        stacked = np.vstack(data)
        valid = None
        if invalid:
            valid = ~np.isnan(stacked).any(axis=0)
            stacked = np.nan_to_num(stacked, nan=0.0)
            logger.info("%s: %d invalid samples set to 0 and masked: %s", header_path, int((~valid).sum()), invalid)
        info = SignalInfo(
            sfreq=frame_rate * rate,
            ch_names=[names[i] for i in rows],
            ch_types=[channel_type(rec.sig_name[i]) for i in rows],
            units=units,
            start_time=start_time,
        )
        metadata = {
            **common,
            "samples_per_frame": rate,
            "rate_group": group,
            "n_rate_groups": len(rates),
            "source_units": {names[i]: units_in[i] for i in rows},
            "unit_conversions": conversions,
            "n_invalid": invalid,
        }
        recordings.append(
            Recording(stacked.astype(np.float32), info, valid=valid, annotations=annotations, metadata=metadata)
        )
    return recordings


def _sniff(path: Path) -> bool:
    if path.suffix != ".hea" or not path.is_file():
        return False
    with path.open("rb") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith(b"#"):
                # Record line: name [/segments] n_signals [fs ...]
                fields = line.split()
                return len(fields) >= 2 and fields[0].split(b"/")[0] == path.stem.encode() and fields[1][:1].isdigit()
    return False


@register_reader("wfdb", "PhysioNet WFDB record (.hea header, signal and annotation files)", _sniff)
def read(path: Path) -> list[Recording]:
    """Registry entry: ``path`` is the record's ``.hea`` file."""
    return read_wfdb(path)
