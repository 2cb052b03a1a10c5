"""Pretraining data: catalog datasets read, filtered, resampled, scaled and cut into windows.

Steps, in order (each logged, nothing dropped without a log line):

1. **Read** each dataset of ``DataConfig.datasets`` with its reader. Every recording belongs to a *group*: the Myo
   participant, the eegmat subject, the WFDB record, the NeuroKit file stem (``synthetic-physio``: one per
   simulated recording). ``include`` / ``exclude`` select groups (``"12345"`` or ``"myo:12345"``); an id that
   names no group raises, listing the groups, so held-out evaluation participants cannot leak in by a typo.
2. **Pick** the channel types of ``ch_types`` (default: all but ``stim`` and ``misc``), **resample** to ``sfreq``,
   and **merge** channels of one record stored at different rates (WFDB rate groups) back into one recording.
3. **Centre** each recording-channel on its median and **scale** it by :class:`~biosig.training.scaling.InputScaling`
   estimated on these training recordings (``scaling="robust"``).
4. **Window** with :class:`~biosig.datasets.windows.RecordingWindows` (windows holding invalid samples are dropped).

Recordings with different channel sets form different *layouts*; a batch never mixes layouts (the encoder takes
any channel count, but a batch tensor needs one). Every distinct channel (type and lower-cased name) gets a *slot*,
so :meth:`BioFAME.pretrain_loss`'s ``channel_ids`` name the same channel in every batch; a model with slot-tied
decoders needs ``n_chans >= len(slots)``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from biosig.datasets.catalog import DATASETS, bundled_myo_session, candidate_data_dirs, find_data_dir, get_dataset
from biosig.datasets.windows import RecordingWindows
from biosig.errors import BiosigError
from biosig.models.checkpoint import SignalSpec
from biosig.signals.info import SignalInfo
from biosig.signals.recording import Recording
from biosig.signals.resample import resample_recording
from biosig.training.config import DataConfig
from biosig.training.scaling import InputScaling

__all__ = [
    "DATASET_NAMES",
    "DataNotFoundError",
    "PretrainData",
    "Slot",
    "SourceRecording",
    "build_pretrain_data",
    "load_sources",
    "prepare_recordings",
]

log = logging.getLogger(__name__)

BUNDLED_MYO = "myo-bundled"
SYNTHETIC_PHYSIO = "synthetic-physio"
#: Every name ``data.datasets`` accepts.
DATASET_NAMES: tuple[str, ...] = tuple(s.name for s in DATASETS) + (BUNDLED_MYO, SYNTHETIC_PHYSIO)
#: Channel types left out unless ``data.ch_types`` asks for them: triggers and unknown channels are not signals.
NON_SIGNAL_TYPES = ("stim", "misc")
#: Rate groups of one record may differ by a sample or two after resampling (rounded ratios); more is an error.
MERGE_TOLERANCE = 2
#: Rates such as MIMIC's 249.89 Hz need a large denominator for an exact ratio (100/249.89 = 10000/24989);
#: scipy's polyphase filter handles that in well under a second per record, and simple ratios stay simple.
MAX_DENOMINATOR = 100_000


class DataNotFoundError(BiosigError, FileNotFoundError):
    """A requested dataset has no files where biosig looked."""


@dataclass(frozen=True)
class SourceRecording:
    """A recording with its provenance: ``dataset`` name and ``group`` id (participant, subject, record)."""

    dataset: str
    group: str
    recording: Recording


@dataclass(frozen=True)
class Slot:
    """One distinct channel across the training data: type, lower-cased name and the unit first seen."""

    ch_type: str
    name: str
    unit: str


# -- 1. reading ----------------------------------------------------------------------------------------------


def _data_dir(explicit: str | Path | None, dataset: str) -> Path:
    found = find_data_dir(explicit)
    if found is None:
        tried = "; ".join(f"{p} ({why})" for why, p in candidate_data_dirs(explicit))
        raise DataNotFoundError(
            f"dataset {dataset!r}: no data directory found (looked in {tried}); pass --data-dir or set $BIOSIG_DATA"
        )
    return found


def _read_myo(root: Path, wanted: Any, progress: bool) -> tuple[list[SourceRecording], set[str]]:
    from biosig.io.myo import list_myo_sessions, read_myo_dataset

    available = {p.name.split("-")[0] for p in list_myo_sessions(root)}
    chosen = sorted(p for p in available if wanted("myo", p))
    if not chosen:
        return [], available
    recordings, summary = read_myo_dataset(root, participants=chosen, progress=progress)
    if summary.n_skipped:
        log.info("myo: %d malformed rows skipped while reading (see biosig data inspect)", summary.n_skipped)
    return [SourceRecording("myo", str(r.metadata["participant"]), r) for r in recordings], available


def _read_catalog(name: str, data_dir: Path, wanted: Any) -> tuple[list[SourceRecording], set[str]]:
    from biosig.io import read

    spec = get_dataset(name)
    out: list[SourceRecording] = []
    available: set[str] = set()
    for path in spec.files(data_dir):
        for rec in read(path, format=spec.reader):
            group = str(rec.metadata.get("subject") or Path(path).name.split(".")[0])
            available.add(group)
            if wanted(name, group):
                out.append(SourceRecording(name, group, rec))
    return out, available


def _read_synthetic(cfg: DataConfig, seed: int, wanted: Any) -> tuple[list[SourceRecording], set[str]]:
    from biosig.synth.physio import simulate_physio_dataset

    recordings = simulate_physio_dataset(cfg.synthetic_per_class, cfg.synthetic_duration_s, 100.0, seed=seed)
    groups = [f"synth{i:03d}" for i in range(len(recordings))]
    out = [SourceRecording(SYNTHETIC_PHYSIO, g, r) for g, r in zip(groups, recordings) if wanted(SYNTHETIC_PHYSIO, g)]
    return out, set(groups)


def _matcher(include: Sequence[str], exclude: Sequence[str]) -> Any:
    def matches(entry: str, dataset: str, group: str) -> bool:
        prefix, sep, ident = entry.rpartition(":")
        return ident == group and (not sep or prefix == dataset)

    def wanted(dataset: str, group: str) -> bool:
        if include and not any(matches(e, dataset, group) for e in include):
            return False
        return not any(matches(e, dataset, group) for e in exclude)

    wanted.matches = matches  # type: ignore[attr-defined]
    return wanted


def load_sources(
    cfg: DataConfig, *, data_dir: str | Path | None = None, seed: int = 0, progress: bool = True
) -> list[SourceRecording]:
    """Read ``cfg.datasets`` and keep the groups ``cfg.include`` / ``cfg.exclude`` select.

    ``data_dir`` (e.g. the CLI's ``--data-dir``) wins over ``cfg.data_dir``. Raises :class:`DataNotFoundError`
    naming the dataset and where it looked when a dataset has no files, and ``ValueError`` for an unknown dataset
    name or an include/exclude id that names no group.
    """
    unknown = sorted(set(cfg.datasets) - set(DATASET_NAMES))
    if unknown:
        raise ValueError(f"data.datasets: unknown dataset(s) {unknown}; known: {', '.join(DATASET_NAMES)}")
    explicit = data_dir if data_dir is not None else cfg.data_dir
    wanted = _matcher(cfg.include, cfg.exclude)
    sources: list[SourceRecording] = []
    available: dict[str, set[str]] = {}
    for name in dict.fromkeys(cfg.datasets):  # keep order, drop repeats
        if name == BUNDLED_MYO:
            from biosig.io.myo import read_myo_session

            recs = [
                SourceRecording(BUNDLED_MYO, str(r.metadata["participant"]), r)
                for r in read_myo_session(bundled_myo_session())
            ]
            available[name] = {s.group for s in recs}
            found = [s for s in recs if wanted(name, s.group)]
        elif name == SYNTHETIC_PHYSIO:
            found, available[name] = _read_synthetic(cfg, seed, wanted)
        else:
            root = _data_dir(explicit, name)
            spec = get_dataset(name)
            if not spec.files(root):
                raise DataNotFoundError(
                    f"dataset {name!r}: no files matching {list(spec.patterns)} under {root / spec.folder}; "
                    f"fetch it with `biosig data download {name}` or point --data-dir at a folder holding {spec.folder}/"
                )
            if name == "myo":
                found, available[name] = _read_myo(root / spec.folder, wanted, progress)
            else:
                found, available[name] = _read_catalog(name, root, wanted)
        log.info("%s: %d recording(s) from %d group(s) selected", name, len(found), len({s.group for s in found}))
        sources.extend(found)

    for key, entries in (("include", cfg.include), ("exclude", cfg.exclude)):
        for entry in entries:
            if not any(wanted.matches(entry, d, g) for d, groups in available.items() for g in groups):
                listing = "; ".join(f"{d}: {', '.join(sorted(g)[:40])}" for d, g in available.items())
                raise ValueError(f"data.{key}: {entry!r} names no group of the datasets read ({listing})")
    if not sources:
        raise ValueError(
            f"no recording left after data.include={list(cfg.include)} and data.exclude={list(cfg.exclude)}"
        )
    return sources


# -- 2./3. channel types, resampling, merging, centring --------------------------------------------------------


def _merge(parts: list[SourceRecording]) -> SourceRecording:
    """Channels of one record read as several rate groups, joined (cropped to the shortest by <= 2 samples)."""
    n = min(p.recording.n_times for p in parts)
    longest = max(p.recording.n_times for p in parts)
    if longest - n > MERGE_TOLERANCE:
        raise ValueError(f"rate groups of {parts[0].recording.metadata.get('path')} differ by {longest - n} samples")
    recs = [p.recording for p in parts]
    names: list[str] = []
    for rec in recs:
        for name in rec.info.ch_names:
            names.append(name if name not in names else f"{name}-{len(names)}")
    valid = np.ones(n, dtype=bool)
    for rec in recs:
        if rec.valid is not None:
            valid &= rec.valid[:n]
    info = SignalInfo(
        sfreq=recs[0].sfreq,
        ch_names=tuple(names),
        ch_types=tuple(t for r in recs for t in r.info.ch_types),
        units=tuple(u for r in recs for u in r.info.units),
    )
    data = np.concatenate([r.data[:, :n] for r in recs], axis=0)
    merged = Recording(
        data, info, valid=None if valid.all() else valid, metadata={**recs[0].metadata, "merged": len(recs)}
    )
    return SourceRecording(parts[0].dataset, parts[0].group, merged)


def prepare_recordings(sources: Sequence[SourceRecording], cfg: DataConfig) -> list[SourceRecording]:
    """Pick channel types, resample to ``cfg.sfreq``, merge rate groups of one record, centre on the median.

    Recordings without a channel of the kept types, or shorter than one window, are left out with a log line
    listing them (they cannot form a window).
    """
    kept_types = set(cfg.ch_types)
    out: list[SourceRecording] = []
    no_channels: list[str] = []
    for src in sources:
        rec = src.recording
        rows = [
            i for i, t in enumerate(rec.info.ch_types) if (t in kept_types if kept_types else t not in NON_SIGNAL_TYPES)
        ]
        if not rows:
            no_channels.append(f"{src.dataset}:{src.group}")
            continue
        if len(rows) < rec.n_channels:
            rec = rec.pick(rows)
        if rec.sfreq != cfg.sfreq:
            rec = resample_recording(rec, cfg.sfreq, max_denominator=MAX_DENOMINATOR)
        out.append(SourceRecording(src.dataset, src.group, rec))
    if no_channels:
        log.info("no channel of the kept types in %d recording(s): %s", len(no_channels), ", ".join(no_channels))

    by_record: dict[tuple[str, str], list[SourceRecording]] = defaultdict(list)
    for i, src in enumerate(out):
        by_record[(src.dataset, str(src.recording.metadata.get("path", f"#{i}")))].append(src)
    merged = [parts[0] if len(parts) == 1 else _merge(parts) for parts in by_record.values()]

    n_window = int(round(cfg.window_s * cfg.sfreq))
    short = [f"{s.dataset}:{s.group}" for s in merged if s.recording.n_times < n_window]
    if short:
        log.warning(
            "%d recording(s) shorter than one %g-s window left out: %s", len(short), cfg.window_s, ", ".join(short)
        )
    merged = [s for s in merged if s.recording.n_times >= n_window]
    if not merged:
        raise ValueError(f"no recording is at least one window ({cfg.window_s} s) long after channel selection")
    if cfg.scaling == "robust":
        merged = [SourceRecording(s.dataset, s.group, _centred(s.recording)) for s in merged]
    return merged


def _centred(rec: Recording) -> Recording:
    # RevIN removes each window's mean for the encoder, but the reconstruction target keeps it, so a DC offset
    # (electrode potentials, ADC bias) would be loss the model can never explain.
    rows = rec.data if rec.valid is None else rec.data[:, rec.valid]
    median = np.median(rows, axis=1, keepdims=True) if rows.shape[1] else np.zeros((rec.n_channels, 1))
    return rec.replace(data=rec.data - median.astype(np.float32))


# -- 4. windows ----------------------------------------------------------------------------------------------


class PretrainData(Dataset):
    """Windows for pretraining; items are ``{"x": (c, n_window) float32, "layout": int}``.

    Attributes: ``slots`` (every distinct channel), ``layouts`` (slot ids per layout, ``(c,)`` long tensors),
    ``layout_types`` (channel types per layout, for modality dropout), ``layout_of`` ``(n_windows,)`` the layout of
    each window, ``scaling``, ``n_window`` samples, ``sfreq``, ``sources`` (the recordings used).
    """

    def __init__(
        self, sources: Sequence[SourceRecording], cfg: DataConfig, scaling: InputScaling, seed: int = 0
    ) -> None:
        self.cfg = cfg
        self.sfreq = float(cfg.sfreq)
        self.scaling = scaling
        self.sources = list(sources)
        slot_index: dict[tuple[str, str], int] = {}
        self.slots: list[Slot] = []
        by_layout: dict[tuple[int, ...], list[Recording]] = {}
        for src in self.sources:
            ids = []
            for name, kind, unit in zip(
                src.recording.info.ch_names, src.recording.info.ch_types, src.recording.info.units
            ):
                key = (kind, name.lower())
                if key not in slot_index:
                    slot_index[key] = len(self.slots)
                    self.slots.append(Slot(kind, name.lower(), unit))
                ids.append(slot_index[key])
            by_layout.setdefault(tuple(ids), []).append(scaling.apply_recording(src.recording))
        self.layouts = [torch.tensor(ids, dtype=torch.long) for ids in by_layout]
        self.layout_types = [tuple(self.slots[i].ch_type for i in ids) for ids in by_layout]
        self.windows = [RecordingWindows(recs, cfg.window_s, cfg.hop_s, invalid="drop") for recs in by_layout.values()]
        self.n_window = self.windows[0].n_window
        layout_of = np.concatenate([np.full(len(w), k, dtype=np.int64) for k, w in enumerate(self.windows)])
        local = np.concatenate([np.arange(len(w), dtype=np.int64) for w in self.windows])
        self.n_windows_total = len(layout_of)
        if cfg.max_windows and cfg.max_windows < len(layout_of):
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(len(layout_of), size=cfg.max_windows, replace=False))
            log.info("data.max_windows=%d: using a seeded subset of %d windows", cfg.max_windows, len(layout_of))
            layout_of, local = layout_of[pick], local[pick]
        self.layout_of = layout_of
        self._local = local

    def __len__(self) -> int:
        return len(self.layout_of)

    def __getitem__(self, index: int) -> dict[str, Any]:
        layout = int(self.layout_of[index])
        return {"x": self.windows[layout][int(self._local[index])]["x"], "layout": layout}

    @property
    def n_channels_max(self) -> int:
        return max(len(ids) for ids in self.layouts)

    def signal_spec(self) -> SignalSpec:
        """What a model trained on these windows expects: the rate, window length and every slot's channel."""
        return SignalSpec(
            sfreq=self.sfreq,
            n_times=self.n_window,
            ch_types=tuple(s.ch_type for s in self.slots),
            units=tuple(s.unit for s in self.slots),
            ch_names=tuple(s.name for s in self.slots),
        )

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for logs, ``summary.json`` and the checkpoint's ``training["data"]``."""
        groups: dict[str, list[str]] = defaultdict(list)
        for src in self.sources:
            if src.group not in groups[src.dataset]:
                groups[src.dataset].append(src.group)
        return {
            "datasets": list(self.cfg.datasets),
            "groups": {k: sorted(v) for k, v in groups.items()},
            "include": list(self.cfg.include),
            "exclude": list(self.cfg.exclude),
            "n_recordings": len(self.sources),
            "hours": round(sum(s.recording.duration for s in self.sources) / 3600.0, 3),
            "sfreq": self.sfreq,
            "window_s": self.cfg.window_s,
            "hop_s": self.cfg.hop_s,
            "n_window": self.n_window,
            "n_windows": len(self),
            "n_windows_available": self.n_windows_total,
            "dropped_windows": {k: sum(w.dropped[k] for w in self.windows) for k in ("invalid", "unlabelled")},
            "layouts": [[self.slots[i].name for i in ids.tolist()] for ids in self.layouts],
            "scaling": self.scaling.to_dict(),
        }


def collate_windows(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack one layout's windows: ``{"x": (b, c, n), "layout": int}``."""
    layouts = {item["layout"] for item in items}
    assert len(layouts) == 1, f"a batch mixes layouts {layouts}"  # the batch sampler never does
    return {"x": torch.stack([item["x"] for item in items]), "layout": layouts.pop()}


def build_pretrain_data(
    cfg: DataConfig, *, data_dir: str | Path | None = None, seed: int = 0, progress: bool = True
) -> PretrainData:
    """Read, prepare, scale and window the data of ``cfg`` (see the module docstring)."""
    sources = prepare_recordings(load_sources(cfg, data_dir=data_dir, seed=seed, progress=progress), cfg)
    scaling = InputScaling.estimate([s.recording for s in sources]) if cfg.scaling == "robust" else InputScaling()
    data = PretrainData(sources, cfg, scaling, seed=seed)
    log.info(
        "pretraining data: %d windows of %d samples from %d recording(s), %d layout(s), %d channel slot(s)",
        len(data),
        data.n_window,
        len(sources),
        len(data.layouts),
        len(data.slots),
    )
    return data
