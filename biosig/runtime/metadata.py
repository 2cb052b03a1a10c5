"""What an exported encoder says about itself: the ONNX ``metadata_props`` written by :mod:`biosig.export`.

All values are strings (ONNX stores string pairs); structured ones are JSON. The keys::

    biosig.format          "biosig-onnx-encoder"        biosig.format_version  "1"
    biosig.arch            registered model name          biosig.config          JSON of the model config
    biosig.signal_spec     JSON SignalSpec                biosig.embed_dim       output width D
    biosig.time_multiple   window lengths must be multiples of this (bioFAME's patch_len)
    biosig.dynamic_axes    JSON, e.g. {"x": {"0": "batch", "1": "channels", "2": "time"}}
    biosig.input_scale     JSON InputScale (see biosig.runtime.scaling)
    biosig.fft_path        how the Fourier filter is expressed in the graph ("dft-matmul")
    biosig.parity          JSON parity report of the export (max abs difference vs torch)
    biosig.code_version    JSON {"biosig", "git_commit", "git_dirty"} of the exporting code
    biosig.training        JSON of the checkpoint's training record

This module needs neither torch nor onnx, so the runtime can read it from an onnxruntime session alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from biosig.models.checkpoint import SignalSpec
from biosig.runtime.scaling import InputScale

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "EncoderMetadata", "MetadataError"]

FORMAT_NAME = "biosig-onnx-encoder"
FORMAT_VERSION = 1
PREFIX = "biosig."


class MetadataError(ValueError):
    """An ONNX file whose biosig metadata is missing or malformed."""


@dataclass(frozen=True)
class EncoderMetadata:
    """The parsed metadata of an exported encoder."""

    arch: str
    config: dict[str, Any]
    signal_spec: SignalSpec
    embed_dim: int
    time_multiple: int
    input_scale: InputScale
    dynamic_axes: dict[str, dict[str, str]]
    extra: dict[str, str]

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` key/value strings."""
        props = {
            "format": FORMAT_NAME,
            "format_version": str(FORMAT_VERSION),
            "arch": self.arch,
            "config": json.dumps(self.config, sort_keys=True, default=str),
            "signal_spec": json.dumps(self.signal_spec.to_dict(), sort_keys=True),
            "embed_dim": str(self.embed_dim),
            "time_multiple": str(self.time_multiple),
            "input_scale": self.input_scale.to_json(),
            "dynamic_axes": json.dumps(self.dynamic_axes, sort_keys=True),
        }
        props.update(self.extra)
        return {PREFIX + k: v for k, v in props.items()}

    @classmethod
    def from_props(cls, props: Mapping[str, str], where: str = "model") -> EncoderMetadata:
        """Parse ``metadata_props`` (e.g. ``session.get_modelmeta().custom_metadata_map``)."""
        own = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
        if own.get("format") != FORMAT_NAME:
            raise MetadataError(
                f"{where}: not a biosig encoder export; expected metadata {PREFIX}format={FORMAT_NAME!r}, "
                f"got {own.get('format')!r} (export it with `biosig export onnx`)"
            )
        version = own.get("format_version", "")
        if not version.isdigit() or not 1 <= int(version) <= FORMAT_VERSION:
            raise MetadataError(f"{where}: unsupported export format version {version!r}; expected 1..{FORMAT_VERSION}")
        try:
            spec_raw = json.loads(own["signal_spec"])
            spec = SignalSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec_raw.items()})
            parsed = cls(
                arch=own["arch"],
                config=json.loads(own["config"]),
                signal_spec=spec,
                embed_dim=int(own["embed_dim"]),
                time_multiple=int(own["time_multiple"]),
                input_scale=InputScale.from_json(own["input_scale"]),
                dynamic_axes=json.loads(own["dynamic_axes"]),
                extra={k: v for k, v in own.items() if k not in _CORE_KEYS},
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise MetadataError(f"{where}: malformed biosig metadata ({type(exc).__name__}: {exc})") from exc
        return parsed


_CORE_KEYS = frozenset(
    {
        "format",
        "format_version",
        "arch",
        "config",
        "signal_spec",
        "embed_dim",
        "time_multiple",
        "input_scale",
        "dynamic_axes",
    }
)
