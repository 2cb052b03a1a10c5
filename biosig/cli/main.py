"""The ``biosig`` command: one entry point, one sub-command module per area (``data``; later train, serve...)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from biosig import __version__
from biosig.errors import BiosigError

log = logging.getLogger("biosig")

#: One module per top-level command; each exposes ``add_parser(subparsers)`` and sets ``handler`` on its
#: parsers. Heavy imports (torch, mne) happen inside the handlers, so ``biosig --help`` stays fast.
COMMAND_MODULES = ("biosig.cli.data", "biosig.cli.evaluate", "biosig.cli.train", "biosig.cli.export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biosig",
        description="Wearable biosignal representations: datasets, encoders, streaming service.",
    )
    parser.add_argument("--version", action="version", version=f"biosig {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 domain error, 2 usage error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as the user gave it, for records such as a checkpoint's training command (sys.argv would
    # name the host program when main() is called in-process, e.g. by a test runner).
    args.argv = list(sys.argv[1:] if argv is None else argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except (BiosigError, FileNotFoundError, FileExistsError, ValueError) as exc:
        # Domain errors already say what was wrong, expected and received: show them without a traceback.
        print(f"biosig: error: {exc}", file=sys.stderr)
        if args.verbose:
            log.exception("details")
        return 1
    except KeyboardInterrupt:
        print("biosig: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
