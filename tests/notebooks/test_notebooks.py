"""The notebooks in notebooks/: stored without outputs, and executed top to bottom on small data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, shared_data_dir

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:1] == ["01_physionet.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_with_outputs_stripped(path: Path):
    nb = json.loads(path.read_text())
    dirty = [
        i for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]  # fmt: skip
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; strip them before committing"


def execute_notebook(path: Path, env: dict[str, str], timeout: int = 600) -> None:
    """Run every cell in a fresh kernel started in the repository root; the first failing cell fails the test."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of the process that starts it
    try:
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_physionet_notebook_runs():
    if not (shared_data_dir() / "physionet-eegmat").is_dir():
        pytest.skip(f"the PhysioNet notebook needs the shared recordings, not found at {shared_data_dir()}")
    execute_notebook(
        REPO_ROOT / "notebooks" / "01_physionet.ipynb", {"BIOSIG_NOTEBOOK_QUICK": "1", "MPLBACKEND": "Agg"}
    )


@pytest.mark.slow
def test_emg2pose_notebook_runs():
    """Synthetic data and the bundled CPEP model only: runs wherever the package is installed."""
    execute_notebook(REPO_ROOT / "notebooks" / "02_emg2pose.ipynb", {"MPLBACKEND": "Agg"})


@pytest.mark.slow
def test_service_client_notebook_runs():
    """Starts its own ``biosig serve`` (no BIOSIG_SERVICE_URL) and talks to it over REST and WebSocket."""
    env = {"MPLBACKEND": "Agg", "BIOSIG_SERVICE_URL": "", "BIOSIG_API_KEY": ""}
    execute_notebook(REPO_ROOT / "notebooks" / "03_service_client.ipynb", env)
