"""Signal containers and preprocessing (numpy/scipy only)."""

from biosig.signals.info import CHANNEL_TYPES, SignalInfo
from biosig.signals.recording import UNLABELLED, Annotations, Recording

__all__ = ["CHANNEL_TYPES", "UNLABELLED", "Annotations", "Recording", "SignalInfo"]
