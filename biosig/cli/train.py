"""``biosig train {biofame,nots,cpep}``: train encoders from a TOML config (``biosig train biofame --config biofame_myo``).

Runs as one process, or as several under ``torchrun --nproc_per_node N -m biosig.cli.main train biofame ...``.
Ctrl-C stops at the next step, saves a resumable state and exits with 130; ``--resume`` continues it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

#: Sub-commands: model family -> (help, bundled configs to mention). The family is the model name's prefix.
FAMILIES = {
    "biofame": ("bioFAME masked-reconstruction pretraining", "tiny, biofame_myo, biofame_multimodal"),
    "nots": ("NoTS autoregressive next-level pretraining over degraded signals", "nots_myo, nots_multimodal"),
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="pretrain an encoder from a config file (see docs/training.md)")
    sub = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    for family, (summary, configs) in FAMILIES.items():
        p = sub.add_parser(family, help=summary, description=f"{summary}. Bundled configs: {configs}.")
        _add_run_options(
            p,
            set_example="--set optim.lr=3e-4 --set 'data.exclude=[\"12345\"]'",
            resume_help="continue the run in --out from its resume.pt",
            data_dir_help="data directory (default: data.data_dir, $BIOSIG_DATA, then ../shared/data)",
        )
        p.set_defaults(handler=cmd_train, family=family)
    _add_cpep_parser(sub)


def _add_run_options(p: argparse.ArgumentParser, set_example: str, resume_help: str, data_dir_help: str) -> None:
    """The options every training command takes: config, overrides, output, resume, data, print-config."""
    p.add_argument("--config", required=True, help="TOML file, or the name of a bundled config")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help=f"override one config field, e.g. {set_example} (repeatable)",
    )
    p.add_argument("--out", help="output folder (default: run.out_dir of the config)")
    p.add_argument("--resume", action="store_true", help=resume_help)
    p.add_argument("--data-dir", help=data_dir_help)
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")


def _add_cpep_parser(sub: argparse._SubParsersAction) -> None:
    summary = "CPEP: pose and EMG masked autoencoders, then contrastive EMG-pose alignment (docs/cpep.md)"
    from biosig.training.config import CONFIG_DIR  # light: no torch

    configs = ", ".join(sorted(c.stem for c in CONFIG_DIR.glob("cpep_*.toml")))
    p = sub.add_parser("cpep", help=summary, description=f"{summary}. Bundled configs: {configs}.")
    _add_run_options(
        p,
        set_example="--set data.corpus=runs/synth --set align.epochs=5",
        resume_help="continue the run in --out (finished stages are kept)",
        data_dir_help="data directory for Myo sources (default: data.data_dir, $BIOSIG_DATA, ...)",
    )
    p.set_defaults(handler=cmd_train_cpep)


def cmd_train_cpep(args: argparse.Namespace) -> int:
    from biosig.training.cpep_config import cpep_config_to_dict, load_cpep_config

    config = load_cpep_config(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(cpep_config_to_dict(config), indent=2))
        return 0
    from biosig.training.cpep import train_cpep

    command = shlex.join(["biosig", *args.argv])
    result = train_cpep(config, out_dir=args.out, data_dir=args.data_dir, resume=args.resume, command=command)
    if result.status == "interrupted":
        print(
            f"stopped in stage {result.stage}; resume with the same command plus --resume (state in {result.out_dir})",
            file=sys.stderr,
        )
        return 130
    print(f"done: aligned model {result.model_path}; stage checkpoints and metrics in {result.out_dir}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from biosig.training.config import config_to_dict, load_config

    config = load_config(args.config, args.overrides)
    if not config.model.name.startswith(args.family):
        raise ValueError(
            f"`biosig train {args.family}` trains {args.family} models; model.name is {config.model.name!r}"
        )
    if args.print_config:
        print(json.dumps(config_to_dict(config), indent=2))
        return 0

    from biosig.training.distributed import DistEnv, shutdown_distributed
    from biosig.training.loop import train

    command = shlex.join(["biosig", *args.argv])
    try:
        result = train(config, out_dir=args.out, data_dir=args.data_dir, resume=args.resume, command=command)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            shutdown_distributed(DistEnv(dist.get_rank(), dist.get_world_size()))
    if result.rank != 0:
        return 0 if result.status == "completed" else 130  # rank 0 reports for everyone
    if result.summary.get("weight_hash_per_rank") and len(set(result.summary["weight_hash_per_rank"])) > 1:
        print("biosig: error: ranks ended with different weights (see summary.json)", file=sys.stderr)
        return 1
    if result.status == "interrupted":
        print(
            f"stopped at step {result.step} of {result.total_steps}; resume with the same command plus --resume "
            f"(state in {result.resume_path})",
            file=sys.stderr,
        )
        return 130
    print(f"done: {result.step} steps; model checkpoint {result.model_path}; metrics in {result.out_dir}/metrics.jsonl")
    return 0
