"""The models the service serves, loaded once at startup (in the app's lifespan) onto ``app.state.models``.

* **The embedding encoder**: ``settings.encoder_checkpoint``, by default the bundled Myo checkpoint
  (:func:`biosig.models.defaults.default_checkpoint`). With ``backend="auto"`` (the default) a ``.pt``
  checkpoint is exported to ONNX at first start by :func:`biosig.export.export_checkpoint`, which refuses to
  write a graph that does not reproduce the torch model within ``parity_atol``; the export is cached under
  ``cache_dir`` keyed by the checkpoint's SHA-256, so later starts load it directly, and a changed checkpoint
  gets a new export. If the export cannot be made (onnx missing, parity failed) or onnxruntime is missing, the
  torch checkpoint is served instead, with a warning; ``backend="onnx"`` turns that into a startup error.
* **The gesture model**: by default (``gesture_model="bundled"``) the bundled CPEP Myo checkpoint
  (``default_checkpoint("cpep_myo")``): its aligned EMG encoder is served like the embedding encoder (ONNX
  export at first start), and its pose side, exported the same way (``part="pose"``), becomes the
  :class:`biosig.zeroshot.PoseEncoder` of the zero-shot heads. ``gesture_emg_model`` with
  ``gesture_pose_factory`` names another one; ``gesture_model="off"`` serves none, and gesture requests are
  answered with 503.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biosig.errors import BiosigError
from biosig.models.defaults import default_checkpoint
from biosig.runtime import BaseEncoder, OnnxEncoder, OnnxRuntimeMissing, load_encoder
from biosig.zeroshot import GestureVocabulary, PoseEncoder
from service.settings import ServiceSettings

__all__ = ["ModelError", "ModelRegistry", "ServedModel", "load_models", "prepare_encoder"]

log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """A model could not be loaded as the settings ask."""


@dataclass
class ServedModel:
    """One encoder as the service serves it: under ``name``, for ``kind`` ``"embedding"`` or ``"gesture"``."""

    name: str
    kind: str
    encoder: BaseEncoder
    source: Path
    onnx_path: Path | None = None
    parity_max_abs_diff: float | None = None
    notes: list[str] = field(default_factory=list)
    _fits: dict[tuple[Any, ...], str | None] = field(default_factory=dict, repr=False)

    @property
    def backend(self) -> str:
        return self.encoder.backend

    def describe(self) -> dict[str, Any]:
        spec = self.encoder.signal_spec
        return {
            "id": self.name,
            "object": "model",
            "kind": self.kind,
            "backend": self.backend,
            "embed_dim": int(self.encoder.embed_dim),
            "sfreq": spec.sfreq,
            "n_times": spec.n_times,
            "window_s": spec.n_times / spec.sfreq,
            "time_multiple": int(self.encoder.time_multiple),
            "ch_types": list(spec.ch_types),
            "units": list(spec.units),
            "source": str(self.source),
            "onnx": str(self.onnx_path) if self.onnx_path else None,
            "parity_max_abs_diff": self.parity_max_abs_diff,
            "notes": list(self.notes),
        }

    def check_channels(self, ch_types: tuple[str, ...], units: tuple[str, ...]) -> str | None:
        """None when the encoder takes windows of these channels, else why not (one dry run, cached)."""
        key = (ch_types, units)
        if key not in self._fits:
            spec = self.encoder.signal_spec
            x = np.zeros((1, len(ch_types), spec.n_times), dtype=np.float32)
            try:
                self.encoder.embed(x, ch_types, units)
                self._fits[key] = None
            except Exception as exc:  # the runtime says what it cannot take (count, type, unit)
                self._fits[key] = f"model {self.name} cannot take {len(ch_types)} channels {list(ch_types)} in " \
                    f"{list(units)}: {exc}"  # fmt: skip
        return self._fits[key]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _export_cached(checkpoint: Path, settings: ServiceSettings, part: str = "emg") -> Path:
    """The checkpoint's ONNX export in the cache, made (with the parity check) if it is not there yet."""
    from biosig.export import export_checkpoint

    cache = settings.resolved_cache_dir
    suffix = "" if part == "emg" else f"-{part}"
    target = cache / f"{checkpoint.stem}{suffix}-{_sha256(checkpoint)[:16]}.onnx"
    if target.is_file():
        log.info("using cached ONNX export %s of %s", target, checkpoint)
        return target
    log.info("exporting %s to ONNX at %s (first start; parity-checked against torch)", checkpoint, target)
    result = export_checkpoint(checkpoint, target, atol=settings.parity_atol, part=part)
    log.info("exported %s: parity max |diff| %.3e", target.name, result.parity.max_abs_diff)
    return target


def prepare_encoder(path: Path, name: str, kind: str, settings: ServiceSettings) -> ServedModel:
    """Load ``path`` (``.pt`` or ``.onnx``) as the settings' backend says; see the module docstring."""
    if not path.is_file():
        raise ModelError(f"{kind} model {path} does not exist")
    kw: dict[str, Any] = {"threads": settings.threads, "max_batch": settings.max_batch, "warmup": (1, 8)}
    notes: list[str] = []
    onnx_path: Path | None = None
    try:
        if path.suffix.lower() == ".onnx":
            encoder = load_encoder(path, backend="torch" if settings.backend == "torch" else "onnx", **kw)
            onnx_path = path
        elif settings.backend == "torch":
            encoder = load_encoder(path, backend="torch", **kw)
        else:
            try:
                onnx_path = _export_cached(path, settings)
                encoder = load_encoder(onnx_path, backend="onnx", **kw)
            except (ImportError, OnnxRuntimeMissing, BiosigError) as exc:
                if settings.backend == "onnx":
                    raise ModelError(f"cannot serve {path} on onnxruntime (backend='onnx'): {exc}") from exc
                log.warning("serving %s on torch: the ONNX path failed (%s: %s)", path, type(exc).__name__, exc)
                notes.append(f"ONNX unavailable ({type(exc).__name__}: {exc}); serving the torch checkpoint")
                onnx_path = None
                encoder = load_encoder(path, backend="torch", **kw)
    except (ValueError, OSError, BiosigError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"cannot load {kind} model {path}: {exc}") from exc
    parity = None
    if isinstance(encoder, OnnxEncoder):
        raw = encoder.metadata.extra.get("parity")
        if raw:
            import json

            parity = float(json.loads(raw).get("max_abs_diff", float("nan")))
    served = ServedModel(name, kind, encoder, path, onnx_path, parity, notes)
    log.info("loaded %s model %s: %r", kind, name, encoder)
    return served


def _import_factory(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"gesture_pose_factory {ref!r}: cannot import {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelError(f"gesture_pose_factory {ref!r}: module {module_name!r} has no {attr!r}") from None


@dataclass
class GestureModel:
    """The two sides of a gesture model: an EMG encoder and the pose encoder aligned with it.

    ``vocabulary`` is what the model was trained to name (a CPEP checkpoint records it), None if unknown.
    """

    emg: ServedModel
    pose: PoseEncoder
    vocabulary: GestureVocabulary | None = None


def bundled_pose_encoder(checkpoint: Path, settings: ServiceSettings) -> PoseEncoder:
    """The pose side of a CPEP checkpoint under the settings' backend (ONNX export cached, torch fallback)."""
    from biosig.runtime import load_pose_encoder

    if settings.backend != "torch":
        try:
            onnx_path = _export_cached(checkpoint, settings, part="pose")
            return load_pose_encoder(onnx_path, backend="onnx", threads=settings.threads)
        except (ImportError, OnnxRuntimeMissing, BiosigError) as exc:
            if settings.backend == "onnx":
                raise ModelError(f"cannot serve the pose side of {checkpoint} on onnxruntime: {exc}") from exc
            log.warning("pose side of %s on torch: the ONNX path failed (%s: %s)", checkpoint, type(exc).__name__, exc)
    return load_pose_encoder(checkpoint, backend="torch", threads=settings.threads)


def _model_vocabulary(path: Path) -> GestureVocabulary | None:
    """The vocabulary a CPEP checkpoint (or its EMG export) records, None when it records none."""
    from biosig.runtime import checkpoint_vocabulary

    if path.suffix.lower() == ".onnx":
        return None
    try:
        return checkpoint_vocabulary(path)
    except (ValueError, KeyError, OSError) as exc:
        log.info("%s records no gesture vocabulary (%s); tenants start from the built-in one", path, exc)
        return None


@dataclass
class ModelRegistry:
    """What ``app.state.models`` holds: the embedding encoder and, when configured, the gesture model."""

    embedding: ServedModel
    gesture: GestureModel | None = None

    def all(self) -> list[ServedModel]:
        return [self.embedding] + ([self.gesture.emg] if self.gesture is not None else [])

    def get(self, name: str | None) -> ServedModel:
        """The model called ``name`` (None: the embedding encoder); KeyError lists what there is."""
        if name is None:
            return self.embedding
        for m in self.all():
            if m.name == name:
                return m
        raise KeyError(f"unknown model {name!r}; available: {', '.join(m.name for m in self.all())}")


def load_models(settings: ServiceSettings) -> ModelRegistry:
    """Every model the settings name (see the module docstring); raises :class:`ModelError` with the reason."""
    checkpoint = settings.encoder_checkpoint or default_checkpoint("emg")
    embedding = prepare_encoder(checkpoint, settings.encoder_name or checkpoint.stem, "embedding", settings)
    gesture = None
    if settings.gesture_emg_model is not None and settings.gesture_pose_factory is not None:
        emg = prepare_encoder(settings.gesture_emg_model, settings.gesture_emg_model.stem, "gesture", settings)
        factory = _import_factory(settings.gesture_pose_factory)
        try:
            pose = factory(settings.gesture_pose_model) if settings.gesture_pose_model is not None else factory()
        except Exception as exc:
            raise ModelError(f"gesture_pose_factory {settings.gesture_pose_factory!r} failed: {exc}") from exc
        gesture = _gesture_model(
            emg, pose, settings.gesture_pose_factory, _model_vocabulary(settings.gesture_emg_model)
        )
    elif settings.gesture_model == "bundled":
        try:
            checkpoint = default_checkpoint("cpep_myo")
        except (ValueError, FileNotFoundError) as exc:
            log.warning("no bundled gesture model (%s); gesture labels are off", exc)
        else:
            emg = prepare_encoder(checkpoint, checkpoint.stem, "gesture", settings)
            pose = bundled_pose_encoder(checkpoint, settings)
            gesture = _gesture_model(emg, pose, "bundled CPEP", _model_vocabulary(checkpoint))
    return ModelRegistry(embedding, gesture)


def _gesture_model(emg: ServedModel, pose: Any, origin: str, vocabulary: GestureVocabulary | None) -> GestureModel:
    if not isinstance(pose, PoseEncoder):
        raise ModelError(
            f"gesture pose encoder ({origin}) is a {type(pose).__name__}, which does not implement "
            "biosig.zeroshot.PoseEncoder (name, pose_spec, embed_dim, embed_pose)"
        )
    if int(pose.embed_dim) != int(emg.encoder.embed_dim):
        raise ModelError(
            f"gesture model sides do not align: EMG encoder {emg.name} gives {emg.encoder.embed_dim}-d "
            f"embeddings, pose encoder {pose.name} {pose.embed_dim}-d"
        )
    log.info("gesture model: EMG %s + pose %s (%d-d)", emg.name, pose.name, pose.embed_dim)
    return GestureModel(emg, pose, vocabulary)
