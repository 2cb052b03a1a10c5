from __future__ import annotations

import http.server
import threading
import urllib.error
from pathlib import Path

import pytest

from biosig.datasets import catalog
from biosig.datasets.catalog import DatasetSpec, RemoteFile, find_data_dir, get_dataset
from biosig.datasets.download import DownloadError, download_dataset


def test_explicit_data_dir_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere \(from --data-dir\) does not exist"):
        find_data_dir(tmp_path / "nowhere")


def test_environment_variable_names_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(catalog.DATA_ENV, str(tmp_path))
    assert find_data_dir() == tmp_path


def test_environment_variable_pointing_nowhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(catalog.DATA_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"\$BIOSIG_DATA"):
        find_data_dir()


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'; known datasets: myo, physionet-wfdb, eegmat"):
        get_dataset("nope")


def test_shared_data_files_are_found(shared_data: Path) -> None:
    counts = {spec.name: len(spec.files(shared_data)) for spec in catalog.DATASETS}
    assert counts == {"myo": 86 * 8, "physionet-wfdb": 5, "eegmat": 4, "neurokit": 4, "scipy-ecg": 1, "emg2pose": 0}


def test_bundled_session_has_eight_gesture_files() -> None:
    files = sorted(p.name for p in catalog.bundled_myo_session().iterdir())
    assert files == [f"{k}.txt.gz" for k in range(8)]


@pytest.fixture()
def http_root(tmp_path: Path):
    """A real HTTP server on loopback serving ``tmp_path/served``."""
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _spec(base_url: str, names: list[str]) -> DatasetSpec:
    return DatasetSpec(
        name="toy",
        folder="toy",
        description="toy dataset",
        reader="neurokit",
        patterns=("*.csv",),
        licence="CC0",
        homepage=base_url,
        remote=tuple(RemoteFile(f"{base_url}/{n}", n) for n in names),
    )


def test_download_fetches_files_over_http(http_root, tmp_path: Path) -> None:
    served, url = http_root
    (served / "a_100hz.csv").write_text("ECG\n0.1\n0.2\n")
    paths = download_dataset(_spec(url, ["a_100hz.csv"]), tmp_path / "data", progress=False)
    assert paths == [tmp_path / "data" / "toy" / "a_100hz.csv"]
    assert paths[0].read_text() == "ECG\n0.1\n0.2\n"
    assert "Licence: CC0" in (tmp_path / "data" / "toy" / "SOURCE.md").read_text()


def test_download_of_missing_file_fails_cleanly(http_root, tmp_path: Path) -> None:
    _, url = http_root
    with pytest.raises(DownloadError, match=r"could not download .*/absent.csv: the server answered HTTP 404"):
        download_dataset(_spec(url, ["absent.csv"]), tmp_path / "data", progress=False)
    assert not list((tmp_path / "data" / "toy").glob("*.part")), "a failed download must not leave partial files"


def test_download_offline_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    with pytest.raises(DownloadError, match="If this machine is offline, fetch the file elsewhere"):
        download_dataset(_spec("https://example.invalid", ["x.csv"]), tmp_path, progress=False)


@pytest.mark.network
def test_download_real_physionet_record(tmp_path: Path) -> None:
    paths = download_dataset(get_dataset("physionet-wfdb"), tmp_path, progress=False)
    assert [p.name for p in paths] == ["100.hea", "100.dat", "100.atr"]
