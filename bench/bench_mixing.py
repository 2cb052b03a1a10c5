"""Token mixing cost vs sequence length: bioFAME's Fourier block against a self-attention block of the same width.

Both blocks are the library's own modules at the released width (D=64, FFN 64 -> 128 -> 64, pre-norm, residual),
so they differ only in how tokens are mixed:

* ``fourier``    one FA-Enc block (:class:`biosig.models.biofame.FAEncoder`, ``fa_depth=1``): the released 'pool'
  filter, ``irfft(rfft(x) * K)`` over the token axis, O(n log n);
* ``anchored``   the same block with the frequency-anchored filter (16 anchors interpolated to the bins);
* ``attention``  one pre-norm Transformer block (:class:`biosig.models.layers.Transformer`, 4 heads) with
  ``scaled_dot_product_attention`` as the model runs it (PyTorch picks its fused flash kernel on CPU, which never
  holds the n x n matrix), O(n^2) time;
* ``attention-math``  the same block forced onto SDPA's math kernel (explicit ``softmax(QK^T)V``, the way the
  released vit-pytorch attention computes it, and what dropout on attention weights requires): O(n^2) memory too.

For each length (batch 1, ``n`` tokens, 256 to 16k by default) and mode (``infer``: forward under no_grad in eval
mode; ``train``: forward + backward), every measurement runs in a fresh subprocess: the time is the best of
``--repeat`` calls (more for short calls: until 1 s has passed; measurements under 0.5 s are retaken in a second
pass in reverse order and the better kept) after a warm-up, and the peak memory is the growth of the process's peak resident set
(``ru_maxrss``) over a warm-up at 64 tokens, i.e. what the call really touched (activations, the attention matrix,
workspace), not an estimate. A configuration whose n x n attention matrices alone would pass ``--max-gb`` is
skipped and says so. The scaling exponent is the slope of log(time) against log(n) from 1024 tokens on.

Usage::

    .venv/bin/python bench/bench_mixing.py [--lengths 256 512 ... 16384] [--repeat 3] [--threads 1] [--max-gb 6]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

BLOCKS = ("fourier", "anchored", "attention", "attention-math")
MODES = ("infer", "train")
WIDTH, FFN, HEADS = 64, 128, 4
#: Token rate (tokens/s) the anchored filter places its bins at: Myo at 200 Hz with patches of 20 samples.
TOKEN_RATE = 10.0
#: A measurement repeats its call at least ``--repeat`` times and until this much time has been spent.
MIN_SECONDS = 1.0
#: Measurements faster than this are taken twice, in separate passes (the second in reverse order), and the
#: better one is kept: on a shared machine a short measurement can land on a busy second.
RETAKE_MS = 500.0


def build(block: str):  # -> (module, call)
    import torch

    from biosig.models.biofame import BioFAMEConfig, FAEncoder
    from biosig.models.layers import Transformer

    torch.manual_seed(0)
    if block in ("fourier", "anchored"):
        mode = "pool" if block == "fourier" else "anchored"
        cfg = BioFAMEConfig(
            d_model=WIDTH, fa_depth=1, fa_mlp_dim=FFN, filter_mode=mode, dropout=0.0, sfreq=TOKEN_RATE * 20
        )
        module = FAEncoder(cfg)
        return module, lambda x: module(x, TOKEN_RATE)
    if block in ("attention", "attention-math"):
        module = Transformer(WIDTH, 1, HEADS, FFN, dropout=0.0)
        if block == "attention":
            return module, module
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def math_call(x):
            with sdpa_kernel(SDPBackend.MATH):
                return module(x)

        return module, math_call
    raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {block!r}")


def worker(block: str, mode: str, n: int, repeat: int, threads: int, min_seconds: float = MIN_SECONDS) -> dict:
    """Time and peak memory of one (block, mode, n) in this process (run by :func:`measure` in a subprocess)."""
    import torch

    torch.set_num_threads(threads)
    module, call = build(block)
    train = mode == "train"
    module.train(train)

    def once(length: int) -> float:
        x = torch.randn(1, length, WIDTH, requires_grad=train)
        t0 = time.perf_counter()
        if train:
            call(x).square().mean().backward()
        else:
            with torch.no_grad():
                call(x)
        return time.perf_counter() - t0

    for _ in range(3):
        once(64)  # load kernels, allocate the weights' gradients
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times: list[float] = []
    while len(times) < repeat or sum(times) < min_seconds:  # short calls repeat until min_seconds have passed
        times.append(once(n))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "block": block,
        "mode": mode,
        "n": n,
        "best_ms": 1e3 * min(times),
        "median_ms": 1e3 * sorted(times)[len(times) // 2],
        "calls": len(times),
        "peak_mb": (peak_kb - base_kb) / 1024,
    }


def attention_matrix_gb(n: int, mode: str) -> float:
    """Bytes of the float32 (heads, n, n) attention matrices the math kernel keeps (x3 for backward), in GB."""
    return HEADS * n * n * 4 * (3 if mode == "train" else 1) / 1e9


def measure(block: str, mode: str, n: int, repeat: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", block, mode, str(n), str(repeat), str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{block} {mode} n={n} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def slope(rows: list[dict]) -> float | None:
    """Least-squares slope of log(time) vs log(n) over the measured lengths from 1024 tokens on."""
    pts = [(math.log(r["n"]), math.log(r["best_ms"])) for r in rows if r.get("best_ms") and r["n"] >= 1024]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def table(results: dict, lengths: list[int], mode: str) -> str:
    title = "forward, no_grad, eval mode" if mode == "infer" else "forward + backward"
    head = ["tokens"] + [f"{b} ms" for b in BLOCKS] + [f"{b} MB" for b in BLOCKS] + ["attention / fourier time"]
    lines = [f"**{mode}** ({title}), batch 1, width {WIDTH}:", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for n in lengths:
        rows = {b: results[(b, mode, n)] for b in BLOCKS}
        ms = [f"{rows[b]['best_ms']:.2f}" if "best_ms" in rows[b] else rows[b]["skipped"] for b in BLOCKS]
        mb = [f"{rows[b]['peak_mb']:.1f}" if "peak_mb" in rows[b] else "-" for b in BLOCKS]
        ratio = rows["attention"].get("best_ms", float("nan")) / rows["fourier"]["best_ms"]
        lines.append(f"| {n} | " + " | ".join(ms + mb) + f" | {ratio:.1f}x |")
    exps = []
    for b in BLOCKS:
        s = slope([results[(b, mode, n)] for n in lengths])
        exps.append(f"{b} {s:.2f}" if s is not None else f"{b} -")
    lines += ["", f"time ~ n^k from 1024 tokens on: {', '.join(exps)}"]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        block, mode, n, repeat, threads = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
        print(json.dumps(worker(block, mode, n, repeat, threads)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--repeat", type=int, default=3, help="calls per measurement; the best is kept")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--max-gb", type=float, default=6.0, help="skip math attention whose n x n matrices pass this")
    parser.add_argument("--out", help="also write the tables (markdown) and the raw rows (.json beside it)")
    args = parser.parse_args()
    if any(n < 2 for n in args.lengths):
        parser.error(f"--lengths must be token counts >= 2, got {args.lengths}")
    if args.repeat < 1 or args.threads < 1:
        parser.error(f"--repeat and --threads must be >= 1, got {args.repeat} and {args.threads}")
    t0 = time.perf_counter()
    results: dict = {}
    for mode in args.modes:
        for n in args.lengths:
            for block in BLOCKS:
                need = attention_matrix_gb(n, mode)
                if block == "attention-math" and need > args.max_gb:
                    results[(block, mode, n)] = {"skipped": f"skipped ({need:.0f} GB > --max-gb)"}
                    print(f"{mode:5s} n={n:6d} {block:15s} skipped: attention matrices {need:.1f} GB", flush=True)
                    continue
                row = measure(block, mode, n, args.repeat, args.threads)
                results[(block, mode, n)] = row
                print(f"{mode:5s} n={n:6d} {block:15s} {row['best_ms']:10.2f} ms {row['peak_mb']:9.1f} MB", flush=True)
    retake = [k for k, r in results.items() if r.get("best_ms", float("inf")) < RETAKE_MS]
    for block, mode, n in reversed(retake):
        row = measure(block, mode, n, args.repeat, args.threads)
        old = results[(block, mode, n)]
        if row["best_ms"] < old["best_ms"]:
            row["peak_mb"] = max(row["peak_mb"], old["peak_mb"])
            results[(block, mode, n)] = row
        print(
            f"{mode:5s} n={n:6d} {block:15s} retaken {row['best_ms']:10.2f} ms (first {old['best_ms']:.2f})", flush=True
        )
    text = "\n\n".join(table(results, args.lengths, mode) for mode in args.modes)
    print()
    print(text)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s, {args.threads} thread(s)")
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        rows = [{"block": b, "mode": m, "n": n, **r} for (b, m, n), r in results.items()]
        out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
