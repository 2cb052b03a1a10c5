"""Fixtures of the evaluation tests: a tiny Myo folder built from the bundled session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.biosig.evaluation._tiny import make_tiny_myo


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_myo(tmp_path_factory.mktemp("data"))
