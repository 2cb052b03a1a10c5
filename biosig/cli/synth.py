"""``biosig data synth``: deterministic synthetic datasets (paired sEMG + hand pose; labelled physiology)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from tqdm import tqdm


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    synth = sub.add_parser("synth", help="generate synthetic data (deterministic from --seed)")
    kinds = synth.add_subparsers(dest="synth_kind", metavar="KIND", required=True)

    p = kinds.add_parser("emg-pose", help="paired 16-ch sEMG + hand pose, emg2pose-schema HDF5 + metadata.csv")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--users", type=_positive_int, default=6, help="number of synthetic users (default 6)")
    p.add_argument("--held-out-users", type=int, default=2, help="users reserved for testing (default 2)")
    p.add_argument("--stages", type=_positive_int, help="use the first N of the 6 default stages (default: all)")
    p.add_argument("--sides", default="left,right", help="hands to record (default: left,right)")
    p.add_argument("--duration", type=_positive_float, default=30.0, help="seconds per stage file (default 30)")
    p.add_argument(
        "--unseen",
        default="point,thumbs_up,peace,ok",
        help="comma-separated gestures held out of training; whole stages only (default: the Signs stage)",
    )
    p.add_argument("--compression", choices=("none", "gzip", "lzf"), default="gzip", help="HDF5 filter (default gzip)")
    p.add_argument("--difficulty", type=float, default=1.0, help="scales noise and inter-user variability (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=cmd_emg_pose)

    p = kinds.add_parser("physio", help="labelled ECG+PPG+RSP+EDA recordings (rest vs. exercise), biosig npz")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--n-per-class", type=_positive_int, default=8)
    p.add_argument("--duration", type=_positive_float, default=10.0, help="seconds per recording")
    p.add_argument("--sfreq", type=_positive_float, default=100.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=cmd_physio)


def cmd_physio(args: argparse.Namespace) -> int:
    from biosig.io.npz import write_npz
    from biosig.synth.physio import simulate_physio_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.csv"
    if index.exists() and not args.overwrite:
        raise FileExistsError(f"{index} exists; pass --overwrite to regenerate the dataset")
    recordings = simulate_physio_dataset(
        n_per_class=args.n_per_class, duration=args.duration, sfreq=args.sfreq, seed=args.seed
    )
    with open(index, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "condition", "label", "duration_s", "sfreq"])
        for i, recording in enumerate(tqdm(recordings, desc="write", unit="rec")):
            condition = str(recording.metadata["condition"])
            path = write_npz(recording, out / f"physio_{i:03d}_{condition}.npz")
            label = int(recording.labels[0]) if recording.labels is not None else -1
            writer.writerow([path.name, condition, label, f"{recording.duration:.3f}", f"{recording.sfreq:g}"])
    print(f"wrote {len(recordings)} recordings and {index}")
    return 0


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def cmd_emg_pose(args: argparse.Namespace) -> int:
    from biosig.synth.hand import SynthConfig, write_corpus

    if not 0 <= args.held_out_users < args.users:
        raise ValueError(
            f"--held-out-users must leave at least one training user: got {args.held_out_users} of {args.users} users"
        )
    if args.difficulty < 0:
        raise ValueError(f"--difficulty must be >= 0, got {args.difficulty}")
    meta = write_corpus(
        args.out,
        n_users=args.users,
        stages=args.stages,
        sides=_names(args.sides),
        seed=args.seed,
        held_out_users=args.held_out_users,
        unseen_gestures=_names(args.unseen),
        duration_s=args.duration,
        config=SynthConfig.at_difficulty(args.difficulty),
        overwrite=args.overwrite,
        compression=None if args.compression == "none" else args.compression,
    )
    splits = meta["split"].value_counts().to_dict()
    print(
        f"wrote {len(meta)} emg2pose-schema files to {args.out} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(splits.items()))}); metadata.csv and gestures.json beside them"
    )
    return 0
