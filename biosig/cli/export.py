"""``biosig export onnx CKPT --out model.onnx``: ONNX export with the signal spec as metadata and a parity check."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _opset(text: str) -> int:
    value = int(text)
    if value < 17:
        raise argparse.ArgumentTypeError(f"opset must be >= 17 (native LayerNormalization), got {text}")
    return value


def _atol(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"atol must be a positive number, got {text}")
    return value


def add_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export a checkpoint for deployment (ONNX)")
    sub = export.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    p = sub.add_parser(
        "onnx",
        help="ONNX with dynamic batch/channels/time, the signal spec as metadata, parity checked against torch",
        description=(
            "Export CKPT to ONNX and check that onnxruntime reproduces the torch embeddings on random inputs "
            "(and on real recordings with --check-real). Nothing is written when parity fails."
        ),
    )
    p.add_argument("checkpoint", help="checkpoint written by `biosig train` (or biosig.models.save_checkpoint)")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--opset", type=_opset, default=17, help="ONNX opset (default 17)")
    p.add_argument(
        "--check-real",
        metavar="PATH",
        help="also check parity on windows cut from the recordings at PATH (any readable format; "
        "'bundled-myo' = the Myo session shipped with biosig)",
    )
    p.add_argument(
        "--part",
        choices=("emg", "pose"),
        default="emg",
        help="CPEP checkpoints: export the aligned EMG encoder (default) or the pose side (for the zero-shot head)",
    )
    p.add_argument("--atol", type=_atol, default=1e-4, help="largest accepted |torch - onnx| (default 1e-4)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--json", action="store_true", help="print the parity report as JSON")
    p.set_defaults(handler=cmd_onnx)


def cmd_onnx(args: argparse.Namespace) -> int:
    from biosig.export import export_checkpoint

    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"--out must end in .onnx, got {args.out!r}")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    real = args.check_real
    if real == "bundled-myo":
        from biosig.datasets.catalog import bundled_myo_session

        real = bundled_myo_session()
    elif real is not None and not Path(real).exists():
        raise FileNotFoundError(f"--check-real: {real} does not exist")
    result = export_checkpoint(args.checkpoint, out, opset=args.opset, atol=args.atol, real_data=real, part=args.part)
    if args.json:
        print(json.dumps({"path": str(result.path), **result.parity.to_dict()}, indent=2))
        return 0
    spec = result.metadata.signal_spec
    print(f"wrote {result.path} ({result.path.stat().st_size / 1e6:.2f} MB, opset {args.opset})")
    print(
        f"model {result.metadata.arch}: {len(spec.ch_types)} ch x {spec.n_times} samples @ {spec.sfreq:g} Hz "
        f"-> {result.metadata.embed_dim}; dynamic axes {result.metadata.dynamic_axes['x']}"
    )
    print(f"input scale: {result.metadata.input_scale.source}")
    print(result.parity.format())
    return 0
