"""Multimodal robustness: linear probes under test-time modality dropout and substitution.

A multimodal encoder (bioFAME pretrained with input-space modality dropout, ``data.modality_dropout``) takes any
channel count, so a probe fitted on embeddings of all modalities can be tested on windows that lack one, or in
which one modality stands in for another. Each *condition* names the channel types the probe is fitted on and the
types it is tested on (the encoder's own mean-pooled embedding, :func:`~biosig.evaluation.probe.embed`, whose
size does not depend on the channels):

``all``                 fitted and tested on every modality (the reference);
``drop M at test``      fitted on every modality, tested without ``M`` (test-time modality dropout);
``M absent``            fitted and tested without ``M`` (what the remaining modalities carry on their own, the
                        bound a model robust to dropping ``M`` would reach);
``M -> S at test``      fitted with ``M`` and without ``S``, tested with ``S`` in place of ``M`` (substitution: a
                        wearable with a PPG sensor where the training data had ECG).

Tasks (:data:`MODALITY_TASKS`):

``eegmat-multimodal``   PhysioNet eegmat rest vs. mental arithmetic with the 19 scalp EEG channels *and* the ECG,
                        leave-one-subject-out (two subjects in the shared folder; real data);
``synthetic-physio``    NeuroKit2-simulated ECG, PPG, respiration and EDA (:mod:`biosig.synth.physio`) in two
                        overlapping physiological states, :data:`CALM` and :data:`AROUSED`, whose heart rate,
                        breathing rate, skin-conductance responses and PPG motion differ by amounts comparable to
                        their spread, so that every modality carries part of the label and ECG and PPG carry the
                        same heart rate. Folds hold out whole recordings.

Probes use the same grouped-CV regularisation as ``biosig eval table`` (groups: subjects, recordings).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biosig.evaluation.benchmark import (
    Encoder,
    MethodResult,
    _c_notes,
    _score_folds,
    check_leakage,
    column_names,
    robust_divisors,
)
from biosig.evaluation.metrics import aggregate
from biosig.evaluation.probe import LinearProbe, embed
from biosig.evaluation.protocols import EEGMAT_CHANNELS, Fold, TaskData, load_eegmat_task

__all__ = [
    "AROUSED",
    "CALM",
    "MODALITY_TASKS",
    "ModalityCondition",
    "load_synthetic_physio_task",
    "modality_conditions",
    "run_modality_benchmark",
]

log = logging.getLogger(__name__)

MODALITY_TASKS = ("eegmat-multimodal", "synthetic-physio")
#: Substitutions tried when both modalities are present: (modality in training, its stand-in at test).
DEFAULT_SUBSTITUTIONS = (("ecg", "ppg"), ("ppg", "ecg"))
SYNTH_WINDOW_S, SYNTH_HOP_S = 4.0, 2.0


def _states() -> tuple[Any, Any]:
    from biosig.synth.physio import PhysioState

    calm = PhysioState(
        "calm", heart_rate=(60, 85), respiratory_rate=(10, 16), scr_per_minute=(0, 4), ppg_motion=(0, 0.1)
    )
    aroused = PhysioState(
        "aroused", heart_rate=(75, 100), respiratory_rate=(14, 20), scr_per_minute=(2, 8), ppg_motion=(0.05, 0.15)
    )
    return calm, aroused


CALM, AROUSED = _states()


@dataclass(frozen=True)
class ModalityCondition:
    """One test of the probe: fitted on windows of the ``train`` channel types, tested on the ``test`` types."""

    name: str
    kind: str
    train: tuple[str, ...]
    test: tuple[str, ...]


def modality_conditions(
    ch_types: Sequence[str], substitutions: Sequence[tuple[str, str]] = DEFAULT_SUBSTITUTIONS
) -> list[ModalityCondition]:
    """The conditions for a task whose channels have ``ch_types`` (see the module docstring).

    Substitution ``(m, s)`` is added when both ``m`` and ``s`` are present; with only one modality there is
    nothing to drop and only ``all`` is returned.
    """
    types = tuple(dict.fromkeys(ch_types))
    if not types:
        raise ValueError("ch_types is empty; a task needs at least one channel")
    out = [ModalityCondition("all", "reference", types, types)]
    if len(types) < 2:
        return out
    for m in types:
        rest = tuple(t for t in types if t != m)
        out.append(ModalityCondition(f"drop {m} at test", "dropout", types, rest))
        out.append(ModalityCondition(f"{m} absent", "absent", rest, rest))
    for m, s in substitutions:
        if m in types and s in types:
            train = tuple(t for t in types if t != s)
            test = tuple(s if t == m else t for t in train)
            out.append(ModalityCondition(f"{m} -> {s} at test", "substitution", train, test))
    return out


def load_synthetic_physio_task(
    n_per_class: int = 12,
    duration_s: float = 60.0,
    sfreq: float = 100.0,
    seed: int = 0,
    window_s: float = SYNTH_WINDOW_S,
    hop_s: float = SYNTH_HOP_S,
) -> TaskData:
    """The ``synthetic-physio`` task: ``n_per_class`` simulated recordings of :data:`CALM` and :data:`AROUSED`."""
    from biosig.datasets.windows import RecordingWindows
    from biosig.evaluation.protocols import _cut, _label_note
    from biosig.synth.physio import simulate_physio_dataset

    recordings = simulate_physio_dataset(n_per_class, duration_s, sfreq, seed=seed, states=(CALM, AROUSED))
    recordings = [r.replace(metadata={**r.metadata, "recording": f"synth{i:03d}"}) for i, r in enumerate(recordings)]
    windows = RecordingWindows(
        recordings,
        window_s,
        hop_s,
        min_label_fraction=1.0,
        drop_unlabelled=True,
        group_by=lambda r: r.metadata["recording"],
    )
    group = np.array([str(recordings[r].metadata["recording"]) for r in windows.recording_index])
    notes = [
        f"synthetic-physio: {len(recordings)} NeuroKit2 recordings ({n_per_class} calm, {n_per_class} aroused) of "
        f"{duration_s:g} s at {sfreq:g} Hz, seed {seed}; folds hold out whole recordings",
        _label_note(windows, f"synthetic-physio {window_s:g} s windows every {hop_s:g} s"),
    ]
    return TaskData(
        "synthetic-physio",
        "group_kfold",
        "none",
        windows=windows,
        x=_cut(windows),
        y=windows.labels,
        participant=group,
        session=np.array(["1"] * len(windows)),
        label_names=dict(recordings[0].label_names),
        notes=notes,
    )


def load_modality_tasks(
    names: Sequence[str], data_dir: str | Path | None, *, synthetic_per_class: int = 12, explicit: bool = False
) -> tuple[list[TaskData], list[str]]:
    """The requested modality tasks; eegmat is skipped with a note (an error when ``explicit``) without data."""
    from biosig.datasets.catalog import get_dataset

    unknown = sorted(set(names) - set(MODALITY_TASKS))
    if unknown:
        raise ValueError(f"unknown modality task(s) {unknown}; choose from {', '.join(MODALITY_TASKS)}")
    tasks, notes = [], []
    for name in names:
        if name == "eegmat-multimodal":
            if data_dir is None or not get_dataset("eegmat").files(Path(data_dir)):
                if explicit:
                    raise FileNotFoundError(
                        f"no eegmat EDF files under {data_dir}; pass --data-dir with physionet-eegmat"
                    )
                notes.append(f"eegmat-multimodal skipped: no eegmat data under {data_dir}")
                continue
            tasks.append(load_eegmat_task(data_dir, channels=(*EEGMAT_CHANNELS, "ECG"), name="eegmat-multimodal"))
        else:
            tasks.append(load_synthetic_physio_task(synthetic_per_class))
    return tasks, notes


def _subset_embedding(
    enc: Encoder,
    seed: int,
    x: np.ndarray,
    factors: np.ndarray,
    types: np.ndarray,
    kinds: tuple[str, ...],
    cache: dict[tuple[Any, ...], np.ndarray],
    batch_size: int,
    device: str,
) -> np.ndarray:
    """Embeddings of ``x`` restricted to the channels of types ``kinds`` (cached per subset and, when random, seed)."""
    key = (kinds, seed if enc.random_init else None)
    if key not in cache:
        rows = np.flatnonzero(np.isin(types, kinds))
        cache[key] = embed(enc.instance(seed), x[:, rows], factors=factors[rows], batch_size=batch_size, device=device)
    return cache[key]


def run_modality_benchmark(
    tasks: Sequence[TaskData],
    seeds: Sequence[int],
    encoders: Sequence[Encoder],
    *,
    probe_c: float | str = "cv",
    batch_size: int = 256,
    device: str = "cpu",
    substitutions: Sequence[tuple[str, str]] = DEFAULT_SUBSTITUTIONS,
) -> tuple[list[MethodResult], list[str]]:
    """Every encoder's probe under every condition of every task; rows for :class:`ResultsTable`.

    A row's ``task`` is ``"<task>: <condition>"`` and its column the encoder (its family, or its label when two
    encoders of one family are compared, e.g. pretrained with and without modality dropout).
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if not encoders:
        raise ValueError("the modality evaluation needs at least one encoder (--checkpoint or --model --random-init)")
    for task in tasks:  # fail before any embedding when a scale is missing
        for enc in encoders:
            if not enc.estimate_scale:
                enc.input_scale.channel_factors(task.ch_types, task.units)
    names = column_names(encoders)
    results: list[MethodResult] = []
    notes: list[str] = []
    for task in tasks:
        notes.extend(f"{task.name}: {n}" for n in task.notes)
        conditions = modality_conditions(task.ch_types, substitutions)
        types = np.array(task.ch_types)
        for index, (enc, name) in enumerate(zip(encoders, names)):
            if task.name.startswith("eegmat"):
                note = check_leakage(enc, task, seeds)
                if note:
                    notes.append(f"{task.name}: {note}")
            scale = enc.input_scale
            if enc.estimate_scale:
                scale = dataclasses.replace(
                    scale, divisors=robust_divisors(task), source="estimated on the task's data"
                )
            x = task.model_input(enc.sfreq, enc.patch_len, centre=scale.centre)
            factors = scale.channel_factors(task.ch_types, task.units)
            cache: dict[tuple[Any, ...], np.ndarray] = {}
            for cond in conditions:
                t0 = time.perf_counter()
                chosen: list[str] = []
                runs = []
                for seed in seeds:
                    z_train, z_test = (
                        _subset_embedding(enc, seed, x, factors, types, kinds, cache, batch_size, device)
                        for kinds in (cond.train, cond.test)
                    )

                    def predict(
                        fold: Fold,
                        seed: int,
                        z_train: np.ndarray = z_train,
                        z_test: np.ndarray = z_test,
                        task: TaskData = task,
                        chosen: list[str] = chosen,
                    ) -> np.ndarray:
                        probe = LinearProbe(C=probe_c, seed=seed)
                        probe.fit(z_train[fold.train], task.y[fold.train], fold.train_groups)
                        chosen.append(probe.cv_note)
                        return probe.predict(z_test[fold.test])

                    runs.append(_score_folds(task, seed, predict))
                summary = aggregate([r["metrics"] for r in runs])
                row_notes = [f"fitted on {'+'.join(cond.train)}, tested on {'+'.join(cond.test)}", *_c_notes(chosen)]
                results.append(
                    MethodResult(
                        f"{task.name}: {cond.name}",
                        f"linear probe: {enc.label}",
                        f"probe, {name}" if not enc.random_init else "probe, random-init control",
                        runs,
                        summary,
                        len(np.unique(task.y)),
                        row_notes,
                        time.perf_counter() - t0,
                        encoder_index=index,
                    )
                )
                log.info("%s: %s / %s: %s", task.name, cond.name, enc.label, summary["balanced_accuracy"].format())
    return results, notes
