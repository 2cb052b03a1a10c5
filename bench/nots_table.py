"""NoTS Table 1 at small scale: synthetic feature regression after pretraining, beside the paper's numbers.

Four pretraining methods with about the same weight budget (~240k, pretraining decoder included) are pretrained on
the same synthetic series and evaluated by frozen-feature regression (biosig.pretrain.regression_eval), error x100
(100 * MSE / Var; lower is better), mean +- std over seeds:

* ``nots``        NoTS-lw (biosig.models.nots, 243,345 weights)
* ``mae``         masked autoencoding on the same tokenizer/Transformer/decoder (243,025)
* ``next_period`` next-period prediction on the same modules (242,961)
* ``biofame``     the library's bioFAME (pool filter) at D=84, patch 8, shared decoder (239,342)
* ``biofame_anchored``  the same bioFAME with the frequency-anchored filter (16 anchors; 244,718): the released
  flat filter against the frequency-varying one on the same data, budget and probe
* ``random``      NoTS-lw with random weights, not pretrained (control: what the head gets from the architecture)

plus the classical increment-variance Hurst estimator (linearly calibrated on the training split) as a reference
for the Hurst column.

Default scale (12.5 min in the recorded run, up to ~35 min on 2 busy CPU cores; single-threaded torch): 1500 fBm + 1500 sinusoid series of
256 samples (80/20 train/test split; pretraining on the 2400 training series of both families), 250 AdamW steps of
32 series per method and seed (3.3 passes over the data), 3 seeds. ``--quick`` is a smoke run of a minute or two.

Usage::

    .venv/bin/python bench/nots_table.py [--quick] [--seeds 0 1 2] [--n-series 1500] [--n-times 256]
        [--steps 250] [--methods nots mae next_period biofame biofame_anchored random] [--out bench/results/nots_table]
    # one process per seed (cores), then one table:
    .venv/bin/python bench/nots_table.py --seeds 0 --out runs/nt_s0   # ... --seeds 1, --seeds 2, same other flags
    .venv/bin/python bench/nots_table.py --combine runs/nt_s0.json runs/nt_s1.json runs/nt_s2.json --out OUT
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from biosig.models import create_model
from biosig.models.nots import NoTS, NoTSConfig
from biosig.pretrain.objectives import MaskedAutoencoder, NextPeriodPredictor
from biosig.pretrain.regression_eval import HeadConfig, extract_features, fit_regression_head
from biosig.synth.series import RegressionData, estimate_hurst, make_regression_data

log = logging.getLogger("nots_table")

METHODS = ("nots", "mae", "next_period", "biofame", "biofame_anchored", "random")
COLUMNS = (("fbm", "hurst"), ("fbm", "ssc"), ("fbm", "wamp"), ("sinusoid", "ssc"), ("sinusoid", "wamp"))
COLUMNS = (*COLUMNS, ("sinusoid", "band_power"))
HEADERS = ("H (fBm)", "SSC fBm", "WAMP fBm", "SSC sin", "WAMP sin", "band power")
LABELS = {
    "nots": "NoTS-lw",
    "mae": "MAE",
    "next_period": "Next-period",
    "biofame": "bioFAME (FAMAE)",
    "biofame_anchored": "bioFAME, anchored filter",
    "random": "random init (no pretraining)",
}
#: NoTS paper, Table 1 (error x100, mean of 3 runs), same column order.
PAPER = {
    "VQVAE": (3.78, 38.93, 65.77, 26.24, 29.13, 14.37),
    "MAE": (2.01, 25.78, 26.34, 25.29, 28.81, 14.90),
    "FAMAE": (1.99, 33.85, 45.76, 28.26, 24.82, 13.92),
    "Next-period": (1.75, 27.38, 26.66, 24.44, 28.97, 13.96),
    "NoTS-lw": (1.27, 23.78, 20.04, 23.13, 24.58, 13.62),
}


def build(method: str, n_tokens: int) -> nn.Module:
    """A fresh model of ``method`` (the caller seeds torch)."""
    cfg = NoTSConfig()
    if method in ("nots", "random"):
        return NoTS(cfg)
    if method == "mae":
        return MaskedAutoencoder(cfg)
    if method == "next_period":
        return NextPeriodPredictor(cfg)
    if method in ("biofame", "biofame_anchored"):
        # Same token grid as NoTS (8 samples per token), dropout 0 like the others, ~240k weights.
        return create_model(
            "biofame_tiny",
            filter_mode="pool" if method == "biofame" else "anchored",
            patch_len=8,
            d_model=84,
            fa_depth=4,
            fa_mlp_dim=168,
            fusion_mlp_dim=168,
            filter_heads=8,
            fusion_heads=4,
            max_patches=max(n_tokens, 2),
            dropout=0.0,
        )
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def pretrain(model: nn.Module, x: np.ndarray, steps: int, batch_size: int, lr: float, seed: int) -> list[float]:
    """AdamW, 5% linear warm-up then cosine to lr/10, gradient clipping at 1; returns the loss of every step."""
    gen = torch.Generator().manual_seed(seed)
    data = torch.as_tensor(x, dtype=torch.float32)[:, None]  # (n, 1, t)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    losses = []
    model.train()
    for step in range(steps):
        scale = (
            (step + 1) / warm if step < warm else 0.1 + 0.45 * (1 + math.cos(math.pi * (step - warm) / (steps - warm)))
        )
        for group in opt.param_groups:
            group["lr"] = lr * scale
        idx = torch.randint(len(data), (batch_size,), generator=gen)
        loss, _ = model.pretrain_loss(data[idx], generator=gen)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses


def split(data: RegressionData, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Fixed train/test indices of one family (series are already shuffled by the generator)."""
    n_test = int(round(test_fraction * len(data.x)))
    idx = np.arange(len(data.x))
    return idx[n_test:], idx[:n_test]


def evaluate(model: nn.Module, families: dict[str, RegressionData], head: HeadConfig, seed: int) -> dict[str, float]:
    """Error x100 of every (family, target) column for a frozen ``model``."""
    errors = {}
    for kind, data in families.items():
        tr, te = split(data)
        feats = extract_features(model, data.x)
        for target, y in data.targets.items():
            errors[f"{kind}/{target}"] = fit_regression_head(feats[tr], y[tr], feats[te], y[te], head, seed)
    return errors


def hurst_reference(fbm: RegressionData) -> float:
    """Error x100 of the classical Hurst estimator, linearly calibrated on the training split."""
    tr, te = split(fbm)
    est = estimate_hurst(fbm.x)
    y = fbm.targets["hurst"][:, 0]
    a, b = np.polyfit(est[tr], y[tr], 1)
    pred = a * est[te] + b
    return float(100 * ((pred - y[te]) ** 2).mean() / y[tr].var())


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def table(results: dict[str, dict[str, list[float]]], reference: float, args: argparse.Namespace) -> str:
    lines = [
        f"Feature regression error x100 (100 * MSE / Var, lower is better), mean ± std over seeds {args.seeds}; "
        f"{args.n_series} fBm + {args.n_series} sinusoid series of {args.n_times} samples, "
        f"{args.steps} pretraining steps of {args.batch_size}.",
        "",
        "| method | " + " | ".join(HEADERS) + " |",
        "|---|" + "---|" * len(HEADERS),
    ]
    for method, errs in results.items():
        cells = [fmt(errs.get(f"{k}/{t}", [])) for k, t in COLUMNS]
        lines.append(f"| {LABELS[method]} (this run) | " + " | ".join(cells) + " |")
    lines.append(f"| classical H estimator (this run) | {reference:.2f} |" + " - |" * (len(HEADERS) - 1))
    for name, values in PAPER.items():
        lines.append(f"| {name} (paper) | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    return "\n".join(lines)


SEED_FREE_ARGS = {"seeds", "out", "threads", "combine", "quick"}


def combine(paths: list[Path], out: Path | None) -> None:
    """One table from runs of the same protocol on different seeds; refuses runs whose settings differ."""
    payloads = []
    for path in paths:
        try:
            payloads.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(
                f"{path}: cannot read a nots_table JSON ({exc}); expected the .json an --out run writes"
            ) from None
        if not {"args", "methods", "hurst_reference"} <= payloads[-1].keys():
            raise SystemExit(f"{path}: not a nots_table JSON (needs args, methods, hurst_reference)")
    first = payloads[0]
    same = {k: v for k, v in first["args"].items() if k not in SEED_FREE_ARGS}
    record: dict[str, dict] = {}
    for path, payload in zip(paths, payloads, strict=True):
        settings = {k: v for k, v in payload["args"].items() if k not in SEED_FREE_ARGS}
        if settings != same:
            diff = {
                k: (same.get(k), settings.get(k))
                for k in same.keys() | settings.keys()
                if same.get(k) != settings.get(k)
            }
            raise SystemExit(f"{path}: settings differ from {paths[0]}: {diff}")
        for method, rec in payload["methods"].items():
            merged = record.setdefault(method, {"weights": rec["weights"], "seeds": {}})
            for seed, values in rec["seeds"].items():
                if seed in merged["seeds"]:
                    raise SystemExit(f"{path}: seed {seed} of {method} is already in an earlier file")
                merged["seeds"][seed] = values
    seeds = sorted({int(s) for rec in record.values() for s in rec["seeds"]})
    results = {
        m: {key: [rec["seeds"][s]["errors"][key] for s in sorted(rec["seeds"], key=int)] for key in next(iter(rec["seeds"].values()))["errors"]}
        for m, rec in record.items()
    }  # fmt: skip
    args = argparse.Namespace(seeds=seeds, n_series=same["n_series"], n_times=same["n_times"], steps=same["steps"],
                              batch_size=same["batch_size"])  # fmt: skip
    text = table(results, first["hurst_reference"], args)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"args": {**first["args"], "seeds": str(seeds), "combined_from": [str(p) for p in paths]},
                   "methods": record, "hurst_reference": first["hurst_reference"]}  # fmt: skip
        out.with_suffix(".json").write_text(json.dumps(payload, indent=1, default=float))
        out.with_suffix(".md").write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny data, few steps, one seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-series", type=int, default=1500, help="series per family (fBm, sinusoids)")
    parser.add_argument("--n-times", type=int, default=256, help="samples per series (multiple of 32)")
    parser.add_argument("--steps", type=int, default=250, help="pretraining steps per method and seed")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--head-steps", type=int, default=600)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids thrashing on busy cores)")
    parser.add_argument("--out", type=Path, default=None, help="write <out>.json and <out>.md")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="JSON",
                        help="no training: merge the JSON of runs that differ only in --seeds (e.g. one process per "
                             "seed on a multi-core machine) into one table")  # fmt: skip
    args = parser.parse_args()
    if args.combine:
        combine(args.combine, args.out)
        return
    if args.quick:
        args.seeds, args.n_series, args.n_times, args.steps, args.head_steps = [0], 100, 256, 5, 50
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    fbm_data, sin_data = make_regression_data(args.n_series, args.n_series, args.n_times, seed=0)
    families = {"fbm": fbm_data, "sinusoid": sin_data}
    pretrain_x = np.concatenate([d.x[split(d)[0]] for d in families.values()])
    log.info("data ready in %.1f s; %d pretraining series", time.perf_counter() - t0, len(pretrain_x))
    head = HeadConfig(steps=args.head_steps)
    n_tokens = args.n_times // 8

    results: dict[str, dict[str, list[float]]] = {m: {} for m in args.methods}
    record: dict[str, dict] = {m: {"seeds": {}} for m in args.methods}
    for seed in args.seeds:
        for method in args.methods:
            torch.manual_seed(seed)
            model = build(method, n_tokens)
            n_weights = sum(p.numel() for p in model.parameters())
            t1 = time.perf_counter()
            losses = (
                [] if method == "random" else pretrain(model, pretrain_x, args.steps, args.batch_size, args.lr, seed)
            )
            t_pre = time.perf_counter() - t1
            errors = evaluate(model, families, head, seed)
            t_eval = time.perf_counter() - t1 - t_pre
            for key, value in errors.items():
                results[method].setdefault(key, []).append(value)
            first, last = (np.mean(losses[:10]), np.mean(losses[-10:])) if losses else (float("nan"),) * 2
            log.info(
                "seed %d %-11s %d weights, pretrain %.0f s (loss %.3f -> %.3f), eval %.0f s: %s",
                seed, method, n_weights, t_pre, first, last, t_eval,
                ", ".join(f"{k} {v:.2f}" for k, v in errors.items()),
            )  # fmt: skip
            record[method]["weights"] = n_weights
            record[method]["seeds"][seed] = {
                "errors": errors,
                "pretrain_s": t_pre,
                "eval_s": t_eval,
                "loss_first10": first,
                "loss_last10": last,
            }
    reference = hurst_reference(fbm_data)
    text = table(results, reference, args)
    print(text)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"args": {k: str(v) for k, v in vars(args).items()}, "methods": record, "hurst_reference": reference}
        args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1, default=float))
        args.out.with_suffix(".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
