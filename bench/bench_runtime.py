"""Encoder latency and throughput: torch eager vs onnxruntime, same model, same thread count, same run.

A random-init checkpoint of ``--arch`` (default biofame_small, the released bioFAME size) for the Myo signal spec
(8 EMG channels, 1 s at 200 Hz) is exported with ``biosig.export``; both backends then embed the same random
batches through the :class:`biosig.runtime.Encoder` interface (input validation and scaling included, as the
service pays them). Calls alternate between backends so that machine noise hits both alike.

Usage::

    .venv/bin/python bench/bench_runtime.py [--arch biofame_small] [--threads 1] [--seconds 4]
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
from biosig.models import SignalSpec, create_model, save_checkpoint
from biosig.runtime import OnnxEncoder, TorchEncoder

BATCHES = (1, 8, 64)


def build(arch: str, n_channels: int, n_times: int, sfreq: float, workdir: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    model = create_model(arch, sfreq=sfreq)
    spec = SignalSpec(sfreq, n_times, ("emg",) * n_channels)
    training = {"data": "random init (benchmark)", "command": None, "seed": 0, "metrics": None}
    ckpt = save_checkpoint(
        workdir / f"{arch}.pt", model, arch=arch, config=model.config, signal_spec=spec, training=training
    )
    onnx_path = workdir / f"{arch}.onnx"
    result = export_checkpoint(ckpt, onnx_path)
    print(f"exported {arch}: parity max |diff| {result.parity.max_abs_diff:.2e}")
    return ckpt, onnx_path


def time_calls(encoder, x: np.ndarray, seconds: float, min_calls: int) -> np.ndarray:
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        encoder.embed(x)
        times.append(time.perf_counter() - t0)
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="biofame_small")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--n-times", type=int, default=200)
    parser.add_argument("--sfreq", type=float, default=200.0)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of both backends")
    parser.add_argument("--seconds", type=float, default=4.0, help="time per backend and batch size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        ckpt, onnx_path = build(args.arch, args.channels, args.n_times, args.sfreq, Path(tmp))
        backends = {
            "torch eager": TorchEncoder.from_checkpoint(ckpt, threads=args.threads, warmup=BATCHES),
            "onnxruntime": OnnxEncoder(onnx_path, intra_op_threads=args.threads, warmup=BATCHES),
        }
        rng = np.random.default_rng(0)
        print(
            f"\n{args.arch}, {args.channels} ch x {args.n_times} @ {args.sfreq:g} Hz, {args.threads} thread(s), "
            f"torch {torch.__version__}"
        )
        print("| backend | batch | call p50 ms | call p99 ms | per-window p50 ms | per-window p99 ms | windows/s |")
        print("|---|---|---|---|---|---|---|")
        rows: dict[tuple[str, int], float] = {}
        for b in BATCHES:
            x = rng.standard_normal((b, args.channels, args.n_times)).astype(np.float32)
            samples: dict[str, list[np.ndarray]] = {name: [] for name in backends}
            for _ in range(4):  # alternate in slices so that load spikes hit both backends
                for name, enc in backends.items():
                    samples[name].append(time_calls(enc, x, args.seconds / 4, min_calls=5))
            for name in backends:
                t = np.concatenate(samples[name])
                p50, p99 = np.percentile(t, 50), np.percentile(t, 99)
                rows[(name, b)] = b / np.median(t)
                print(
                    f"| {name} | {b} | {p50 * 1e3:.2f} | {p99 * 1e3:.2f} | {p50 / b * 1e3:.3f} | "
                    f"{p99 / b * 1e3:.3f} | {b / np.median(t):,.0f} |"
                )
        print(
            "\nthroughput ratio onnxruntime / torch eager: "
            + ", ".join(f"b={b}: {rows[('onnxruntime', b)] / rows[('torch eager', b)]:.2f}x" for b in BATCHES)
        )


if __name__ == "__main__":
    main()
