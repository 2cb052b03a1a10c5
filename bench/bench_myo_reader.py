"""Throughput of biosig's Myo reader against a plain ``numpy.loadtxt`` parse of the same files.

Both sides read the ``.txt.gz`` files from disk and decompress them (``np.loadtxt`` opens ``.gz`` itself), so
the comparison is end to end. ``np.loadtxt`` raises on the malformed files (glued or split rows); those are
counted and the speed ratio is computed on the files both can parse. ``read_myo_file`` additionally builds
the float32 ``Recording`` with labels and the skip report.

Usage::

    .venv/bin/python bench/bench_myo_reader.py --data ../shared/data/myo-readings-dataset --limit 200 --repeat 3
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np

from biosig.io.myo import list_myo_sessions, read_myo_file

DEFAULT_DATA = (
    Path(os.environ.get("BIOSIG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "myo-readings-dataset"
)


def _files(data: Path, limit: int | None) -> list[Path]:
    files = [f for session in list_myo_sessions(data) for f in sorted(session.glob("*.txt*"))]
    return files[:limit] if limit else files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="myo-readings-dataset folder (default: %(default)s)"
    )
    parser.add_argument("--limit", type=int, default=None, help="read only the first N gesture files (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N timings per file and parser (default: 1)")
    args = parser.parse_args()

    files = _files(args.data, args.limit)
    sizes = {f: len(gzip.decompress(f.read_bytes())) if f.suffix == ".gz" else f.stat().st_size for f in files}

    # Per file, both parsers run back to back (best of --repeat), so that a busy machine slows both alike.
    ours: dict[Path, tuple[float, int]] = {}
    theirs: dict[Path, tuple[float, int]] = {}
    failed: list[tuple[Path, str]] = []
    for f in files:
        best_ours = best_theirs = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            rec = read_myo_file(f)
            best_ours = min(best_ours, time.perf_counter() - start)
            ours[f] = (best_ours, rec.n_times)
            start = time.perf_counter()
            try:
                table = np.loadtxt(f, delimiter=",")
            except ValueError as exc:
                failed.append((f, str(exc).splitlines()[0][:80]))
                break
            best_theirs = min(best_theirs, time.perf_counter() - start)
            theirs[f] = (best_theirs, table.shape[0])

    common = [f for f in files if f in theirs]
    print(f"{len(files)} files from {args.data}; np.loadtxt failed on {len(failed)}:")
    for f, why in failed:
        print(f"  {f.relative_to(args.data)}: {why}")
    skipped = sum(ours[f][1] for f in files) - sum(ours[f][1] for f in common)
    print(f"read_myo_file read all {len(files)} ({skipped} rows in the files loadtxt rejects)\n")

    header = f"{'parser':<28}{'files':>7}{'rows':>11}{'MB':>9}{'seconds':>10}{'rows/s':>13}{'MB/s':>9}"
    print(header)
    print("-" * len(header))
    rates = {}
    for name, timing, subset in (
        ("read_myo_file (all files)", ours, files),
        ("read_myo_file (common)", ours, common),
        ("np.loadtxt (common)", theirs, common),
    ):
        seconds = sum(timing[f][0] for f in subset)
        rows = sum(timing[f][1] for f in subset)
        mb = sum(sizes[f] for f in subset) / 1e6
        rates[name] = rows / seconds
        print(
            f"{name:<28}{len(subset):>7}{rows:>11}{mb:>9.1f}{seconds:>10.2f}{rows / seconds:>13,.0f}{mb / seconds:>9.1f}"
        )
    ratio = rates["read_myo_file (common)"] / rates["np.loadtxt (common)"]
    print(f"\nspeed ratio read_myo_file / np.loadtxt on the {len(common)} common files: {ratio:.2f}x")


if __name__ == "__main__":
    main()
