"""The zero-shot gesture head: EMG embeddings labelled by cosine retrieval against pose-reference embeddings.

CPEP aligns an EMG encoder with a frozen pose encoder, so that the EMG of a gesture lands near the embedding of
its pose. The head embeds each gesture of a :class:`~biosig.zeroshot.vocabulary.GestureVocabulary` once with
the pose encoder (a few jittered variants per gesture), and labels an EMG embedding by

* ``mode="knn"`` (CPEP's protocol): the ``k`` most cosine-similar bank entries vote; the majority wins, ties go
  to the tied gesture with the larger summed similarity;
* ``mode="prototype"``: the gesture whose mean embedding (prototype) is most similar.

Few-shot personalisation: a user's own EMG examples of a gesture join the bank (``knn``) or pull the gesture's
prototype towards their mean (``prototype``, weight ``n / (n + example_prior)`` for ``n`` examples), for that
user only. A prediction whose supporting similarity is below ``unknown_threshold`` is reported as
:data:`UNKNOWN`, with the nearest gesture still given.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from biosig.zeroshot.vocabulary import GestureVocabulary, PoseSpec, VocabularyError

__all__ = ["UNKNOWN", "GesturePrediction", "PoseEncoder", "ZeroShotHead", "knn_vote", "l2_normalize"]

#: Label of a prediction below the head's threshold.
UNKNOWN = "unknown"
_BATCH = 256


@runtime_checkable
class PoseEncoder(Protocol):
    """Maps pose windows ``(n, n_dof, n_frames)`` (radians, HAND_JOINTS order) to ``(n, embed_dim)`` float32."""

    name: str
    pose_spec: PoseSpec
    embed_dim: int

    def embed_pose(self, poses: np.ndarray) -> np.ndarray: ...


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """``x`` divided by its L2 norm along ``axis`` (zero vectors stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), eps)


def knn_vote(
    queries: np.ndarray, bank: np.ndarray, bank_labels: Sequence[Any] | np.ndarray, k: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` cosine retrieval with majority vote.

    Parameters
    ----------
    queries
        ``(B, D)`` embeddings to label.
    bank
        ``(N, D)`` reference embeddings.
    bank_labels
        ``(N,)`` label of each bank entry (any hashable, sortable values).
    k
        Neighbours that vote; clipped to ``N``.

    Returns
    -------
    labels
        ``(B,)`` winning label per query (ties: the tied label with the larger summed similarity).
    votes
        ``(B, n_classes)`` votes per class, columns in the order of ``classes``.
    classes
        ``(n_classes,)`` the distinct labels (sorted).
    """
    q = l2_normalize(np.atleast_2d(queries))
    b = l2_normalize(bank)
    if b.ndim != 2 or q.shape[1] != b.shape[1]:
        raise ValueError(f"queries {q.shape} and bank {b.shape} must be (B, D) and (N, D) with the same D")
    classes, inverse = np.unique(np.asarray(bank_labels), return_inverse=True)
    if len(inverse) != len(b):
        raise ValueError(f"bank_labels has {len(inverse)} entries for a bank of {len(b)}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    k = min(int(k), len(b))
    sims = q @ b.T  # (B, N)
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (B, k), unordered
    top_cls = inverse[top]  # (B, k)
    top_sim = np.take_along_axis(sims, top, axis=1)
    n_cls = len(classes)
    rows = np.repeat(np.arange(len(q)), k)
    votes = np.zeros((len(q), n_cls), dtype=np.int64)
    np.add.at(votes, (rows, top_cls.ravel()), 1)
    weight = np.zeros((len(q), n_cls), dtype=np.float64)
    np.add.at(weight, (rows, top_cls.ravel()), top_sim.ravel())
    # Majority first; among equal vote counts the larger summed similarity (which is < k + 1 in magnitude).
    key = votes * (2.0 * k + 2.0) + weight
    return classes[np.argmax(key, axis=1)], votes, classes


@dataclass(frozen=True)
class GesturePrediction:
    """One labelled EMG window.

    ``label`` is the gesture (or :data:`UNKNOWN`), ``nearest`` the best gesture regardless of the threshold,
    ``score`` the cosine similarity supporting it (its best bank match in ``knn`` mode, its prototype in
    ``prototype`` mode), ``scores`` that similarity for every gesture, ``votes`` the top-k votes (``knn``).
    """

    label: str
    nearest: str
    score: float
    scores: dict[str, float]
    unknown: bool
    votes: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "nearest": self.nearest,
            "score": self.score,
            "scores": self.scores,
            "unknown": self.unknown,
        }
        if self.votes is not None:
            out["votes"] = self.votes
        return out


class ZeroShotHead:
    """Labels EMG embeddings with the gestures of a vocabulary (see the module docstring).

    Parameters
    ----------
    pose_encoder
        Embeds the vocabulary's pose windows into the EMG encoder's aligned space.
    vocabulary
        The gestures; changes to it are picked up at the next call (its ``version``).
    mode
        ``"knn"`` (top-k majority vote) or ``"prototype"``.
    k
        Voting neighbours in ``knn`` mode (CPEP uses 10).
    unknown_threshold
        Cosine similarity below which a prediction is :data:`UNKNOWN`; None never says unknown.
    n_variants, jitter_rad
        Pose windows per gesture in the bank (the first exact, the others with N(0, jitter²) joint offsets).
    example_prior
        Prototype mode: ``n`` EMG examples get weight ``n / (n + example_prior)`` against the pose prototype.
    seed
        Seed of the jitter, so a head is reproducible.
    """

    def __init__(
        self,
        pose_encoder: PoseEncoder,
        vocabulary: GestureVocabulary,
        *,
        mode: str = "knn",
        k: int = 10,
        unknown_threshold: float | None = None,
        n_variants: int = 16,
        jitter_rad: float = 0.05,
        example_prior: float = 1.0,
        seed: int = 0,
    ) -> None:
        if not isinstance(pose_encoder, PoseEncoder):
            raise TypeError(
                f"pose_encoder must implement biosig.zeroshot.PoseEncoder, got {type(pose_encoder).__name__}"
            )
        if not isinstance(vocabulary, GestureVocabulary):
            raise TypeError(f"vocabulary must be a GestureVocabulary, got {type(vocabulary).__name__}")
        if mode not in ("knn", "prototype"):
            raise ValueError(f"mode must be 'knn' or 'prototype', got {mode!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        if unknown_threshold is not None and not -1.0 <= float(unknown_threshold) <= 1.0:
            raise ValueError(
                f"unknown_threshold must be a cosine similarity in [-1, 1] or None, got {unknown_threshold}"
            )
        if not example_prior > 0:
            raise ValueError(f"example_prior must be positive, got {example_prior}")
        self.pose_encoder = pose_encoder
        self.vocabulary = vocabulary
        self.mode = mode
        self.k = k
        self.unknown_threshold = None if unknown_threshold is None else float(unknown_threshold)
        self.n_variants = n_variants
        self.jitter_rad = jitter_rad
        self.example_prior = float(example_prior)
        self.seed = seed
        self._lock = threading.RLock()
        self._cache: dict[tuple[Any, ...], np.ndarray] = {}  # reference content -> (n_windows, D), unit norm
        self._built_version = -1
        self._names: list[str] = []
        self._bank = np.zeros((0, pose_encoder.embed_dim), np.float32)
        self._bank_cls = np.zeros(0, np.int64)
        self._protos = np.zeros((0, pose_encoder.embed_dim), np.float32)
        self._examples: dict[str, dict[str, np.ndarray]] = {}  # user -> gesture -> (n, D) unit norm

    # -- the pose bank -----------------------------------------------------------------------------------------

    def _embed_reference(self, ref_index: int, ref: Any) -> np.ndarray:
        key = ref.key() + (self.n_variants, self.jitter_rad, self.seed)
        if key not in self._cache:
            rng = np.random.default_rng([self.seed, ref_index])
            windows = ref.windows(self.pose_encoder.pose_spec, self.n_variants, self.jitter_rad, rng)
            parts = [self.pose_encoder.embed_pose(windows[i : i + _BATCH]) for i in range(0, len(windows), _BATCH)]
            emb = np.concatenate(parts).astype(np.float32)
            if emb.shape != (len(windows), self.pose_encoder.embed_dim) or not np.all(np.isfinite(emb)):
                raise VocabularyError(
                    f"pose encoder {self.pose_encoder.name} returned {emb.shape} (finite: {np.all(np.isfinite(emb))}) "
                    f"for {len(windows)} windows of gesture {ref.name!r}; expected ({len(windows)}, "
                    f"{self.pose_encoder.embed_dim}) finite values"
                )
            self._cache[key] = l2_normalize(emb)
        return self._cache[key]

    def refresh(self) -> None:
        """Embed the vocabulary's gestures if it changed since the last call (cached per reference content)."""
        with self._lock:
            if self._built_version == self.vocabulary.version and self._names == self.vocabulary.names:
                return
            refs = list(self.vocabulary)
            if not refs:
                raise VocabularyError("the gesture vocabulary is empty; add at least one gesture")
            embs = [self._embed_reference(i, r) for i, r in enumerate(refs)]
            live = {r.key() + (self.n_variants, self.jitter_rad, self.seed) for r in refs}
            self._cache = {k: v for k, v in self._cache.items() if k in live}
            self._names = [r.name for r in refs]
            self._bank = np.concatenate(embs)
            self._bank_cls = np.concatenate([np.full(len(e), i) for i, e in enumerate(embs)])
            self._protos = l2_normalize(np.stack([e.mean(axis=0) for e in embs]))
            self._built_version = self.vocabulary.version

    @property
    def gestures(self) -> list[str]:
        self.refresh()
        return list(self._names)

    @property
    def embed_dim(self) -> int:
        return int(self.pose_encoder.embed_dim)

    # -- few-shot examples -------------------------------------------------------------------------------------

    def _check_embeddings(self, x: Any, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != self.embed_dim:
            raise ValueError(f"{what} must have shape (n, {self.embed_dim}) or ({self.embed_dim},), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{what} contain NaN or infinite values")
        return x

    def add_examples(self, user: str, gesture: str, embeddings: np.ndarray) -> int:
        """Add ``(n, D)`` EMG embeddings of ``gesture`` for ``user``; returns the user's count for it."""
        if not isinstance(user, str) or not user:
            raise ValueError(f"user must be a non-empty string, got {user!r}")
        if gesture not in self.vocabulary:
            raise VocabularyError(
                f"cannot add examples of {gesture!r}: not in the vocabulary ({self.vocabulary.names}); "
                "add its pose reference first"
            )
        x = l2_normalize(self._check_embeddings(embeddings, "examples"))
        with self._lock:
            per_user = self._examples.setdefault(user, {})
            per_user[gesture] = np.concatenate([per_user[gesture], x]) if gesture in per_user else x
            return len(per_user[gesture])

    def clear_examples(self, user: str, gesture: str | None = None) -> int:
        """Forget ``user``'s examples (of one gesture, or all); returns how many were removed."""
        with self._lock:
            per_user = self._examples.get(user, {})
            names = [gesture] if gesture is not None else list(per_user)
            removed = sum(len(per_user.pop(n)) for n in names if n in per_user)
            if not per_user:
                self._examples.pop(user, None)
            return removed

    def example_counts(self, user: str) -> dict[str, int]:
        return {g: len(e) for g, e in self._examples.get(user, {}).items()}

    # -- classification ----------------------------------------------------------------------------------------

    def similarities(self, emg_embeddings: np.ndarray, user: str | None = None) -> np.ndarray:
        """``(B, n_gestures)`` cosine similarity per gesture (columns: :attr:`gestures`); see :meth:`classify`."""
        return self._score(emg_embeddings, user)[0]

    def _score(self, emg_embeddings: np.ndarray, user: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Per-gesture similarity ``(B, G)``, the winning gesture index ``(B,)`` and, for knn, votes ``(B, G)``."""
        self.refresh()
        q = l2_normalize(self._check_embeddings(emg_embeddings, "emg_embeddings"))
        with self._lock:
            names, bank, bank_cls, protos = self._names, self._bank, self._bank_cls, self._protos
            examples = {g: e for g, e in self._examples.get(user, {}).items() if g in names} if user else {}
        index = {n: i for i, n in enumerate(names)}
        if self.mode == "prototype":
            protos = protos.copy()
            for g, e in examples.items():
                w = len(e) / (len(e) + self.example_prior)
                protos[index[g]] = l2_normalize((1 - w) * protos[index[g]] + w * l2_normalize(e.mean(axis=0)))
            sims = q @ protos.T  # (B, G)
            return sims, np.argmax(sims, axis=1), None
        if examples:
            bank = np.concatenate([bank, *examples.values()])
            bank_cls = np.concatenate([bank_cls] + [np.full(len(e), index[g]) for g, e in examples.items()])
        sims = q @ bank.T  # (B, N)
        # Best match per gesture: sort the bank by gesture once, then a max over each gesture's slice.
        order = np.argsort(bank_cls, kind="stable")
        starts = np.searchsorted(bank_cls[order], np.arange(len(names)))
        best = np.maximum.reduceat(sims[:, order], starts, axis=1)  # (B, G); every gesture has >= 1 entry
        winners, votes, classes = knn_vote(q, bank, bank_cls, self.k)
        full_votes = np.zeros((len(q), len(names)), dtype=np.int64)
        full_votes[:, classes] = votes
        return best, winners.astype(np.int64), full_votes

    def classify(self, emg_embeddings: np.ndarray, user: str | None = None) -> list[GesturePrediction]:
        """Label ``(B, D)`` (or ``(D,)``) EMG embeddings in the aligned space; ``user`` adds their examples."""
        sims, winners, votes = self._score(emg_embeddings, user)
        names = self._names
        out = []
        for i, c in enumerate(winners.tolist()):
            score = float(sims[i, c])
            unknown = self.unknown_threshold is not None and score < self.unknown_threshold
            out.append(
                GesturePrediction(
                    label=UNKNOWN if unknown else names[c],
                    nearest=names[c],
                    score=score,
                    scores={n: float(v) for n, v in zip(names, sims[i])},
                    unknown=unknown,
                    votes=None if votes is None else {names[j]: int(v) for j, v in enumerate(votes[i]) if v},
                )
            )
        return out

    def __repr__(self) -> str:
        return (
            f"ZeroShotHead({self.pose_encoder.name}, {len(self.vocabulary)} gestures, mode={self.mode}, k={self.k}, "
            f"unknown_threshold={self.unknown_threshold})"
        )
