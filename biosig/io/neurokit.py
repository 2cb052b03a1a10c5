"""NeuroKit2 example recordings: CSV files with a header of column names and one row per sample.

``bio_resting_5min_100hz.csv`` (ECG, PPG, RSP), ``bio_eventrelated_100hz.csv`` (ECG, EDA, Photosensor, RSP),
``ecg_1000hz.csv`` (ECG), ``eog_100hz.csv`` (vEOG): the files carry no sampling rate, so it comes from the
file name (``_<N>hz``) or the ``sfreq`` argument.

Choices, and why:

* **Units are "a.u." for every channel.** NeuroKit does not document the scale of these files (the ECG is
  in the 0.1-1 range, the EOG around 1e-5, the EDA around 13) and nothing in the file says; calling them
  volts or siemens would be a guess. ``metadata["unit_note"]`` says so.
* **Channel types** from the column name (:data:`COLUMN_TYPES`, case-insensitive; unknown -> ``misc``).
  ``Photosensor`` is a ``stim`` channel: its drops (screen patch going dark while an image is shown) become
  :class:`Annotations` named ``"photosensor"`` with their duration (:func:`find_photosensor_events`).
* **Malformed rows** follow the same policy as the Myo reader (:mod:`biosig.io._text`): skipped and reported
  in ``metadata`` by default, or the first one raises with ``on_bad_row="raise"``. CRLF line ends and blanks
  around separators are accepted.
"""

from __future__ import annotations

import logging
import re
from os import PathLike
from pathlib import Path

import numpy as np

from biosig.errors import ReaderError
from biosig.io._text import BadRowPolicy, check_policy, normalise_text, parse_float_csv, raise_for_first
from biosig.io.registry import register_reader
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Annotations, Recording

logger = logging.getLogger(__name__)

#: Column name (lower case) -> channel type.
COLUMN_TYPES: dict[str, str] = {
    "ecg": "ecg",
    "ppg": "ppg",
    "rsp": "resp",
    "resp": "resp",
    "eda": "eda",
    "gsr": "eda",
    "photosensor": "stim",
    "veog": "eog",
    "heog": "eog",
    "eog": "eog",
    "emg": "emg",
    "eeg": "eeg",
}
UNIT = "a.u."
PHOTOSENSOR_EVENT = "photosensor"
_SFREQ_RE = re.compile(r"_(\d+(?:\.\d+)?)hz(?:_|$)", re.IGNORECASE)
ROW_FORMAT = "one number per header column, comma-separated"


def sfreq_from_name(path: str | PathLike[str]) -> float | None:
    """Sampling rate in the file name pattern ``_<N>hz`` (``bio_resting_5min_100hz.csv`` -> 100.0), else None."""
    match = _SFREQ_RE.search(Path(path).name.rsplit(".", 1)[0])
    return float(match.group(1)) if match else None


def column_type(name: str) -> str:
    """Channel type of a NeuroKit column name (``ECG`` -> ecg, ``RSP`` -> resp, ``Photosensor`` -> stim)."""
    return COLUMN_TYPES.get(name.strip().lower(), "misc")


def find_photosensor_events(
    signal: np.ndarray, sfreq: float, threshold: float | None = None, direction: str = "below"
) -> Annotations:
    """Runs of ``signal`` past ``threshold`` as events (onset and duration in seconds).

    Parameters
    ----------
    signal
        ``(n_times,)`` photosensor trace.
    threshold
        Level separating "off" from "on"; None uses the midpoint of the signal's range, which stays right
        whatever the sensor's baseline (NeuroKit's ``events_find`` uses the mean instead).
    direction
        ``"below"`` (events are drops, NeuroKit's default for a photosensor) or ``"above"``.
    """
    if direction not in ("below", "above"):
        raise ValueError(f"direction must be 'below' or 'above', got {direction!r}")
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"signal must be 1-D (n_times,), got shape {signal.shape}")
    lo, hi = (float(signal.min()), float(signal.max())) if signal.size else (0.0, 0.0)
    if threshold is None:
        if lo == hi:
            return Annotations()  # a flat line holds no event
        threshold = (lo + hi) / 2.0
    # Samples exactly at the threshold count as active: transition samples (e.g. 2.5 between 5 and 0) then
    # belong to the event, as with NeuroKit's events_find on the example file.
    active = signal <= threshold if direction == "below" else signal >= threshold
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return Annotations(starts / sfreq, (stops - starts) / sfreq, (PHOTOSENSOR_EVENT,) * len(starts))


def read_neurokit_csv(
    path: str | PathLike[str], sfreq: float | None = None, on_bad_row: BadRowPolicy = "skip"
) -> Recording:
    """Read a NeuroKit example CSV.

    Parameters
    ----------
    path
        CSV with a header row of column names.
    sfreq
        Sampling rate in Hz; None takes it from the ``_<N>hz`` file-name pattern. When both are given and
        differ, ``sfreq`` wins (with a warning in the log).
    on_bad_row
        ``"skip"`` (report in ``metadata``) or ``"raise"``; see :mod:`biosig.io._text`.

    Returns
    -------
    Recording
        ``(n_columns, n_rows)`` float32 in a.u.; photosensor drops as ``annotations``; ``metadata`` with
        ``path``, ``columns``, ``n_lines`` and the skip report.
    """
    check_policy(on_bad_row)
    path = Path(path)
    from_name = sfreq_from_name(path)
    if sfreq is None and from_name is None:
        raise ReaderError(
            path,
            "sampling rate unknown",
            expected="a file name with '_<N>hz' (e.g. ecg_1000hz.csv) or the sfreq argument",
        )
    if sfreq is not None and from_name is not None and float(sfreq) != from_name:
        logger.warning("%s: sfreq=%g overrides the %g Hz of the file name", path, sfreq, from_name)
    rate = float(sfreq if sfreq is not None else from_name)  # type: ignore[arg-type]
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReaderError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if not raw.strip():
        raise ReaderError(
            path, "empty file", expected="a header row of column names, then one row per sample", got="no data"
        )
    text = normalise_text(raw)
    table = parse_float_csv(text)
    header = table.header
    if any(not h for h in header) or any(_is_number(h) for h in header):
        raise ReaderError(
            path,
            "missing or invalid header",
            expected="a first row of column names, e.g. ECG,PPG,RSP",
            got=repr(",".join(header)),
        )
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise ReaderError(path, "duplicate column names", expected="unique column names", got=str(duplicates))
    if on_bad_row == "raise":
        raise_for_first(path, table.report, table.lines, text, expected=f"{len(header)} numbers ({','.join(header)})")
    if table.values.shape[0] == 0:
        raise ReaderError(
            path,
            "no valid data row",
            expected=f"rows of {ROW_FORMAT}",
            got=f"{len(table.lines) - 1} data lines {table.report.counts()}",
        )

    types = [column_type(h) for h in header]
    data = table.values.T
    annotations = Annotations()
    stim = [i for i, t in enumerate(types) if t == "stim"]
    for i in stim:
        annotations = _concat(annotations, find_photosensor_events(data[i], rate))
    metadata = {
        "format": "neurokit",
        "path": str(path),
        "columns": header,
        "n_lines": len(table.lines),
        "unit_note": "NeuroKit example data: scale undocumented, kept as in the file (a.u.)",
        **table.report.metadata(table.line_numbers),
    }
    if len(table.report):
        logger.info("%s: skipped %d malformed line(s): %s", path, len(table.report), table.report.counts())
    info = SignalInfo(sfreq=rate, ch_names=header, ch_types=types, units=[UNIT] * len(header))
    return Recording(data.astype(np.float32), info, annotations=annotations, metadata=metadata)


def _concat(a: Annotations, b: Annotations) -> Annotations:
    onset = np.concatenate([a.onset, b.onset])
    order = np.argsort(onset, kind="stable")
    duration = np.concatenate([a.duration, b.duration])
    description = a.description + b.description
    return Annotations(onset[order], duration[order], tuple(description[i] for i in order))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff(path: Path) -> bool:
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open("rb") as fh:
        first = fh.readline(4096).decode("utf-8", errors="replace").strip()
    columns = [c.strip().strip('"') for c in first.split(",")]
    if not columns or any(not c or _is_number(c) for c in columns):
        return False
    return sfreq_from_name(path) is not None or all(column_type(c) != "misc" for c in columns)


@register_reader(
    "neurokit", "NeuroKit2 example CSV (header of ECG/PPG/RSP/EDA/... columns, rate in '_<N>hz' name)", _sniff
)
def read(path: Path) -> list[Recording]:
    """Registry entry: one recording per CSV (the rate must be in the file name)."""
    return [read_neurokit_csv(path)]
