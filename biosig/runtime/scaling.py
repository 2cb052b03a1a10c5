"""The input scaling a checkpoint records, applied by every inference backend before the encoder runs.

Encoders are trained on inputs divided by a scale per (channel type, unit) (see
:mod:`biosig.training.scaling`: ``meta["extra"]["input_scaling"] = {"method", "scales": {type: {unit: s}}}``);
the same division must happen at inference or the encoder sees signals orders of magnitude off. This module
reads that record without importing the training package (the service loads encoders, not trainers), plus the
older ``{ch_type: factor}`` *multiplier* form (``extra["input_scale"]``, ``"channel_scale"`` or ``"scale"``, or
one number for all channels), and stores it in ONNX metadata so an exported model carries it too.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["WILDCARD", "InputScale"]

log = logging.getLogger(__name__)

#: Matches any channel type or unit without its own entry.
WILDCARD = "*"
#: Keys of ``meta["extra"]`` holding multipliers (evaluation's convention), read when ``input_scaling`` is absent.
_MULTIPLIER_KEYS = ("input_scale", "channel_scale", "scale")


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} must be a positive finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class InputScale:
    """Divide each channel by ``divisors[ch_type][unit]``; ``"*"`` matches any type or unit; empty = identity.

    ``source`` says where the scale came from (for logs and reports).
    """

    divisors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    source: str = "none"

    def __post_init__(self) -> None:
        clean = {
            str(kind): {str(unit): _positive(v, f"input scale of {kind!r} in {unit!r}") for unit, v in per.items()}
            for kind, per in self.divisors.items()
        }
        object.__setattr__(self, "divisors", clean)

    @property
    def is_identity(self) -> bool:
        return all(v == 1.0 for per in self.divisors.values() for v in per.values())

    def divisor(self, ch_type: str, unit: str) -> float:
        """The divisor of one channel; an error names the (type, unit) pairs the model knows when none applies."""
        if not self.divisors:
            return 1.0
        for kind in (ch_type, WILDCARD):
            per = self.divisors.get(kind)
            if per is None:
                continue
            for key in (unit, WILDCARD):
                if key in per:
                    return per[key]
        known = ", ".join(f"{k} in {u}" for k, per in self.divisors.items() for u in per)
        raise ValueError(f"no input scale for a {ch_type!r} channel in {unit!r}; this model was trained on {known}")

    def channel_divisors(self, ch_types: Sequence[str], units: Sequence[str]) -> np.ndarray:
        """``(n_channels,)`` float32 divisors."""
        if len(ch_types) != len(units):
            raise ValueError(f"ch_types has {len(ch_types)} entries but units has {len(units)}")
        return np.array([self.divisor(t, u) for t, u in zip(ch_types, units)], dtype=np.float32)

    # -- checkpoint and ONNX metadata ---------------------------------------------------------------------------

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> InputScale:
        """The scale recorded in :func:`~biosig.models.load_checkpoint` metadata (identity when none)."""
        extra = meta.get("extra") or {}
        if not isinstance(extra, Mapping):
            raise ValueError(f"checkpoint meta['extra'] must be a mapping, got {type(extra).__name__}")
        raw = extra.get("input_scaling")
        if raw is not None:
            if not isinstance(raw, Mapping) or "method" not in raw:
                raise ValueError(f"meta['extra']['input_scaling'] must be a mapping with a 'method', got {raw!r}")
            if raw["method"] == "none":
                return cls(source="input_scaling: none")
            scales = raw.get("scales")
            if not isinstance(scales, Mapping):
                raise ValueError(f"meta['extra']['input_scaling']['scales'] must be a mapping, got {scales!r}")
            return cls({k: dict(v) for k, v in scales.items()}, source=f"input_scaling: {raw['method']}")
        for key in _MULTIPLIER_KEYS:
            value = extra.get(key)
            if value is None:
                continue
            # Multipliers (x * f) become divisors (x / (1 / f)): one convention inside the runtime.
            if isinstance(value, Mapping):
                div = {
                    str(k): {WILDCARD: 1.0 / _positive(v, f"meta['extra'][{key!r}][{k!r}]")} for k, v in value.items()
                }
            else:
                div = {WILDCARD: {WILDCARD: 1.0 / _positive(value, f"meta['extra'][{key!r}]")}}
            return cls(div, source=f"{key} (multiplier)")
        log.info("checkpoint records no input scaling; inputs are fed unscaled")
        return cls()

    def to_json(self) -> str:
        return json.dumps({"divisors": self.divisors, "source": self.source}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> InputScale:
        try:
            raw = json.loads(text)
            return cls(raw["divisors"], source=str(raw.get("source", "onnx metadata")))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"input scale metadata is not valid: {exc}; got {text[:200]!r}") from exc
