"""Myo armband readings dataset (Frančič, MIT): 8-channel int8 sEMG with a gesture label per sample.

Layout: ``<root>/_readings_right_hand/<participant>-<session>/<k>.txt.gz`` (plain ``.txt`` too), one file per
gesture ``k`` in 0..7. Each line is ``e0,...,e7,label``: eight int8 EMG values and a label 0..7, no header
and no timestamps. In file ``k`` the label alternates 0 / k every 5 s; ``0.txt`` is rest only.

Choices, and why:

* **Units.** The Myo firmware streams unitless int8 (-128..127) after its own amplification and filtering,
  and Thalmic never published a volts calibration, so samples are converted with
  ``Recording.from_adc(counts, scale=1/128)`` to full-scale fractions in ``[-1, 1)`` and the unit is
  ``"a.u."`` (not ``"V"``): a model fed these must not believe it sees volts.
* **Sampling rate.** 200 Hz is the Myo's nominal EMG rate; the files hold no timestamps, so it cannot be
  checked (``metadata["sfreq_nominal"] = True``).
* **Malformed rows** (real files hold glued rows, split rows, CRLF line ends): every valid row is kept and
  the rest is reported per the policy of :mod:`biosig.io._text` (``skipped``, ``skipped_examples``, ``gaps``
  in ``metadata``), or raises with ``on_bad_row="raise"``. Myo-specific reasons, tested after the generic
  ones (empty line, wrong field count, non-numeric): ``"value out of int8 range"``, ``"label out of range"``.

Parsing is vectorised (:func:`biosig.io._text.parse_int_table`): the ~8.4 M rows of the 86 shared sessions
load in seconds.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from biosig.errors import ReaderError
from biosig.io._text import (
    BadRowPolicy,
    RowReport,
    check_policy,
    merge_reports,
    normalise_text,
    parse_int_table,
    raise_for_first,
)
from biosig.io.registry import register_reader
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Recording

logger = logging.getLogger(__name__)

SFREQ = 200.0  # Hz, nominal (no timestamps in the files)
N_EMG = 8
SCALE = 1.0 / 128.0  # int8 full scale -> [-1, 1)
UNIT = "a.u."
LABEL_NAMES: dict[int, str] = {
    0: "rest",
    1: "flexion",
    2: "extension",
    3: "radial deviation",
    4: "ulnar deviation",
    5: "pronation",
    6: "supination",
    7: "fist",
}
VALUE_RANGE = "value out of int8 range"
LABEL_RANGE = "label out of range"
ROW_FORMAT = "8 integers in [-128, 127] and a label in 0..7, comma-separated"
SESSIONS_DIR = "_readings_right_hand"

_FILE_RE = re.compile(r"^([0-7])\.txt(\.gz)?$")
_SESSION_RE = re.compile(r"^(\d+)-(\d+)$")
_ROW_RE = re.compile(rb"^\s*(-?\d+\s*,\s*){8}\d+\s*$")


def _open_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReaderError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ReaderError(
                path, f"corrupt or truncated gzip stream ({exc})", expected="a complete gzip file"
            ) from exc
    return raw


def _session_of(path: Path) -> tuple[str | None, int | None]:
    match = _SESSION_RE.match(path.parent.name)
    return (match.group(1), int(match.group(2))) if match else (None, None)


def read_myo_file(path: str | PathLike[str], sfreq: float = SFREQ, on_bad_row: BadRowPolicy = "skip") -> Recording:
    """Read one Myo gesture file ``<k>.txt`` or ``<k>.txt.gz``.

    Returns
    -------
    Recording
        ``(8, n_rows)`` float32 in a.u. (int8 / 128), channels ``emg0..emg7`` of type ``emg``; ``labels``
        ``(n_rows,)`` 0..7 with :data:`LABEL_NAMES`; ``metadata`` with ``participant`` (str), ``session`` (int),
        ``gesture_file`` (k) and ``gesture`` (its name) when the path follows the dataset layout, ``path``,
        ``n_lines``, ``unexpected_labels`` (labels other than 0 and k, normally ``[]``), ``skipped``,
        ``skipped_examples``, ``skipped_lines``, ``gaps`` (see :mod:`biosig.io._text`).

    Raises
    ------
    ReaderError
        Unreadable/corrupt file, empty file, no valid row, or (``on_bad_row="raise"``) the first bad row.
    """
    check_policy(on_bad_row)
    path = Path(path)
    raw = _open_bytes(path)
    if not raw.strip():
        raise ReaderError(path, "empty file", expected=f"one row per line of {ROW_FORMAT}", got="no data")
    text = normalise_text(raw)
    table = parse_int_table(text, N_EMG + 1)

    # Myo-specific checks on the rows that parsed as 9 integers.
    emg, label = table.values[:, :N_EMG], table.values[:, N_EMG]
    out_of_range = np.any((emg < -128) | (emg > 127), axis=1)
    bad_label = ~out_of_range & ((label < 0) | (label > 7))
    bad = out_of_range | bad_label
    extra = RowReport(
        table.line_numbers[bad],
        [VALUE_RANGE if o else LABEL_RANGE for o in out_of_range[bad].tolist()],
    )
    report = merge_reports(table.report, extra) if len(extra) else table.report
    if on_bad_row == "raise":
        raise_for_first(path, report, None, text, expected=ROW_FORMAT)
    keep = ~bad
    counts = emg[keep].astype(np.int8).T
    labels = label[keep]
    line_numbers = table.line_numbers[keep]
    if counts.shape[1] == 0:
        raise ReaderError(
            path,
            "no valid row",
            expected=f"rows of {ROW_FORMAT}",
            got=f"{table.n_lines} malformed lines {report.counts()}",
        )

    participant, session = _session_of(path)
    match = _FILE_RE.match(path.name)
    k = int(match.group(1)) if match else None
    # File k should hold labels 0 and k only; the labels are kept as written, but a mismatch (the real
    # 69069-1/3.txt.gz is labelled 2) is flagged for the user to decide.
    unexpected = sorted(set(np.unique(labels).tolist()) - {0, k}) if k is not None else []
    if unexpected:
        logger.warning("%s: gesture file %d holds label(s) %s besides 0 and %d", path, k, unexpected, k)
    metadata: dict[str, object] = {
        "format": "myo",
        "path": str(path),
        "participant": participant,
        "session": session,
        "gesture_file": k,
        "gesture": LABEL_NAMES.get(k) if k is not None else None,
        "n_lines": table.n_lines,
        "unexpected_labels": unexpected,
        "sfreq_nominal": True,
        "unit_note": "Myo int8 counts / 128 (no published volts calibration)",
        **report.metadata(line_numbers),
    }
    if len(report):
        logger.info("%s: skipped %d malformed line(s): %s", path, len(report), report.counts())
    info = SignalInfo.uniform(N_EMG, sfreq, "emg", prefix="emg", unit=UNIT)
    return Recording.from_adc(counts, info, scale=SCALE, labels=labels, label_names=LABEL_NAMES, metadata=metadata)


def _session_files(directory: Path) -> list[Path]:
    by_k: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        match = _FILE_RE.match(path.name)
        if not match or not path.is_file():
            continue
        k = int(match.group(1))
        if k in by_k:
            raise ReaderError(
                directory,
                f"gesture file {k} is present twice",
                expected="one of k.txt or k.txt.gz",
                got=f"{by_k[k].name} and {path.name}",
            )
        by_k[k] = path
    return [by_k[k] for k in sorted(by_k)]


def read_myo_session(
    directory: str | PathLike[str], sfreq: float = SFREQ, on_bad_row: BadRowPolicy = "skip"
) -> list[Recording]:
    """Read the gesture files ``0..7`` of one session folder ``<participant>-<session>``, ordered by ``k``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReaderError(directory, "not a directory", expected="a Myo session folder <participant>-<session>")
    files = _session_files(directory)
    if not files:
        raise ReaderError(directory, "no gesture file", expected="files named 0.txt.gz .. 7.txt.gz (or .txt)")
    return [read_myo_file(f, sfreq=sfreq, on_bad_row=on_bad_row) for f in files]


@dataclass
class MyoDatasetSummary:
    """What :func:`read_myo_dataset` read and skipped, over the whole dataset.

    ``skipped`` counts malformed lines per reason; ``examples`` lists ``(file, line)`` of each skipped line
    per reason (files relative to the sessions folder); ``files`` maps each file with skips to its counts.
    """

    n_sessions: int = 0
    n_files: int = 0
    n_rows: int = 0
    n_lines: int = 0
    participants: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    unexpected_labels: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def format(self) -> str:
        """A short human-readable report."""
        lines = [
            f"{self.n_sessions} sessions of {len(self.participants)} participants, {self.n_files} files, "
            f"{self.n_rows} rows kept of {self.n_lines} lines, {self.n_skipped} skipped"
        ]
        for reason, count in sorted(self.skipped.items()):
            where = ", ".join(f"{f}:{line}" for f, line in self.examples[reason][:5])
            lines.append(f"  {reason}: {count} (e.g. {where})")
        for name, labels in sorted(self.unexpected_labels.items()):
            lines.append(f"  {name}: labels {labels} besides 0 and the file's gesture")
        return "\n".join(lines)


def _sessions_root(root: Path) -> Path:
    if (root / SESSIONS_DIR).is_dir():
        return root / SESSIONS_DIR
    return root


def list_myo_sessions(root: str | PathLike[str]) -> list[Path]:
    """Session folders ``<participant>-<session>`` under ``root`` (or ``root/_readings_right_hand``), sorted."""
    base = _sessions_root(Path(root))
    if not base.is_dir():
        raise ReaderError(root, "not a directory", expected="the myo-readings-dataset folder")
    sessions = sorted(p for p in base.iterdir() if p.is_dir() and _SESSION_RE.match(p.name))
    if not sessions:
        raise ReaderError(base, "no session folder", expected="folders named <participant>-<session>, e.g. 10101-1")
    return sessions


def read_myo_dataset(
    root: str | PathLike[str],
    participants: Iterable[str | int] | None = None,
    progress: bool = True,
    sfreq: float = SFREQ,
    on_bad_row: BadRowPolicy = "skip",
) -> tuple[list[Recording], MyoDatasetSummary]:
    """Read every session (or those of ``participants``) with a tqdm progress bar over sessions.

    Returns the recordings (sessions in folder order, files by ``k``) and a :class:`MyoDatasetSummary` of the
    rows skipped over the whole dataset.
    """
    sessions = list_myo_sessions(root)
    if participants is not None:
        wanted = {str(p) for p in participants}
        available = sorted({_SESSION_RE.match(s.name).group(1) for s in sessions})  # type: ignore[union-attr]
        unknown = sorted(wanted - set(available))
        if unknown:
            raise ValueError(f"participants {unknown} are not in {root}; available: {available}")
        sessions = [s for s in sessions if _SESSION_RE.match(s.name).group(1) in wanted]  # type: ignore[union-attr]
    base = _sessions_root(Path(root))
    summary = MyoDatasetSummary()
    recordings: list[Recording] = []
    for session in tqdm(sessions, desc="myo sessions", unit="session", disable=not progress):
        recs = read_myo_session(session, sfreq=sfreq, on_bad_row=on_bad_row)
        recordings.extend(recs)
        summary.n_sessions += 1
        for rec in recs:
            rel = str(Path(rec.metadata["path"]).relative_to(base))
            summary.n_files += 1
            summary.n_rows += rec.n_times
            summary.n_lines += int(rec.metadata["n_lines"])
            if rec.metadata["unexpected_labels"]:
                summary.unexpected_labels[rel] = list(rec.metadata["unexpected_labels"])
            skipped: dict[str, int] = dict(rec.metadata["skipped"])
            if skipped:
                summary.files[rel] = skipped
                for reason, count in skipped.items():
                    summary.skipped[reason] = summary.skipped.get(reason, 0) + count
                for reason, line in _all_skipped_lines(rec):
                    summary.examples.setdefault(reason, []).append((rel, line))
    summary.participants = sorted({str(r.metadata["participant"]) for r in recordings})
    logger.info("%s", summary.format())
    return recordings, summary


def _all_skipped_lines(rec: Recording) -> list[tuple[str, int]]:
    return [(reason, line) for line, reason in rec.metadata.get("skipped_lines", ())]


def _sniff(path: Path) -> bool:
    if path.is_dir():
        if any(_FILE_RE.match(p.name) for p in path.iterdir()):
            return True  # a session folder
        base = _sessions_root(path)
        return base.is_dir() and any(p.is_dir() and _SESSION_RE.match(p.name) for p in base.iterdir())
    if not (path.name.endswith(".txt") or path.name.endswith(".txt.gz")):
        return False
    if _FILE_RE.match(path.name) and _SESSION_RE.match(path.parent.name):
        return True  # the dataset's own layout; read() reports anything wrong inside
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            first = fh.readline(256)
    except (OSError, EOFError, zlib.error):
        return False
    return bool(_ROW_RE.match(first))


@register_reader(
    "myo", "Myo armband readings: k.txt[.gz] rows of 8 int8 EMG + label, or a session/dataset folder", _sniff
)
def read(path: Path) -> list[Recording]:
    """Registry entry: a gesture file, a session folder or the dataset folder."""
    path = Path(path)
    if path.is_dir():
        if any(_FILE_RE.match(p.name) for p in path.iterdir()):
            return read_myo_session(path)
        return read_myo_dataset(path, progress=False)[0]
    return [read_myo_file(path)]
