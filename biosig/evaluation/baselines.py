"""Classical baselines on hand-crafted features: TD features + LDA for EMG, band powers + logistic regression for EEG.

* **TD + LDA** (Hudgins et al. 1993; Englehart & Hudgins 2003): :func:`~biosig.evaluation.features.td_features`
  of every channel, then linear discriminant analysis (scikit-learn, SVD solver) with **uniform class priors**, the
  counterpart of the probe's balanced class weights (balanced accuracy is the headline metric).
* **TD + LDA, rotation-augmented**: the Myo band was worn at different rotations, so a new participant's electrode
  ``k`` sits where a training participant's electrode ``k + s`` sat. Training windows are repeated under all
  ``n_channels`` circular shifts of their channels (features rotated by whole channel blocks, which equals
  computing them on the shifted signal), so the classifier has to rely on patterns that hold at any rotation.
  It is a separate row, never a replacement for the plain baseline.
* **TD + LDA, energy-aligned**: each participant's channels are rotated so that the channel with the largest mean
  RMS over *all* of that participant's windows (no labels) comes first (:func:`align_by_energy`), for training
  and test participants alike. This is an unsupervised calibration: it uses the unlabelled windows of a new
  participant, as a short calibration recording would. Also a separate row.
* **TD + LDA, per-participant standardised**: every feature is z-scored within each participant, over all of that
  participant's windows (no labels), for training and test participants alike (:func:`standardize_per_group`):
  the unsupervised calibration that removes each participant's overall amplitude and spectral offsets. The
  same calibration is offered to the learned embeddings (``biosig eval ... --calibrate``). Also a separate row.
* **Band power + LR**: :func:`~biosig.evaluation.features.band_powers` (log relative, 5 bands per channel), then
  standardise + logistic regression (L2, ``C=1``, balanced class weights), as in the linear probe.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "FeatureClassifier",
    "align_by_energy",
    "standardize_per_group",
    "rotate_channel_features",
    "rotation_augment",
]

log = logging.getLogger(__name__)

CLASSIFIERS = ("lda", "logreg")


def rotate_channel_features(features: np.ndarray, n_channels: int, shift: int) -> np.ndarray:
    """Features of the windows with their channels circularly shifted by ``shift`` (channel ``c`` -> ``c + shift``).

    ``features`` is ``(n, n_channels * k)`` channel-major, as :func:`td_features` returns.
    """
    n, width = features.shape
    if n_channels < 1 or width % n_channels:
        raise ValueError(f"features have {width} columns, not a multiple of n_channels={n_channels}")
    blocks = features.reshape(n, n_channels, width // n_channels)
    return np.roll(blocks, shift, axis=1).reshape(n, width)


def rotation_augment(features: np.ndarray, y: np.ndarray, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n * n_channels, f)`` features under every circular channel shift, with their ``(n * n_channels,)`` labels."""
    stacked = [rotate_channel_features(features, n_channels, s) for s in range(n_channels)]
    return np.concatenate(stacked), np.tile(np.asarray(y), n_channels)


def align_by_energy(features: np.ndarray, n_channels: int, groups: np.ndarray, rms_column: int = 1) -> np.ndarray:
    """Rotate each group's channels so its highest mean-RMS channel comes first (see the module docstring).

    ``features`` is ``(n, n_channels * k)`` channel-major with the RMS at column ``rms_column`` of each channel's
    block (as :func:`td_features` returns); ``groups`` ``(n,)`` the participant of each row.
    """
    n, width = features.shape
    if len(groups) != n:
        raise ValueError(f"groups must have one entry per feature row ({n}), got {len(groups)}")
    if n_channels < 1 or width % n_channels:
        raise ValueError(f"features have {width} columns, not a multiple of n_channels={n_channels}")
    out = np.empty_like(features)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        rms = features[rows].reshape(len(rows), n_channels, -1)[:, :, rms_column].mean(axis=0)
        out[rows] = rotate_channel_features(features[rows], n_channels, -int(np.argmax(rms)))
    return out


def standardize_per_group(features: np.ndarray, groups: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """``(n, f)`` features z-scored within each group (participant): mean 0, std 1 per feature and group.

    Uses every row of a group and no label, like a calibration recording of a new user; a feature constant within
    a group becomes 0 there.
    """
    features = np.asarray(features, dtype=np.float64)
    groups = np.asarray(groups)
    if features.ndim != 2 or groups.shape != (len(features),):
        raise ValueError(f"features must be (n, f) and groups (n,), got shapes {features.shape} and {groups.shape}")
    out = np.empty_like(features)
    for g in np.unique(groups):
        rows = groups == g
        block = features[rows]
        out[rows] = (block - block.mean(axis=0)) / (block.std(axis=0) + eps)
    return out.astype(np.float32)


class FeatureClassifier:
    """A classical classifier on feature rows: ``"lda"`` (uniform priors) or ``"logreg"`` (standardised, balanced).

    Parameters
    ----------
    kind
        ``"lda"`` or ``"logreg"``.
    rotations
        With ``n_channels`` given, train on all circular channel shifts (see :func:`rotation_augment`).
    seed
        ``random_state`` of the logistic regression (lbfgs itself is deterministic).
    """

    def __init__(self, kind: str, *, rotations: int | None = None, seed: int = 0) -> None:
        if kind not in CLASSIFIERS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, CLASSIFIERS))}, got {kind!r}")
        if rotations is not None and (isinstance(rotations, bool) or not isinstance(rotations, int) or rotations < 1):
            raise ValueError(f"rotations must be None or the channel count (a positive int), got {rotations!r}")
        self.kind = kind
        self.rotations = rotations
        self.seed = int(seed)
        self.model = None

    def fit(self, features: np.ndarray, y: np.ndarray) -> FeatureClassifier:
        """Fit on ``(n, f)`` features and ``(n,)`` labels (at least two classes)."""
        features, y = np.asarray(features, dtype=np.float64), np.asarray(y)
        if features.ndim != 2 or y.shape != (len(features),):
            raise ValueError(f"features must be (n, f) and y (n,), got shapes {features.shape} and {y.shape}")
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"a classifier needs at least two classes in y, got {classes.tolist()}")
        if self.rotations is not None:
            features, y = rotation_augment(features, y, self.rotations)
        if self.kind == "lda":
            self.model = LinearDiscriminantAnalysis(priors=np.full(len(classes), 1.0 / len(classes)))
        else:
            clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000, random_state=self.seed)
            self.model = make_pipeline(StandardScaler(), clf)
        self.model.fit(features, y)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """``(n,)`` predicted labels of ``(n, f)`` feature rows."""
        if self.model is None:
            raise RuntimeError("FeatureClassifier.predict called before fit")
        return self.model.predict(np.asarray(features, dtype=np.float64))
