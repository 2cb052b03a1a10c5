"""How CPEP's probe and zero-shot accuracy fall as the synthetic generator's noise and inter-user variability rise.

For each difficulty ``d`` (``SynthConfig.at_difficulty(d)``: noise, user and motor variability, artefacts, IK
failures and co-contraction all scale with ``d``) this writes a corpus, trains CPEP on it with the bundled
``cpep_emg2pose`` config shortened by ``--set`` overrides, and runs ``biosig eval zeroshot``'s evaluation. Each
difficulty is scored next to the baselines measured on the same corpus in the same run (TD + LDA, the stage-1
EMG-MAE probe, the pose-MAE probe), so the trend holds on a noisy machine.

    python bench/cpep_difficulty.py                      # ~25 min on one core: d = 0.5, 1, 2, 3 (the bundled config)
    python bench/cpep_difficulty.py --quick              # ~2 min: two tiny corpora, a smoke run

Writes ``bench/results/cpep_difficulty.{md,json}`` (``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from biosig.evaluation.zeroshot import run_zeroshot_eval
from biosig.synth.hand import SynthConfig, write_corpus
from biosig.training.cpep import train_cpep
from biosig.training.cpep_config import load_cpep_config

ROWS = {
    "TD + LDA": "TD + LDA",
    "EMG-MAE probe": "EMG-MAE probe (transformer)",
    "CPEP probe": "CPEP (transformer) probe",
    "CPEP zero-shot (k=10, training poses)": "CPEP (transformer) zero-shot, k=10 over training poses",
    "CPEP zero-shot (vocabulary, prototype)": "CPEP (transformer) zero-shot, vocabulary (prototype)",
    "pose-MAE probe (upper bound)": "pose-MAE probe (upper bound: reads the pose)",
}


def _cell(scores: list, method: str, column: str) -> float | None:
    for s in scores:
        if s.method == method and s.column == column:
            return s.accuracy
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--difficulties", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0])
    parser.add_argument("--users", type=int, default=8, help="users per corpus (the last 2 held out)")
    parser.add_argument("--duration", type=float, default=45.0, help="seconds per stage file")
    parser.add_argument("--emg-epochs", type=int, default=5, help="emg_mae.epochs (the bundled config: 5)")
    parser.add_argument("--align-epochs", type=int, default=10, help="align.epochs (the bundled config: 10)")
    parser.add_argument("--quick", action="store_true", help="two tiny corpora and a few steps (smoke run)")
    parser.add_argument("--work", help="folder for the corpora and runs (default: a temporary folder)")
    parser.add_argument("--out", default="bench/results/cpep_difficulty.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.difficulties, args.users, args.duration = [0.5, 2.0], 4, 15.0
        args.emg_epochs, args.align_epochs = 1, 2
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="cpep-difficulty-"))
    results = []
    for d in args.difficulties:
        t0 = time.perf_counter()
        corpus = work / f"corpus-d{d:g}"
        if not (corpus / "metadata.csv").is_file():
            write_corpus(corpus, n_users=args.users, sides=("right",), seed=0, held_out_users=2,
                         unseen_gestures=("point", "thumbs_up", "peace", "ok"), progress=False,
                         duration_s=args.duration, config=SynthConfig.at_difficulty(d), compression="gzip")  # fmt: skip
        t_corpus = time.perf_counter() - t0
        overrides = [f"data.corpus={corpus}", f"emg_mae.epochs={args.emg_epochs}", f"align.epochs={args.align_epochs}",
                     "run.progress=false"]  # fmt: skip
        if args.quick:
            overrides += ["data.max_windows=300", "pose_mae.epochs=1"]
        run = work / f"run-d{d:g}"
        result = train_cpep(load_cpep_config("cpep_emg2pose", overrides), out_dir=run, resume=run.exists(),
                            command="bench/cpep_difficulty.py " + shlex.join(overrides))  # fmt: skip
        t_train = time.perf_counter() - t0 - t_corpus
        report = run_zeroshot_eval("synthetic", [result.model_path], corpus=corpus, seeds=[0], shots=[],
                                   supervised_epochs=1, progress=False)  # fmt: skip
        scores = [s for s in report.scores if not s.method.startswith("supervised")]
        row = {"difficulty": d, "corpus_s": round(t_corpus, 1), "train_s": round(t_train, 1),
               "eval_s": round(time.perf_counter() - t0 - t_corpus - t_train, 1)}  # fmt: skip
        for name, method in ROWS.items():
            for kind in ("probe", "zero-shot"):
                for split in ("seen", "unseen"):
                    value = _cell(scores, method, f"{kind} {split}")
                    if value is not None:
                        row[f"{name} | {split}"] = value
        results.append(row)
        print(f"difficulty {d:g}: corpus {t_corpus:.0f} s, training {t_train:.0f} s", file=sys.stderr)

    lines = [
        "# CPEP against the synthetic generator's difficulty",
        "",
        f"Command: `python {shlex.join(sys.argv)}`. Corpora: {args.users} users (2 held out), right hand, "
        f"{args.duration:g} s per stage, seed 0; unseen gestures: the Signs stage. Training: `cpep_emg2pose` with "
        f"emg_mae.epochs={args.emg_epochs}, align.epochs={args.align_epochs}. Accuracy on the held-out users; "
        "chance 0.091 (seen, 11 gestures) and 0.25 (unseen, 4).",
        "",
        "| method | "
        + " | ".join(f"d={r['difficulty']:g} seen | d={r['difficulty']:g} unseen" for r in results)
        + " |",
        "|---|" + "---|---|" * len(results),
    ]
    for name in ROWS:
        cells = []
        for r in results:
            for split in ("seen", "unseen"):
                v = r.get(f"{name} | {split}")
                cells.append("–" if v is None else f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Wall time per difficulty (s): " + ", ".join(
        f"d={r['difficulty']:g}: corpus {r['corpus_s']}, train {r['train_s']}, eval {r['eval_s']}" for r in results)]  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1, default=float))
    print(f"wrote {out} (work folder {work})", file=sys.stderr)
    return 0 if all(np.isfinite([v for r in results for v in r.values()])) else 1


if __name__ == "__main__":
    sys.exit(main())
