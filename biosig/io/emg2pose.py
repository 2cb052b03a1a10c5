"""emg2pose session files (HDF5): exact-schema writer, validating reader, and the ``metadata.csv`` split table.

The schema is the one of Meta's emg2pose dataset (https://github.com/facebookresearch/emg2pose), one file per
hand per stage::

    /emg2pose                     group; attributes below
    /emg2pose/timeseries          1-D compound dataset, one record per EMG sample:
        time          f8          seconds, unix time
        joint_angles  f8 (20,)    radians, in :data:`biosig.signals.pose.FINGER_JOINTS` order
        emg           f4 (16,)    microvolts (emg2pose's unit), 2 kHz, high-pass filtered
    attributes: filename, session, stage, user, side (str); sample_rate (float, Hz); num_channels (int, 16);
                start, end (float: unix times of the first and last sample)

The reader also accepts ``joint_angles`` stored as f4 (as some released files have) and keeps whatever dtype
the file holds, so a write -> read round trip is bitwise exact. Samples whose 20 joint angles are all zero
(``|angle| <= 1e-8``, emg2pose's ``np.isclose(angles, 0)`` test) are inverse-kinematics failures: the pose
there is missing, not a flat hand.

Windowing with emg2pose's ``WindowedEmgDataset`` semantics lives in :mod:`biosig.io.emg2pose_windows`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import pandas as pd

from biosig.errors import ReaderError
from biosig.io.registry import register_reader
from biosig.signals.info import SignalInfo
from biosig.signals.pose import FINGER_JOINTS
from biosig.signals.recording import Annotations, Recording

logger = logging.getLogger(__name__)

GROUP = "emg2pose"
TIMESERIES = "timeseries"
TIME, JOINT_ANGLES, EMG = "time", "joint_angles", "emg"
N_EMG_CHANNELS = 16
N_JOINTS = len(FINGER_JOINTS)  # 20
SAMPLE_RATE = 2000.0
#: The file stores EMG in microvolts; Recordings hold volts.
EMG_FILE_UNIT = "uV"
EMG_TO_VOLTS = 1e-6
#: A sample is an IK failure when every joint angle is within this of zero (emg2pose: ``np.isclose(x, 0)``).
IK_FAILURE_ATOL = 1e-8
SIDES = ("left", "right")

#: The compound record written by :func:`write_session` (field order as in the released files).
TIMESERIES_DTYPE = np.dtype([(TIME, "<f8"), (JOINT_ANGLES, "<f8", (N_JOINTS,)), (EMG, "<f4", (N_EMG_CHANNELS,))])
STRING_ATTRS = ("filename", "session", "stage", "user", "side")
NUMBER_ATTRS = ("sample_rate", "num_channels", "start", "end")
REQUIRED_ATTRS = STRING_ATTRS + NUMBER_ATTRS

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def ik_failure_mask(joint_angles: np.ndarray) -> np.ndarray:
    """``(T,)`` bool, True where all joint angles of a ``(T, 20)`` array are zero (IK failure)."""
    return np.all(np.abs(joint_angles) <= IK_FAILURE_ATOL, axis=-1)


# -- writing --------------------------------------------------------------------------------------------------


def _check_array(name: str, value: Any, shape: tuple[int | None, ...], dtypes: tuple[type, ...]) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.type not in dtypes:
        allowed = " or ".join(np.dtype(t).name for t in dtypes)
        raise ValueError(f"{name} must have dtype {allowed}, got {array.dtype}")
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        wanted = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must be finite, got {bad} NaN/inf value(s)")
    return array


def _check_name(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


#: HDF5 filters ``write_session`` may apply.
COMPRESSIONS = (None, "gzip", "lzf")


def write_session(
    path: str | os.PathLike[str],
    *,
    time: np.ndarray,
    emg: np.ndarray,
    joint_angles: np.ndarray,
    session: str,
    stage: str,
    user: str,
    side: str,
    sample_rate: float = SAMPLE_RATE,
    filename: str | None = None,
    overwrite: bool = False,
    compression: str | None = None,
) -> Path:
    """Write one emg2pose session file in the exact released schema; returns its path.

    Parameters
    ----------
    time
        ``(T,)`` float64 unix time in seconds, strictly increasing.
    emg
        ``(T, 16)`` float32 EMG in **microvolts** (the file's unit; the reader converts to volts).
    joint_angles
        ``(T, 20)`` float64 (or float32, stored losslessly as float64) radians in ``FINGER_JOINTS`` order;
        write all-zero rows where inverse kinematics failed.
    session, stage, user, side
        Identifiers stored as group attributes; ``side`` is ``"left"`` or ``"right"``.
    sample_rate
        EMG sampling rate in Hz.
    filename
        The ``filename`` attribute (emg2pose: the file's stem, also the key in ``metadata.csv``); defaults to
        ``Path(path).stem``.
    overwrite
        Replace an existing file. The file is written to a temporary name and renamed, so a crash never leaves
        a half-written session behind.
    compression
        ``None`` (as the released files), ``"gzip"`` or ``"lzf"``: an HDF5 filter (with byte shuffling) that h5py
        and emg2pose's reader undo transparently; it trades write/read speed for disk space.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {list(COMPRESSIONS)}, got {compression!r}")
    path = Path(path)
    time = _check_array("time", time, (None,), (np.float64,))
    n = len(time)
    if n == 0:
        raise ValueError("time must hold at least one sample, got 0")
    emg = _check_array("emg", emg, (n, N_EMG_CHANNELS), (np.float32,))
    joint_angles = _check_array("joint_angles", joint_angles, (n, N_JOINTS), (np.float64, np.float32))
    steps = np.diff(time)
    if np.any(steps <= 0):
        first = int(np.argmax(steps <= 0))
        raise ValueError(
            f"time must be strictly increasing, got time[{first + 1}]={time[first + 1]!r} <= time[{first}]={time[first]!r}"
        )
    fields = {name: _check_name(name, v) for name, v in (("session", session), ("stage", stage), ("user", user))}
    if side not in SIDES:
        raise ValueError(f"side must be one of {list(SIDES)}, got {side!r}")
    sample_rate = float(sample_rate)
    if not np.isfinite(sample_rate) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}")
    filename = _check_name("filename", path.stem if filename is None else filename)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    if n > 1 and abs(float(np.median(steps)) * sample_rate - 1.0) > 0.01:
        logger.warning(
            "%s: median time step %.6g s does not match sample_rate %g Hz", path, float(np.median(steps)), sample_rate
        )
    if n > 1 and float(np.max(np.abs(emg))) < 1e-2:
        # Volts passed where microvolts are expected would be 1e6 too small; real sEMG is tens to thousands of uV.
        logger.warning("%s: |emg| < 0.01 everywhere; emg must be in microvolts, not volts", path)

    records = np.empty(n, dtype=TIMESERIES_DTYPE)
    records[TIME] = time
    records[JOINT_ANGLES] = joint_angles
    records[EMG] = emg

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp_name, "w") as f:
            group = f.create_group(GROUP)
            group.create_dataset(
                TIMESERIES,
                data=records,
                chunks=(min(n, 4096),),
                compression=compression,
                shuffle=compression is not None,
            )
            for key, value in fields.items():
                group.attrs[key] = value
            group.attrs["filename"] = filename
            group.attrs["side"] = side
            group.attrs["sample_rate"] = sample_rate
            group.attrs["num_channels"] = np.int64(N_EMG_CHANNELS)
            group.attrs["start"] = float(time[0])
            group.attrs["end"] = float(time[-1])
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


# -- reading --------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """HDF5 attribute values as plain Python (bytes -> str, numpy scalars -> int/float)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


class Emg2PoseSession:
    """A read-only, validated view of one emg2pose session file (like emg2pose's ``Emg2PoseSessionData``).

    Opening checks the group, the compound fields and their shapes, and the attributes, raising
    :class:`~biosig.errors.ReaderError` for each problem. Attributes are loaded at once; samples are read from
    disk when first asked for (``emg``, ``joint_angles`` and ``time`` each read one field of the whole file and
    are cached; ``records[a:b]`` reads a slice). Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise ReaderError(
                self.path, "cannot open as HDF5", expected="an emg2pose HDF5 file", got=str(error)
            ) from None
        try:
            self._validate()
        except BaseException:
            self._file.close()
            raise
        self._cache: dict[str, np.ndarray] = {}
        self._time_checked = False

    def _validate(self) -> None:
        if GROUP not in self._file or not isinstance(self._file[GROUP], h5py.Group):
            raise ReaderError(
                self.path, f"no group {GROUP!r}", expected=f"group /{GROUP}", got=f"keys {list(self._file)}"
            )
        group = self._file[GROUP]
        if TIMESERIES not in group or not isinstance(group[TIMESERIES], h5py.Dataset):
            raise ReaderError(
                self.path, f"no dataset {GROUP}/{TIMESERIES}", expected="a compound dataset", got=f"keys {list(group)}"
            )
        self.records: h5py.Dataset = group[TIMESERIES]
        fields = self.records.dtype.fields
        if fields is None or self.records.ndim != 1:
            raise ReaderError(
                self.path,
                f"{GROUP}/{TIMESERIES} is not a 1-D compound dataset",
                expected=f"fields {TIME}, {JOINT_ANGLES}, {EMG}",
                got=f"dtype {self.records.dtype} shape {self.records.shape}",
            )
        missing = [name for name in (TIME, JOINT_ANGLES, EMG) if name not in fields]
        if missing:
            raise ReaderError(
                self.path,
                f"{GROUP}/{TIMESERIES} lacks field(s) {missing}",
                expected=f"{TIME}, {JOINT_ANGLES}, {EMG}",
                got=f"fields {list(fields)}",
            )
        for name, shape in ((TIME, ()), (JOINT_ANGLES, (N_JOINTS,)), (EMG, (N_EMG_CHANNELS,))):
            dtype = fields[name][0]
            if dtype.shape != shape or not np.issubdtype(dtype.base, np.floating):
                raise ReaderError(
                    self.path,
                    f"field {name!r} has the wrong type",
                    expected=f"floating-point of shape {shape}",
                    got=f"{dtype.base} of shape {dtype.shape}",
                )
        if len(self.records) == 0:
            raise ReaderError(self.path, "the timeseries is empty", expected="at least one sample", got="0")
        missing = [key for key in REQUIRED_ATTRS if key not in group.attrs]
        if missing:
            raise ReaderError(
                self.path,
                f"group {GROUP!r} lacks attribute(s) {missing}",
                expected=f"{list(REQUIRED_ATTRS)}",
                got=f"{sorted(group.attrs)}",
            )
        attrs = {key: _plain(value) for key, value in group.attrs.items()}
        for key in STRING_ATTRS:
            if not isinstance(attrs[key], str):
                raise ReaderError(self.path, f"attribute {key!r} is not a string", got=repr(attrs[key]))
        for key in NUMBER_ATTRS:
            if isinstance(attrs[key], bool) or not isinstance(attrs[key], (int, float)):
                raise ReaderError(self.path, f"attribute {key!r} is not a number", got=repr(attrs[key]))
        if not np.isfinite(attrs["sample_rate"]) or attrs["sample_rate"] <= 0:
            raise ReaderError(
                self.path, "bad sample_rate", expected="a positive number of Hz", got=repr(attrs["sample_rate"])
            )
        if attrs["num_channels"] != N_EMG_CHANNELS:
            raise ReaderError(
                self.path,
                "num_channels disagrees with the emg field",
                expected=str(N_EMG_CHANNELS),
                got=repr(attrs["num_channels"]),
            )
        self.attrs: dict[str, Any] = attrs

    # -- context manager and sequence protocol ---------------------------------------------------------------

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Emg2PoseSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.records.shape[0])

    def __getitem__(self, key: slice) -> np.ndarray:
        """Records ``key`` as a numpy structured array (reads only that slice from disk)."""
        return self.records[key]

    def __repr__(self) -> str:
        return f"<Emg2PoseSession {self.attrs['filename']} | {len(self)} samples @ {self.sample_rate:g} Hz>"

    # -- fields ----------------------------------------------------------------------------------------------

    def _field(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self.records[name]
        return self._cache[name]

    @property
    def time(self) -> np.ndarray:
        """``(T,)`` float64 unix seconds; raises if timestamps go backwards (emg2pose allows ties)."""
        time = self._field(TIME)
        if not self._time_checked:
            steps = np.diff(time)
            if not np.all(steps >= 0):  # also catches NaN
                first = int(np.argmax(~(steps >= 0)))
                raise ReaderError(self.path, "timestamps are not monotonic", got=f"time[{first + 1}] < time[{first}]")
            self._time_checked = True
        return time

    @property
    def emg(self) -> np.ndarray:
        """``(T, 16)`` EMG exactly as stored (float32 microvolts)."""
        return self._field(EMG)

    @property
    def joint_angles(self) -> np.ndarray:
        """``(T, 20)`` joint angles in radians exactly as stored (float64, or float32 in some files)."""
        return self._field(JOINT_ANGLES)

    @property
    def ik_failure_mask(self) -> np.ndarray:
        """``(T,)`` bool, True where inverse kinematics failed (all 20 angles zero)."""
        if "ik_failure" not in self._cache:
            self._cache["ik_failure"] = ik_failure_mask(self.joint_angles)
        return self._cache["ik_failure"]

    @property
    def no_ik_failure(self) -> np.ndarray:
        """``(T,)`` bool, True where the pose is valid (emg2pose's name for ``~ik_failure_mask``)."""
        return ~self.ik_failure_mask

    @property
    def sample_rate(self) -> float:
        return float(self.attrs["sample_rate"])

    def _metadata(self) -> dict[str, Any]:
        a = self.attrs
        return {
            "source": "emg2pose",
            "path": str(self.path),
            "filename": a["filename"],
            "subject": a["user"],
            "user": a["user"],
            "session": a["session"],
            "stage": a["stage"],
            "side": a["side"],
            "start": a["start"],
            "end": a["end"],
            "n_ik_failure_samples": int(self.ik_failure_mask.sum()),
        }

    def _ik_annotations(self) -> Annotations:
        """One ``BAD_IK`` event per run of IK-failure samples (as Meta's BIDS converter marks them)."""
        edges = np.diff(np.concatenate([[0], self.ik_failure_mask.astype(np.int8), [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        sfreq = self.sample_rate
        return Annotations(starts / sfreq, (stops - starts) / sfreq, ("BAD_IK",) * len(starts))

    def _check_uniform(self) -> None:
        steps = np.diff(self.time)
        gaps = int(np.count_nonzero(steps > 1.5 / self.sample_rate))
        if gaps:
            logger.warning(
                "%s: %d timestamp gap(s) longer than 1.5 sample periods (largest %.4g s); the Recording assumes "
                "uniform sampling at %g Hz",
                self.path,
                gaps,
                float(steps.max()),
                self.sample_rate,
            )

    def to_recordings(self) -> tuple[Recording, Recording]:
        """``(emg, pose)`` Recordings sharing one time axis.

        ``emg`` holds 16 ``emg`` channels in volts (the file's microvolts times 1e-6) with no mask: IK failures
        concern the pose only. ``pose`` holds the 20 ``FINGER_JOINTS`` as ``pose`` channels in radians with
        ``valid = ~ik_failure_mask`` and ``BAD_IK`` annotations. Both carry the session's identifiers in
        ``metadata`` (``subject`` = ``user``).
        """
        self._check_uniform()
        start_time = datetime.fromtimestamp(float(self.time[0]), tz=UTC)
        metadata = self._metadata()
        emg_info = SignalInfo.uniform(N_EMG_CHANNELS, self.sample_rate, "emg", start_time=start_time)
        emg_data = (self.emg.T.astype(np.float64) * EMG_TO_VOLTS).astype(np.float32)
        emg = Recording(data=emg_data, info=emg_info, metadata=metadata)
        pose_info = SignalInfo(self.sample_rate, FINGER_JOINTS, ("pose",) * N_JOINTS, start_time=start_time)
        pose = Recording(
            data=self.joint_angles.T.astype(np.float32),
            info=pose_info,
            valid=self.no_ik_failure,
            annotations=self._ik_annotations(),
            metadata=metadata,
        )
        return emg, pose


def read_session(path: str | os.PathLike[str]) -> Emg2PoseSession:
    """Open and validate an emg2pose session file (close it, or use ``with``)."""
    return Emg2PoseSession(path)


def _has_hdf5_magic(path: Path) -> bool:
    # The superblock sits at byte 0 or, after a user block, at 512, 1024, 2048, ... bytes.
    size = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            if f.read(8) == _HDF5_MAGIC:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def sniff_emg2pose(path: Path) -> bool:
    """True for an HDF5 file with an ``emg2pose`` group."""
    try:
        if not path.is_file() or not _has_hdf5_magic(path):
            return False
        with h5py.File(path, "r") as f:
            return GROUP in f
    except OSError:
        return False


@register_reader("emg2pose", "emg2pose session HDF5 (16-ch EMG + 20 joint angles)", sniff_emg2pose)
def read_emg2pose(path: Path) -> list[Recording]:
    """One combined Recording: 16 ``emg`` channels (V) then 20 ``pose`` channels (rad).

    ``valid`` is False at IK failures, which makes the whole sample unusable for EMG -> pose work; for EMG-only
    use take ``read_session(path).to_recordings()[0]``, which carries no mask.
    """
    with Emg2PoseSession(path) as session:
        emg, pose = session.to_recordings()
    info = SignalInfo(
        emg.sfreq,
        emg.info.ch_names + pose.info.ch_names,
        emg.info.ch_types + pose.info.ch_types,
        emg.info.units + pose.info.units,
        start_time=emg.info.start_time,
    )
    data = np.concatenate([emg.data, pose.data], axis=0)
    labels, label_names = read_sidecar_labels(path, n_times=data.shape[1])
    return [
        Recording(
            data,
            info,
            labels=labels,
            label_names=label_names,
            valid=pose.valid,
            annotations=pose.annotations,
            metadata=pose.metadata,
        )
    ]


#: Format tag of the ``gestures.json`` that biosig's synthetic corpus writes beside its session files.
SYNTHETIC_CORPUS_FORMAT = "biosig-synthetic-emg2pose/1"


def read_sidecar_labels(path: str | os.PathLike[str], n_times: int) -> tuple[np.ndarray | None, dict[int, str]]:
    """Per-sample gesture labels of a synthetic corpus file, or ``(None, {})`` for a released emg2pose file.

    emg2pose files carry no gesture labels. biosig's synthetic corpus stores them beside the session, in
    ``labels/<stem>.npz`` (key ``labels``, indices into the ``vocabulary`` of ``gestures.json``).
    """
    path = Path(path)
    sidecar = path.parent / "labels" / f"{path.stem}.npz"
    vocabulary_file = path.parent / "gestures.json"
    if not (sidecar.is_file() and vocabulary_file.is_file()):
        return None, {}
    try:
        vocabulary = json.loads(vocabulary_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReaderError(vocabulary_file, f"cannot parse the gesture vocabulary ({exc})", expected="JSON") from exc
    if vocabulary.get("format") != SYNTHETIC_CORPUS_FORMAT:
        return None, {}
    with np.load(sidecar, allow_pickle=False) as archive:
        if "labels" not in archive.files:
            raise ReaderError(sidecar, "no 'labels' array", expected="labels (T,) int gesture indices")
        labels = archive["labels"].astype(np.int64)
    if labels.shape != (n_times,):
        raise ReaderError(
            sidecar, "label count does not match the session", expected=f"({n_times},)", got=str(labels.shape)
        )
    return labels, dict(enumerate(vocabulary["vocabulary"]))


# -- metadata.csv ---------------------------------------------------------------------------------------------

#: Columns every emg2pose ``metadata.csv`` has (``start``/``end`` are kept when present).
METADATA_COLUMNS = (
    "filename",
    "user",
    "session",
    "stage",
    "side",
    "moving_hand",
    "held_out_user",
    "held_out_stage",
    "split",
    "generalization",
)
SPLITS = ("train", "val", "test")
_BOOL_COLUMNS = ("held_out_user", "held_out_stage")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _parse_bool(column: str, values: pd.Series, where: str) -> pd.Series:
    def parse(v: Any) -> bool:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        text = str(v).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{where}: column {column!r} must hold True/False, got {v!r}")

    return values.map(parse).astype(bool)


def _validate_metadata(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in METADATA_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {missing}; expected {list(METADATA_COLUMNS)}, got {list(frame.columns)}"
        )
    frame = frame.copy()
    for column in _BOOL_COLUMNS:
        frame[column] = _parse_bool(column, frame[column], where)
    for column in (c for c in METADATA_COLUMNS if c not in _BOOL_COLUMNS):
        # Training rows may leave ``generalization`` empty; keep that as "" rather than NaN.
        frame[column] = frame[column].fillna("").astype(str)
    empty = frame["filename"] == ""
    if empty.any():
        raise ValueError(f"{where}: empty filename in row(s) {list(np.flatnonzero(empty.to_numpy()))}")
    bad = sorted(set(frame["split"]) - set(SPLITS))
    if bad:
        raise ValueError(f"{where}: column 'split' must be one of {list(SPLITS)}, got {bad}")
    bad = sorted(set(frame["side"]) - set(SIDES))
    if bad:
        raise ValueError(f"{where}: column 'side' must be one of {list(SIDES)}, got {bad}")
    return frame.reset_index(drop=True)


def read_metadata(path: str | os.PathLike[str]) -> pd.DataFrame:
    """emg2pose's ``metadata.csv`` as a validated DataFrame (one row per session file and split).

    ``held_out_user``/``held_out_stage`` become bool; the other required columns become str (empty where the
    CSV has none). Raises ``ValueError`` naming the file and column for a missing column or a bad value.
    """
    path = Path(path)
    frame = pd.read_csv(path, dtype={c: str for c in METADATA_COLUMNS if c not in _BOOL_COLUMNS})
    return _validate_metadata(frame, str(path))


def write_metadata(rows: pd.DataFrame | Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Validate ``rows`` (a DataFrame or dicts with :data:`METADATA_COLUMNS`) and write them as CSV."""
    path = Path(path)
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    frame = _validate_metadata(frame, "rows")
    columns = list(METADATA_COLUMNS) + [c for c in frame.columns if c not in METADATA_COLUMNS]
    frame[columns].to_csv(path, index=False)
    return path


def select_sessions(
    metadata: pd.DataFrame,
    *,
    split: str | None = None,
    generalization: str | None = None,
    held_out_user: bool | None = None,
    held_out_stage: bool | None = None,
    users: Iterable[str] | None = None,
    stages: Iterable[str] | None = None,
    side: str | None = None,
) -> pd.DataFrame:
    """Rows of a :func:`read_metadata` table matching every given filter (None = no filter)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be one of {list(SIDES)}, got {side!r}")
    keep = pd.Series(True, index=metadata.index)
    for column, value in (("split", split), ("generalization", generalization), ("side", side)):
        if value is not None:
            keep &= metadata[column] == value
    for column, flag in (("held_out_user", held_out_user), ("held_out_stage", held_out_stage)):
        if flag is not None:
            keep &= metadata[column] == bool(flag)
    for column, values in (("user", users), ("stage", stages)):
        if values is not None:
            keep &= metadata[column].isin([str(v) for v in values])
    return metadata[keep].reset_index(drop=True)


def session_paths(metadata: pd.DataFrame, root: str | os.PathLike[str]) -> list[Path]:
    """``root/<filename>.hdf5`` for each row, in order (paths are not checked for existence)."""
    root = Path(root)
    return [root / (name if name.endswith(".hdf5") else f"{name}.hdf5") for name in metadata["filename"]]
