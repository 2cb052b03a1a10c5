"""How many concurrent real-time streams one process sustains: featurizer + batched encoder, per 50 ms hop.

For each device profile, ``N`` streams each deliver one hop of samples; the process pushes every stream's chunk
through its :class:`biosig.stream.StreamFeaturizer` (inside a :class:`biosig.stream.StreamHub`) and embeds all
due windows in one batched encoder call. The compute time of that whole hop is recorded over ``--hops`` hops
(after the streams' windows have filled). ``N`` grows by doubling, then bisects, to the largest count whose p99
per-hop compute (best of two runs when the first misses) stays within ``--budget`` of the hop (default 0.5: half the hop left for I/O, the service and
jitter); a stream count is sustained when the process keeps up with real time with that margin.

Baselines measured in the same run:

* the encoder's FLOPs per window (matmul/linear/attention FLOPs of the exported graph, which computes the
  Fourier filter with DFT matrices; counted with ``torch.utils.flop_counter`` on the export-friendly model);
* this machine's matrix-multiply throughput: a float32 ``torch.matmul`` of 1024x1024 matrices with the same
  thread count, best of several; the achieved fraction is ``N * FLOPs / encoder seconds per hop`` over it.

Usage::

    .venv/bin/python bench/bench_streams.py [--backend onnx|torch] [--threads 1] [--hops 60] [--budget 0.5]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from biosig.export import export_checkpoint, make_exportable
from biosig.models import SignalSpec, create_model, save_checkpoint
from biosig.runtime import OnnxEncoder, TorchEncoder
from biosig.stream import FeaturizerConfig, StreamHub

#: (label, n_channels, device Hz, causal filter)
PROFILES = [
    ("Myo (8 ch, 200 Hz)", 8, 200.0, {"highpass": 20.0, "notch": 50.0}),
    ("emg2pose (16 ch, 2 kHz)", 16, 2000.0, {"highpass": 20.0, "notch": 50.0}),
]


def matmul_gflops(threads: int, size: int = 1024, repeats: int = 10) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def flops_per_window(model: torch.nn.Module, n_channels: int, n_times: int) -> int:
    exportable = make_exportable(model)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        exportable(torch.randn(1, n_channels, n_times))
    return int(counter.get_total_flops())


def run_hops(encoder, n_streams: int, n_ch: int, sfreq_in: float, design: dict, args, rng) -> dict:
    spec = encoder.signal_spec
    config = FeaturizerConfig.for_model(
        spec.sfreq, spec.n_times, sfreq_in=sfreq_in, n_channels=n_ch, hop_s=args.hop_s, **design
    )
    hub = StreamHub(encoder, max_batch=512)
    hop_in = int(round(args.hop_s * sfreq_in))
    fill = int(np.ceil((spec.n_times / spec.sfreq + 0.1) * sfreq_in))  # window plus resampler lag
    # One shared noise source, read at a different offset per stream (independent enough, cheap to hold).
    source = rng.standard_normal((n_ch, fill + (args.hops + 64) * hop_in)).astype(np.float32) * 1e-4
    offsets = rng.integers(0, 64, size=n_streams) * hop_in
    for i in range(n_streams):
        hub.add_stream(f"s{i}", config)
        hub.push(f"s{i}", 0, source[:, offsets[i] : offsets[i] + fill])
    hub.take_pending()
    totals, encoder_s, n_windows = [], [], []
    for h in range(args.hops):
        start = fill + h * hop_in
        t0 = time.perf_counter()
        for i in range(n_streams):
            a = offsets[i] + start
            hub.push(f"s{i}", start, source[:, a : a + hop_in])
        t1 = time.perf_counter()
        out = hub.embed_pending()
        t2 = time.perf_counter()
        totals.append(t2 - t0)
        encoder_s.append(t2 - t1)
        n_windows.append(len(out))
    assert min(n_windows) == n_streams, "every stream must yield one window per hop"
    return {
        "n": n_streams,
        "p50": float(np.percentile(totals, 50)),
        "p99": float(np.percentile(totals, 99)),
        "enc_mean": float(np.mean(encoder_s)),
        "feat_mean": float(np.mean(np.array(totals) - np.array(encoder_s))),
    }


def sustained(encoder, profile, args, rng) -> tuple[dict, list[dict]]:
    label, n_ch, sfreq_in, design = profile
    budget = args.budget * args.hop_s
    tried: list[dict] = []

    def ok(n: int) -> dict:
        # Best of two runs when the first misses the budget: other processes' load spikes on a shared machine
        # should not decide the count (the same best-of convention as the other benchmarks).
        result = run_hops(encoder, n, n_ch, sfreq_in, design, args, rng)
        if result["p99"] > budget:
            retry = run_hops(encoder, n, n_ch, sfreq_in, design, args, rng)
            result = min(result, retry, key=lambda r: r["p99"])
        tried.append(result)
        return result

    good, bad, n = None, None, 1
    while n <= args.max_streams:
        r = ok(n)
        if r["p99"] <= budget:
            good, n = r, n * 2
        else:
            bad = n
            break
    if good is None:
        return tried[0], tried
    lo, hi = good["n"], bad if bad is not None else good["n"]
    while hi - lo > max(1, lo // 16):
        mid = (lo + hi) // 2
        r = ok(mid)
        if r["p99"] <= budget:
            lo, good = mid, r
        else:
            hi = mid
    return good, tried


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="biofame_small")
    parser.add_argument("--model-sfreq", type=float, default=200.0, help="the encoder's rate (Hz)")
    parser.add_argument("--window-s", type=float, default=1.0)
    parser.add_argument("--backend", choices=("onnx", "torch"), default="onnx")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hop-s", type=float, default=0.05)
    parser.add_argument("--hops", type=int, default=60, help="timed hops per stream count")
    parser.add_argument("--budget", type=float, default=0.5, help="p99 compute per hop allowed, as a hop fraction")
    parser.add_argument("--max-streams", type=int, default=4096)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(0)

    peak = matmul_gflops(args.threads)
    print(f"torch.matmul 1024^3 float32, {args.threads} thread(s): {peak:.1f} GFLOP/s")
    n_times = int(round(args.window_s * args.model_sfreq))
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = create_model(args.arch, sfreq=args.model_sfreq)
        print(
            "| profile | encoder | FLOPs/window | sustained streams | hop p50 ms | hop p99 ms | "
            "featurizer ms/hop | encoder ms/hop | encoder GFLOP/s | of matmul peak |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for profile in PROFILES:
            label, n_ch = profile[0], profile[1]
            spec = SignalSpec(args.model_sfreq, n_times, ("emg",) * n_ch)
            training = {"data": "random init (benchmark)", "command": None, "seed": 0, "metrics": None}
            ckpt = save_checkpoint(
                Path(tmp) / f"{n_ch}.pt",
                model,
                arch=args.arch,
                config=model.config,
                signal_spec=spec,
                training=training,
            )
            if args.backend == "onnx":
                export_checkpoint(ckpt, Path(tmp) / f"{n_ch}.onnx")
                encoder = OnnxEncoder(
                    Path(tmp) / f"{n_ch}.onnx", intra_op_threads=args.threads, max_batch=512, warmup=(1, 64)
                )
            else:
                encoder = TorchEncoder.from_checkpoint(ckpt, threads=args.threads, max_batch=512, warmup=(1, 64))
            flops = flops_per_window(model, n_ch, n_times)
            best, tried = sustained(encoder, profile, args, rng)
            gflops = best["n"] * flops / best["enc_mean"] / 1e9
            print(
                f"| {label} | {args.arch} @ {args.model_sfreq:g} Hz, {n_times} samples, {encoder.backend} | "
                f"{flops / 1e6:.1f} M | {best['n']} | {best['p50'] * 1e3:.1f} | {best['p99'] * 1e3:.1f} | "
                f"{best['feat_mean'] * 1e3:.1f} | {best['enc_mean'] * 1e3:.1f} | {gflops:.1f} | "
                f"{gflops / peak:.0%} |"
            )
            trail = ", ".join(f"{r['n']}: {r['p99'] * 1e3:.1f}" for r in sorted(tried, key=lambda r: r["n"]))
            print(f"|  | p99 ms by stream count: {trail} | | | | | | | | |")


if __name__ == "__main__":
    main()
