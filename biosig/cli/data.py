"""``biosig data``: list known datasets, inspect files, convert formats, generate synthetic data, download."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from biosig.datasets.catalog import (
    DATA_ENV,
    DATASETS,
    bundled_myo_session,
    candidate_data_dirs,
    find_data_dir,
    get_dataset,
)
from biosig.errors import BiosigError, ReaderError, UnknownFormatError
from biosig.io import detect_format, list_readers, read
from biosig.signals.recording import Recording


def add_parser(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="datasets: list, inspect, convert, synth, download")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="known datasets and where they were found")
    p.add_argument("--data-dir", help="data directory (default: $BIOSIG_DATA, then ../shared/data)")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("inspect", help="channels, rates, durations and labels of a file or folder")
    p.add_argument("path", nargs="+", help="file(s) or folder(s); folders are walked")
    p.add_argument("--format", help="reader name (default: detected); see `biosig data formats`")
    p.add_argument("--json", action="store_true", help="one JSON object per recording instead of text")
    p.set_defaults(handler=cmd_inspect)

    p = sub.add_parser("formats", help="the registered readers")
    p.set_defaults(handler=cmd_formats)

    p = sub.add_parser("convert", help="convert a recording to npz (lossless), edf or csv")
    p.add_argument("src", help="input file")
    p.add_argument("dst", help="output file, or a folder when the input holds several recordings")
    p.add_argument("--to", choices=("npz", "edf", "csv"), help="output format (default: from dst's suffix)")
    p.add_argument("--format", help="input reader name (default: detected)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(handler=cmd_convert)

    p = sub.add_parser("download", help="fetch a public dataset (needs internet)")
    p.add_argument("name", choices=[s.name for s in DATASETS])
    p.add_argument("--data-dir", help="where to put it (default: $BIOSIG_DATA, else ./data)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per connection attempt")
    p.set_defaults(handler=cmd_download)

    from biosig.cli import synth as synth_cli  # the generators pull in neurokit2; keep `biosig data list` fast

    synth_cli.add_parser(sub)


# -- list ---------------------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    data_dir = find_data_dir(args.data_dir)
    if data_dir is None:
        tried = "; ".join(f"{p} ({why})" for why, p in candidate_data_dirs(None))
        print(f"data directory: not found (tried {tried}); set --data-dir or $BIOSIG_DATA")
    else:
        print(f"data directory: {data_dir}")
    print(f"{'dataset':<16} {'files':>6}  {'reader':<10} {'where':<40} description")
    for spec in DATASETS:
        files = spec.files(data_dir) if data_dir else []
        where = str(data_dir / spec.folder) if files else "not found (biosig data download " + spec.name + ")"
        print(f"{spec.name:<16} {len(files):>6}  {spec.reader:<10} {where:<40} {spec.description}")
    print(f"bundled sample: {bundled_myo_session()} (real Myo session, MIT)")
    return 0


def cmd_formats(args: argparse.Namespace) -> int:
    for spec in list_readers():
        print(f"{spec.name:<12} {spec.description}")
    return 0


# -- inspect ------------------------------------------------------------------------------------------------


def _expand(paths: list[str]) -> tuple[list[Path], list[Path]]:
    """Files to read and files no reader recognises, walking folders that are not themselves a recording."""
    to_read: list[Path] = []
    unrecognised: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        candidates = [path]
        if path.is_dir():
            try:
                detect_format(path)
            except UnknownFormatError:
                candidates = sorted(p for p in path.rglob("*") if p.is_file())
        for candidate in candidates:
            try:
                detect_format(candidate)
                to_read.append(candidate)
            except UnknownFormatError:
                unrecognised.append(candidate)
    return to_read, unrecognised


def describe(recording: Recording, path: Path, reader: str) -> dict[str, Any]:
    """A JSON-ready summary of one recording: what ``inspect`` prints."""
    info = recording.info
    meta = dict(recording.metadata)
    summary: dict[str, Any] = {
        "path": str(meta.get("path", path)),  # a folder reader names each file it read
        "format": reader,
        "n_channels": recording.n_channels,
        "sfreq": info.sfreq,
        "n_times": recording.n_times,
        "duration_s": round(recording.duration, 3),
        "channels": [{"name": n, "type": t, "unit": u} for n, t, u in zip(info.ch_names, info.ch_types, info.units)],
        "start_time": None if info.start_time is None else info.start_time.isoformat(),
        "labels": recording.label_counts(),
        "annotations": recording.annotations.counts() if len(recording.annotations) else {},
    }
    if recording.valid is not None:
        summary["invalid_samples"] = int((~recording.valid).sum())
    for key in ("skipped", "skipped_examples", "gaps", "subject", "participant", "session", "condition", "comments"):
        if meta.get(key) not in (None, [], (), {}, ""):
            summary[key] = meta[key]
    return summary


def _print_summary(s: dict[str, Any]) -> None:
    types = Counter(c["type"] for c in s["channels"])
    units = sorted({c["unit"] for c in s["channels"]})
    print(f"{s['path']}  [{s['format']}]")
    print(
        f"  {s['n_channels']} ch ({', '.join(f'{n} {t}' for t, n in types.items())}) @ {s['sfreq']:g} Hz, "
        f"{s['n_times']} samples = {s['duration_s']:.2f} s, units {', '.join(units)}"
    )
    names = [c["name"] for c in s["channels"]]
    shown = ", ".join(names[:24]) + (f", ... ({len(names)} in all)" if len(names) > 24 else "")
    print(f"  channels: {shown}")
    if s.get("start_time"):
        print(f"  start: {s['start_time']}")
    if s["labels"]:
        print("  labels (samples): " + ", ".join(f"{k} {v}" for k, v in s["labels"].items()))
    if s["annotations"]:
        print("  annotations: " + ", ".join(f"{k} {v}" for k, v in s["annotations"].items()))
    if s.get("invalid_samples"):
        print(f"  invalid samples (masked): {s['invalid_samples']}")
    skipped = s.get("skipped") or {}
    if skipped:
        examples = s.get("skipped_examples") or {}
        parts = [
            f"{reason} {n}" + (f" (first at line {examples[reason]})" if reason in examples else "")
            for reason, n in skipped.items()
        ]
        print("  skipped rows: " + "; ".join(parts))
    for key in ("subject", "participant", "session", "condition", "comments"):
        if key in s:
            print(f"  {key}: {s[key]}")


def cmd_inspect(args: argparse.Namespace) -> int:
    if args.format:
        files, unrecognised = [Path(p) for p in args.path], []
    else:
        files, unrecognised = _expand(args.path)
    if not files:
        raise UnknownFormatError(args.path[0], "no readable recording found", expected="a file a reader recognises")
    failures: list[str] = []
    totals: Counter[str] = Counter()
    n_recordings = 0
    total_duration = 0.0
    progress = len(files) > 10
    for path in tqdm(files, desc="inspect", unit="file", disable=not progress, file=sys.stderr):
        try:
            reader = args.format or detect_format(path)
            recordings = read(path, format=reader)
        except (ReaderError, BiosigError) as exc:
            failures.append(str(exc))
            continue
        for recording in recordings:
            summary = describe(recording, path, reader)
            n_recordings += 1
            total_duration += recording.duration
            totals.update(summary.get("skipped") or {})
            if args.json:
                print(json.dumps(summary))
            else:
                _print_summary(summary)
    if not args.json:
        print(f"\n{n_recordings} recording(s) from {len(files)} path(s), {total_duration / 60:.1f} min in all")
        if totals:
            print("skipped rows in all: " + ", ".join(f"{reason} {n}" for reason, n in totals.items()))
        if unrecognised:
            names = ", ".join(p.name for p in unrecognised[:6]) + (" ..." if len(unrecognised) > 6 else "")
            print(f"{len(unrecognised)} file(s) not read on their own (companions, licences, notes): {names}")
    for message in failures:
        print(f"error: {message}", file=sys.stderr)
    return 1 if failures else 0


# -- convert ------------------------------------------------------------------------------------------------


def cmd_convert(args: argparse.Namespace) -> int:
    from biosig.io.export import WRITERS

    src, dst = Path(args.src), Path(args.dst)
    target = args.to or dst.suffix.lstrip(".").lower()
    if target not in WRITERS:
        raise ValueError(f"cannot tell the output format from {dst.name!r}; give --to with one of {sorted(WRITERS)}")
    suffix, writer = WRITERS[target]
    recordings = read(src, format=args.format)
    if len(recordings) == 1 and not dst.is_dir():
        outputs = [dst]
    else:
        dst.mkdir(parents=True, exist_ok=True)
        stem = src.name.split(".")[0]
        outputs = [dst / f"{stem}_{i}{suffix}" for i in range(len(recordings))]
    for recording, out in zip(recordings, outputs):
        writer(recording, out, overwrite=args.overwrite)
        print(f"wrote {out} ({recording.n_channels} ch, {recording.duration:.2f} s @ {recording.sfreq:g} Hz)")
    return 0


# -- download -----------------------------------------------------------------------------------------------


def cmd_download(args: argparse.Namespace) -> int:
    from biosig.datasets.download import download_dataset

    spec = get_dataset(args.name)
    # Never default to the shared folder found for reading: it may be read-only or shared with others.
    data_dir = Path(args.data_dir or os.environ.get(DATA_ENV) or "data")
    paths = download_dataset(spec, data_dir, overwrite=args.overwrite, timeout=args.timeout)
    print(f"{spec.name}: {len(paths)} file(s) in {data_dir / spec.folder} (licence: {spec.licence})")
    return 0
