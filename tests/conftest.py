"""Shared fixtures. Tests that need the real recordings in ../shared/data skip with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$BIOSIG_DATA`` if set, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("BIOSIG_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real recordings not found at {root} (set BIOSIG_DATA to the shared data folder)")
    return root


@pytest.fixture()
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def cpep_corpus(tmp_path_factory) -> Path:
    """A tiny synthetic emg2pose corpus (tests/cpep_corpus.py), written once per test session."""
    from tests.cpep_corpus import write_tiny_corpus

    return write_tiny_corpus(tmp_path_factory.mktemp("cpep-corpus"))
