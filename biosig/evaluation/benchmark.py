"""Run every method on every task for every seed: classical baselines, linear probes and fine-tuning.

For each task and seed, each method is fitted on every fold's training windows and scored on its test windows;
the fold metrics are averaged into one value per seed (cross-session: the mean over participants; eegmat: over
left-out subjects), and :func:`~biosig.evaluation.metrics.aggregate` gives mean +- std over seeds.

Encoders come from a checkpoint (:func:`checkpoint_encoder`; frozen weights, so the embeddings are computed once
per task) or are randomly initialised (:func:`random_encoder`; a control row, re-initialised with each seed so
its spread includes the initialisation). An encoder sees the task's windows resampled to its own rate and cut to
a multiple of its patch length, multiplied by its input scale (:mod:`biosig.evaluation.probe`).

**Leakage check** (:func:`check_leakage`). The training pipeline records the groups it pretrained on in
``meta["training"]["data"]["groups"]`` (Myo participants, eegmat subjects). A Myo participant that the
evaluation probes or tests on (any seed) is an error; an eegmat subject gives a warning note (with two subjects,
any pretraining on eegmat overlaps one fold). A checkpoint that records no groups gets a note saying the check
could not be made.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biosig.evaluation.baselines import FeatureClassifier, align_by_energy, standardize_per_group
from biosig.evaluation.finetune import FinetuneConfig, finetune
from biosig.evaluation.metrics import MetricSummary, aggregate, classification_metrics
from biosig.evaluation.probe import InputScale, LinearProbe, embed, input_scale_from_meta
from biosig.evaluation.protocols import Fold, TaskData

__all__ = ["Encoder", "MethodResult", "checkpoint_encoder", "column_names", "random_encoder", "run_benchmark"]

log = logging.getLogger(__name__)

PARTICIPANT_KEYS = ("myo_participants", "participants")
BASELINE_NAMES = {"td_lda": "TD + LDA", "bandpower_lr": "band power + LR"}
#: Column titles of the learned encoders by model-name prefix.
FAMILY_NAMES = {"biofame": "bioFAME", "nots": "NoTS"}


@dataclass
class Encoder:
    """An encoder to evaluate: a loaded checkpoint model, or an architecture to initialise randomly per seed."""

    label: str
    arch: str
    sfreq: float
    patch_len: int
    input_scale: InputScale
    checkpoint: Path | None = None
    model: nn.Module | None = None
    meta: dict[str, Any] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    estimate_scale: bool = False
    tasks: tuple[str, ...] | None = None

    @property
    def random_init(self) -> bool:
        return self.model is None

    @property
    def family(self) -> str:
        """The pretraining method, for column titles: ``bioFAME`` (``biofame_*``), ``NoTS`` (``nots_*``) or the arch."""
        prefix = self.arch.split("_")[0]
        return FAMILY_NAMES.get(prefix, self.arch)

    def runs_on(self, task: str) -> bool:
        """Whether this encoder is evaluated on ``task`` (every task unless limited by ``tasks``)."""
        return self.tasks is None or task in self.tasks

    def instance(self, seed: int) -> nn.Module:
        """The model to use for ``seed``: the checkpoint's, or a fresh one initialised from ``seed``."""
        if self.model is not None:
            return self.model
        from biosig.models import create_model

        torch.manual_seed(seed)
        return create_model(self.arch, **self.overrides).eval()


def _patch_len(model: nn.Module) -> int:
    return int(getattr(getattr(model, "config", None), "patch_len", 1))


def checkpoint_encoder(
    path: str | Path, input_scale: Mapping[str, float] | None = None, *, tasks: Sequence[str] | None = None
) -> Encoder:
    """The frozen encoder of a checkpoint; ``input_scale`` (``{ch_type: factor}``) overrides its recorded scaling.

    ``tasks`` limits the encoder to those task names (None: every task), e.g. an EMG checkpoint to the Myo tasks.
    """
    from biosig.models import load_checkpoint

    model, meta = load_checkpoint(path)
    scale = input_scale_from_meta(meta)
    if input_scale:
        scale = dataclasses.replace(scale, factors=dict(input_scale), source=f"{scale.source}, --input-scale overrides")
    path = Path(path)
    # A run folder's checkpoint is always model.pt: name the folder too, so two runs stay apart in the table.
    shown = f"{path.parent.name}/{path.name}" if path.name == "model.pt" and path.parent.name else path.name
    return Encoder(
        label=f"{meta['arch']} ({shown})",
        arch=str(meta["arch"]),
        sfreq=float(meta["signal_spec"].sfreq),
        patch_len=_patch_len(model),
        input_scale=scale,
        checkpoint=Path(path),
        model=model,
        meta=meta,
        tasks=None if tasks is None else tuple(tasks),
    )


def random_encoder(arch: str, sfreq: float = 200.0, input_scale: Mapping[str, float] | None = None) -> Encoder:
    """A randomly initialised ``arch`` (registered model) run at ``sfreq`` Hz, re-initialised for every seed.

    Without ``input_scale`` its inputs are scaled as a trained model's would be: median-centred and divided by a
    robust amplitude per (channel type, unit) estimated on each task's recordings (:func:`robust_divisors`).
    """
    from biosig.models import create_model

    overrides = {"sfreq": float(sfreq)} if hasattr(getattr(create_model(arch), "config", None), "sfreq") else {}
    probe = create_model(arch, **overrides)
    scale = InputScale(factors=dict(input_scale), source="--input-scale") if input_scale else None
    return Encoder(
        label=f"{arch} (random init)",
        arch=arch,
        sfreq=float(sfreq),
        patch_len=_patch_len(probe),
        input_scale=scale or InputScale(centre=True, source="estimated per task"),
        overrides=overrides,
        estimate_scale=scale is None,
    )


def robust_divisors(task: TaskData, max_samples: int = 2_000_000) -> dict[str, dict[str, float]]:
    """``{ch_type: {unit: scale}}``: 1.4826 x the median absolute deviation of the median-centred recordings.

    The same statistic as the pretraining pipeline's robust scaling (RMS where the MAD is 0, e.g. quantised Myo
    data at rest); it uses no label, one number per channel type.
    """
    pooled: dict[tuple[str, str], list[np.ndarray]] = {}
    recs = task.windows.recordings
    total = sum(r.n_times for r in recs)
    stride = max(1, total // max_samples)
    for rec in recs:
        centred = rec.data[:, ::stride] - np.median(rec.data, axis=1, keepdims=True)
        for row, key in enumerate(zip(rec.info.ch_types, rec.info.units)):
            pooled.setdefault(key, []).append(np.abs(centred[row]))
    out: dict[str, dict[str, float]] = {}
    for (kind, unit), chunks in sorted(pooled.items()):
        values = np.concatenate(chunks).astype(np.float64)
        scale = 1.4826 * float(np.median(values))
        if not scale > 0:
            scale = float(np.sqrt(np.mean(values**2)))
        out.setdefault(kind, {})[unit] = scale if scale > 0 else 1.0
    return out


@dataclass
class MethodResult:
    """One row of results: a method on a task, with per-seed runs and their summary."""

    task: str
    method: str
    column: str
    runs: list[dict[str, Any]]
    summary: dict[str, MetricSummary]
    n_classes: int
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Position of the row's encoder on the command line (baselines -1); the table orders learned columns by it.
    encoder_index: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "method": self.method,
            "column": self.column,
            "n_classes": self.n_classes,
            "summary": {k: v.to_dict() for k, v in self.summary.items()},
            "runs": self.runs,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
        }


def pretraining_groups(meta: Mapping[str, Any], datasets: Sequence[str]) -> set[str] | None:
    """Ids a checkpoint records as pretrained on for ``datasets`` (None: it records no such list).

    Reads ``meta["training"]["data"]["groups"][dataset]`` (the training pipeline's record, e.g. ``{"myo": [...],
    "myo-bundled": ["12345"]}``), then lists under ``"myo_participants"`` / ``"participants"`` of
    ``meta["training"]["data"]`` or ``meta["extra"]``.
    """
    training = meta.get("training") or {}
    data = training.get("data") if isinstance(training, Mapping) else None
    if isinstance(data, Mapping) and isinstance(data.get("groups"), Mapping):
        groups = data["groups"]
        return {str(g) for name in datasets for g in (groups.get(name) or ())}
    for place in (data, meta.get("extra")):
        if not isinstance(place, Mapping):
            continue
        for key in PARTICIPANT_KEYS:
            value = place.get(key)
            if isinstance(value, (list, tuple)):
                return {str(v) for v in value}
    return None


def check_leakage(encoder: Encoder, task: TaskData, seeds: Sequence[int], allow_overlap: bool = False) -> str | None:
    """Compare a checkpoint's pretraining groups with the participants ``task`` probes and tests on.

    Myo: an overlap raises ``ValueError`` (the protocol promises unseen participants) unless ``allow_overlap``,
    which turns it into a warning note (for smoke checkpoints). eegmat: an overlap gives a note (with two subjects,
    any pretraining on eegmat overlaps a fold). Returns the note, or None when ``encoder`` is not a checkpoint.
    """
    if encoder.meta is None:
        return None
    is_myo = task.baseline == "td_lda"
    seen = pretraining_groups(encoder.meta, ("myo", "myo-bundled") if is_myo else ("eegmat",))
    if seen is None:
        return (
            f"{encoder.label}: the checkpoint records no list of pretraining participants, so it could not be checked "
            "that evaluation participants were excluded from pretraining"
        )
    evaluated = set(task.participant.tolist())
    if task.kind == "cross_participant":
        for seed in seeds:
            split = task.split(seed)
            evaluated |= set(split.test) | set(split.probe_train)
    leaked = sorted(seen & evaluated)
    if leaked and is_myo and not allow_overlap:
        raise ValueError(
            f"checkpoint {encoder.checkpoint} was pretrained on Myo participant(s) {leaked} that task {task.name!r} "
            "probes or tests on; pretrain only on biosig.evaluation.protocols.myo_pretraining_participants(...) "
            "(or pass --allow-pretraining-overlap to score it anyway, flagged)"
        )
    if leaked:
        return (
            f"{encoder.label}: WARNING, pretrained on participant(s)/subject(s) {leaked} that this task also probes or "
            "tests on, so its scores are not held-out scores"
        )
    return f"{encoder.label}: pretraining groups checked, none of the evaluated participants was seen in pretraining"


def _score_folds(task: TaskData, seed: int, predict: Callable[[Fold, int], np.ndarray]) -> dict[str, Any]:
    """Run ``predict(fold, seed) -> y_pred`` on every fold of ``seed``; metrics averaged over folds."""
    folds = []
    for fold in task.folds(seed):
        y_pred = predict(fold, seed)
        folds.append(
            {
                "name": fold.name,
                "n_train": int(len(fold.train)),
                "n_test": int(len(fold.test)),
                "metrics": classification_metrics(task.y[fold.test], y_pred),
            }
        )
    if not folds:
        raise ValueError(f"task {task.name!r} has no fold to evaluate for seed {seed}")
    mean = {k: float(np.mean([f["metrics"][k] for f in folds])) for k in folds[0]["metrics"]}
    return {"seed": seed, "metrics": mean, "folds": folds}


def _result(
    task: TaskData, method: str, column: str, runs: list[dict[str, Any]], t0: float, notes: list[str]
) -> MethodResult:
    summary = aggregate([r["metrics"] for r in runs])
    log.info("%s / %s: balanced accuracy %s", task.name, method, summary["balanced_accuracy"].format())
    return MethodResult(
        task.name, method, column, runs, summary, len(np.unique(task.y)), notes, time.perf_counter() - t0
    )


def _baseline_rows(
    task: TaskData, seeds: Sequence[int], rotation_baseline: bool, probe_c: float | str = "cv", calibrate: bool = False
) -> list[MethodResult]:
    feats = task.baseline_features()
    kind = "lda" if task.baseline == "td_lda" else "logreg"
    base = BASELINE_NAMES[task.baseline]
    # (name, column, features, rotations, classifier)
    variants: list[tuple[str, str, np.ndarray, int | None, str]] = [(base, "classical baseline", feats, None, kind)]
    if rotation_baseline and task.kind == "cross_participant":
        n_ch = task.n_channels
        variants.append((f"{base}, rotation-augmented ({n_ch} shifts)", "baseline, rotation-aug.", feats, n_ch, kind))
        aligned = align_by_energy(feats, n_ch, task.participant)
        variants.append((f"{base}, energy-aligned per participant", "baseline, energy-aligned", aligned, None, kind))
    if task.baseline == "td_lda":
        # The classifier the embeddings get, on the classical features: separates features from classifiers.
        variants.append(("TD + linear probe (the embeddings' probe)", "baseline, TD + probe", feats, None, "probe"))
    if calibrate and task.kind == "cross_participant":
        calibrated = standardize_per_group(feats, task.participant)
        variants.append(
            (f"{base}, per-participant standardised", "baseline, per-participant std.", calibrated, None, kind)
        )
    rows = []
    for name, column, x, rotations, classifier in variants:
        t0 = time.perf_counter()
        chosen: list[str] = []

        def predict(
            fold: Fold,
            seed: int,
            x: np.ndarray = x,
            rotations: int | None = rotations,
            classifier: str = classifier,
            chosen: list[str] = chosen,
        ) -> np.ndarray:
            if classifier == "probe":
                probe = LinearProbe(C=probe_c, seed=seed).fit(x[fold.train], task.y[fold.train], fold.train_groups)
                chosen.append(probe.cv_note)
                return probe.predict(x[fold.test])
            clf = FeatureClassifier(classifier, rotations=rotations, seed=seed)
            return clf.fit(x[fold.train], task.y[fold.train]).predict(x[fold.test])

        runs = [_score_folds(task, s, predict) for s in seeds]
        rows.append(_result(task, name, column, runs, t0, _c_notes(chosen)))
    return rows


def _c_notes(chosen: Sequence[str]) -> list[str]:
    """One note listing the probe's C per fit, compressed when every fit chose the same."""
    if not chosen:
        return []
    if len(set(chosen)) == 1:
        return [f"probe regularisation: {chosen[0]} in all {len(chosen)} fits"]
    return [f"probe regularisation per fit: {'; '.join(chosen)}"]


def _cached_embedding(
    enc: Encoder,
    seed: int,
    x: np.ndarray,
    factors: np.ndarray,
    pooling: str,
    cache: dict[tuple[Any, ...], np.ndarray],
    batch_size: int,
    device: str,
    channels_too: bool = False,
) -> np.ndarray:
    """``embed`` with a cache: frozen weights embed once for every seed, and the two Myo tasks share windows.

    When the channel pooling is wanted as well (``channels_too``), the mean pooling is derived from it (the mean of
    its channel blocks) if that is what the encoder's own embedding is, checked on a few windows: one pass of a
    slow encoder instead of two.
    """
    # ``id(x)`` identifies the windows only while ``x`` lives: every ``x`` here is a task's cached model input
    # (``TaskData.model_input``), held by its task for the whole run, so no id is reused under this cache.
    base = (id(x), enc.label, seed if enc.random_init else None, factors.tobytes())
    key = (*base, pooling)
    if key in cache:
        return cache[key]
    if pooling == "mean" and channels_too and (*base, "channels") not in cache:
        _cached_embedding(enc, seed, x, factors, "channels", cache, batch_size, device)
    channels = cache.get((*base, "channels"))
    if pooling == "mean" and channels is not None:
        c = x.shape[1]
        derived = channels.reshape(len(channels), c, -1).mean(axis=1)
        probe = embed(enc.instance(seed), x[:4], factors=factors, batch_size=batch_size, device=device)
        if np.allclose(probe, derived[:4], rtol=1e-4, atol=1e-5):
            cache[key] = derived
            return derived
    cache[key] = embed(enc.instance(seed), x, factors=factors, batch_size=batch_size, device=device, pooling=pooling)
    return cache[key]


def _probe_row(
    task: TaskData,
    seeds: Sequence[int],
    enc: Encoder,
    x: np.ndarray,
    factors: np.ndarray,
    batch_size: int,
    device: str,
    cache: dict[tuple[Any, ...], np.ndarray],
    pooling: str = "mean",
    name: str = "learned",
    probe_c: float | str = "cv",
    calibrate: bool = False,
    channels_too: bool = False,
) -> MethodResult:
    t0 = time.perf_counter()
    runs = []
    chosen: list[str] = []
    for seed in seeds:
        z = _cached_embedding(enc, seed, x, factors, pooling, cache, batch_size, device, channels_too)
        if calibrate:
            z = standardize_per_group(z, task.participant)

        def predict(fold: Fold, seed: int, z: np.ndarray = z) -> np.ndarray:
            probe = LinearProbe(C=probe_c, seed=seed).fit(z[fold.train], task.y[fold.train], fold.train_groups)
            chosen.append(probe.cv_note)
            return probe.predict(z[fold.test])

        runs.append(_score_folds(task, seed, predict))
    column = "probe, random-init control" if enc.random_init else f"probe, {name}"
    method = f"linear probe: {enc.label}"
    if pooling != "mean":
        column += f" ({pooling} pooling)"
        method = f"linear probe ({pooling} pooling): {enc.label}"
    if calibrate:
        column += ", per-participant std."
        method = method.replace("linear probe", "linear probe, per-participant standardised", 1)
    return _result(task, method, column, runs, t0, _c_notes(chosen))


def _finetune_row(
    task: TaskData,
    seeds: Sequence[int],
    enc: Encoder,
    x: np.ndarray,
    factors: np.ndarray,
    config: FinetuneConfig,
    device: str,
    name: str = "learned",
) -> MethodResult:
    t0 = time.perf_counter()
    runs = []
    epochs: list[int] = []
    for seed in seeds:
        model = enc.instance(seed)

        def predict(fold: Fold, seed: int, model: nn.Module = model) -> np.ndarray:
            res = finetune(
                model,
                x[fold.train],
                task.y[fold.train],
                fold.train_groups,
                x[fold.test],
                config=config,
                factors=factors,
                seed=seed,
                device=device,
            )
            epochs.append(res.best_epoch)
            return res.y_pred

        runs.append(_score_folds(task, seed, predict))
    column = "fine-tune, random-init control" if enc.random_init else f"fine-tune, {name}"
    return _result(task, f"fine-tune: {enc.label}", column, runs, t0, [f"best epochs per fold {epochs}"])


def column_names(encoders: Sequence[Encoder]) -> list[str]:
    """What each encoder's columns are called: ``learned`` for a single checkpoint, else its method family.

    Checkpoints of different families (``bioFAME``, ``NoTS``) get their own columns; checkpoints of one family that
    serve disjoint tasks (an EMG and an EEG bioFAME) share one; two of one family on a common task are told apart
    by their labels.
    """
    learned = [e for e in encoders if not e.random_init]
    out = []
    for enc in encoders:
        if enc.random_init or len(learned) == 1:
            out.append("learned")
            continue
        clash = any(
            other is not enc
            and other.family == enc.family
            and (other.tasks is None or enc.tasks is None or set(other.tasks) & set(enc.tasks))
            for other in learned
        )
        out.append(enc.label if clash else enc.family)
    return out


def run_benchmark(
    tasks: Sequence[TaskData],
    seeds: Sequence[int],
    encoders: Sequence[Encoder] = (),
    *,
    probe: bool = True,
    finetune_config: FinetuneConfig | None = None,
    baselines: bool = True,
    rotation_baseline: bool = True,
    batch_size: int = 256,
    device: str = "cpu",
    allow_pretraining_overlap: bool = False,
    poolings: Sequence[str] = ("mean",),
    probe_c: float | str = "cv",
    calibrate: bool = False,
) -> tuple[list[MethodResult], list[str]]:
    """All requested methods on all tasks; returns the result rows and notes for the table.

    Parameters
    ----------
    probe, finetune_config
        Run the linear probe; fine-tune with this config (None: no fine-tuning) for every encoder.
    baselines, rotation_baseline
        Run the classical baseline of each task; add the rotation-aware TD + LDA rows (cross-participant).
    allow_pretraining_overlap
        Score a checkpoint pretrained on evaluated Myo participants anyway, with a warning note (see
        :func:`check_leakage`).
    poolings
        One probe row per pooling of the frozen tokens (see :func:`biosig.evaluation.probe.embed`).
    probe_c
        The probes' inverse L2 strength, or ``"cv"`` (grouped cross-validation on the training windows, see
        :class:`~biosig.evaluation.probe.LinearProbe`); it also drives the "TD + probe" baseline row.
    calibrate
        Cross-participant only: add rows where the baseline's features and every probe's embeddings are z-scored
        per participant (:func:`~biosig.evaluation.baselines.standardize_per_group`, no labels).
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    results: list[MethodResult] = []
    notes: list[str] = []
    embeddings: dict[tuple[Any, ...], np.ndarray] = {}
    # Fail before any fitting (which takes tens of minutes on the full data) when an encoder cannot be run on a
    # task: a checkpoint that saw evaluated participants, or an input scaling with no scale for a channel type.
    for task in tasks:
        for enc in encoders:
            if not enc.runs_on(task.name):
                continue
            check_leakage(enc, task, seeds, allow_pretraining_overlap)
            if not enc.estimate_scale:
                enc.input_scale.channel_factors(task.ch_types, task.units)
    names = column_names(encoders)
    for task in tasks:
        notes.extend(f"{task.name}: {n}" for n in task.notes)
        if baselines:
            results += _baseline_rows(task, seeds, rotation_baseline, probe_c, calibrate)
        for index, (enc, name) in enumerate(zip(encoders, names)):
            if not enc.runs_on(task.name):
                continue
            first = len(results)
            note = check_leakage(enc, task, seeds, allow_pretraining_overlap)
            if note:
                notes.append(f"{task.name}: {note}")
            scale = enc.input_scale
            if enc.estimate_scale:
                scale = dataclasses.replace(
                    scale, divisors=robust_divisors(task), source="estimated on the task's data"
                )
            notes.append(f"{task.name}: {enc.label} input scaling: {scale.describe()}")
            x = task.model_input(enc.sfreq, enc.patch_len, centre=scale.centre)
            factors = scale.channel_factors(task.ch_types, task.units)
            if probe:
                variants = [False, True] if calibrate and task.kind == "cross_participant" else [False]
                for pooling in poolings:
                    for cal in variants:
                        results.append(
                            _probe_row(
                                task,
                                seeds,
                                enc,
                                x,
                                factors,
                                batch_size,
                                device,
                                embeddings,
                                pooling,
                                name,
                                probe_c,
                                cal,
                                channels_too="channels" in poolings,
                            )
                        )
            if finetune_config is not None:
                results.append(_finetune_row(task, seeds, enc, x, factors, finetune_config, device, name))
            for row in results[first:]:
                row.encoder_index = index
    return results, notes
