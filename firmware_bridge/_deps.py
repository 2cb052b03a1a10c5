"""Optional device SDKs, imported inside the bridge that needs them, failing with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from firmware_bridge.errors import MissingDependencyError

#: import name -> (PyPI distribution, what it is for)
_HINTS: dict[str, tuple[str, str]] = {
    "serial": ("pyserial", "the serial (UART) bridge"),
    "pylsl": ("pylsl", "the Lab Streaming Layer bridge and result outlet"),
    "brainflow": ("brainflow", "the BrainFlow bridge"),
    "bleak": ("bleak", "the Bluetooth Low Energy bridge"),
    "websockets": ("websockets", "the uplink to the service"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the package and the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist, purpose = _HINTS.get(module.split(".")[0], (module, "this bridge"))
        raise MissingDependencyError(
            f"{purpose} needs the '{dist}' package, which could not be imported ({exc}); install it with "
            f'`pip install {dist}` or `pip install "biosig[bridges]"`'
        ) from exc
