"""Export encoders to ONNX with their signal spec as metadata, and check the export against torch."""

from biosig.export.onnx import (
    DEFAULT_OPSET,
    DFTFreqFilter,
    ExportError,
    ExportResult,
    export_checkpoint,
    export_model,
    fft_path_parity,
    make_exportable,
)
from biosig.export.parity import ParityCase, ParityReport, compare, random_cases, real_cases

__all__ = [
    "DEFAULT_OPSET",
    "DFTFreqFilter",
    "ExportError",
    "ExportResult",
    "ParityCase",
    "ParityReport",
    "compare",
    "export_checkpoint",
    "export_model",
    "fft_path_parity",
    "make_exportable",
    "random_cases",
    "real_cases",
]
