"""Which reader opens which file.

Each reader module registers itself with :func:`register_reader`, giving a name, a one-line description and
a ``sniff`` function that says whether a path looks like its format (by suffix, directory layout or magic
bytes). :func:`read` dispatches on that, so the CLI and the datasets never need to know about formats.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from biosig.errors import UnknownFormatError
from biosig.signals.recording import Recording

ReadFunction = Callable[[Path], list[Recording]]
SniffFunction = Callable[[Path], bool]

#: Modules holding readers; imported lazily so that ``import biosig`` stays cheap (mne alone takes seconds).
READER_MODULES = (
    "biosig.io.npz",
    "biosig.io.wfdb",
    "biosig.io.edf",
    "biosig.io.neurokit",
    "biosig.io.myo",
    "biosig.io.emg2pose",
)


@dataclass(frozen=True)
class ReaderSpec:
    name: str
    description: str
    sniff: SniffFunction
    read: ReadFunction


_READERS: dict[str, ReaderSpec] = {}


def register_reader(name: str, description: str, sniff: SniffFunction) -> Callable[[ReadFunction], ReadFunction]:
    """Decorator registering ``read(path) -> list[Recording]`` as the reader called ``name``."""

    def decorator(read: ReadFunction) -> ReadFunction:
        if name in _READERS and _READERS[name].read is not read:
            raise ValueError(f"reader {name!r} is already registered")
        _READERS[name] = ReaderSpec(name, description, sniff, read)
        return read

    return decorator


def _load_all() -> None:
    for module in READER_MODULES:
        importlib.import_module(module)


def list_readers() -> list[ReaderSpec]:
    """Every registered reader, in registration order."""
    _load_all()
    return list(_READERS.values())


def detect_format(path: str | Path) -> str:
    """Name of the reader whose ``sniff`` accepts ``path``; raises :class:`UnknownFormatError` otherwise."""
    path = Path(path)
    if not path.exists():
        raise UnknownFormatError(path, "no such file or directory")
    for spec in list_readers():
        if spec.sniff(path):
            return spec.name
    names = ", ".join(f"{s.name} ({s.description})" for s in list_readers())
    raise UnknownFormatError(path, "no reader recognises this file", expected=f"one of: {names}")


def read(path: str | Path, format: str | None = None) -> list[Recording]:
    """Read every recording in ``path`` with the reader ``format`` (detected when None)."""
    path = Path(path)
    name = detect_format(path) if format is None else format
    _load_all()
    if name not in _READERS:
        raise UnknownFormatError(path, f"unknown format {name!r}", expected=f"one of {sorted(_READERS)}")
    return _READERS[name].read(path)
