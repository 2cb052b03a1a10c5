"""The zero-shot head: retrieval, voting, unknowns, user-added gestures and few-shot examples."""

from __future__ import annotations

import numpy as np
import pytest

from biosig.synth.hand.kinematics import REST_POSE
from biosig.zeroshot import (
    UNKNOWN,
    GestureVocabulary,
    PoseEncoder,
    PoseReference,
    PoseSpec,
    VocabularyError,
    ZeroShotHead,
    knn_vote,
    l2_normalize,
)


class LinearPoseEncoder:
    """Test double for a CPEP pose encoder: a fixed random linear map of the window's mean pose."""

    name = "linear-test-double"
    pose_spec = PoseSpec(n_dof=23, n_frames=8, frame_rate=50.0)
    embed_dim = 16

    def __init__(self) -> None:
        self.weights = np.random.default_rng(5).standard_normal((23, 16)).astype(np.float32)
        self.calls = 0
        self.windows_seen = 0

    def embed_pose(self, poses: np.ndarray) -> np.ndarray:
        assert poses.shape[1:] == (23, 8)
        self.calls += 1
        self.windows_seen += len(poses)
        centred = poses.mean(axis=2) - REST_POSE.astype(np.float32)
        return centred @ self.weights


def _emg_like(encoder, pose, noise, rng, n=1):
    """What an aligned EMG encoder would give: the pose's embedding plus noise."""
    e = encoder.embed_pose(np.repeat(np.asarray(pose, np.float32)[None, :, None], 8, axis=2))
    e = l2_normalize(e)
    return l2_normalize(e + noise * rng.standard_normal((n, encoder.embed_dim)).astype(np.float32))


def test_knn_vote_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((60, 8))
    labels = rng.integers(0, 4, 60)
    queries = rng.standard_normal((25, 8))
    got, votes, classes = knn_vote(queries, bank, labels, k=7)
    assert list(classes) == [0, 1, 2, 3] and votes.sum(axis=1).tolist() == [7] * 25
    b, q = l2_normalize(bank), l2_normalize(queries)
    for i in range(25):
        sims = b @ q[i]
        top = np.argsort(-sims)[:7]
        counts = {c: int(np.sum(labels[top] == c)) for c in range(4)}
        best = max(counts.values())
        tied = [c for c, n in counts.items() if n == best]
        expect = max(tied, key=lambda c: sims[top][labels[top] == c].sum())
        assert got[i] == expect


def test_knn_vote_validates_shapes():
    with pytest.raises(ValueError, match="same D"):
        knn_vote(np.zeros((2, 3)), np.zeros((4, 5)), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="k must be a positive int"):
        knn_vote(np.zeros((2, 3)), np.ones((4, 3)), [0, 1, 2, 3], k=0)


def test_head_conforms_and_labels_noisy_embeddings_of_each_gesture():
    enc = LinearPoseEncoder()
    assert isinstance(enc, PoseEncoder)
    vocab = GestureVocabulary.builtin()
    head = ZeroShotHead(enc, vocab, k=10)
    rng = np.random.default_rng(1)
    correct = 0
    for ref in vocab:
        preds = head.classify(_emg_like(enc, ref.pose, 0.1, rng, n=5))
        correct += sum(p.label == ref.name for p in preds)
        assert set(preds[0].scores) == set(vocab.names)
        assert sum(preds[0].votes.values()) == 10
    assert correct >= 0.9 * 5 * len(vocab)


def test_prototype_mode_agrees_on_clean_queries():
    enc = LinearPoseEncoder()
    vocab = GestureVocabulary.builtin()
    head = ZeroShotHead(enc, vocab, mode="prototype")
    rng = np.random.default_rng(2)
    for ref in vocab:
        (pred,) = head.classify(_emg_like(enc, ref.pose, 0.0, rng))
        assert pred.label == ref.name and pred.votes is None
        assert pred.score == pytest.approx(max(pred.scores.values()))


def test_unknown_below_threshold_keeps_the_nearest():
    enc = LinearPoseEncoder()
    head = ZeroShotHead(enc, GestureVocabulary.builtin(["rest", "fist"]), unknown_threshold=0.9)
    rng = np.random.default_rng(3)
    far = l2_normalize(rng.standard_normal((1, 16)))
    (pred,) = head.classify(far)
    assert pred.label == UNKNOWN and pred.unknown and pred.nearest in ("rest", "fist") and pred.score < 0.9
    (close,) = head.classify(_emg_like(enc, GestureVocabulary.builtin().get("fist").pose, 0.0, rng))
    assert close.label == "fist" and not close.unknown


def test_a_gesture_added_by_pose_becomes_a_label_and_removal_takes_it_away():
    enc = LinearPoseEncoder()
    vocab = GestureVocabulary.builtin(["rest", "fist", "open_hand"])
    head = ZeroShotHead(enc, vocab)
    claw = REST_POSE.copy()
    claw[[5, 6, 9, 10]] = [1.2, 1.6, 1.2, 1.6]  # index and middle hooked
    rng = np.random.default_rng(4)
    query = _emg_like(enc, claw, 0.02, rng, n=3)
    assert all(p.label != "claw" for p in head.classify(query))
    vocab.add(PoseReference("claw", claw))
    assert [p.label for p in head.classify(query)] == ["claw"] * 3
    vocab.remove("claw")
    assert "claw" not in head.gestures
    assert all(p.label != "claw" for p in head.classify(query))


def test_pose_bank_is_embedded_once_per_reference():
    enc = LinearPoseEncoder()
    vocab = GestureVocabulary.builtin(["rest", "fist"])
    head = ZeroShotHead(enc, vocab, n_variants=4)
    head.classify(np.ones((2, 16)))
    assert enc.windows_seen == 8
    head.classify(np.ones((2, 16)))
    assert enc.windows_seen == 8  # unchanged vocabulary: nothing re-embedded
    vocab.add(PoseReference("open", GestureVocabulary.builtin(["open_hand"]).get("open_hand").pose))
    head.classify(np.ones((1, 16)))
    assert enc.windows_seen == 12  # only the new gesture


@pytest.mark.parametrize("mode", ["knn", "prototype"])
def test_few_shot_examples_personalise_one_user_only(mode):
    enc = LinearPoseEncoder()
    vocab = GestureVocabulary.builtin(["rest", "fist", "open_hand", "point"])
    head = ZeroShotHead(enc, vocab, mode=mode, k=5)
    rng = np.random.default_rng(6)
    # This user's "point" lands far from the pose reference (their own EMG signature).
    user_point = l2_normalize(rng.standard_normal((1, 16)).astype(np.float32))
    examples = l2_normalize(user_point + 0.05 * rng.standard_normal((5, 16)).astype(np.float32))
    query = l2_normalize(user_point + 0.05 * rng.standard_normal((4, 16)).astype(np.float32))
    before = [p.label for p in head.classify(query, user="ann")]
    assert head.add_examples("ann", "point", examples) == 5
    assert [p.label for p in head.classify(query, user="ann")] == ["point"] * 4
    assert [p.label for p in head.classify(query, user="bob")] == before  # other users unaffected
    assert [p.label for p in head.classify(query)] == before
    assert head.example_counts("ann") == {"point": 5}
    assert head.clear_examples("ann") == 5 and head.example_counts("ann") == {}


def test_examples_are_validated():
    enc = LinearPoseEncoder()
    head = ZeroShotHead(enc, GestureVocabulary.builtin(["rest", "fist"]))
    with pytest.raises(VocabularyError, match="cannot add examples of 'wave': not in the vocabulary"):
        head.add_examples("ann", "wave", np.ones((1, 16)))
    with pytest.raises(ValueError, match=r"examples must have shape \(n, 16\) or \(16,\), got \(2, 3\)"):
        head.add_examples("ann", "fist", np.ones((2, 3)))
    with pytest.raises(ValueError, match="emg_embeddings contain NaN"):
        head.classify(np.full((1, 16), np.nan))


def test_empty_vocabulary_is_a_clear_error():
    head = ZeroShotHead(LinearPoseEncoder(), GestureVocabulary())
    with pytest.raises(VocabularyError, match="vocabulary is empty"):
        head.classify(np.ones((1, 16)))


def test_constructor_validation():
    enc, vocab = LinearPoseEncoder(), GestureVocabulary.builtin(["rest"])
    with pytest.raises(ValueError, match="mode must be 'knn' or 'prototype'"):
        ZeroShotHead(enc, vocab, mode="svm")
    with pytest.raises(ValueError, match=r"unknown_threshold must be a cosine similarity in \[-1, 1\]"):
        ZeroShotHead(enc, vocab, unknown_threshold=2.0)
    with pytest.raises(TypeError, match="pose_encoder must implement biosig.zeroshot.PoseEncoder"):
        ZeroShotHead(object(), vocab)
