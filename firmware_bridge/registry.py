"""Bridges by source name, imported lazily (a device SDK is imported only when its bridge is used)."""

from __future__ import annotations

import importlib
from typing import Any

from firmware_bridge.base import Bridge

__all__ = ["SOURCES", "make_bridge"]

#: source name -> "module:class"
SOURCES: dict[str, str] = {
    "synthetic": "firmware_bridge.synthetic:SyntheticBridge",
    "replay": "firmware_bridge.replay:ReplayBridge",
    "serial": "firmware_bridge.serial:SerialBridge",
    "lsl": "firmware_bridge.lsl:LSLBridge",
    "brainflow": "firmware_bridge.brainflow:BrainFlowBridge",
    "ble": "firmware_bridge.ble:BLEBridge",
}


def make_bridge(source: str, *args: Any, **options: Any) -> Bridge:
    """A new (closed) bridge of ``source`` built with the bridge class's own arguments."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    module, cls = SOURCES[source].split(":")
    bridge = getattr(importlib.import_module(module), cls)(*args, **options)
    assert isinstance(bridge, Bridge)
    return bridge
