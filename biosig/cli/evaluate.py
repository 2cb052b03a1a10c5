"""``biosig eval``: linear probes, fine-tuning and classical baselines on the evaluation tasks, as one table.

``biosig eval table --checkpoint CKPT`` writes the whole table (classical baselines, linear probe, optionally
fine-tuning with ``--finetune``); ``probe`` and ``finetune`` run only that learned method next to the baselines.
Without ``--checkpoint`` only the baselines run, plus a random-init control with ``--model NAME --random-init``.

Several checkpoints go into one table: ``--checkpoint A.pt B.pt``, each optionally limited to some tasks with
``TASKS=PATH`` (``myo`` = both Myo tasks; e.g. ``--checkpoint myo=biofame.pt myo=nots.pt eegmat=eeg.pt``), so an
EMG checkpoint and an EEG checkpoint sit in the same table. See ``docs/evaluation.md``.
``biosig eval zeroshot`` scores CPEP checkpoints (probes, zero-shot, few-shot) on the synthetic corpus or
the Myo data with their baselines (``docs/cpep.md``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TASK_CHOICES = ("myo-cross-participant", "myo-cross-session", "eegmat")
#: ``biosig eval modality`` tasks (biosig.evaluation.modality.MODALITY_TASKS; repeated here so that building the
#: parser imports no torch).
MODALITY_TASK_CHOICES = ("eegmat-multimodal", "synthetic-physio")


def add_parser(commands: argparse._SubParsersAction) -> None:
    ev = commands.add_parser("eval", help="evaluate encoders: linear probe, fine-tuning, classical baselines")
    sub = ev.add_subparsers(dest="eval_command", metavar="ACTION", required=True)
    for name, help_text in (
        ("table", "baselines + linear probe (+ fine-tuning with --finetune): the whole results table"),
        ("probe", "baselines + linear probe on frozen embeddings"),
        ("finetune", "baselines + full fine-tuning"),
    ):
        p = sub.add_parser(name, help=help_text)
        _add_common(p, finetune_flag=name == "table")
        p.set_defaults(handler=cmd_eval)
    _add_zeroshot(sub)
    _add_modality(sub)


def _add_modality(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "modality",
        help="linear probes under test-time modality dropout and substitution (multimodal encoders)",
        description="Probe frozen multimodal encoders fitted on all modalities and tested with one dropped, absent "
        "or substituted (see docs/evaluation.md).",
    )
    g = p.add_argument_group("encoders")
    g.add_argument("--checkpoint", nargs="+", action="extend", default=[], metavar="PATH", help="checkpoint(s)")
    g.add_argument("--model", help="registered model name for a random-init control (needs --random-init)")
    g.add_argument("--random-init", action="store_true", help="evaluate --model with random weights (control)")
    g.add_argument("--model-sfreq", type=float, default=100.0, help="rate (Hz) of the random-init model's input")
    g.add_argument(
        "--input-scale",
        nargs="*",
        default=[],
        metavar="TYPE=FACTOR",
        help="multiply channels of TYPE by FACTOR before a checkpoint's encoder (overrides its scaling for TYPE), "
        "e.g. for a unit the checkpoint's scaling lacks",
    )
    g = p.add_argument_group("tasks and data")
    g.add_argument("--task", nargs="+", choices=MODALITY_TASK_CHOICES, help="tasks (default: all whose data exist)")
    g.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="evaluation seeds (default 0 1 2)")
    g.add_argument("--data-dir", help="data directory (default: $BIOSIG_DATA, then ../shared/data)")
    g.add_argument("--synthetic-per-class", type=int, default=12, help="simulated recordings per state (default 12)")
    g = p.add_argument_group("fitting")
    g.add_argument("--probe-c", type=_probe_c, default="cv", metavar="C|cv", help="probe inverse L2 strength or 'cv'")
    g.add_argument("--batch-size", type=int, default=256, help="embedding batch size")
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", help="write the markdown here and the JSON beside it (.json); always printed too")
    p.set_defaults(handler=cmd_modality)


def _add_zeroshot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "zeroshot",
        help="CPEP: probes and zero-shot on seen/unseen gestures, few-shot curves, baselines (docs/cpep.md)",
        description=(
            "Score CPEP checkpoints on the synthetic corpus (held-out users; seen and unseen gestures) or on the "
            "Myo cross-participant split (all, trained and held-out classes), next to TD + LDA, the stage-1 EMG "
            "masked autoencoder, a supervised EMG classifier and the pose-MAE upper bound."
        ),
    )
    p.add_argument("--checkpoint", action="append", required=True, help="CPEP checkpoint (repeat to compare several)")
    p.add_argument("--task", choices=("synthetic", "myo"), required=True)
    p.add_argument("--corpus", help="synthetic corpus folder (task synthetic)")
    p.add_argument("--data-dir", help="data directory with myo-readings-dataset (task myo; default ../shared/data)")
    p.add_argument("--emg-mae", action="append", default=[], help="stage-1 EMG checkpoint per --checkpoint "
                   "(default: the one recorded beside each checkpoint)")  # fmt: skip
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (Myo splits, supervised, few-shot)")
    p.add_argument("--shots", nargs="*", type=int, default=[0, 1, 3, 5], help="few-shot examples per gesture")
    p.add_argument("--k", type=int, default=10, help="zero-shot neighbours that vote (default 10)")
    p.add_argument("--supervised-epochs", type=int, default=10, help="epochs of the supervised EMG baseline")
    p.add_argument("--hop", type=float, help="window hop in s (default 0.2 synthetic, 0.25 Myo)")
    p.add_argument("--pool", action="store_true",
                   help="the checkpoints repeat one recipe (training seeds): pool their rows as mean ± std")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", help="write the markdown here and the JSON beside it (.json); always printed too")
    p.set_defaults(handler=cmd_zeroshot)


def cmd_zeroshot(args: argparse.Namespace) -> int:
    import json

    import torch

    from biosig.datasets.catalog import find_data_dir
    from biosig.evaluation.zeroshot import run_zeroshot_eval
    from biosig.models.checkpoint import current_code_version

    if args.task == "synthetic" and not args.corpus:
        raise ValueError("--task synthetic needs --corpus DIR (a folder written by `biosig data synth emg-pose`)")
    if len(args.emg_mae) > len(args.checkpoint):
        raise ValueError(f"--emg-mae given {len(args.emg_mae)} times for {len(args.checkpoint)} --checkpoint")
    if any(k < 0 for k in args.shots) or args.k < 1 or args.supervised_epochs < 1:
        raise ValueError("--shots must be >= 0, --k and --supervised-epochs >= 1")
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds must be distinct, got {args.seeds}")
    torch.set_num_threads(args.threads)
    data_dir = find_data_dir(args.data_dir) if args.task == "myo" else None
    if args.task == "myo" and data_dir is None:
        raise FileNotFoundError("no data directory with the Myo dataset found; pass --data-dir")
    report = run_zeroshot_eval(
        args.task,
        args.checkpoint,
        corpus=args.corpus,
        data_dir=data_dir,
        seeds=args.seeds,
        shots=args.shots,
        k=args.k,
        supervised_epochs=args.supervised_epochs,
        emg_mae=args.emg_mae,
        hop_s=args.hop,
        pool=args.pool,
    )
    code = current_code_version()
    report.header = {
        "command": shlex.join(["biosig", *args.argv]),
        **report.header,
        "code": f"biosig {code['biosig']}, commit {code['git_commit']}" + (" (dirty)" if code["git_dirty"] else ""),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    markdown = report.to_markdown()
    sys.stdout.write(markdown)
    if args.out:
        md = Path(args.out)
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(markdown, encoding="utf-8")
        md.with_suffix(".json").write_text(json.dumps(report.to_dict(), indent=1, default=str) + "\n", encoding="utf-8")
        sys.stderr.write(f"wrote {md} and {md.with_suffix('.json')}\n")
    return 0


def _add_common(p: argparse.ArgumentParser, finetune_flag: bool) -> None:
    g = p.add_argument_group("encoders")
    g.add_argument(
        "--checkpoint",
        nargs="+",
        action="extend",
        default=[],
        metavar="[TASKS=]PATH",
        help="checkpoint(s) to evaluate (omit for baselines only); TASKS=PATH limits one to comma-separated tasks "
        "('myo' = both Myo tasks), e.g. myo=biofame.pt eegmat=eeg.pt",
    )
    g.add_argument("--model", help="registered model name for a control row (needs --random-init)")
    g.add_argument("--random-init", action="store_true", help="evaluate --model with random weights (control)")
    g.add_argument("--model-sfreq", type=float, default=200.0, help="rate (Hz) of the random-init model's input")
    g.add_argument(
        "--input-scale",
        nargs="*",
        default=[],
        metavar="TYPE=FACTOR",
        help="multiply channels of TYPE by FACTOR before the encoder (overrides the checkpoint's; '*' = all types)",
    )
    g = p.add_argument_group("tasks and data")
    g.add_argument("--task", nargs="+", choices=TASK_CHOICES, help="tasks to run (default: all whose data exist)")
    g.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="evaluation seeds (default 0 1 2)")
    g.add_argument("--data-dir", help="data directory (default: $BIOSIG_DATA, then ../shared/data)")
    g.add_argument("--myo-participants", nargs="+", help="restrict the Myo dataset to these participants (quick runs)")
    g.add_argument("--min-label-fraction", type=float, default=0.8, help="Myo window label rule (default 0.8)")
    g.add_argument("--myo-hop", type=float, default=0.25, help="Myo window hop in s (windows are 1.0 s)")
    g.add_argument("--heldout-fraction", type=float, default=0.5, help="Myo participants held out of pretraining")
    g.add_argument("--test-fraction", type=float, default=0.5, help="share of the held-out participants tested")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the held-out pool (must match pretraining)")
    g.add_argument("--no-rotation-baseline", action="store_true", help="skip the rotation-aware TD + LDA rows")
    g.add_argument(
        "--allow-pretraining-overlap",
        action="store_true",
        help="score a checkpoint pretrained on evaluated Myo participants anyway (flagged in the notes)",
    )
    g = p.add_argument_group("fitting")
    if finetune_flag:
        g.add_argument("--finetune", action="store_true", help="also fine-tune (slow on CPU)")
    g.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs at most (default 10)")
    g.add_argument("--lr", type=float, default=3e-4, help="fine-tuning AdamW learning rate")
    g.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs")
    g.add_argument("--max-train-windows", type=int, help="subsample fine-tuning training windows per fold")
    g.add_argument("--batch-size", type=int, default=256, help="embedding batch size")
    g.add_argument(
        "--pooling",
        nargs="+",
        choices=("mean", "channels"),
        default=["mean"],
        help="probe embedding: the encoder's mean over channels and time, and/or per-channel means concatenated",
    )
    g.add_argument(
        "--probe-c",
        type=_probe_c,
        default="cv",
        metavar="C|cv",
        help="linear probes' inverse L2 strength, or 'cv' (default): chosen by cross-validation over the training "
        "participants/sessions",
    )
    g.add_argument(
        "--calibrate",
        action="store_true",
        help="cross-participant: add rows with features and embeddings z-scored per participant (no labels)",
    )
    g.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", help="write the markdown here and the JSON beside it (.json); always printed too")


def _probe_c(text: str) -> float | str:
    if text == "cv":
        return "cv"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'cv', got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number or 'cv', got {text!r}")
    return value


def _command_line(args: argparse.Namespace) -> str:
    """The resolved command, every option with its value, so the header reproduces the run."""
    parts = ["biosig", "eval", args.eval_command]
    # ``argv`` is main()'s record of the raw command line, not an option: rendering it would repeat every option.
    skip = {"handler", "command", "eval_command", "verbose", "argv"}
    for key, value in sorted(vars(args).items()):
        if key in skip or value is None or value is False or value == []:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


#: Task selectors of ``--checkpoint TASKS=PATH`` besides the task names themselves.
TASK_ALIASES = {"myo": ("myo-cross-participant", "myo-cross-session")}


def parse_checkpoint_spec(spec: str) -> tuple[str, tuple[str, ...] | None]:
    """``"PATH"`` -> ``(PATH, None)`` (every task); ``"myo,eegmat=PATH"`` -> ``(PATH, (tasks...))``.

    The part before the first ``=`` is a task list only when every comma-separated item is a task name or an alias
    (``myo``), so a path that itself holds ``=`` still works; an item that looks like a task list but names an
    unknown task is an error listing the valid ones.
    """
    head, sep, tail = spec.partition("=")
    if not sep:
        return spec, None
    items = [t.strip() for t in head.split(",")]
    known = set(TASK_CHOICES) | set(TASK_ALIASES)
    if not all(items) or not all(t in known for t in items):
        if "/" in head or "." in head or Path(spec).exists():
            return spec, None  # a path holding '='
        raise ValueError(
            f"--checkpoint {spec!r}: {head!r} is not a task list; use TASKS=PATH with TASKS from "
            f"{', '.join([*TASK_CHOICES, *TASK_ALIASES])} (comma-separated), or a plain PATH"
        )
    if not tail:
        raise ValueError(f"--checkpoint {spec!r}: no checkpoint path after '='")
    tasks: list[str] = []
    for item in items:
        for task in TASK_ALIASES.get(item, (item,)):
            if task not in tasks:
                tasks.append(task)
    return tail, tuple(tasks)


def _tasks(args: argparse.Namespace, data_dir: Path | None) -> tuple[list[Any], list[str]]:
    from biosig.datasets.catalog import get_dataset
    from biosig.evaluation.protocols import MyoSplitConfig, load_eegmat_task, load_myo_tasks

    requested = list(args.task) if args.task else list(TASK_CHOICES)
    explicit = bool(args.task)
    tasks, notes = [], []
    myo_wanted = [t for t in requested if t.startswith("myo-")]
    if myo_wanted:
        if data_dir is None or not get_dataset("myo").files(data_dir):
            if explicit:
                raise FileNotFoundError(
                    f"no Myo data under {data_dir}; pass --data-dir with a myo-readings-dataset folder"
                )
            notes.append(f"Myo tasks skipped: no Myo data under {data_dir}")
        else:
            split = MyoSplitConfig(args.heldout_fraction, args.test_fraction, args.split_seed)
            tasks += load_myo_tasks(
                data_dir,
                participants=args.myo_participants,
                split_config=split,
                hop_s=args.myo_hop,
                min_label_fraction=args.min_label_fraction,
                tasks=myo_wanted,
            )
    if "eegmat" in requested:
        if data_dir is None or not get_dataset("eegmat").files(data_dir):
            if explicit:
                raise FileNotFoundError(f"no eegmat EDF files under {data_dir}; pass --data-dir with physionet-eegmat")
            notes.append(f"eegmat skipped: no eegmat data under {data_dir}")
        else:
            tasks.append(load_eegmat_task(data_dir))
    if not tasks:
        raise FileNotFoundError(f"no evaluation data found (data directory: {data_dir}); {'; '.join(notes)}")
    return tasks, notes


def cmd_eval(args: argparse.Namespace) -> int:
    from biosig.datasets.catalog import find_data_dir
    from biosig.evaluation.benchmark import checkpoint_encoder, random_encoder, run_benchmark
    from biosig.evaluation.finetune import FinetuneConfig
    from biosig.evaluation.probe import parse_input_scale
    from biosig.evaluation.table import ResultsTable

    if args.model and not args.random_init:
        raise ValueError(
            "--model is for a random-init control row and needs --random-init; use --checkpoint for trained weights"
        )
    if args.random_init and not args.model:
        raise ValueError("--random-init needs --model NAME (a registered model, e.g. biofame_small)")
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds must be distinct, got {args.seeds}")
    scale = parse_input_scale(args.input_scale)
    specs = [parse_checkpoint_spec(spec) for spec in args.checkpoint]
    encoders = [checkpoint_encoder(path, scale or None, tasks=tasks) for path, tasks in specs]
    if args.model:  # scaled by robust scales estimated on each task (--input-scale is for checkpoints)
        encoders.append(random_encoder(args.model, args.model_sfreq))
    wants_finetune = args.eval_command == "finetune" or getattr(args, "finetune", False)
    if args.eval_command == "finetune" and not encoders:
        raise ValueError("biosig eval finetune needs --checkpoint or --model NAME --random-init")
    ft_config = (
        FinetuneConfig(epochs=args.epochs, lr=args.lr, patience=args.patience, max_train_windows=args.max_train_windows)
        if wants_finetune and encoders
        else None
    )
    data_dir = find_data_dir(args.data_dir)
    tasks, notes = _tasks(args, data_dir)
    running = {t.name for t in tasks}
    for enc in encoders:
        if enc.tasks is not None and not running & set(enc.tasks):
            raise ValueError(
                f"checkpoint {enc.checkpoint} is limited to task(s) {', '.join(enc.tasks)}, none of which runs "
                f"(running: {', '.join(sorted(running))})"
            )
    results, run_notes = run_benchmark(
        tasks,
        args.seeds,
        encoders,
        probe=args.eval_command != "finetune",
        finetune_config=ft_config,
        rotation_baseline=not args.no_rotation_baseline,
        batch_size=args.batch_size,
        device=args.device,
        allow_pretraining_overlap=args.allow_pretraining_overlap,
        poolings=args.pooling,
        probe_c=args.probe_c,
        calibrate=args.calibrate,
    )
    header = _header(args, encoders, data_dir)
    table = ResultsTable(header, results, notes + run_notes)
    markdown = table.to_markdown()
    sys.stdout.write(markdown)
    if args.out:
        md, js = table.write(args.out)
        sys.stderr.write(f"wrote {md} and {js}\n")
    return 0


def cmd_modality(args: argparse.Namespace) -> int:
    from biosig.datasets.catalog import find_data_dir
    from biosig.evaluation.benchmark import checkpoint_encoder, random_encoder
    from biosig.evaluation.modality import load_modality_tasks, run_modality_benchmark
    from biosig.evaluation.probe import parse_input_scale
    from biosig.evaluation.table import ResultsTable

    if args.model and not args.random_init:
        raise ValueError("--model is for a random-init control and needs --random-init")
    if args.random_init and not args.model:
        raise ValueError("--random-init needs --model NAME (a registered model, e.g. biofame_small)")
    if not args.checkpoint and not args.model:
        raise ValueError("biosig eval modality needs --checkpoint PATH [PATH ...] or --model NAME --random-init")
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds must be distinct, got {args.seeds}")
    if args.synthetic_per_class < 2:
        raise ValueError(
            f"--synthetic-per-class must be >= 2 (folds hold out whole recordings), got {args.synthetic_per_class}"
        )
    scale = parse_input_scale(args.input_scale)
    encoders = [checkpoint_encoder(path, scale or None) for path in args.checkpoint]
    if args.model:  # scaled by robust scales estimated on each task (--input-scale is for checkpoints)
        encoders.append(random_encoder(args.model, args.model_sfreq))
    data_dir = find_data_dir(args.data_dir)
    names = list(args.task) if args.task else list(MODALITY_TASK_CHOICES)
    tasks, notes = load_modality_tasks(
        names, data_dir, synthetic_per_class=args.synthetic_per_class, explicit=bool(args.task)
    )
    results, run_notes = run_modality_benchmark(
        tasks, args.seeds, encoders, probe_c=args.probe_c, batch_size=args.batch_size, device=args.device
    )
    table = ResultsTable(_header(args, encoders, data_dir), results, notes + run_notes)
    sys.stdout.write(table.to_markdown())
    if args.out:
        md, js = table.write(args.out)
        sys.stderr.write(f"wrote {md} and {js}\n")
    return 0


def _header(args: argparse.Namespace, encoders: list[Any], data_dir: Path | None) -> dict[str, Any]:
    from biosig.models.checkpoint import current_code_version

    code = current_code_version()
    header: dict[str, Any] = {
        "command": _command_line(args),
        "checkpoint": "; ".join(_checkpoint_entry(e) for e in encoders if e.checkpoint is not None) or "none",
        "encoders": "; ".join(f"{e.label} at {e.sfreq:g} Hz, input scaling {_scaling(e)}" for e in encoders) or "none",
        "seeds": list(args.seeds),
        "data_dir": str(data_dir),
        "code": f"biosig {code['biosig']}, commit {code['git_commit']}" + (" (dirty)" if code["git_dirty"] else ""),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    trained = [e for e in encoders if e.meta is not None]
    for enc in trained:
        key = f"training command of {enc.label}" if len(trained) > 1 else "checkpoint_training_command"
        header[key] = str((enc.meta.get("training") or {}).get("command"))
    return header


def _checkpoint_entry(encoder: Any) -> str:
    path = str(Path(encoder.checkpoint).resolve())
    return path if encoder.tasks is None else f"{','.join(encoder.tasks)}={path}"


def _scaling(encoder: Any) -> str:
    if encoder.estimate_scale:
        return "median-centred, divided by a robust scale estimated on each task's recordings (see notes)"
    return encoder.input_scale.describe()
