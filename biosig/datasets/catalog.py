"""The datasets biosig knows, where their files are found, and where they can be downloaded from.

A data directory holds one folder per dataset (the layout of the project's shared data folder). It is found,
in order, from an explicit path, the ``BIOSIG_DATA`` environment variable, then ``../shared/data`` beside the
current directory or beside the source checkout; none of these is required, and the bundled sample inside the
package is always available.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Environment variable naming the data directory.
DATA_ENV = "BIOSIG_DATA"

#: Folder of small real recordings shipped inside the package (see each folder's SOURCE.md).
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a public dataset: its URL and its path relative to the dataset folder."""

    url: str
    relpath: str


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset biosig can read.

    Parameters
    ----------
    name
        Short name used on the command line (``biosig data download eegmat``).
    folder
        Folder name inside a data directory.
    reader
        Name of the registered reader for its files (see :func:`biosig.io.list_readers`).
    patterns
        Globs (relative to the folder) matching the files to read; one reader call per match.
    licence
        Licence and attribution in one line.
    homepage
        Where a person can read about and fetch the dataset.
    remote
        Files a download fetches (a representative subset where the full dataset is large).
    """

    name: str
    folder: str
    description: str
    reader: str
    patterns: tuple[str, ...]
    licence: str
    homepage: str
    remote: tuple[RemoteFile, ...] = field(default=())

    def files(self, data_dir: Path) -> list[Path]:
        """Files of this dataset under ``data_dir`` (sorted; empty when the folder is absent)."""
        root = data_dir / self.folder
        if not root.is_dir():
            return []
        found: set[Path] = set()
        for pattern in self.patterns:
            found.update(p for p in root.glob(pattern))
        return sorted(found)


_PHYSIONET = "https://physionet.org/files"
_NEUROKIT_RAW = "https://raw.githubusercontent.com/neuropsychology/NeuroKit/master/data"
_MYO_RAW = (
    "https://raw.githubusercontent.com/aljazfrancic/myo-readings-dataset/2630b1dd8b83b2fa386f06d536f64254ad541ac5"
)
_EMG2POSE = "https://fb-ctrl-oss.s3.amazonaws.com/emg2pose"


def _myo_remote(sessions: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    # The upstream repository stores plain text; the reader takes both plain and gzip files.
    return tuple(
        RemoteFile(f"{_MYO_RAW}/_readings_right_hand/{s}/{k}.txt", f"_readings_right_hand/{s}/{k}.txt")
        for s in sessions
        for k in range(8)
    )


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name="myo",
        folder="myo-readings-dataset",
        description="Myo armband sEMG, 8 ch int8 ~200 Hz, 8 wrist gestures, per-sample labels",
        reader="myo",
        patterns=("_readings_right_hand/*/*.txt", "_readings_right_hand/*/*.txt.gz"),
        licence="MIT (c) 2021 Aljaz Francic",
        homepage="https://github.com/aljazfrancic/myo-readings-dataset",
        remote=_myo_remote(("12345-1", "12345-2", "12345-3")),
    ),
    DatasetSpec(
        name="physionet-wfdb",
        folder="physionet-wfdb-samples",
        description="PhysioNet WFDB records (ECG, PPG, ABP, RESP) with beat annotations",
        reader="wfdb",
        patterns=("*.hea",),
        licence="ODC-By 1.0 (PhysioNet; Goldberger et al. 2000)",
        homepage="https://physionet.org/content/mitdb/1.0.0/",
        remote=tuple(RemoteFile(f"{_PHYSIONET}/mitdb/1.0.0/100.{ext}", f"100.{ext}") for ext in ("hea", "dat", "atr")),
    ),
    DatasetSpec(
        name="eegmat",
        folder="physionet-eegmat",
        description="PhysioNet EEG during mental arithmetic: 19 EEG + ECG, 500 Hz EDF, rest vs. arithmetic",
        reader="edf",
        patterns=("*.edf",),
        licence="ODC-By 1.0 (Zyma et al. 2019; PhysioNet)",
        homepage="https://physionet.org/content/eegmat/1.0.0/",
        remote=tuple(
            RemoteFile(f"{_PHYSIONET}/eegmat/1.0.0/Subject{s:02d}_{c}.edf", f"Subject{s:02d}_{c}.edf")
            for s in range(36)
            for c in (1, 2)
        ),
    ),
    DatasetSpec(
        name="neurokit",
        folder="neurokit-data",
        description="NeuroKit example recordings: ECG, PPG, RSP, EDA, EOG at 100-1000 Hz",
        reader="neurokit",
        patterns=("*.csv",),
        licence="MIT (c) 2020 Dominique Makowski",
        homepage="https://github.com/neuropsychology/NeuroKit/tree/master/data",
        remote=tuple(
            RemoteFile(f"{_NEUROKIT_RAW}/{name}", name)
            for name in ("bio_resting_5min_100hz.csv", "bio_eventrelated_100hz.csv", "ecg_1000hz.csv", "eog_100hz.csv")
        ),
    ),
    DatasetSpec(
        name="scipy-ecg",
        folder="scipy-ecg",
        description="SciPy's electrocardiogram (MIT-BIH 208 excerpt), 1 ECG at 360 Hz",
        reader="scipy-ecg",
        patterns=("ecg.dat",),
        licence="ODC-By 1.0 (PhysioNet)",
        homepage="https://github.com/scipy/dataset-ecg",
        remote=(RemoteFile("https://raw.githubusercontent.com/scipy/dataset-ecg/main/ecg.dat", "ecg.dat"),),
    ),
    DatasetSpec(
        name="emg2pose",
        folder="emg2pose",
        description="emg2pose-schema HDF5: 16 ch sEMG at 2 kHz with 20 joint angles (real or synthetic)",
        reader="emg2pose",
        patterns=("*.hdf5", "*/*.hdf5"),
        licence="CC BY-NC-SA 4.0 (Meta; real data) / generated (synthetic)",
        homepage="https://github.com/facebookresearch/emg2pose",
        # The full corpus is 431 GiB; the download fetches the ~600 MiB mini version's archive.
        remote=(
            RemoteFile(f"{_EMG2POSE}/emg2pose_metadata.csv", "emg2pose_metadata.csv"),
            RemoteFile(f"{_EMG2POSE}/emg2pose_dataset_mini.tar", "emg2pose_dataset_mini.tar"),
        ),
    ),
)


def get_dataset(name: str) -> DatasetSpec:
    """The dataset called ``name``; the error lists the known names."""
    for spec in DATASETS:
        if spec.name == name:
            return spec
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(s.name for s in DATASETS)}")


def candidate_data_dirs(explicit: str | Path | None = None) -> Iterator[tuple[str, Path]]:
    """Where a data directory is looked for, in priority order, each with the reason it is a candidate."""
    if explicit is not None:
        yield "--data-dir", Path(explicit).expanduser()
        return
    env = os.environ.get(DATA_ENV)
    if env:
        yield f"${DATA_ENV}", Path(env).expanduser()
        return
    yield "../shared/data from the current directory", Path.cwd().parent / "shared" / "data"
    yield "../shared/data beside the source checkout", Path(__file__).resolve().parents[2].parent / "shared" / "data"


def find_data_dir(explicit: str | Path | None = None) -> Path | None:
    """The first existing data directory among :func:`candidate_data_dirs`, or None.

    An explicit path (or ``$BIOSIG_DATA``) that does not exist raises, because silently looking elsewhere
    would read data the user did not ask for.
    """
    candidates = list(candidate_data_dirs(explicit))
    if explicit is not None or os.environ.get(DATA_ENV):
        source, path = candidates[0]
        if not path.is_dir():
            raise FileNotFoundError(f"data directory {path} (from {source}) does not exist or is not a directory")
        return path
    for _, path in candidates:
        if path.is_dir():
            return path.resolve()
    return None


def bundled_myo_session() -> Path:
    """Folder of the real Myo session shipped with the package (participant 12345, session 1)."""
    return ASSETS_DIR / "myo" / "12345-1"
