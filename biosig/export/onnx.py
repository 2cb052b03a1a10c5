"""Export an encoder checkpoint to ONNX: dynamic axes, self-describing metadata, checked parity.

**The Fourier filter.** bioFAME's :class:`~biosig.models.layers.FreqFilter` computes ``irfft(rfft(x) * K)``
over the token axis with ``torch.fft``. The TorchScript-based ONNX exporter (the one that works without the
optional ``onnxscript`` package) has no symbolic for ``aten::fft_rfft``, and complex tensors do not exist in
ONNX. :func:`make_exportable` therefore swaps each filter for :class:`DFTFreqFilter`, which computes the same
map with real DFT matrices built *inside the graph* from the token count ``n``::

    X_re = C x,  X_im = -S x                    C[k, j] = cos(2 pi k j / n) / sqrt(n),  S likewise with sin
    Y    = X * K  (complex product in re/im parts; K per bin and feature, from the filter's weights)
    y    = (w C)^T Y_re - (w S)^T Y_im          w_k = 1 at DC and Nyquist, 2 elsewhere (Hermitian symmetry)

which is ``rfft``/``irfft`` with ``norm="ortho"`` exactly (irfft also ignores the imaginary part of the DC and
Nyquist bins, as the sine rows vanish there). Angles are reduced ``k * j mod n`` in integers before the cosine,
so large ``n`` loses no precision. The matrices cost ``O(n^2 d)`` per channel instead of ``O(n log n d)``; at
bioFAME's token counts (tens of tokens) that is negligible next to the fusion attention. The swap reuses the
checkpoint's parameters; a test holds the DFT path to the FFT path within 1e-5.

**Dynamic axes.** Batch is always dynamic. bioFAME encoders accept any channel count and any multiple of
``patch_len`` samples, so channels and time are dynamic too (the parity check runs other counts and lengths).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from biosig.errors import BiosigError
from biosig.export.parity import ParityReport, compare, random_cases, real_cases
from biosig.models.biofame import BioFAME
from biosig.models.checkpoint import SignalSpec, current_code_version, load_checkpoint
from biosig.models.layers import FreqFilter, _warp
from biosig.runtime.metadata import EncoderMetadata
from biosig.runtime.scaling import InputScale

__all__ = [
    "DEFAULT_OPSET",
    "DFTFreqFilter",
    "ExportError",
    "ExportResult",
    "export_checkpoint",
    "export_model",
    "fft_path_parity",
    "make_exportable",
]

log = logging.getLogger(__name__)

#: LayerNormalization is a native op from opset 17 on.
DEFAULT_OPSET = 17
MIN_OPSET = 17
INPUT_NAME = "x"
OUTPUT_NAME = "embedding"


class ExportError(BiosigError):
    """The model cannot be exported, or its export does not reproduce the torch model within tolerance."""


def _dft_matrices(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Forward ``(f, n)`` cos/sin and inverse ``(n, f)`` cos/sin matrices (ortho norm) for ``x`` ``(b', n, d)``.

    Built from tensor ops on ``x``'s shape, so an exported graph stays valid for any ``n``.
    """
    n = x.shape[1]
    t = torch.arange(n, device=x.device)  # (n,) int64
    k = torch.arange(n // 2 + 1, device=x.device)  # (f,)
    angle = ((k[:, None] * t[None, :]) % n).to(x.dtype) * (2.0 * math.pi / n)  # (f, n), reduced in integers
    # 1/sqrt(n) from a tensor derived from the arange: a Python float would freeze the traced length.
    scale = (t[-1:] + 1).to(x.dtype).rsqrt()  # (1,)
    cos_f = torch.cos(angle) * scale  # (f, n)
    sin_f = torch.sin(angle) * scale  # (f, n)
    # irfft of a Hermitian spectrum: bins 1..n/2-1 count twice; DC (and Nyquist when n is even) once.
    once = (k == 0) | (2 * k == n)  # (f,)
    w = torch.where(once, torch.ones_like(k), 2 * torch.ones_like(k)).to(x.dtype)[:, None]  # (f, 1)
    return cos_f, sin_f, (cos_f * w).transpose(0, 1), (sin_f * w).transpose(0, 1)


class DFTFreqFilter(nn.Module):
    """:class:`~biosig.models.layers.FreqFilter` computed with DFT matrices instead of ``torch.fft`` (see module).

    Shares ``source``'s parameters. In 'pool' mode the flat gain (one complex value per feature) is read from
    the weights once, here, because it depends on them only.
    """

    def __init__(self, source: FreqFilter) -> None:
        super().__init__()
        if not isinstance(source, FreqFilter):
            raise TypeError(f"source must be a FreqFilter, got {type(source).__name__}")
        self.mode = source.mode
        self.anchor_count = source.anchor_count
        self.anchor_max_hz = source.anchor_max_hz
        self.anchor_spacing = source.anchor_spacing
        self.complex_weight = source.complex_weight  # (h|a, d, 2)
        if self.mode == "self":
            self.filter_weight = source.filter_weight
        if self.mode == "pool":
            with torch.no_grad():
                gain = source.response(2, 1.0)[:1]  # (1, d) complex: the same for every bin
            self.register_buffer("pool_re", gain.real.clone(), persistent=False)
            self.register_buffer("pool_im", gain.imag.clone(), persistent=False)

    def _gain(self, spec_re: Tensor, n: Any, k: Tensor, token_rate: float) -> tuple[Tensor, Tensor]:
        """Real and imaginary gain, broadcastable to ``(b', f, d)``."""
        if self.mode == "pool":
            return self.pool_re, self.pool_im  # (1, d)
        w = self.complex_weight
        if self.mode == "self":
            head_w = self.filter_weight(spec_re)  # (b', f, h)
            return head_w @ w[..., 0], head_w @ w[..., 1]  # (b', f, d)
        freqs = k.to(spec_re.dtype) * (token_rate / n)  # (f,) Hz
        u = _warp(freqs, self.anchor_count, self.anchor_max_hz, self.anchor_spacing)  # (f,)
        grid = torch.arange(self.anchor_count, device=spec_re.device, dtype=spec_re.dtype)  # (a,)
        interp = (1.0 - (u[:, None] - grid[None, :]).abs()).clamp_min(0.0)  # (f, a)
        return interp @ w[..., 0], interp @ w[..., 1]  # (f, d)

    def forward(self, x: Tensor, token_rate: float) -> Tensor:
        """``(b', n, d)`` -> ``(b', n, d)``, equal to ``FreqFilter.forward`` up to float32 rounding."""
        n = x.shape[1]
        dtype = x.dtype
        x = x.float()
        cos_f, sin_f, cos_i, sin_i = _dft_matrices(x)
        spec_re = torch.matmul(cos_f, x)  # (b', f, d)
        spec_im = -torch.matmul(sin_f, x)  # (b', f, d)
        k = torch.arange(n // 2 + 1, device=x.device)
        g_re, g_im = self._gain(spec_re, n, k, token_rate)
        y_re = spec_re * g_re - spec_im * g_im  # (b', f, d)
        y_im = spec_re * g_im + spec_im * g_re
        return (torch.matmul(cos_i, y_re) - torch.matmul(sin_i, y_im)).to(dtype)  # (b', n, d)


def make_exportable(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with every ``FreqFilter`` replaced by a :class:`DFTFreqFilter`."""
    clone = copy.deepcopy(model).eval()
    replaced = 0
    for parent in list(clone.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FreqFilter):
                setattr(parent, name, DFTFreqFilter(child))
                replaced += 1
    log.debug("make_exportable: %d FreqFilter(s) expressed with DFT matrices", replaced)
    return clone


def fft_path_parity(model: nn.Module, x: Tensor) -> float:
    """Max ``|model(x) - make_exportable(model)(x)|`` in torch: the DFT-matmul path against ``torch.fft``."""
    exportable = make_exportable(model)
    with torch.no_grad():
        return float((model.eval()(x) - exportable(x)).abs().max())


class _EmbedGraph(nn.Module):
    """``x -> model(x)``: a single-input graph (the encoder's optional ``sfreq`` stays at its default)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


@dataclass(frozen=True)
class ExportResult:
    """Where the model went, what it says about itself, and how closely it reproduces torch."""

    path: Path
    metadata: EncoderMetadata
    fft_path_max_abs_diff: float
    parity: ParityReport


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist() if value.numel() <= 64 else f"tensor{tuple(value.shape)}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def export_model(
    model: nn.Module,
    meta: Mapping[str, Any],
    out: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
    real_data: str | os.PathLike[str] | None = None,
    seed: int = 0,
    extra_metadata: Mapping[str, str] | None = None,
) -> ExportResult:
    """Export ``model`` (with ``meta`` as :func:`~biosig.models.load_checkpoint` returns it) to ``out``.

    ``extra_metadata`` adds ``biosig.<key>`` string entries (e.g. ``part`` for one side of a CPEP model).

    Raises
    ------
    ExportError
        The exporter fails, the graph does not load in onnxruntime, or any parity case exceeds ``atol``
        (nothing is written then).
    """
    import onnx

    from biosig.runtime.onnx_encoder import import_onnxruntime

    ort = import_onnxruntime()
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(f"opset must be an int >= {MIN_OPSET} (native LayerNormalization), got {opset!r}")
    spec = meta.get("signal_spec")
    if not isinstance(spec, SignalSpec):
        raise ExportError(f"meta['signal_spec'] must be a SignalSpec, got {type(spec).__name__}")
    # bioFAME encoders are channel-independent patch models: any channel count, any multiple of patch_len
    # samples. Other architectures are exported with a dynamic batch only, at the spec's shape.
    channel_free = isinstance(model, BioFAME)
    time_multiple = int(model.config.patch_len) if channel_free else spec.n_times
    axes = {0: "batch"}
    if channel_free:
        axes.update({1: "channels", 2: "time"})
    model = model.eval()
    exportable = _EmbedGraph(make_exportable(model)).eval()

    rng = torch.Generator().manual_seed(seed)
    probe = torch.randn(2, len(spec.ch_types), spec.n_times, generator=rng)
    fft_diff = fft_path_parity(model, probe)
    log.info("DFT-matmul filter vs torch.fft: max |diff| %.3e", fft_diff)

    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # Shape checks in the model's Python code become constants in the trace; the parity cases below run
            # other batch sizes, channel counts and lengths, which is the real test that the graph generalises.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # Chosen on purpose (see the module docstring); the dynamo exporter would need onnxscript.
            warnings.filterwarnings(
                "ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning
            )
            warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
            torch.onnx.export(
                exportable,
                (probe,),
                buffer,
                dynamo=False,  # the TorchScript exporter: needs no onnxscript; the DFT path makes it sufficient
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises many types; the message says which op failed
        raise ExportError(f"torch.onnx.export failed for {meta.get('arch')!r}: {type(exc).__name__}: {exc}") from exc
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)

    embed_dim = int(getattr(model, "embed_dim", 0)) or int(model(probe[:1]).shape[-1])
    input_scale = InputScale.from_meta(meta)
    base_meta = EncoderMetadata(
        arch=str(meta.get("arch", type(model).__name__)),
        config=_json_safe(meta.get("config", {})),
        signal_spec=spec,
        embed_dim=embed_dim,
        time_multiple=time_multiple,
        input_scale=input_scale,
        dynamic_axes={INPUT_NAME: {str(k): v for k, v in axes.items()}, OUTPUT_NAME: {"0": "batch"}},
        extra={
            "fft_path": "dft-matmul",
            "opset": str(opset),
            "code_version": json.dumps(_json_safe(current_code_version()), sort_keys=True),
            "checkpoint_code_version": json.dumps(_json_safe(meta.get("code_version", {})), sort_keys=True),
            "training": json.dumps(_json_safe(meta.get("training", {})), sort_keys=True),
            **{str(k): str(v) for k, v in (extra_metadata or {}).items()},
        },
    )

    # Parity on the in-memory graph before anything is written.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    cases = random_cases(
        spec, time_multiple=time_multiple, dynamic_channels=channel_free, dynamic_time=channel_free, seed=seed
    )
    notes = [f"DFT-matmul filter vs torch.fft (torch, random b=2): max |diff| {fft_diff:.3e}"]
    if real_data is not None:
        cases += real_cases(real_data, spec, input_scale)
    parity = compare(model, run, cases, atol, notes)
    log.info("ONNX parity:\n%s", parity.format())
    if not parity.passed:
        raise ExportError(
            f"ONNX export of {base_meta.arch!r} does not match torch within atol={atol}:\n{parity.format()}"
        )

    metadata = EncoderMetadata(
        **{**base_meta.__dict__, "extra": {**base_meta.extra, "parity": json.dumps(parity.to_dict(), sort_keys=True)}}
    )
    for key, value in metadata.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "biosig"
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(proto.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("exported %s to %s (max |diff| %.3e)", metadata.arch, path, parity.max_abs_diff)
    return ExportResult(path, metadata, fft_diff, parity)


#: Which side of a CPEP checkpoint to export (other checkpoints have only ``"emg"``, their one encoder).
PARTS = ("emg", "pose")


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
    real_data: str | os.PathLike[str] | None = None,
    seed: int = 0,
    part: str = "emg",
) -> ExportResult:
    """Load ``checkpoint`` (see :func:`~biosig.models.load_checkpoint`) and :func:`export_model` it to ``out``.

    For a CPEP checkpoint (arch ``cpep``), ``part="emg"`` exports the aligned EMG encoder (metadata
    ``biosig.part=emg`` and ``biosig.cpep``: vocabulary, pose spec, temperature) and ``part="pose"`` the pose
    side, poses ``(b, n_dof, n_frames)`` radians -> unit-norm embeddings (``biosig.part=pose``, ``biosig.pose_spec``),
    which :func:`biosig.runtime.load_pose_encoder` reads.
    """
    if part not in PARTS:
        raise ExportError(f"part must be one of {list(PARTS)}, got {part!r}")
    model, meta = load_checkpoint(checkpoint)
    is_cpep = meta["arch"] == "cpep"
    if part == "pose":
        if not is_cpep:
            raise ExportError(f"{checkpoint}: a {meta['arch']!r} checkpoint has no pose side; --part pose needs CPEP")
        if real_data is not None:
            raise ExportError("--check-real reads EMG recordings; it does not apply to the pose side (--part pose)")
        from biosig.models.cpep import pose_signal_spec, pose_spec_dict
        from biosig.runtime.pose import POSE_PART, pose_graph

        graph = pose_graph(model)
        pose_meta = {**meta, "signal_spec": pose_signal_spec(graph.config), "extra": {}}
        extra = {"part": POSE_PART, "pose_spec": json.dumps(pose_spec_dict(graph.config), sort_keys=True)}
        return export_model(graph, pose_meta, out, opset=opset, atol=atol, seed=seed, extra_metadata=extra)
    extra = None
    if is_cpep:
        record = {k: meta["extra"].get(k) for k in ("vocabulary", "pose_spec", "temperature")}
        extra = {"part": "emg", "cpep": json.dumps(_json_safe(record), sort_keys=True)}
    return export_model(model, meta, out, opset=opset, atol=atol, real_data=real_data, seed=seed, extra_metadata=extra)
