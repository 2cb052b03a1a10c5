"""CPEP evaluation: linear probes and zero-shot retrieval on seen and unseen gestures, with baselines, one run.

**Synthetic emg2pose corpus** (:func:`synthetic_splits`). Two gesture sets, each with training and test windows:

* ``seen``: the gestures of the corpus' seen stages (rest excluded). Training windows: the training users'
  train-split files (the files CPEP trained on). Test windows: the held-out users' seen stages
  (``generalization == "user"``).
* ``unseen``: the gestures of the held-out stage. Training windows: the training users' files of that stage
  (``generalization == "stage"``, never used by CPEP). Test windows: the held-out users' files of it
  (``"user_stage"``).

Windows are labelled when one gesture covers at least ``min_label_fraction`` of them (transitions and rest are
left out), have a fully valid pose, and are cut at the checkpoint's rates.

**Methods** (each scored on the test windows; metrics are accuracy and balanced accuracy):

* ``TD + LDA``: Hudgins features of the (scaled) EMG, LDA with uniform priors, fitted on the training windows.
* ``EMG-MAE probe``: the linear probe (:class:`~biosig.evaluation.probe.LinearProbe`) on the stage-1 EMG encoder.
* ``supervised EMG``: the CPEP EMG architecture trained from scratch with cross-entropy on the seen training
  windows (:func:`train_supervised`), then probed like the others (its own head's accuracy is in the notes).
* ``CPEP probe`` / ``CPEP zero-shot``: the probe on the aligned EMG embedding; zero-shot is CPEP's protocol, the
  top-``k`` (10) cosine neighbours among the pose embeddings of the training windows vote
  (:func:`biosig.zeroshot.knn_vote`); no EMG label is used.
* ``CPEP zero-shot, vocabulary``: the deployed head (:class:`biosig.zeroshot.ZeroShotHead`, prototype mode)
  against the gesture library's canonical poses only (no recorded pose at all).
* ``pose-MAE probe``: the probe on the pose encoder's embedding of the test windows' own poses, an upper bound
  (it reads the pose, which EMG-only methods never see).

**Few-shot** (:func:`few_shot`): per test user, ``k`` windows per gesture from the first half of each of their
sessions are added to the head (:meth:`ZeroShotHead.add_examples`); accuracy is measured on windows of the
second halves, so calibration and test never overlap and ``k = 0`` (pure zero-shot) uses the same test windows.

**Myo** (:func:`myo_splits`): the cross-participant task of :mod:`biosig.evaluation.protocols` (probe-train and
test participants of each seed, never seen in pretraining), as three gesture sets: all 8 classes, the classes the
alignment trained on, and the held-out classes. Zero-shot uses the vocabulary's canonical poses (Myo has no
recorded pose); few-shot calibrates on each test participant's first session and tests on the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from biosig.evaluation.baselines import FeatureClassifier
from biosig.evaluation.features import td_features
from biosig.evaluation.metrics import accuracy, balanced_accuracy
from biosig.evaluation.probe import LinearProbe
from biosig.models import create_model, load_checkpoint
from biosig.training.scaling import InputScaling
from biosig.zeroshot import GestureVocabulary, ZeroShotHead, knn_vote

__all__ = [
    "GestureSplit",
    "LeakageError",
    "Score",
    "ZeroShotReport",
    "few_shot",
    "myo_splits",
    "run_zeroshot_eval",
    "synthetic_splits",
    "train_supervised",
]

log = logging.getLogger(__name__)

#: TD features' ZC/SSC threshold, in units of the checkpoint's robust EMG scale.
TD_THRESHOLD_SCALES = 0.1


class LeakageError(ValueError):
    """An evaluation window whose user, stage or participant the checkpoint was trained on."""


@dataclass(eq=False)
class GestureSplit:
    """One gesture set: training (probe/bank) and test windows.

    ``*_x`` ``(n, c, t)`` float32 EMG in the checkpoint's input units at its rate; ``*_y`` ``(n,)`` index into
    ``gestures``; ``*_pose`` ``(n, 23, f)`` radians or None (Myo); ``*_group`` user/participant per window;
    ``test_calib`` ``(n_test,)`` bool: window in the few-shot calibration pool (else a few-shot test window).
    """

    name: str
    gestures: tuple[str, ...]
    train_x: np.ndarray
    train_y: np.ndarray
    train_group: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    test_group: np.ndarray
    test_calib: np.ndarray
    train_pose: np.ndarray | None = None
    test_pose: np.ndarray | None = None
    fold: str = ""

    @property
    def chance(self) -> float:
        return 1.0 / len(self.gestures)


@dataclass
class Score:
    """One method on one split and fold: ``accuracy`` and ``balanced_accuracy`` (fractions)."""

    method: str
    column: str
    split: str
    fold: str
    accuracy: float
    balanced_accuracy: float
    n_test: int
    extra: dict[str, Any] = field(default_factory=dict)


def _scores(method: str, column: str, split: GestureSplit, y_pred: np.ndarray, **extra: Any) -> Score:
    y = split.test_y
    return Score(method, column, split.name, split.fold, accuracy(y, y_pred), balanced_accuracy(y, y_pred),
                 len(y), dict(extra))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Encoders of a CPEP checkpoint


@dataclass(eq=False)
class CPEPModels:
    """A CPEP checkpoint's aligned model, its stage-1 EMG encoder (if found) and its input scaling."""

    path: Path
    model: nn.Module
    meta: dict[str, Any]
    scaling: InputScaling
    emg_mae: nn.Module | None
    label: str
    arch: str

    @property
    def sfreq(self) -> float:
        return float(self.meta["signal_spec"].sfreq)

    @property
    def n_times(self) -> int:
        return int(self.meta["signal_spec"].n_times)

    @property
    def pose_spec(self) -> dict[str, Any]:
        return dict(self.meta["extra"]["pose_spec"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.meta["training"].get("data") or {})

    def scale(self, x: np.ndarray) -> np.ndarray:
        unit = self.meta["signal_spec"].units[0]
        return self.scaling.apply(x, ("emg",) * x.shape[1], (unit,) * x.shape[1])


def load_cpep_models(path: str | Path, emg_mae: str | Path | None = None) -> CPEPModels:
    """Load a CPEP checkpoint and the stage-1 EMG encoder it records (``extra["stages"]``, beside the checkpoint)."""
    path = Path(path)
    model, meta = load_checkpoint(path)
    if meta["arch"] != "cpep":
        raise ValueError(f"{path}: a {meta['arch']!r} checkpoint; biosig eval zeroshot needs a CPEP checkpoint")
    mae_model = None
    candidate = Path(emg_mae) if emg_mae else None
    if candidate is None:
        recorded = (meta["extra"].get("stages") or {}).get("emg_mae")
        if recorded:
            candidate = Path(recorded) if Path(recorded).is_absolute() else path.parent / recorded
    if candidate is not None and candidate.is_file():
        mae_model, _ = load_checkpoint(candidate)
    elif emg_mae:
        raise FileNotFoundError(f"--emg-mae {emg_mae} does not exist")
    else:
        log.warning("%s: no stage-1 EMG checkpoint found beside it; the EMG-MAE probe row is skipped", path)
    arch = model.config.emg_arch.replace("cpep_emg_", "")
    return CPEPModels(path, model, meta, InputScaling.from_checkpoint(meta), mae_model, f"CPEP ({arch})", arch)


#: Embeddings computed during one :func:`run_zeroshot_eval` (keyed by encoder and array identity): the probe, the
#: zero-shot rows and the few-shot curves embed the same windows with the same frozen encoder. Each entry keeps its
#: encoder and input array alive: an ``id`` is only unique among live objects, and a freed array's id is soon
#: given to a new one (the vocabulary's pose windows, built afresh at each refresh, were handed the embeddings of
#: an earlier array of the same size, so zero-shot scores depended on memory reuse).
_CACHE: dict[tuple[int, str, int], tuple[object, np.ndarray, np.ndarray]] | None = None


@contextlib.contextmanager
def _embedding_cache() -> Iterator[None]:
    global _CACHE
    previous, _CACHE = _CACHE, {}
    try:
        yield
    finally:
        _CACHE = previous


def _embed(
    fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, batch: int = 512, *, cache: bool = True
) -> np.ndarray:
    """``fn`` over ``x`` in batches, without gradients; cached (see ``_CACHE``) unless ``cache`` is off."""
    owner = getattr(fn, "__self__", fn)
    key = (id(owner), getattr(fn, "__name__", "forward"), id(x))
    store = _CACHE if cache else None
    if store is not None and key in store:
        cached_owner, cached_x, z = store[key]
        if cached_owner is owner and cached_x is x:  # always true while the entry holds both alive; checked anyway
            return z
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(fn(torch.from_numpy(np.ascontiguousarray(x[i : i + batch], dtype=np.float32))).float().numpy())
    z = np.concatenate(out) if out else np.zeros((0, 1), np.float32)
    if store is not None:
        store[key] = (owner, x, z)
    return z


class _ModelPoseEncoder:
    """:class:`biosig.zeroshot.PoseEncoder` over an in-memory CPEP model (no copy through a runtime backend)."""

    def __init__(self, model: nn.Module) -> None:
        from biosig.zeroshot import PoseSpec

        cfg = model.pose_config
        self.model = model
        self.name = "cpep-pose"
        self.pose_spec = PoseSpec(cfg.n_dof, cfg.n_frames, cfg.frame_rate)
        self.embed_dim = int(model.embed_dim)

    def embed_pose(self, poses: np.ndarray) -> np.ndarray:
        # The head builds fresh pose windows at every refresh and keeps their embeddings itself: caching them here
        # would only hold every such array alive until the evaluation ends.
        return _embed(self.model.embed_pose, poses, cache=False)


# ---------------------------------------------------------------------------------------------------------------------
# Splits


def _calibration_pool(sessions: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n_frames: int) -> np.ndarray:
    """Windows lying wholly in the first half of their session (the rest, wholly in the second, are tested)."""
    half = lengths // 2
    return starts + n_frames <= half


def synthetic_splits(
    corpus: str | Path,
    models: CPEPModels,
    *,
    hop_s: float = 0.2,
    min_label_fraction: float = 0.8,
    progress: bool = True,
) -> tuple[list[GestureSplit], list[str]]:
    """The ``seen`` and ``unseen`` splits of a synthetic corpus at the checkpoint's rates (module docstring).

    Raises :class:`LeakageError` when the checkpoint trained on a test user or on the unseen stage.
    """
    from biosig.training.cpep_data import PairedWindows, corpus_rows, load_corpus_sessions, read_corpus_info

    _, info = read_corpus_info(corpus)
    frame_rate = float(models.pose_spec["frame_rate"])
    n_frames = int(models.pose_spec["n_frames"])
    hop = int(round(hop_s * frame_rate))
    trained = models.data.get("corpus") or {}
    trained_users = set(trained.get("users") or [])
    trained_stages = set(trained.get("stages") or [])
    notes = [f"corpus {Path(corpus).resolve()}: seen {info.get('seen_gestures')}, unseen {info.get('unseen_gestures')}"]
    if trained.get("path") and Path(trained["path"]) != Path(corpus).resolve():
        notes.append(f"the checkpoint trained on the corpus at {trained['path']}, this evaluation reads {corpus}")
    seen = tuple(g for g in info.get("seen_gestures") or () if g != "rest")
    unseen = tuple(info.get("unseen_gestures") or ())
    plans = [("seen", seen, {"split": "train"}, {"generalization": "user"})]
    if unseen:
        plans.append(("unseen", unseen, {"generalization": "stage"}, {"generalization": "user_stage"}))
    splits = []
    for name, gestures, train_filter, test_filter in plans:
        parts = {}
        for role, filters in (("train", train_filter), ("test", test_filter)):
            rows = corpus_rows(corpus, **filters)
            if role == "test":
                leaked = sorted(set(rows["user"]) & trained_users)
                if leaked:
                    raise LeakageError(f"the checkpoint trained on users {leaked}, which the {name} test holds")
            if name == "unseen":
                leaked = sorted(set(rows["stage"]) & trained_stages)
                if leaked:
                    raise LeakageError(f"the checkpoint trained on stage(s) {leaked} holding the unseen gestures")
            sessions = load_corpus_sessions(corpus, rows, models.sfreq, frame_rate, progress=progress)
            w = PairedWindows.build(sessions, n_frames, hop, min_label_fraction=min_label_fraction,
                                    labelled_only=True, gestures=gestures)  # fmt: skip
            y = np.array([gestures.index(g) for g in w.label_names], dtype=np.int64)
            lengths = np.array([sessions[i].n_frames for i in w.session])
            parts[role] = {
                "x": models.scale(w.emg(np.arange(len(w)))),
                "y": y,
                "pose": w.pose(np.arange(len(w))),
                "group": w.users,
                "calib": _calibration_pool(w.session, w.start, lengths, n_frames),
                "n_files": len(rows),
            }
            notes.append(
                f"{name} {role}: {len(w)} windows from {len(rows)} files of users {sorted(set(rows['user']))}; "
                f"dropped {w.dropped}"
            )
        tr, te = parts["train"], parts["test"]
        splits.append(
            GestureSplit(
                name,
                gestures,
                tr["x"],
                tr["y"],
                tr["group"],
                te["x"],
                te["y"],
                te["group"],
                te["calib"],
                tr["pose"],
                te["pose"],
                fold="corpus split",
            )  # fmt: skip
        )
    return splits, notes


def myo_splits(
    data_dir: str | Path, models: CPEPModels, seeds: Sequence[int], *, hop_s: float = 0.25
) -> tuple[list[GestureSplit], list[str]]:
    """Myo cross-participant splits for each seed and gesture set (module docstring)."""
    from biosig.evaluation.protocols import MyoSplitConfig, load_myo_tasks

    vocab = models.meta["extra"].get("vocabulary") or {}
    if vocab.get("kind") != "myo":
        raise ValueError(f"{models.path}: not a Myo CPEP checkpoint (vocabulary kind {vocab.get('kind')!r})")
    split_seed = int((models.data.get("myo") or {}).get("split_seed", 0) or 0)
    (task,) = load_myo_tasks(data_dir, split_config=MyoSplitConfig(split_seed=split_seed), hop_s=hop_s,
                             tasks=("myo-cross-participant",))  # fmt: skip
    trained = set((models.data.get("myo") or {}).get("participants") or [])
    gestures = tuple(vocab["gestures"])
    sets = [("all 8", gestures)]
    if vocab.get("unseen_gestures"):
        sets += [("trained", tuple(vocab["trained_gestures"])), ("held out", tuple(vocab["unseen_gestures"]))]
    x = models.scale(task.x)
    notes = list(task.notes)
    splits = []
    for seed in seeds:
        fold = task.folds(seed)[0]
        used = set(task.participant[fold.train]) | set(task.participant[fold.test])
        leaked = sorted(used & trained)
        if leaked:
            raise LeakageError(f"the checkpoint trained on Myo participants {leaked}, which seed {seed} evaluates")
        sessions = task.session[fold.test]
        first = {p: min(sessions[task.participant[fold.test] == p], key=int) for p in set(task.participant[fold.test])}
        calib = np.array([s == first[p] for s, p in zip(sessions, task.participant[fold.test])])
        for name, names in sets:
            classes = [gestures.index(g) for g in names]
            tr = fold.train[np.isin(task.y[fold.train], classes)]
            keep = np.isin(task.y[fold.test], classes)
            te = fold.test[keep]
            relabel = {c: i for i, c in enumerate(classes)}
            splits.append(
                GestureSplit(
                    name, names,
                    x[tr], np.array([relabel[c] for c in task.y[tr]]), task.participant[tr],
                    x[te], np.array([relabel[c] for c in task.y[te]]), task.participant[te], calib[keep],
                    fold=f"seed {seed}",
                )
            )  # fmt: skip
        train_ids, test_ids = (
            ", ".join(sorted({str(p) for p in task.participant[i]})) for i in (fold.train, fold.test)
        )
        notes.append(f"seed {seed}: probe-train {train_ids}; test {test_ids}")
    return splits, notes


# ---------------------------------------------------------------------------------------------------------------------
# Methods


def td_lda(split: GestureSplit, threshold: float = TD_THRESHOLD_SCALES) -> np.ndarray:
    """TD + LDA fitted on the training windows; predictions for the test windows."""
    clf = FeatureClassifier("lda").fit(td_features(split.train_x, threshold), split.train_y)
    return clf.predict(td_features(split.test_x, threshold))


def probe(encode: Callable[[np.ndarray], np.ndarray], split: GestureSplit) -> np.ndarray:
    """The linear probe on ``encode``'s embeddings, fitted on the training windows."""
    return LinearProbe().fit(encode(split.train_x), split.train_y).predict(encode(split.test_x))


def zero_shot_knn(model: nn.Module, split: GestureSplit, k: int = 10) -> np.ndarray:
    """CPEP's protocol: top-``k`` cosine neighbours among the training windows' pose embeddings vote."""
    if split.train_pose is None:
        raise ValueError(f"split {split.name!r} has no recorded poses for a kNN bank")
    bank = _embed(model.embed_pose, split.train_pose)
    labels, _, _ = knn_vote(_embed(model, split.test_x), bank, split.train_y, k)
    return labels


def zero_shot_vocabulary(model: nn.Module, split: GestureSplit, mode: str = "prototype") -> np.ndarray:
    """The zero-shot head against the built-in canonical poses of the split's gestures."""
    head = ZeroShotHead(_ModelPoseEncoder(model), GestureVocabulary.builtin(list(split.gestures)), mode=mode)
    names = [p.label for p in head.classify(_embed(model, split.test_x))]
    return np.array([split.gestures.index(n) for n in names])


def few_shot(
    model: nn.Module, split: GestureSplit, shots: Sequence[int], seed: int, mode: str = "prototype"
) -> dict[int, tuple[float, float]]:
    """``{k: (accuracy, balanced accuracy)}`` of the head with ``k`` examples per gesture and test user.

    Examples come from the calibration pool of each test user (``split.test_calib``), drawn with ``seed``; the
    scores are over the user's other windows, the same for every ``k``.
    """
    z = _embed(model, split.test_x)
    test = ~split.test_calib
    out = {}
    for k in shots:
        head = ZeroShotHead(_ModelPoseEncoder(model), GestureVocabulary.builtin(list(split.gestures)), mode=mode)
        rng = np.random.default_rng([seed, k])
        for user in sorted(set(split.test_group[test])):
            for c, g in enumerate(split.gestures):
                pool = np.flatnonzero(split.test_calib & (split.test_group == user) & (split.test_y == c))
                if k and len(pool):
                    head.add_examples(str(user), g, z[rng.choice(pool, size=min(k, len(pool)), replace=False)])
        pred = np.empty(int(test.sum()), dtype=np.int64)
        rows = np.flatnonzero(test)
        for user in sorted(set(split.test_group[rows])):
            mine = split.test_group[rows] == user
            labels = [p.label for p in head.classify(z[rows[mine]], user=str(user))]
            pred[mine] = [split.gestures.index(n) for n in labels]
        y = split.test_y[rows]
        out[int(k)] = (accuracy(y, pred), balanced_accuracy(y, pred))
    return out


def train_supervised(
    arch: str,
    config: dict[str, Any],
    split: GestureSplit,
    *,
    seed: int = 0,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    channel_shift: int = 1,
) -> tuple[nn.Module, float]:
    """The EMG architecture ``arch`` trained from scratch with cross-entropy on ``split``'s training windows.

    Returns the encoder (eval mode) and the test accuracy of its own linear head.
    """
    from biosig.training.cpep_data import circular_shift

    torch.manual_seed(seed)
    encoder = create_model(arch, **config)
    head = nn.Linear(int(encoder.embed_dim), len(split.gestures))
    params = [p for n, p in encoder.named_parameters() if not n.startswith("pretrain_head.")] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    n = len(split.train_x)
    weights = torch.as_tensor(len(split.train_y) / np.maximum(np.bincount(split.train_y), 1), dtype=torch.float32)
    encoder.train()
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n - batch_size + 1, batch_size):
            idx = np.sort(order[i : i + batch_size])
            x = torch.from_numpy(np.ascontiguousarray(circular_shift(split.train_x[idx], channel_shift, rng)))
            loss = F.cross_entropy(head(encoder(x)), torch.from_numpy(split.train_y[idx]), weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    encoder.eval()
    logits = _embed(lambda t: head(encoder(t)), split.test_x)
    return encoder, accuracy(split.test_y, logits.argmax(axis=1))


# ---------------------------------------------------------------------------------------------------------------------
# The run


@dataclass
class ZeroShotReport:
    """Scores of every method, few-shot curves and notes of one ``biosig eval zeroshot`` run."""

    header: dict[str, Any]
    scores: list[Score]
    few_shot: list[dict[str, Any]]
    notes: list[str]
    columns: tuple[str, ...]

    def _cell(self, method: str, column: str) -> str:
        rows = [s for s in self.scores if s.method == method and s.column == column]
        if not rows:
            return "–"
        acc = np.array([r.accuracy for r in rows])
        bal = np.array([r.balanced_accuracy for r in rows])
        spread = f" ± {acc.std():.3f}" if len(rows) > 1 else ""
        return f"{acc.mean():.3f}{spread} ({bal.mean():.3f})"

    def to_markdown(self) -> str:
        lines = ["# CPEP zero-shot evaluation", ""]
        for key, value in self.header.items():
            shown = f"`{value}`" if key in ("command", "checkpoint", "corpus", "data_dir") else str(value)
            lines.append(f"- **{key}**: {shown}")
        methods = list(dict.fromkeys(s.method for s in self.scores))
        lines += ["", "## Accuracy (balanced accuracy in brackets); mean ± std over folds/seeds where several", ""]
        lines.append("| method | " + " | ".join(self.columns) + " |")
        lines.append("|---|" + "---|" * len(self.columns))
        for m in methods:
            lines.append(f"| {m} | " + " | ".join(self._cell(m, c) for c in self.columns) + " |")
        chance = {s.split: s.extra.get("chance") for s in self.scores if s.extra.get("chance")}
        if chance:
            lines += ["", "Chance: " + ", ".join(f"{k} {v:.3f}" for k, v in chance.items()) + "."]
        if self.few_shot:
            shots = sorted({k for row in self.few_shot for k in row["by_k"]})
            lines += ["", "## Few-shot personalisation: accuracy (balanced) against examples per gesture and user", ""]
            lines.append("| model | gestures | head | " + " | ".join(f"k={k}" for k in shots) + " |")
            lines.append("|---|---|---|" + "---|" * len(shots))
            groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for row in self.few_shot:
                groups.setdefault((row["model"], row["split"], row["mode"]), []).append(row)
            for (model, split, mode), rows in groups.items():
                cells = []
                for k in shots:
                    acc = np.array([r["by_k"][k][0] for r in rows if k in r["by_k"]])
                    bal = np.array([r["by_k"][k][1] for r in rows if k in r["by_k"]])
                    spread = f" ± {acc.std():.3f}" if len(acc) > 1 else ""
                    cells.append(f"{acc.mean():.3f}{spread} ({bal.mean():.3f})")
                lines.append(f"| {model} | {split} | {mode} | " + " | ".join(cells) + " |")
        lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "columns": list(self.columns),
            "scores": [dataclasses.asdict(s) for s in self.scores],
            "few_shot": self.few_shot,
            "notes": self.notes,
        }


def _with_embedding_cache(fn: Callable[..., ZeroShotReport]) -> Callable[..., ZeroShotReport]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> ZeroShotReport:
        with _embedding_cache():
            return fn(*args, **kwargs)

    return wrapper


@_with_embedding_cache
def run_zeroshot_eval(
    task: str,
    checkpoints: Sequence[str | Path],
    *,
    corpus: str | Path | None = None,
    data_dir: str | Path | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    shots: Sequence[int] = (0, 1, 3, 5),
    k: int = 10,
    supervised_epochs: int = 10,
    emg_mae: Sequence[str | Path | None] = (),
    hop_s: float | None = None,
    progress: bool = True,
    pool: bool = False,
) -> ZeroShotReport:
    """Evaluate CPEP checkpoints on ``task`` (``"synthetic"`` with ``corpus``, or ``"myo"`` with ``data_dir``).

    Every window is embedded once per encoder (the probe, zero-shot and few-shot rows share the embeddings).

    ``pool``: the checkpoints are repeats of one recipe (e.g. training seeds); rows of the same architecture are
    pooled (mean ± std over checkpoints) instead of being told apart by file.
    """
    if task not in ("synthetic", "myo"):
        raise ValueError(f"task must be 'synthetic' or 'myo', got {task!r}")
    if not checkpoints:
        raise ValueError("give at least one CPEP checkpoint")
    maes = list(emg_mae) + [None] * (len(checkpoints) - len(emg_mae))
    all_models = [load_cpep_models(c, m) for c, m in zip(checkpoints, maes)]
    labels = [m.label for m in all_models]
    for m in all_models if not pool else ():  # two checkpoints of one architecture: tell them apart by file
        if labels.count(m.label) > 1:
            m.label = f"{m.label} [{m.path.parent.name or m.path.name}]"
    first = all_models[0]
    scores: list[Score] = []
    curves: list[dict[str, Any]] = []
    notes: list[str] = []
    if task == "synthetic":
        if corpus is None:
            raise ValueError("task 'synthetic' needs corpus= (a folder written by biosig data synth emg-pose)")
        splits, split_notes = synthetic_splits(corpus, first, hop_s=0.2 if hop_s is None else hop_s, progress=progress)
        for other in all_models[1:]:
            if (other.sfreq, other.n_times, other.pose_spec) != (first.sfreq, first.n_times, first.pose_spec):
                raise ValueError(f"{other.path} expects other windows than {first.path}; evaluate them separately")
        columns = ("probe seen", "probe unseen", "zero-shot seen", "zero-shot unseen")
    else:
        if data_dir is None:
            raise ValueError("task 'myo' needs data_dir= (the folder holding myo-readings-dataset)")
        splits, split_notes = myo_splits(data_dir, first, seeds, hop_s=0.25 if hop_s is None else hop_s)
        names = list(dict.fromkeys(s.name for s in splits))
        columns = tuple(f"{kind} {n}" for kind in ("probe", "zero-shot") for n in names)
    notes += split_notes

    def col(kind: str, split: GestureSplit) -> str:
        return f"{kind} {split.name}"

    t0 = time.perf_counter()
    for split in splits:
        scores.append(_scores("TD + LDA", col("probe", split), split, td_lda(split), chance=split.chance))
    for m in all_models:
        if m.emg_mae is not None:
            for split in splits:
                scores.append(_scores(f"EMG-MAE probe ({m.arch})", col("probe", split), split,
                                      probe(lambda x, e=m.emg_mae: _embed(e, x), split)))  # fmt: skip
    if task == "synthetic":
        seen = next(s for s in splits if s.name == "seen")
        cfg = dict(first.model.config.emg_config)
        for seed in seeds:
            encoder, own = train_supervised(first.model.config.emg_arch, cfg, seen, seed=seed, epochs=supervised_epochs)
            notes.append(f"supervised EMG (seed {seed}): its own head's accuracy on the seen test windows {own:.3f}")
            for split in splits:
                s = _scores("supervised EMG (same architecture, CE on seen)", col("probe", split), split,
                            probe(lambda x, e=encoder: _embed(e, x), split))  # fmt: skip
                s.fold = f"seed {seed}"
                scores.append(s)
    for m in all_models:
        for split in splits:
            scores.append(_scores(f"{m.label} probe", col("probe", split), split,
                                  probe(lambda x, e=m.model: _embed(e, x), split)))  # fmt: skip
            if split.train_pose is not None:
                scores.append(
                    _scores(f"{m.label} zero-shot, k={k} over training poses", col("zero-shot", split), split,
                            zero_shot_knn(m.model, split, k))
                )  # fmt: skip
            for mode in ("prototype", "knn"):
                scores.append(
                    _scores(f"{m.label} zero-shot, vocabulary ({mode})", col("zero-shot", split), split,
                            zero_shot_vocabulary(m.model, split, mode))
                )  # fmt: skip
            for seed in seeds if shots else ():
                for mode in ("prototype", "knn"):
                    curves.append({"model": m.label, "split": split.name, "fold": split.fold, "seed": seed,
                                   "mode": mode, "by_k": few_shot(m.model, split, shots, seed, mode)})  # fmt: skip
    if task == "synthetic":
        for split in splits:
            z_tr = _embed(first.model.embed_pose, split.train_pose)
            z_te = _embed(first.model.embed_pose, split.test_pose)
            pred = LinearProbe().fit(z_tr, split.train_y).predict(z_te)
            scores.append(_scores("pose-MAE probe (upper bound: reads the pose)", col("probe", split), split, pred))
    notes.append(f"wall time {time.perf_counter() - t0:.1f} s")
    header = {
        "task": task,
        "checkpoint": "; ".join(str(m.path) for m in all_models),
        "training commands": "; ".join(str(m.meta["training"].get("command")) for m in all_models),
        "seeds": list(seeds),
        "k": k,
        "shots": list(shots),
    }
    if corpus is not None:
        header["corpus"] = str(corpus)
    if data_dir is not None:
        header["data_dir"] = str(data_dir)
    return ZeroShotReport(header, scores, curves, notes, columns)
