"""Featurizer cost per input sample: the stateful streaming featurizer vs re-featurizing the whole window each hop.

Both produce, every 50 ms hop, the window the encoder needs (filtered, resampled to the model's rate):

* **streaming** — :class:`biosig.stream.StreamFeaturizer`: each hop's new samples go once through the causal
  filter and the polyphase resampler into the ring buffer, and the window is read out of the ring;
* **naive** — keep the raw input, and at every hop causally filter the last window of input from scratch and
  resample it offline (``causal_filter`` + ``resample``): what a stateless featurizer has to do.

The cost is given per new input time point (all channels), in µs, and as ms per hop per stream.

Usage::

    .venv/bin/python bench/bench_featurizer.py [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from biosig.signals.filters import causal_filter
from biosig.signals.resample import resample
from biosig.stream import FeaturizerConfig, StreamFeaturizer

#: (label, n_channels, input Hz, model Hz, window s, filter design)
PROFILES = [
    ("Myo: 8 ch @ 200 Hz -> 200 Hz", 8, 200.0, 200.0, 1.0, {"highpass": 20.0, "notch": 50.0}),
    ("emg2pose: 16 ch @ 2 kHz -> 200 Hz", 16, 2000.0, 200.0, 1.0, {"highpass": 20.0, "notch": 50.0}),
    ("emg2pose: 16 ch @ 2 kHz -> 1 kHz", 16, 2000.0, 1000.0, 1.0, {"highpass": 20.0, "notch": 50.0}),
]


def run(label, n_ch, sfreq_in, sfreq, window_s, design, hop_s, seconds, repeats) -> None:
    config = FeaturizerConfig.for_model(
        sfreq, int(window_s * sfreq), sfreq_in=sfreq_in, n_channels=n_ch, hop_s=hop_s, **design
    )
    hop_in = int(round(hop_s * sfreq_in))
    win_in = int(round(window_s * sfreq_in))
    n_hops = int(seconds / hop_s)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_ch, win_in + n_hops * hop_in)).astype(np.float32)
    sos = config.design()

    best_stream = best_naive = float("inf")
    n_windows = 0
    for _ in range(repeats):
        featurizer = StreamFeaturizer(config)
        featurizer.push(0, x[:, :win_in])  # a running stream: ring full, filter state warm
        t0 = time.perf_counter()
        for h in range(n_hops):
            a = win_in + h * hop_in
            n_windows += len(featurizer.push(a, x[:, a : a + hop_in]).windows)
        best_stream = min(best_stream, time.perf_counter() - t0)

        t0 = time.perf_counter()
        for h in range(n_hops):
            end = win_in + (h + 1) * hop_in
            raw = x[:, end - win_in : end]
            window = resample(causal_filter(raw, sos), sfreq_in, sfreq)[:, -config.window :]
            assert window.shape == (n_ch, config.window)
        best_naive = min(best_naive, time.perf_counter() - t0)
    assert n_windows >= repeats * (n_hops - 2), "the streaming featurizer must emit a window every hop"

    n_samples = n_hops * hop_in
    us_stream = best_stream / n_samples * 1e6
    us_naive = best_naive / n_samples * 1e6
    print(
        f"| {label} | {us_stream:.3f} | {us_naive:.3f} | {best_stream / n_hops * 1e3:.3f} | "
        f"{best_naive / n_hops * 1e3:.3f} | {best_naive / best_stream:.1f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hop-s", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=20.0, help="stream length per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"hop {args.hop_s * 1e3:g} ms, 1 s windows, {args.seconds:g} s of stream, best of {args.repeats}\n")
    print("| profile | streaming µs/sample | naive µs/sample | streaming ms/hop | naive ms/hop | naive / streaming |")
    print("|---|---|---|---|---|---|")
    for profile in PROFILES:
        run(*profile, args.hop_s, args.seconds, args.repeats)


if __name__ == "__main__":
    main()
