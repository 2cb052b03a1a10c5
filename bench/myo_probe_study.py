"""Myo cross-participant: what limits a probe on bioFAME embeddings, and what the band's rotation costs.

A diagnostic study on the ``myo-cross-participant`` task of ``biosig eval`` (same participants, windows, folds and
seeds). Every row is a feature set and a classifier, fitted on the probe-train participants and scored on the test
participants (balanced accuracy, %, mean ± std over seeds):

* **TD + LDA**, the classical baseline, and the rotation questions of the data README: TD + LDA with the *oracle*
  circular channel shift per test participant (chosen on that participant's labels: an upper bound on what any
  rotation handling can recover), and TD under rotation-invariant pooling (|DFT| over the 8 electrodes of the
  ring, which no band rotation changes);
* **embeddings** of a checkpoint: per-channel token means after the fusion Transformer (``channels`` pooling),
  before it (the FA encoder's tokens), their ring-|DFT|, and the encoder's own mean embedding;
* **classifiers**: LDA, and the logistic-regression probe at fixed ``C`` values. The ``C`` sweep is scored on the
  test participants, so it is a *diagnostic* of how much regularisation matters, not a model selection (``biosig
  eval`` chooses ``C`` by grouped cross-validation on the training participants only);
* **per-participant standardisation** (z-scoring every feature within each participant, no labels), for TD and
  for the embeddings.

Usage::

    .venv/bin/python bench/myo_probe_study.py [--checkpoint biosig/assets/models/biofame_emg_myo.pt] [--hop 0.5]
        [--seeds 0 1 2] [--out bench/results/myo_probe_study.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from biosig.datasets.catalog import find_data_dir
from biosig.evaluation.baselines import FeatureClassifier, rotate_channel_features, standardize_per_group
from biosig.evaluation.metrics import balanced_accuracy
from biosig.evaluation.probe import LinearProbe, input_scale_from_meta
from biosig.evaluation.protocols import load_myo_tasks
from biosig.models import load_checkpoint


def ring_dft(blocks: np.ndarray) -> np.ndarray:
    """``(n, 8, k)`` per-electrode features -> ``(n, 5 * k)`` |DFT| over the ring (invariant to band rotation)."""
    return np.abs(np.fft.rfft(blocks, axis=1)).reshape(len(blocks), -1)


def score(task, feats: np.ndarray, seeds: list[int], clf: str, c: float = 1.0) -> list[float]:
    out = []
    for seed in seeds:
        fold = task.folds(seed)[0]
        if clf == "lda":
            model = FeatureClassifier("lda").fit(feats[fold.train], task.y[fold.train])
        else:
            model = LinearProbe(C=c).fit(feats[fold.train], task.y[fold.train])
        out.append(balanced_accuracy(task.y[fold.test], model.predict(feats[fold.test])))
    return out


def oracle_shift(task, td: np.ndarray, seeds: list[int]) -> list[float]:
    """TD + LDA with each test participant's channels rotated by the shift that scores best on their labels."""
    out = []
    for seed in seeds:
        fold = task.folds(seed)[0]
        lda = FeatureClassifier("lda").fit(td[fold.train], task.y[fold.train])
        pred = np.empty(len(fold.test), dtype=task.y.dtype)
        who = task.participant[fold.test]
        for p in np.unique(who):
            rows = fold.test[who == p]
            candidates = [lda.predict(rotate_channel_features(td[rows], task.n_channels, s)) for s in range(8)]
            pred[who == p] = max(candidates, key=lambda c: balanced_accuracy(task.y[rows], c))
        out.append(balanced_accuracy(task.y[fold.test], pred))
    return out


def embeddings(checkpoint: str, task) -> tuple[np.ndarray, np.ndarray]:
    """``(n, c, d)`` per-channel token means before and after the fusion Transformer."""
    model, meta = load_checkpoint(checkpoint)
    scale = input_scale_from_meta(meta)
    x = task.model_input(float(meta["signal_spec"].sfreq), model.config.patch_len, centre=scale.centre)
    factors = torch.from_numpy(scale.channel_factors(task.ch_types, task.units))[None, :, None]
    model.eval()
    pre, post = [], []
    with torch.no_grad():
        for start in range(0, len(x), 512):
            xb = torch.from_numpy(x[start : start + 512]) * factors
            b, c, _ = xb.shape
            _, _, _, tokens = model._encode_channels(xb, None)  # (b*c, n, d) after the FA encoder
            pre.append(tokens.reshape(b, c, -1, tokens.shape[-1]).mean(2).numpy())
            post.append(model.forward_features(xb).mean(2).numpy())  # (b, c, d)
    return np.concatenate(pre), np.concatenate(post)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="biosig/assets/models/biofame_emg_myo.pt")
    parser.add_argument("--data-dir")
    parser.add_argument("--hop", type=float, default=0.5, help="window hop in s (eval default 0.25)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        parser.error("no data directory with the Myo dataset (pass --data-dir or set $BIOSIG_DATA)")
    t0 = time.perf_counter()
    (task,) = load_myo_tasks(data_dir, tasks=["myo-cross-participant"], hop_s=args.hop)
    n = len(task.y)
    td = task.baseline_features()
    pre, post = embeddings(args.checkpoint, task)
    pp = task.participant
    rows: list[tuple[str, str, list[float]]] = [
        ("TD (MAV, RMS, WL, ZC, SSC per channel)", "LDA", score(task, td, args.seeds, "lda")),
        ("TD, oracle band rotation per test participant", "LDA", oracle_shift(task, td, args.seeds)),
        (
            "TD, ring-DFT magnitude (rotation-invariant)",
            "LDA",
            score(task, ring_dft(td.reshape(n, 8, -1)), args.seeds, "lda"),
        ),
        ("TD", "probe C=1e-3", score(task, td, args.seeds, "lr", 1e-3)),
        ("TD, per-participant standardised", "LDA", score(task, standardize_per_group(td, pp), args.seeds, "lda")),
        ("embedding: encoder's mean over channels and time", "probe C=1", score(task, post.mean(1), args.seeds, "lr")),
        ("embedding: per-channel means after fusion", "LDA", score(task, post.reshape(n, -1), args.seeds, "lda")),
    ]
    for c in (1.0, 1e-2, 1e-3, 1e-4):
        rows.append(
            (
                "embedding: per-channel means after fusion",
                f"probe C={c:g}",
                score(task, post.reshape(n, -1), args.seeds, "lr", c),
            )
        )
    rows += [
        (
            "embedding: per-channel means before fusion",
            "probe C=1e-3",
            score(task, pre.reshape(n, -1), args.seeds, "lr", 1e-3),
        ),
        (
            "embedding: ring-DFT of per-channel means after fusion",
            "probe C=1e-3",
            score(task, ring_dft(post), args.seeds, "lr", 1e-3),
        ),
        (
            "embedding: per-channel means after fusion, per-participant standardised",
            "probe C=1e-3",
            score(task, standardize_per_group(post.reshape(n, -1), pp), args.seeds, "lr", 1e-3),
        ),
        (
            "embedding: per-channel means before fusion, per-participant standardised",
            "probe C=1e-3",
            score(task, standardize_per_group(pre.reshape(n, -1), pp), args.seeds, "lr", 1e-3),
        ),
    ]
    lines = [
        f"Myo cross-participant, balanced accuracy (%), mean ± std over seeds {args.seeds}; windows every {args.hop:g} s; "
        f"checkpoint `{args.checkpoint}`.",
        "",
        "| features | classifier | balanced acc. |",
        "|---|---|---|",
    ]
    for feats, clf, accs in rows:
        lines.append(f"| {feats} | {clf} | {100 * np.mean(accs):.1f} ± {100 * np.std(accs, ddof=1):.1f} |")
    text = "\n".join(lines)
    print(text)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
