"""Embeddings, input scaling, the linear probe, fine-tuning and the classical classifiers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from biosig.evaluation.baselines import (
    FeatureClassifier,
    align_by_energy,
    rotate_channel_features,
    rotation_augment,
    standardize_per_group,
)
from biosig.evaluation.features import td_features
from biosig.evaluation.finetune import FinetuneConfig, finetune, validation_split
from biosig.evaluation.metrics import balanced_accuracy
from biosig.evaluation.probe import (
    PROBE_C_GRID,
    InputScale,
    LinearProbe,
    embed,
    input_scale_from_meta,
    parse_input_scale,
    select_c,
)
from biosig.models import create_model


class MeanEncoder(nn.Module):
    """Embedding = per-channel mean (no weights), so input scaling is visible in the output."""

    embed_dim = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1)


def separable(n: int, seed: int, labels: tuple[int, int] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 3, 200)`` windows at 200 Hz: class A a 5 Hz sine, class B a 30 Hz sine, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(200) / 200.0
    y = rng.integers(0, 2, n)
    freq = np.where(y == 0, 5.0, 30.0)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 3, 1))
    x = np.sin(2 * np.pi * freq * t + phase) + 0.3 * rng.standard_normal((n, 3, 200))
    return x.astype(np.float32), np.array(labels)[y]


def test_embed_shape_batches_and_mode() -> None:
    torch.manual_seed(0)
    enc = create_model("biofame_tiny", sfreq=200.0)
    enc.train()
    x, _ = separable(10, 0)
    z = embed(enc, x, batch_size=3)
    assert z.shape == (10, 16) and z.dtype == np.float32
    np.testing.assert_allclose(z, embed(enc, x, batch_size=100), atol=1e-5)  # eval mode: no dropout
    assert enc.training  # the caller's mode is restored


def test_channel_pooling_concatenates_per_channel_token_means() -> None:
    torch.manual_seed(0)
    enc = create_model("biofame_tiny", sfreq=200.0).eval()
    x, _ = separable(4, 0)
    z = embed(enc, x, pooling="channels")
    assert z.shape == (4, 3 * 16)
    with torch.no_grad():
        tokens = enc.forward_features(torch.from_numpy(x))  # (4, 3, n, 16)
    np.testing.assert_allclose(z[:, 16:32], tokens[:, 1].mean(dim=1).numpy(), atol=1e-6)
    # The mean pooling is the average of the channel blocks.
    np.testing.assert_allclose(embed(enc, x), z.reshape(4, 3, 16).mean(axis=1), atol=1e-5)


def test_channel_pooling_needs_forward_features() -> None:
    with pytest.raises(ValueError, match="pooling='channels' needs an encoder with forward_features; MeanEncoder"):
        embed(MeanEncoder(), np.ones((2, 3, 4), dtype=np.float32), pooling="channels")


def test_unknown_pooling() -> None:
    with pytest.raises(ValueError, match=r"pooling must be one of \['mean', 'channels'\], got 'max'"):
        embed(MeanEncoder(), np.ones((2, 3, 4), dtype=np.float32), pooling="max")


def test_embed_applies_channel_factors() -> None:
    x = np.ones((2, 3, 4), dtype=np.float32)
    z = embed(MeanEncoder(), x, factors=np.array([1.0, 2.0, 0.5]))
    np.testing.assert_allclose(z, [[1.0, 2.0, 0.5]] * 2)


def test_embed_rejects_factors_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match=r"factors must have one entry per channel \(3\), got shape \(2,\)"):
        embed(MeanEncoder(), np.ones((2, 3, 4), dtype=np.float32), factors=np.ones(2))


def test_embed_reports_non_finite_embeddings() -> None:
    x = np.full((1, 3, 4), np.inf, dtype=np.float32)
    with pytest.raises(ValueError, match="NaN or infinite embeddings"):
        embed(MeanEncoder(), x)


def test_input_scale_from_the_training_pipelines_record() -> None:
    meta = {"extra": {"input_scaling": {"method": "robust", "scales": {"emg": {"a.u.": 0.05}, "eeg": {"V": 2e-5}}}}}
    scale = input_scale_from_meta(meta)
    assert scale.centre
    np.testing.assert_allclose(scale.channel_factors(["emg", "eeg"], ["a.u.", "V"]), [20.0, 50000.0], rtol=1e-6)


def test_input_scale_without_an_entry_for_a_channel_names_it() -> None:
    scale = input_scale_from_meta({"extra": {"input_scaling": {"method": "robust", "scales": {"emg": {"a.u.": 0.05}}}}})
    with pytest.raises(ValueError, match=r"no scale for a 'eeg' channel in 'V' \(it knows emg in a.u.\)"):
        scale.channel_factors(["eeg"], ["V"])


def test_input_scale_none_legacy_and_overrides() -> None:
    assert input_scale_from_meta({"extra": {"input_scaling": {"method": "none", "scales": {}}}}) == InputScale(
        source="checkpoint: input_scaling none"
    )
    legacy = input_scale_from_meta({"extra": {"input_scale": 100}})
    np.testing.assert_allclose(legacy.channel_factors(["emg", "eeg"], ["a.u.", "V"]), [100.0, 100.0])
    both = InputScale(divisors={"emg": {"a.u.": 0.05}}, factors={"eeg": 1e6})
    np.testing.assert_allclose(both.channel_factors(["emg", "eeg"], ["a.u.", "V"]), [20.0, 1e6])
    assert input_scale_from_meta({"extra": {}}).channel_factors(["emg"], ["a.u."]).tolist() == [1.0]


def test_parse_input_scale() -> None:
    assert parse_input_scale(["eeg=1e6", "*=2"]) == {"eeg": 1e6, "*": 2.0}


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("eeg", r"input scale must be TYPE=FACTOR \(e.g. eeg=1e6\), got 'eeg'"),
        ("eeg=abc", r"input scale 'eeg=abc': FACTOR must be a number, got 'abc'"),
        ("eeg=-1", r"input scale 'eeg=-1' must be a positive finite number, got -1.0"),
    ],
)
def test_parse_input_scale_rejects(item: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_input_scale([item])


def test_probe_on_random_init_encoder_beats_chance() -> None:
    torch.manual_seed(0)
    enc = create_model("biofame_tiny", sfreq=200.0)
    x_train, y_train = separable(120, 1, labels=(3, 7))
    x_test, y_test = separable(80, 2, labels=(3, 7))
    probe = LinearProbe().fit(embed(enc, x_train), y_train)
    pred = probe.predict(embed(enc, x_test))
    assert set(pred.tolist()) <= {3, 7}
    assert balanced_accuracy(y_test, pred) > 0.8


def test_probe_needs_two_classes() -> None:
    with pytest.raises(ValueError, match=r"at least two classes in y, got \[1\]"):
        LinearProbe().fit(np.zeros((4, 2)), np.ones(4, dtype=int))


def test_probe_predict_before_fit() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        LinearProbe().predict(np.zeros((1, 2)))


def grouped_blobs(n_groups: int = 4, per_group: int = 30, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Two well-separated classes in 5-D, the same in every group, with a group-specific offset."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.repeat([0, 1], per_group // 2), n_groups)
    groups = np.repeat([f"p{g}" for g in range(n_groups)], per_group)
    offsets = rng.normal(0, 0.3, (n_groups, 5))[np.repeat(np.arange(n_groups), per_group)]
    z = rng.normal(0, 0.2, (len(y), 5)) + offsets
    z[:, 0] += 4.0 * y
    return z, y, groups


def test_select_c_scores_every_value_and_breaks_ties_towards_regularisation() -> None:
    z, y, groups = grouped_blobs()
    chosen, scores = select_c(z, y, groups)
    assert sorted(scores) == sorted(PROBE_C_GRID)
    assert all(v == 1.0 for v in scores.values())  # separable: every C is perfect on held-out groups ...
    assert chosen == min(PROBE_C_GRID)  # ... so the strongest regularisation wins the tie


def test_select_c_needs_two_groups() -> None:
    z, y, _ = grouped_blobs()
    with pytest.raises(ValueError, match="needs windows from at least two groups to hold one out, got 1"):
        select_c(z, y, np.zeros(len(y)))
    with pytest.raises(ValueError, match=r"z must be \(n, dim\), y and groups \(n,\)"):
        select_c(z, y, np.zeros(3))


def test_probe_cv_picks_c_from_grouped_folds_and_reports_it() -> None:
    z, y, groups = grouped_blobs()
    probe = LinearProbe(C="cv", c_grid=(0.01, 1.0)).fit(z, y, groups)
    assert probe.C_ == 0.01 and set(probe.cv_scores_) == {0.01, 1.0}
    assert probe.cv_note == "C=0.01 (grouped CV)"
    assert balanced_accuracy(y, probe.predict(z)) == 1.0
    one_group = LinearProbe(C="cv", cv_fallback_C=0.5).fit(z, y, np.zeros(len(y)))
    assert one_group.C_ == 0.5 and one_group.cv_note == "C=0.5 (one training group: no CV, fallback)"
    assert LinearProbe(C=2.0).fit(z, y).cv_note == "C=2 (fixed)"


def test_probe_cv_needs_groups_and_rejects_unknown_c() -> None:
    z, y, _ = grouped_blobs()
    with pytest.raises(ValueError, match=r"LinearProbe\(C='cv'\).fit needs groups"):
        LinearProbe(C="cv").fit(z, y)
    with pytest.raises(ValueError, match="C must be a positive number or 'cv', got 'auto'"):
        LinearProbe(C="auto")
    with pytest.raises(ValueError, match="C must be a positive finite number, got -1"):
        LinearProbe(C=-1)


def test_standardize_per_group() -> None:
    rng = np.random.default_rng(3)
    f = np.concatenate([rng.normal(5, 2, (20, 3)), rng.normal(-1, 0.1, (10, 3))])
    groups = np.array(["a"] * 20 + ["b"] * 10)
    out = standardize_per_group(f, groups)
    for g in ("a", "b"):
        np.testing.assert_allclose(out[groups == g].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(out[groups == g].std(axis=0), 1, atol=1e-4)
    with pytest.raises(
        ValueError, match=r"features must be \(n, f\) and groups \(n,\), got shapes \(30, 3\) and \(2,\)"
    ):
        standardize_per_group(f, groups[:2])


def test_validation_split_by_group_and_by_window() -> None:
    groups = np.array(["a"] * 5 + ["b"] * 5 + ["c"] * 5 + ["d"] * 5, dtype=object)
    fit, val, by_group = validation_split(groups, np.zeros(20), 0.25, seed=0)
    assert by_group and len(set(groups[val])) == 1 and not set(groups[val]) & set(groups[fit])
    assert sorted(np.concatenate([fit, val]).tolist()) == list(range(20))
    fit, val, by_group = validation_split(np.array(["a"] * 10, dtype=object), np.zeros(10), 0.2, seed=0)
    assert not by_group and len(val) == 2 and not set(fit) & set(val)


def test_finetune_learns_and_leaves_the_encoder_untouched() -> None:
    torch.manual_seed(0)
    enc = create_model("biofame_tiny", sfreq=200.0)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    x_train, y_train = separable(96, 3, labels=(3, 7))
    x_test, y_test = separable(64, 4, labels=(3, 7))
    groups = np.array([str(i % 4) for i in range(96)], dtype=object)
    res = finetune(
        enc, x_train, y_train, groups, x_test, config=FinetuneConfig(epochs=3, lr=3e-3, batch_size=16), seed=0
    )
    assert set(res.y_pred.tolist()) <= {3, 7}
    assert 1 <= res.best_epoch <= 3 and len(res.history) >= res.best_epoch and res.val_by_group
    assert balanced_accuracy(y_test, res.y_pred) > 0.8
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())


def test_finetune_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        FinetuneConfig(epochs=0)


def test_rotated_features_equal_features_of_rotated_signals() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 8, 50))
    f = td_features(x, threshold=0.1)
    np.testing.assert_allclose(rotate_channel_features(f, 8, 3), td_features(np.roll(x, 3, axis=1), threshold=0.1))
    aug, y = rotation_augment(f, np.arange(5), 8)
    assert aug.shape == (40, 40) and y.tolist() == list(range(5)) * 8


def test_rotation_augmented_lda_is_invariant_to_channel_rotation() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 8, 50))
    y = np.repeat([0, 1, 2], 20)
    x[y == 1, 0] *= 3  # class 1: one strong channel; class 2: two
    x[y == 2, :2] *= 3
    f = td_features(x)
    clf = FeatureClassifier("lda", rotations=8).fit(f, y)
    np.testing.assert_array_equal(clf.predict(f), clf.predict(rotate_channel_features(f, 8, 5)))


def test_feature_classifier_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match=r"kind must be one of 'lda', 'logreg', got 'svm'"):
        FeatureClassifier("svm")


def test_energy_alignment_undoes_a_participants_band_rotation() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 8, 50))
    x[:, 2] *= 5  # the strongest electrode is channel 2 ...
    x[:, 3] *= 2
    worn = np.roll(x, 3, axis=1)  # ... and channel 5 for a participant wearing the band 3 electrodes round
    f = td_features(np.concatenate([x, worn]))
    groups = np.array(["a"] * 30 + ["b"] * 30)
    aligned = align_by_energy(f, 8, groups)
    np.testing.assert_allclose(aligned[:30], aligned[30:])
    np.testing.assert_allclose(aligned[:30], rotate_channel_features(f[:30], 8, -2))  # strongest channel first


def test_energy_alignment_needs_a_group_per_row() -> None:
    with pytest.raises(ValueError, match=r"groups must have one entry per feature row \(2\), got 1"):
        align_by_energy(np.zeros((2, 16)), 8, np.array(["a"]))


def test_mean_pooling_is_derived_from_the_channel_pooling_pass() -> None:
    """With both poolings wanted the encoder runs once; the derived mean equals the encoder's own embedding."""
    from biosig.evaluation.benchmark import _cached_embedding, random_encoder

    enc = random_encoder("biofame_tiny", sfreq=200.0)
    x, _ = separable(12, 0)
    factors = np.ones(3, dtype=np.float32)
    cache: dict = {}
    z = _cached_embedding(enc, 0, x, factors, "mean", cache, 256, "cpu", channels_too=True)
    assert len(cache) == 2  # the channel pooling, and the mean derived from it
    np.testing.assert_allclose(z, embed(enc.instance(0), x), atol=1e-5)
    assert _cached_embedding(enc, 0, x, factors, "mean", cache, 256, "cpu") is z  # cached
