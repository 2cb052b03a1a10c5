"""Zero-shot labelling cost of the bundled CPEP checkpoints: EMG encoder (torch vs onnxruntime), head, pose bank.

For each bundled CPEP checkpoint the aligned EMG encoder is exported to ONNX (parity-checked by the exporter) and
both backends embed the same random batches through :class:`biosig.runtime.Encoder`, alternating calls so machine
noise hits both alike; torch eager is the baseline of the ratio. Then the zero-shot head (prototype and knn mode)
labels batches of embeddings, and the time to embed the vocabulary's pose bank (what a vocabulary change costs)
is measured with the torch pose encoder.

Usage::

    .venv/bin/python bench/bench_cpep_runtime.py [--threads 1] [--seconds 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from biosig.export import export_checkpoint
from biosig.models.defaults import default_checkpoint
from biosig.runtime import OnnxEncoder, TorchEncoder, checkpoint_vocabulary, load_pose_encoder
from biosig.zeroshot import ZeroShotHead

BATCHES = (1, 8, 64)


def best_ms(fn, seconds: float) -> float:
    """Median of repeated calls within ``seconds`` (at least 5), in ms."""
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print("| checkpoint | batch | torch ms | onnxruntime ms | ratio torch/onnx | head prototype ms | head knn ms |")
    print("|---|---|---|---|---|---|---|")
    banks = []
    for kind in ("cpep_myo", "cpep_emg2pose"):
        path = default_checkpoint(kind)
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = Path(tmp) / "emg.onnx"
            export_checkpoint(path, onnx_path)
            eager = TorchEncoder.from_checkpoint(path, threads=args.threads, warmup=(1, 8))
            ort = OnnxEncoder(onnx_path, intra_op_threads=args.threads, warmup=(1, 8))
            spec = eager.signal_spec
            scale = float(next(iter(next(iter(eager.input_scale.divisors.values())).values())))
            pose = load_pose_encoder(path, threads=args.threads)
            vocab = checkpoint_vocabulary(path)
            t0 = time.perf_counter()
            heads = {m: ZeroShotHead(pose, vocab, mode=m) for m in ("prototype", "knn")}
            heads["prototype"].refresh()
            t_bank = time.perf_counter() - t0
            heads["knn"].refresh()
            banks.append((kind, len(vocab), heads["prototype"].n_variants, 1000 * t_bank))
            for b in BATCHES:
                x = (rng.standard_normal((b, len(spec.ch_types), spec.n_times)) * scale).astype(np.float32)
                t_torch = best_ms(lambda e=eager, x=x: e.embed(x), args.seconds)
                t_onnx = best_ms(lambda e=ort, x=x: e.embed(x), args.seconds)
                z = eager.embed(x)
                t_proto = best_ms(lambda h=heads["prototype"], z=z: h.classify(z), args.seconds / 2)
                t_knn = best_ms(lambda h=heads["knn"], z=z: h.classify(z), args.seconds / 2)
                print(f"| {kind} | {b} | {t_torch:.3f} | {t_onnx:.3f} | {t_torch / t_onnx:.2f}x | {t_proto:.3f} | "
                      f"{t_knn:.3f} |")  # fmt: skip
    print()
    print("| checkpoint | gestures | pose windows per gesture | embed the vocabulary (ms, torch) |")
    print("|---|---|---|---|")
    for kind, n, variants, ms in banks:
        print(f"| {kind} | {n} | {variants} | {ms:.1f} |")


if __name__ == "__main__":
    main()
