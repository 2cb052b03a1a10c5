"""Cost of streaming causal filtering vs refiltering a sliding window with sosfiltfilt at every hop.

A streaming featurizer that needs filtered samples every hop can either keep a :class:`CausalFilter` and
push each new chunk through it once, or re-run zero-phase ``filtfilt`` over the whole analysis window at every
hop. This script times both in the same run and prints the per-sample cost and their ratio.

Usage::

    .venv/bin/python bench/bench_filters.py [--hop-ms 50] [--window-s 1.0] [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from biosig.signals.filters import CausalFilter, design_filter, filtfilt

#: (label, n_channels, sfreq, design kwargs): an ECG/PPG-rate wearable and a high-density sEMG band.
CONFIGS = [
    ("8 ch @ 200 Hz", 8, 200.0, {"highpass": 0.5, "lowpass": 40.0, "notch": 50.0}),
    ("16 ch @ 2 kHz", 16, 2000.0, {"highpass": 20.0, "lowpass": 450.0, "notch": 50.0}),
]


def bench(n_channels: int, sfreq: float, design: dict, hop_ms: float, window_s: float, seconds: float, repeats: int):
    sos = design_filter(sfreq, order=4, **design)
    hop = int(round(hop_ms * 1e-3 * sfreq))
    window = int(round(window_s * sfreq))
    n_hops = int(seconds * sfreq) // hop
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_channels, window + n_hops * hop)).astype(np.float32)

    best_causal = best_refilter = float("inf")
    for _ in range(repeats):
        f = CausalFilter(sos, n_channels)
        f.process(x[:, :window])  # warm state, as in a running stream
        t0 = time.perf_counter()
        for k in range(n_hops):
            start = window + k * hop
            f.process(x[:, start : start + hop])
        best_causal = min(best_causal, time.perf_counter() - t0)

        t0 = time.perf_counter()
        for k in range(n_hops):
            stop = window + (k + 1) * hop
            filtfilt(x[:, stop - window : stop], sos)
        best_refilter = min(best_refilter, time.perf_counter() - t0)

    n_samples = n_hops * hop  # new time points processed
    return {
        "hop": hop,
        "sections": sos.shape[0],
        "causal_us_per_sample": best_causal / n_samples * 1e6,
        "refilter_us_per_sample": best_refilter / n_samples * 1e6,
        "causal_ms_per_hop": best_causal / n_hops * 1e3,
        "refilter_ms_per_hop": best_refilter / n_hops * 1e3,
        "ratio": best_refilter / best_causal,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hop-ms", type=float, default=50.0, help="chunk (hop) length in ms (default 50)")
    parser.add_argument("--window-s", type=float, default=1.0, help="refiltered window in s (default 1.0)")
    parser.add_argument("--seconds", type=float, default=20.0, help="stream length timed per config (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (default 3)")
    args = parser.parse_args()

    header = (
        f"{'config':<15} {'hop':>5} {'sos':>4} {'causal us/sample':>17} {'filtfilt us/sample':>19} "
        f"{'causal ms/hop':>14} {'filtfilt ms/hop':>16} {'ratio':>7}"
    )
    print(f"hop {args.hop_ms:g} ms, window {args.window_s:g} s, {args.seconds:g} s of stream, best of {args.repeats}")
    print(header)
    print("-" * len(header))
    for label, n_channels, sfreq, design in CONFIGS:
        r = bench(n_channels, sfreq, design, args.hop_ms, args.window_s, args.seconds, args.repeats)
        print(
            f"{label:<15} {r['hop']:>5} {r['sections']:>4} {r['causal_us_per_sample']:>17.3f} "
            f"{r['refilter_us_per_sample']:>19.3f} {r['causal_ms_per_hop']:>14.4f} {r['refilter_ms_per_hop']:>16.4f} "
            f"{r['ratio']:>6.1f}x"
        )
    print("us/sample = microseconds per new time point (all channels); ratio = filtfilt / causal time")


if __name__ == "__main__":
    main()
