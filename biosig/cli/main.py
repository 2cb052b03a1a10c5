"""The ``biosig`` command: one entry point, one sub-command module per area.

The library's own commands (``data``, ``eval``, ``train``, ``export``) are listed in :data:`COMMAND_MODULES`.
Packages built on the library -- the service (``serve``, ``keys``) and the device bridges (``bridge``) -- add
theirs through the ``biosig.commands`` entry-point group of their distribution, so ``biosig`` never imports
them by name (the dependency rules of ARCHITECTURE.md) and a command whose package is absent simply is not
offered.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from biosig import __version__
from biosig.errors import BiosigError

log = logging.getLogger("biosig")

#: One module per top-level command; each exposes ``add_parser(subparsers)`` and sets ``handler`` on its
#: parsers. Heavy imports (torch, mne) happen inside the handlers, so ``biosig --help`` stays fast.
COMMAND_MODULES = ("biosig.cli.data", "biosig.cli.evaluate", "biosig.cli.train", "biosig.cli.export")

#: Entry-point group through which other packages add command modules (value: the module's import path).
PLUGIN_GROUP = "biosig.commands"


def command_modules() -> list[str]:
    """The library's command modules, then every plugin module registered under :data:`PLUGIN_GROUP`."""
    plugins = sorted({ep.value for ep in entry_points(group=PLUGIN_GROUP)})
    return list(COMMAND_MODULES) + [m for m in plugins if m not in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biosig",
        description="Wearable biosignal representations: datasets, encoders, streaming service.",
    )
    parser.add_argument("--version", action="version", version=f"biosig {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        try:
            importlib.import_module(module).add_parser(commands)
        except ImportError as exc:  # a plugin whose package is broken must not take the whole CLI down
            log.warning("biosig: command module %s could not be loaded: %s", module, exc)
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
