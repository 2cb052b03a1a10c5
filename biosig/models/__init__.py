"""Encoders and their registry.

Importing this package registers every built-in model, so ``create_model`` and ``list_models`` see them:

>>> from biosig.models import create_model
>>> encoder = create_model("biofame_small")        # (batch, n_channels, n_times) -> (batch, 64)
"""

from biosig.models import biofame as biofame  # noqa: F401  (registers the bioFAME models)
from biosig.models import cpep as cpep  # noqa: F401  (registers the CPEP encoders and the aligned model)
from biosig.models import nots as nots  # noqa: F401  (registers the NoTS models)
from biosig.models.biofame import BioFAME, BioFAMEConfig, modality_dropout, modality_groups
from biosig.models.checkpoint import (
    CheckpointError,
    SignalSpec,
    current_code_version,
    load_checkpoint,
    save_checkpoint,
)
from biosig.models.layers import EncoderClassifier
from biosig.models.registry import UnknownModelError, create_model, list_models, register_model

__all__ = [
    "BioFAME",
    "BioFAMEConfig",
    "CheckpointError",
    "EncoderClassifier",
    "SignalSpec",
    "UnknownModelError",
    "current_code_version",
    "create_model",
    "list_models",
    "load_checkpoint",
    "modality_dropout",
    "modality_groups",
    "register_model",
    "save_checkpoint",
]
