"""Readers (and the emg2pose writer) for the file formats of this field."""

from biosig.io.registry import detect_format, list_readers, read, register_reader

__all__ = ["detect_format", "list_readers", "read", "register_reader"]
